"""The work queues of the conversation list: the manager's home counts them and links each
to the sidebar showing only its conversations (``/sidebar?queue=waiting``). A queue holds
customers in the principal's scope only (an adviser's own, a manager's team's), as the
services it reads (customers, followups, fields) check."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from bot.services import customers, fields, followups
from bot.services.access import Principal
from bot.settings import Settings
from bot.store.inbox import InboxRow
from bot.vocab import InboxQueue


def conversations(
    session: Session,
    principal: Principal,
    queue: InboxQueue | None,
    *,
    now: datetime,
    settings: Settings,
) -> list[InboxRow]:
    """The conversation list, or only those of ``queue``: ``waiting`` for a reply (the
    customer wrote last), ``followups`` (a follow-up due today or overdue), ``stated``
    (values stated in the customer's messages waiting for confirmation)."""
    if queue == "followups":
        due = followups.reminders(session, principal, now=now, settings=settings)
        wanted = {r.follow_up.customer_id for r in due}
        return customers.inbox(session, principal, customer_ids=wanted)
    if queue == "stated":
        stated = fields.suggestions(session, principal)
        return customers.inbox(session, principal, customer_ids={s.customer_id for s in stated})
    rows = customers.inbox(session, principal)
    return [r for r in rows if r.waiting_since] if queue == "waiting" else rows
