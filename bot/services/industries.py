"""Industries: the names the scripts, documents, taxonomy and customers use, checking the
industry a person names (an option, a request), and warning about one nothing uses.

An industry is a free name (``insurance``, ``母婴``); ``general`` means every industry and
is also accepted as ``all``, ``通用``, ``全部`` … (``scripts_lib.model.GENERAL_SYNONYMS``).
A known industry may also be named by its Chinese name (``保险`` for ``insurance``,
``scripts_lib.model.INDUSTRY_LABELS``).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session

from bot.errors import InputError, RejectedInput
from bot.store import industries as industries_repo
from bot.store.industries import known_as
from scripts_lib.model import ANY_INDUSTRY, INDUSTRY_LABELS, canonical_industry

#: How each use reads in a warning.
_USE_NAMES = {"scripts": "话术", "documents": "文档", "taxonomy": "标签", "customers": "客户"}


def listing(names: Iterable[str]) -> str:
    """``insurance（保险）、kaoyan（考研）`` for messages."""
    shown = [
        f"{name}（{INDUSTRY_LABELS[name]}）" if name in INDUSTRY_LABELS else name
        for name in sorted(names)
    ]
    return "、".join(shown) or "（还没有）"


def resolve(session: Session, value: str | None, *, rejected: bool = False) -> str | None:
    """The industry ``value`` names: None for none; ``general`` for any of its synonyms;
    a known industry as written or by its Chinese name. An industry no script, document,
    tag or customer uses is refused (``InputError``; ``RejectedInput`` with ``rejected``,
    for an API request) naming the known ones — it would silently match only the general
    scripts. With nothing known yet (an empty library), any name is accepted."""
    if value is None or not value.strip():
        return None
    name = canonical_industry(value)
    if name == ANY_INDUSTRY:
        return name
    names = industries_repo.known(session=session)
    if not names:
        return name
    found = known_as(name, names)
    if found is not None:
        return found
    error = RejectedInput if rejected else InputError
    raise error(
        f"未知的行业「{listing([name])}」：已知的行业有 {listing(names)}（通用话术用 general）"
    )


def unused_warnings(
    session: Session,
    values: Iterable[str | None],
    *,
    what: str,
    uses: Iterable[str] = industries_repo.USES,
) -> list[str]:
    """One warning per industry of ``values`` that none of ``uses`` (scripts, documents,
    tags, customers) names yet — a misspelt name matches nothing (``what`` says where it
    was named, e.g. 「标签分类」). Say it before writing: afterwards the file itself uses
    it. Nothing is said while the library is empty."""
    uses = tuple(uses)
    names = industries_repo.known(session=session, uses=uses)
    if not names:
        return []
    new = sorted(
        {canonical_industry(v) for v in values if v and v.strip()} - names - {ANY_INDUSTRY}
    )
    used_by = "、".join(_USE_NAMES[use] for use in uses)
    return [
        f"{what}的行业「{listing([name])}」没有任何{used_by}在用"
        f"（已知：{listing(names)}）；"
        "如果是笔误，它只会匹配这个行业的消息"
        for name in new
    ]
