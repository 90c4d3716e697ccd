"""Suggestions: what to say to a message, the suggestions made for a customer, and what
the adviser did with them (outcomes)."""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Any, Literal

from sqlalchemy.orm import Session

from bot.domain import SuggestionResult
from bot.errors import NotFoundError, RejectedInput
from bot.pipeline.runtime import Runtime
from bot.services import audit
from bot.services.access import CUSTOMER_VIEWERS, Principal, check_customer, require
from bot.services.industries import resolve as resolve_industry
from bot.store import inbox as inbox_repo
from bot.store import outcomes as outcomes_repo
from bot.store.records import SuggestionRecord
from scripts_lib.variables import blanks_in

OutcomeKind = Literal["adopted", "edited"]
NO_SUGGESTION = "建议不存在"
#: Refusal of an outcome whose text still holds a placeholder (the adviser did not fill
#: the blanks in: what would reach the customer is 【待填:城市】).
UNFILLED = "还有未填写的内容：{labels}。请先填好再使用"
#: The most scripts 「更多」 adds at a time.
MAX_MORE = 10
VIEW_ACTION = "suggestion.view"


def suggest(
    rt: Runtime,
    principal: Principal,
    *,
    text: str,
    industry: str | None = None,
    customer_id: int | None = None,
) -> SuggestionResult:
    """Suggestions for a message, logging nothing; with a customer in scope, their
    profile fills the variables (audited, since it reads their data). An industry no
    script, document, tag or customer uses is refused, naming the known ones (it would
    silently match only the general scripts)."""
    with rt.db.session() as session:
        industry = resolve_industry(session, industry)
        if customer_id is not None:
            check_customer(session, principal, customer_id)
            audit.record(session, principal, "suggestion.preview", "customer", customer_id)
    return rt.assistant.suggest(text, industry=industry, customer_id=customer_id)


def latest(session: Session, principal: Principal, customer_id: int) -> SuggestionRecord | None:
    """The newest suggestion made for a customer in scope (None if none yet)."""
    check_customer(session, principal, customer_id)
    found = inbox_repo.latest_suggestion(session=session, customer_id=customer_id)
    audit.record(session, principal, VIEW_ACTION, "customer", customer_id)
    return _with_uses(session, found) if found is not None else None


def get(session: Session, principal: Principal, suggestion_id: int) -> SuggestionRecord:
    """One suggestion made for a customer in scope."""
    found = inbox_repo.get_suggestion(session=session, suggestion_id=suggestion_id)
    if found is None or found.customer_id is None:
        raise NotFoundError(NO_SUGGESTION, ref=suggestion_id)
    check_customer(session, principal, found.customer_id)
    audit.record(session, principal, VIEW_ACTION, "customer", found.customer_id, id=suggestion_id)
    return _with_uses(session, found)


def _with_uses(session: Session, found: SuggestionRecord) -> SuggestionRecord:
    """``found`` with what the adviser already used of it (the sidebar marks those cards
    after a reload)."""
    return replace(found, used=outcomes_repo.web_uses(session=session, suggestion_id=found.id))


def record_outcome(
    session: Session,
    principal: Principal,
    *,
    suggestion_id: int,
    kind: OutcomeKind,
    final_text: str,
    script_id: str | None = None,
) -> int:
    """Record that a script of the suggestion (or its draft, ``script_id`` None) was sent
    as is or edited; the outcome's id. A text still holding a placeholder
    (``【待填:城市】``) is refused: it was not sent as it stands."""
    require(principal, *CUSTOMER_VIEWERS)
    blanks = blanks_in(final_text)
    if blanks:
        raise RejectedInput(UNFILLED.format(labels="、".join(blanks)))
    found = get(session, principal, suggestion_id)
    if script_id is not None:
        shown = {s.get("id") for s in found.candidates.get("scripts", [])}
        if script_id not in shown:
            raise RejectedInput("该话术不在这条建议中")
    outcome_id = outcomes_repo.record_adoption(
        session=session,
        suggestion_id=suggestion_id,
        script_id=script_id,
        final_text=final_text,
        kind=kind,
    )
    audit.record(
        session, principal, f"suggestion.{kind}", "suggestion", suggestion_id, script_id=script_id
    )
    return outcome_id


def more(
    rt: Runtime, principal: Principal, *, suggestion_id: int, limit: int = 5
) -> list[dict[str, Any]]:
    """Up to ``limit`` more scripts for the message a suggestion answered (the sidebar's
    「更多」), beyond those shown; they join the suggestion's candidates, so using one
    is recorded like the first ones. An empty list when there are no more."""
    require(principal, *CUSTOMER_VIEWERS)
    limit = max(1, min(limit, MAX_MORE))
    with rt.db.session() as session:
        found = get(session, principal, suggestion_id)
        message = inbox_repo.suggestion_message(session=session, suggestion_id=suggestion_id)
    if message is None:
        return []
    message_id, text = message
    shown = {str(s.get("id")) for s in found.candidates.get("scripts", [])}
    extra = rt.assistant.more_scripts(
        text,
        customer_id=found.customer_id,
        message_id=message_id,
        k=limit,
        exclude=shown,
    )
    rows = [
        {k: v for k, v in asdict(s).items() if k != "missing"}
        | {"missing": list(s.missing), "more": True}
        for s in extra
    ]
    if rows:
        with rt.db.session() as session:
            inbox_repo.add_script_candidates(
                session=session, suggestion_id=suggestion_id, scripts=rows
            )
            audit.record(
                session, principal, "suggestion.more", "suggestion", suggestion_id, count=len(rows)
            )
    return rows
