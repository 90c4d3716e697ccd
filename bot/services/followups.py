"""Follow-ups: run the SOP rules, and the reminders due today with their script."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from bot.crm import followups as crm_followups
from bot.services import audit
from bot.services.access import CUSTOMER_VIEWERS, Principal, require, scope_of
from bot.services.advisers import shown_name
from bot.settings import Settings


def run_rules(
    session: Session, principal: Principal, *, path: Path, now: datetime, settings: Settings
) -> crm_followups.RunStats:
    """Fire the rules of ``path`` due on ``now``'s day; once per occurrence, however often
    it runs."""
    require(principal)
    rules = crm_followups.load_rules(path)
    stats = crm_followups.run_rules(
        session=session,
        rules=rules,
        now=now,
        timezone=settings.timezone,
        catch_up_days=settings.followups.catch_up_days,
    )
    audit.record(
        session,
        principal,
        "followups.run",
        "follow_up",
        path.name,
        reminders=stats.reminders,
        marked_silent=stats.marked_silent,
        already_done=stats.already_done,
    )
    return stats


def reminders(
    session: Session,
    principal: Principal,
    *,
    now: datetime,
    settings: Settings,
    adviser_id: str | None = None,
) -> list[crm_followups.DueReminder]:
    """Open follow-ups due today or earlier of customers in scope (only ``adviser_id``'s
    when given): an adviser's own, a manager's team's; scripts filled in."""
    require(principal, *CUSTOMER_VIEWERS)
    advisers = scope_of(session, principal).narrow(adviser_id)
    if advisers == ():
        return []
    found = crm_followups.due_reminders(
        session=session,
        now=now,
        timezone=settings.timezone,
        adviser_ids=advisers,
        adviser_name=shown_name(session, principal, settings),
        assistant=settings.assistant,
    )
    audit.record(session, principal, "reminders.view", "customer", "", count=len(found))
    return found
