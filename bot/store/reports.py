"""Queries behind the funnel, the lifecycle stages and the purchase quadrants."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, exists, func, select, update
from sqlalchemy.orm import Session

from bot.store.models import Customer, Event, Message, Transaction
from bot.store.records import aware
from bot.vocab import Lifecycle


@dataclass(frozen=True, slots=True)
class CohortMember:
    customer_id: int
    adviser_id: str | None
    source: str | None
    engaged: bool
    converted: bool
    revenue: float
    name: str | None = None


@dataclass(frozen=True, slots=True)
class ActivityFacts:
    customer_id: int
    created_at: datetime
    last_inbound_at: datetime | None
    last_purchase_at: datetime | None
    converted: bool


@dataclass(frozen=True, slots=True)
class PurchaseStats:
    customer_id: int
    orders: int
    total: float


#: Event types that count as a conversion even without a recorded transaction.
CONVERSION_EVENTS = ("converted", "purchase")


def cohort(
    *,
    session: Session,
    since: datetime,
    until: datetime,
    adviser_ids: tuple[str, ...] | None = None,
) -> list[CohortMember]:
    """Visible customers added in [since, until) and what they did before ``until``;
    only the customers of ``adviser_ids`` (a scope) when given."""
    engaged = exists().where(
        Message.customer_id == Customer.id, Message.direction == "in", Message.sent_at < until
    )
    revenue = (
        select(func.coalesce(func.sum(Transaction.amount), 0.0))
        .where(Transaction.customer_id == Customer.id, Transaction.occurred_at < until)
        .scalar_subquery()
    )
    bought = exists().where(Transaction.customer_id == Customer.id, Transaction.occurred_at < until)
    event = exists().where(
        Event.customer_id == Customer.id,
        Event.type.in_(CONVERSION_EVENTS),
        Event.occurred_at < until,
    )
    stmt = (
        select(
            Customer.id,
            Customer.adviser_id,
            Customer.source,
            case((engaged, True), else_=False),
            case((bought | event, True), else_=False),
            revenue,
            Customer.name,
        )
        .where(
            Customer.merged_into_id.is_(None),
            Customer.created_at >= since,
            Customer.created_at < until,
        )
        .order_by(Customer.id)
    )
    if adviser_ids is not None:
        stmt = stmt.where(Customer.adviser_id.in_(adviser_ids))
    return [
        CohortMember(
            customer_id=cid,
            adviser_id=adv,
            source=src,
            engaged=bool(eng),
            converted=bool(conv),
            revenue=float(rev or 0.0),
            name=name,
        )
        for cid, adv, src, eng, conv, rev, name in session.execute(stmt)
    ]


def activity(*, session: Session) -> list[ActivityFacts]:
    last_in = (
        select(func.max(Message.sent_at))
        .where(Message.customer_id == Customer.id, Message.direction == "in")
        .scalar_subquery()
    )
    last_buy = (
        select(func.max(Transaction.occurred_at))
        .where(Transaction.customer_id == Customer.id)
        .scalar_subquery()
    )
    event = exists().where(Event.customer_id == Customer.id, Event.type.in_(CONVERSION_EVENTS))
    stmt = (
        select(
            Customer.id, Customer.created_at, last_in, last_buy, case((event, True), else_=False)
        )
        .where(Customer.merged_into_id.is_(None))
        .order_by(Customer.id)
    )
    out = []
    for cid, created, inbound, bought, converted_event in session.execute(stmt):
        out.append(
            ActivityFacts(
                customer_id=cid,
                created_at=aware(created),
                last_inbound_at=aware(_dt(inbound)) if inbound else None,
                last_purchase_at=aware(_dt(bought)) if bought else None,
                converted=bool(bought) or bool(converted_event),
            )
        )
    return out


def purchases(
    *, session: Session, since: datetime | None = None, until: datetime | None = None
) -> list[PurchaseStats]:
    stmt = (
        select(Transaction.customer_id, func.count(Transaction.id), func.sum(Transaction.amount))
        .join(Customer, Customer.id == Transaction.customer_id)
        .where(Customer.merged_into_id.is_(None))
        .group_by(Transaction.customer_id)
        .order_by(Transaction.customer_id)
    )
    if since is not None:
        stmt = stmt.where(Transaction.occurred_at >= since)
    if until is not None:
        stmt = stmt.where(Transaction.occurred_at < until)
    return [PurchaseStats(c, int(n), float(t or 0.0)) for c, n, t in session.execute(stmt)]


def save_lifecycles(*, session: Session, stages: Mapping[int, Lifecycle]) -> int:
    """Write the computed stage of each customer; returns how many changed."""
    changed = 0
    by_stage: dict[Lifecycle, list[int]] = {}
    for cid, stage in stages.items():
        by_stage.setdefault(stage, []).append(cid)
    for stage, ids in by_stage.items():
        for start in range(0, len(ids), 500):
            result = session.execute(
                update(Customer)
                .where(
                    Customer.id.in_(ids[start : start + 500]),
                    Customer.lifecycle.is_distinct_from(stage),
                )
                .values(lifecycle=stage)
                .execution_options(synchronize_session=False)
            )
            changed += int(getattr(result, "rowcount", 0) or 0)
    session.flush()
    return changed


def _dt(value: object) -> datetime:
    """Aggregates over DateTime columns come back as strings on SQLite."""
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))
