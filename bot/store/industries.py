"""Which industries the data uses: scripts, knowledge documents, tag categories and
customers (the names an ``--industry`` option or a file may refer to)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.store.models import Customer, Document, Script, Tag, TagCategory
from scripts_lib.model import ANY_INDUSTRY, INDUSTRY_CODES, canonical_industry, industry_code

#: Where an industry can be used, as the keys of ``industries_in_use``.
USES = ("scripts", "documents", "taxonomy", "customers")


def industries_in_use(*, session: Session) -> dict[str, set[str]]:
    """The industry names each kind of data uses (``USES``), empty values left out."""
    active_categories = (
        select(TagCategory.industry)
        .join(Tag, Tag.category_id == TagCategory.id)
        .where(Tag.active.is_(True))
        .distinct()
    )
    queries = {
        "scripts": select(Script.industry).distinct(),
        "documents": select(Document.industry).distinct(),
        "taxonomy": active_categories,
        "customers": select(Customer.industry).where(Customer.merged_into_id.is_(None)).distinct(),
    }
    return {
        use: {value for value in session.scalars(stmt) if value} for use, stmt in queries.items()
    }


def known(*, session: Session, uses: Iterable[str] = USES) -> set[str]:
    """Every industry some of ``uses`` (scripts, documents, taxonomy, customers) names,
    ``general`` left out; a known industry once, by its code, also where rows stored
    its Chinese name."""
    found = industries_in_use(session=session)
    names: set[str] = set()
    for use in uses:
        names |= found[use]
    return {industry_code(canonical_industry(name)) for name in names} - {ANY_INDUSTRY}


def as_known(*, session: Session, values: Iterable[str | None]) -> dict[str, str]:
    """How data written now stores each industry of ``values``: ``general`` for its
    synonyms; a known industry's Chinese name as that industry (保险 → ``insurance``: one
    customer, document or script is not split over two names), also while neither name
    is used yet; any other name as written."""
    names = known(session=session)
    mapped: dict[str, str] = {}
    for value in values:
        if value and value.strip() and value not in mapped:
            name = canonical_industry(value)
            mapped[value] = known_as(name, names) or INDUSTRY_CODES.get(name) or name
    return mapped


def known_as(name: str, names: set[str]) -> str | None:
    """The known industry ``name`` (canonical) stands for: itself, or the industry it is
    the Chinese name of; None when it is neither."""
    if name in names:
        return name
    code = INDUSTRY_CODES.get(name)
    return code if code in names else None


#: Where the library uses an industry: what a message of that industry can be given.
LIBRARY_USES = ("scripts", "documents", "taxonomy")


def default_for(*, session: Session, configured: str) -> str:
    """The industry of a message that neither it nor its customer names
    (``default_among`` the library's industries)."""
    return default_among(known(session=session, uses=LIBRARY_USES), configured)


def default_among(names: set[str], configured: str) -> str:
    """``configured`` (``[assistant] default_industry``) when the library, using the
    industries ``names``, uses it or uses none yet; else the library's one industry; else,
    the library holding several and none of them that one, every industry (""). A team's
    own library (家装 only) with the setting left at the demo's ``insurance`` got no script
    and no tag for such a message."""
    default = canonical_industry(configured) if configured else ""
    if not names or default == ANY_INDUSTRY or (default and known_as(default, names)):
        return configured
    return next(iter(names)) if len(names) == 1 else ""
