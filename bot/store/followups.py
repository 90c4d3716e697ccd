"""Follow-up reminders and the occurrences of the rules that create them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot.store.customers import customer_record
from bot.store.db import insert_or_get
from bot.store.models import (
    Customer,
    CustomerTag,
    Event,
    FollowUp,
    FollowUpOccurrence,
    Message,
    Script,
    Tag,
)
from bot.store.records import CustomerFacts, EventFact, FollowUpRecord, aware
from bot.vocab import Lifecycle


def customer_facts(
    *, session: Session, customer_ids: Sequence[int] | None = None
) -> list[CustomerFacts]:
    """Visible customers with their confirmed tags and last customer message."""
    stmt = select(Customer).where(Customer.merged_into_id.is_(None)).order_by(Customer.id)
    if customer_ids is not None:
        stmt = stmt.where(Customer.id.in_(customer_ids))
    rows = list(session.scalars(stmt))
    tags: dict[int, set[str]] = {}
    for cid, name in session.execute(
        select(CustomerTag.customer_id, Tag.name)
        .join(Tag, Tag.id == CustomerTag.tag_id)
        .where(CustomerTag.status == "confirmed")
    ):
        tags.setdefault(cid, set()).add(name)
    last_in = dict(
        session.execute(
            select(Message.customer_id, func.max(Message.sent_at))
            .where(Message.direction == "in", Message.customer_id.is_not(None))
            .group_by(Message.customer_id)
        ).all()
    )
    return [
        CustomerFacts(
            id=r.id,
            name=r.name,
            adviser_id=r.adviser_id,
            industry=r.industry,
            stage=r.stage,
            lifecycle=r.lifecycle,
            source=r.source,
            city=r.city,
            product=r.product,
            birthday=r.birthday,
            created_at=aware(r.created_at),
            tags=frozenset(tags.get(r.id, ())),
            last_inbound_at=aware(last_in[r.id]) if last_in.get(r.id) else None,
        )
        for r in rows
    ]


def events_of_types(*, session: Session, types: Sequence[str], since: datetime) -> list[EventFact]:
    stmt = (
        select(Event)
        .join(Customer, Customer.id == Event.customer_id)
        .where(Event.type.in_(types), Event.occurred_at >= since, Customer.merged_into_id.is_(None))
        .order_by(Event.occurred_at, Event.id)
    )
    return [
        EventFact(
            customer_id=e.customer_id,
            type=e.type,
            payload=dict(e.payload),
            occurred_at=aware(e.occurred_at),
        )
        for e in session.scalars(stmt)
    ]


def record_occurrence(
    *,
    session: Session,
    rule: str,
    customer_id: int,
    occurs_on: date,
    action: str,
    due_at: datetime,
    adviser_id: str | None,
    note: str,
    script_id: str | None,
) -> bool:
    """Record that ``rule`` fired for this customer and occurrence, with its reminder
    (action "remind"). Returns False, and writes nothing, if it had already fired."""

    def lookup() -> FollowUpOccurrence | None:
        return session.scalar(
            select(FollowUpOccurrence).where(
                FollowUpOccurrence.rule == rule,
                FollowUpOccurrence.customer_id == customer_id,
                FollowUpOccurrence.occurs_on == occurs_on,
            )
        )

    row, created = insert_or_get(
        session,
        FollowUpOccurrence(rule=rule, customer_id=customer_id, occurs_on=occurs_on, action=action),
        lookup,
    )
    if not created:
        return False
    if action == "remind":
        if script_id is not None and session.get(Script, script_id) is None:
            script_id = None  # a rule naming a script not (yet) in the library still reminds
        follow_up = FollowUp(
            customer_id=customer_id,
            adviser_id=adviser_id,
            due_at=due_at,
            note=note,
            script_id=script_id,
            rule=rule,
        )
        session.add(follow_up)
        session.flush()
        row.follow_up_id = follow_up.id
    session.flush()
    return True


def set_lifecycle(*, session: Session, customer_ids: Sequence[int], lifecycle: Lifecycle) -> int:
    if not customer_ids:
        return 0
    result = session.execute(
        update(Customer)
        .where(Customer.id.in_(customer_ids), Customer.lifecycle.is_distinct_from(lifecycle))
        .values(lifecycle=lifecycle)
        .execution_options(synchronize_session=False)
    )
    session.flush()
    return int(getattr(result, "rowcount", 0) or 0)


def open_follow_ups(
    *,
    session: Session,
    due_before: datetime,
    adviser_id: str | None = None,
    adviser_ids: tuple[str, ...] | None = None,
) -> list[FollowUpRecord]:
    """Open reminders due before ``due_before`` (so: today's and overdue ones), of
    ``adviser_id`` and / or of the advisers ``adviser_ids`` (a scope) when given."""
    stmt = (
        select(FollowUp, Customer, Script.body, Script.deadline)
        .join(Customer, Customer.id == FollowUp.customer_id)
        .outerjoin(Script, Script.id == FollowUp.script_id)
        .where(FollowUp.status == "open", FollowUp.due_at < due_before)
        .order_by(FollowUp.due_at, FollowUp.id)
    )
    if adviser_id is not None:
        stmt = stmt.where(FollowUp.adviser_id == adviser_id)
    if adviser_ids is not None:
        stmt = stmt.where(FollowUp.adviser_id.in_(adviser_ids))
    return [
        FollowUpRecord(
            id=f.id,
            customer_id=f.customer_id,
            customer_name=c.name,
            adviser_id=f.adviser_id,
            due_at=aware(f.due_at),
            note=f.note,
            script_id=f.script_id,
            script_body=body,
            rule=f.rule,
            status=f.status,
            customer=customer_record(c),
            script_deadline=deadline,
        )
        for f, c, body, deadline in session.execute(stmt)
    ]
