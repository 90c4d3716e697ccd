"""The script library as an adviser searches it from the sidebar: every approved script
(any industry), by keyword and category, filled in for the customer on screen, with the
adviser's own favourites (收藏) first. Operators curate the library in
bot/services/scripts.py; this is the read side for the people who send the scripts."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from bot.errors import NotFoundError, PermissionDenied
from bot.pipeline.runtime import Runtime
from bot.services import audit
from bot.services.access import CUSTOMER_VIEWERS, Principal, check_customer, require
from bot.store import customers as customers_repo
from bot.store import favourites as favourites_repo
from scripts_lib.model import ANY_INDUSTRY

#: The most scripts one search returns.
MAX_RESULTS = 50
NO_SCRIPT = "话术不存在或未上架"
CONSOLE_ONLY = "只有控制台用户可以收藏话术"


@dataclass(frozen=True, slots=True)
class LibraryItem:
    """One approved script, its body filled in for the customer on screen (placeholders
    such as ``【待填:城市】`` where a value is missing, named in ``missing``)."""

    id: str
    title: str
    category: str
    stage: str
    industry: str
    text: str
    missing: tuple[str, ...]
    favourite: bool


def search(
    rt: Runtime,
    principal: Principal,
    *,
    text: str = "",
    category: str | None = None,
    favourites: bool = False,
    customer_id: int | None = None,
    limit: int = MAX_RESULTS,
) -> list[LibraryItem]:
    """Approved scripts whose title, body, tags or id hold ``text`` (every word of it),
    of ``category``, only the principal's favourites when ``favourites``; favourites
    first, then the customer's industry and the general scripts, then the rest. With a
    customer in scope their profile fills the variables (audited)."""
    require(principal, *CUSTOMER_VIEWERS)
    industry = None
    with rt.db.session() as session:
        starred = _starred(session, principal)
        if customer_id is not None:
            check_customer(session, principal, customer_id)
            industry = customers_repo.get_customer(
                session=session, customer_id=customer_id
            ).industry
            audit.record(session, principal, "library.search", "customer", customer_id)
    words = text.split()
    found = [
        s
        for s in rt.library.list_scripts(category=category or None, status="approved")
        if all(w in f"{s.id}\n{s.title}\n{' '.join(s.tags)}\n{s.body}" for w in words)
        and (not favourites or s.id in starred)
    ]
    own = {industry, ANY_INDUSTRY}
    found.sort(key=lambda s: (s.id not in starred, s.industry not in own, s.id))
    found = found[: max(1, min(limit, MAX_RESULTS))]
    filled = rt.assistant.fill_for(found, customer_id)
    return [
        LibraryItem(
            id=s.id,
            title=s.title,
            category=s.category,
            stage=s.stage,
            industry=s.industry,
            text=f.text,
            missing=f.missing,
            favourite=s.id in starred,
        )
        for s, f in zip(found, filled, strict=True)
    ]


def set_favourite(rt: Runtime, principal: Principal, *, script_id: str, on: bool) -> bool:
    """Star (``on``) or unstar an approved script for the principal; whether it is a
    favourite now."""
    require(principal, *CUSTOMER_VIEWERS)
    if principal.user_id is None:
        raise PermissionDenied(CONSOLE_ONLY)
    script = rt.library.get([script_id]).get(script_id)
    if script is None or (on and script.status != "approved"):
        raise NotFoundError(NO_SCRIPT, ref=script_id)
    with rt.db.session() as session:
        favourites_repo.set_favourite(
            session=session, user_id=principal.user_id, script_id=script_id, on=on
        )
        audit.record(
            session,
            principal,
            "script.favourite" if on else "script.unfavourite",
            "script",
            script_id,
        )
    return on


def _starred(session: Session, principal: Principal) -> set[str]:
    if principal.user_id is None:
        return set()
    return favourites_repo.favourite_ids(session=session, user_id=principal.user_id)
