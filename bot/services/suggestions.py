"""Suggestions: what to say to a message, the suggestions made for a customer, and what
the adviser did with them (outcomes)."""

from __future__ import annotations

from typing import Literal

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

OutcomeKind = Literal["adopted", "edited"]
NO_SUGGESTION = "建议不存在"
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
    return found


def get(session: Session, principal: Principal, suggestion_id: int) -> SuggestionRecord:
    """One suggestion made for a customer in scope."""
    found = inbox_repo.get_suggestion(session=session, suggestion_id=suggestion_id)
    if found is None or found.customer_id is None:
        raise NotFoundError(NO_SUGGESTION, ref=suggestion_id)
    check_customer(session, principal, found.customer_id)
    audit.record(session, principal, VIEW_ACTION, "customer", found.customer_id, id=suggestion_id)
    return found


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
    as is or edited; the outcome's id."""
    require(principal, *CUSTOMER_VIEWERS)
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
