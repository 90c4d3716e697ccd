"""Per-adviser KPIs for the manager's dashboard, and each adviser's own numbers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from statistics import median
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from bot.store.models import (
    Adviser,
    Customer,
    CustomerTag,
    Event,
    Message,
    Outcome,
    Suggestion,
    Tag,
    TagCategory,
    Transaction,
)
from bot.store.records import aware
from bot.store.reports import CONVERSION_EVENTS


@dataclass(frozen=True, slots=True)
class AdviserKpi:
    adviser_id: str
    name: str
    messages_in: int
    messages_out: int
    suggestions: int
    adopted: int
    edited: int
    #: Median minutes from a customer's first unanswered message to the next reply.
    first_response_min: float | None = None
    #: Distinct customers written with per day on which the adviser had any message.
    conversations_per_day: float = 0.0

    @property
    def adoption_rate(self) -> float:
        """Share of suggestions used as is or edited."""
        return (self.adopted + self.edited) / self.suggestions if self.suggestions else 0.0


def adviser_kpis(
    *, session: Session, adviser_ids: tuple[str, ...] | None, timezone: str = "UTC"
) -> list[AdviserKpi]:
    stmt = select(Adviser).order_by(Adviser.id)
    if adviser_ids is not None:
        stmt = stmt.where(Adviser.id.in_(adviser_ids))
    advisers = list(session.scalars(stmt))
    ids = [a.id for a in advisers]
    if not ids:
        return []
    msgs: dict[tuple[str | None, str], int] = {
        (a, d): n
        for a, d, n in session.execute(
            select(Message.adviser_id, Message.direction, func.count())
            .where(Message.adviser_id.in_(ids))
            .group_by(Message.adviser_id, Message.direction)
        ).all()
    }
    sugg = dict(
        session.execute(
            select(Suggestion.adviser_id, func.count())
            .where(Suggestion.adviser_id.in_(ids))
            .group_by(Suggestion.adviser_id)
        ).all()
    )
    used: dict[tuple[str | None, str], int] = {
        (a, k): n
        for a, k, n in session.execute(
            select(Suggestion.adviser_id, Outcome.kind, func.count(func.distinct(Suggestion.id)))
            .join(Suggestion, Suggestion.id == Outcome.suggestion_id)
            .where(Suggestion.adviser_id.in_(ids))
            .group_by(Suggestion.adviser_id, Outcome.kind)
        ).all()
    }
    response, per_day = _conversation_stats(session, ids, ZoneInfo(timezone))
    return [
        AdviserKpi(
            adviser_id=a.id,
            name=a.name or a.id,
            messages_in=msgs.get((a.id, "in"), 0),
            messages_out=msgs.get((a.id, "out"), 0),
            suggestions=int(sugg.get(a.id, 0)),
            adopted=used.get((a.id, "adopted"), 0),
            edited=used.get((a.id, "edited"), 0),
            first_response_min=response.get(a.id),
            conversations_per_day=per_day.get(a.id, 0.0),
        )
        for a in advisers
    ]


def _conversation_stats(
    session: Session, ids: list[str], tz: ZoneInfo
) -> tuple[dict[str, float], dict[str, float]]:
    """Median first-response minutes and conversations per active day, per adviser.

    A wait starts at a customer message that follows a reply (or opens the
    conversation) and ends at the adviser's next message; later customer messages
    in the same wait do not restart it. A conversation is one customer on one local day.
    """
    rows = session.execute(
        select(Message.adviser_id, Message.customer_id, Message.direction, Message.sent_at)
        .where(Message.adviser_id.in_(ids), Message.customer_id.is_not(None))
        .order_by(Message.customer_id, Message.sent_at, Message.id)
    ).all()
    waits: dict[str, list[float]] = {}
    pairs: dict[str, set[tuple[int, date]]] = {}
    days: dict[str, set[date]] = {}
    waiting_since: dict[tuple[str, int], datetime] = {}
    for adviser_id, customer_id, direction, sent_at in rows:
        if adviser_id is None or customer_id is None:
            continue
        at = aware(sent_at)
        day = at.astimezone(tz).date()
        pairs.setdefault(adviser_id, set()).add((customer_id, day))
        days.setdefault(adviser_id, set()).add(day)
        key = (adviser_id, customer_id)
        if direction == "in":
            waiting_since.setdefault(key, at)
        elif key in waiting_since:
            started = waiting_since.pop(key)
            waits.setdefault(adviser_id, []).append((at - started).total_seconds() / 60)
    response = {a: round(median(w), 1) for a, w in waits.items()}
    per_day = {a: round(len(pairs[a]) / len(days[a]), 2) for a in pairs}
    return response, per_day


@dataclass(frozen=True, slots=True)
class TagWeek:
    """Customer tags created in one week (starting Monday), per category and status."""

    week: date
    category: str
    confirmed: int
    suggested: int


def tag_weeks(
    *,
    session: Session,
    adviser_ids: tuple[str, ...] | None,
    since: datetime,
    timezone: str = "UTC",
) -> list[TagWeek]:
    """Confirmed and suggested customer tags per category per week since ``since``
    (by the tag's creation time), for the customers of ``adviser_ids``."""
    stmt = (
        select(TagCategory.name, CustomerTag.status, CustomerTag.created_at)
        .join(Tag, Tag.id == CustomerTag.tag_id)
        .join(TagCategory, TagCategory.id == Tag.category_id)
        .join(Customer, Customer.id == CustomerTag.customer_id)
        .where(
            CustomerTag.created_at >= since,
            CustomerTag.status.in_(("confirmed", "suggested")),
            Customer.merged_into_id.is_(None),
        )
    )
    if adviser_ids is not None:
        stmt = stmt.where(Customer.adviser_id.in_(adviser_ids))
    tz = ZoneInfo(timezone)
    counts: dict[tuple[date, str], list[int]] = {}
    for category, status, created_at in session.execute(stmt):
        day = aware(created_at).astimezone(tz).date()
        week = day - timedelta(days=day.weekday())
        cell = counts.setdefault((week, category), [0, 0])
        cell[0 if status == "confirmed" else 1] += 1
    return [
        TagWeek(week=w, category=c, confirmed=n[0], suggested=n[1])
        for (w, c), n in sorted(counts.items())
    ]


@dataclass(frozen=True, slots=True)
class OwnNumbers:
    """One adviser's figures for a period: what the adviser sees of themself."""

    #: Customer messages of the period the adviser has answered (a later message of theirs
    #: in the same chat), of ``received`` customer messages.
    answered: int
    received: int
    suggestions: int
    #: Suggestions of the period used as is or edited.
    used: int
    #: Customers who bought (a transaction, or a converted / purchase event) in the period.
    conversions: int
    revenue: float

    @property
    def adoption_rate(self) -> float:
        return self.used / self.suggestions if self.suggestions else 0.0


def own_numbers(
    *, session: Session, adviser_id: str, since: datetime, until: datetime
) -> OwnNumbers:
    """The adviser's figures for [since, until): their messages, suggestions and the
    purchases of their customers — nobody else's."""
    _inbound = aliased(Message)
    later_reply = (
        select(Message.id)
        .where(
            Message.customer_id == _inbound.customer_id,
            Message.direction == "out",
            Message.sent_at >= _inbound.sent_at,
        )
        .exists()
    )
    inbound = select(func.count(_inbound.id)).where(
        _inbound.adviser_id == adviser_id,
        _inbound.direction == "in",
        _inbound.customer_id.is_not(None),
        _inbound.sent_at >= since,
        _inbound.sent_at < until,
    )
    received = int(session.scalar(inbound) or 0)
    answered = int(session.scalar(inbound.where(later_reply)) or 0)
    window = (Suggestion.created_at >= since, Suggestion.created_at < until)
    suggestions = int(
        session.scalar(
            select(func.count(Suggestion.id)).where(Suggestion.adviser_id == adviser_id, *window)
        )
        or 0
    )
    used = int(
        session.scalar(
            select(func.count(func.distinct(Suggestion.id)))
            .join(Outcome, Outcome.suggestion_id == Suggestion.id)
            .where(
                Suggestion.adviser_id == adviser_id,
                Outcome.kind.in_(("adopted", "edited")),
                *window,
            )
        )
        or 0
    )
    mine = select(Customer.id).where(
        Customer.adviser_id == adviser_id, Customer.merged_into_id.is_(None)
    )
    buyers = set(
        session.scalars(
            select(Transaction.customer_id).where(
                Transaction.customer_id.in_(mine),
                Transaction.occurred_at >= since,
                Transaction.occurred_at < until,
            )
        )
    ) | set(
        session.scalars(
            select(Event.customer_id).where(
                Event.customer_id.in_(mine),
                Event.type.in_(CONVERSION_EVENTS),
                Event.occurred_at >= since,
                Event.occurred_at < until,
            )
        )
    )
    revenue = session.scalar(
        select(func.coalesce(func.sum(Transaction.amount), 0.0)).where(
            Transaction.customer_id.in_(mine),
            Transaction.occurred_at >= since,
            Transaction.occurred_at < until,
        )
    )
    return OwnNumbers(
        answered=answered,
        received=received,
        suggestions=suggestions,
        used=used,
        conversions=len(buyers),
        revenue=round(float(revenue or 0.0), 2),
    )
