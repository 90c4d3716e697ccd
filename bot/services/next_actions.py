"""Next-best-action rules: the cards that apply to a customer, and checking a rules file."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from bot.crm import next_actions as crm_next_actions
from bot.crm.segments import declared_fields
from bot.domain import NextActionSuggestion
from bot.pipeline.runtime import Runtime
from bot.services import audit
from bot.services.access import CURATORS, CUSTOMER_VIEWERS, Principal, check_customer, require

Rule = crm_next_actions.Rule


def for_customer(
    rt: Runtime, principal: Principal, customer_id: int
) -> tuple[NextActionSuggestion, ...]:
    """The rules of ``[next_actions] rules_file`` that apply to a customer in scope now,
    with their reasons and scripts filled in (audited: it reads the customer's data)."""
    require(principal, *CUSTOMER_VIEWERS)
    with rt.db.session() as session:
        check_customer(session, principal, customer_id)
        audit.record(session, principal, "customer.next_actions.view", "customer", customer_id)
    return rt.assistant.next_actions_for(customer_id)


def check_rules(session: Session, principal: Principal, *, path: Path) -> list[Rule]:
    """Read a rules file and check every filter against the declared profile fields."""
    require(principal, *CURATORS)
    return crm_next_actions.load_rules(path, declared_fields(session))
