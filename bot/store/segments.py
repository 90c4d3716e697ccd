"""Saved segments and the query that counts their members."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, exists, func, not_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.errors import InputError, NotFoundError
from bot.store.models import Customer, CustomerTag, Event, Segment, Tag, Transaction

#: Profile fields a condition may compare, by their name in filters.
PROFILE_FIELDS: dict[str, Any] = {
    "industry": Customer.industry,
    "stage": Customer.stage,
    "lifecycle": Customer.lifecycle,
    "source": Customer.source,
    "adviser": Customer.adviser_id,
    "city": Customer.city,
    "product": Customer.product,
    "name": Customer.name,
}
NUMERIC_FIELDS = ("spent", "orders")


@dataclass(frozen=True, slots=True)
class Condition:
    """``field op value``: a profile field, ``tag`` / ``event`` (= has, != has not), or
    ``spent`` / ``orders`` (sum / count of transactions, compared as numbers)."""

    field: str
    op: str
    value: str


@dataclass(frozen=True, slots=True)
class SegmentRecord:
    id: int
    name: str
    filters: tuple[str, ...]
    description: str


def save_segment(
    *, session: Session, name: str, filters: Sequence[str], description: str, actor: str
) -> SegmentRecord:
    row = session.scalar(select(Segment).where(Segment.name == name))
    if row is None:
        row = Segment(name=name, created_by=actor)
        session.add(row)
    row.filters = list(filters)
    row.description = description
    try:
        session.flush()
    except IntegrityError as exc:  # pragma: no cover - a concurrent add of the same name
        raise InputError(f"segment {name!r} was just created by someone else") from exc
    return _record(row)


def get_segment(*, session: Session, name: str) -> SegmentRecord:
    row = session.scalar(select(Segment).where(Segment.name == name))
    if row is None:
        raise NotFoundError(f"segment {name!r} not found")
    return _record(row)


def list_segments(*, session: Session) -> list[SegmentRecord]:
    return [_record(r) for r in session.scalars(select(Segment).order_by(Segment.name))]


def matching_customer_ids(*, session: Session, conditions: Sequence[Condition]) -> list[int]:
    """Ids of visible customers meeting every condition."""
    stmt = select(Customer.id).where(Customer.merged_into_id.is_(None))
    for c in conditions:
        stmt = stmt.where(_clause(c))
    return list(session.scalars(stmt.order_by(Customer.id)))


def _clause(c: Condition) -> ColumnElement[bool]:
    if c.field in PROFILE_FIELDS:
        column = PROFILE_FIELDS[c.field]
        if c.op == "=":
            clause: ColumnElement[bool] = column == c.value
            return clause
        if c.op == "!=":
            clause = column.is_distinct_from(c.value)
            return clause
        raise InputError(f"{c.field} can only be compared with = or !=")
    if c.field in ("tag", "event"):
        if c.field == "tag":
            has = exists().where(
                CustomerTag.customer_id == Customer.id,
                CustomerTag.status == "confirmed",
                CustomerTag.tag_id.in_(select(Tag.id).where(Tag.name == c.value)),
            )
        else:
            has = exists().where(Event.customer_id == Customer.id, Event.type == c.value)
        if c.op == "=":
            return has
        if c.op == "!=":
            return not_(has)
        raise InputError(f"{c.field} can only be compared with = or !=")
    if c.field in NUMERIC_FIELDS:
        try:
            number = float(c.value)
        except ValueError as exc:
            raise InputError(f"{c.field} needs a number, not {c.value!r}") from exc
        agg = func.coalesce(
            func.sum(Transaction.amount) if c.field == "spent" else func.count(Transaction.id), 0
        )
        value = select(agg).where(Transaction.customer_id == Customer.id).scalar_subquery()
        return {
            "=": value == number,
            "!=": value != number,
            ">=": value >= number,
            "<=": value <= number,
            ">": value > number,
            "<": value < number,
        }[c.op]
    raise InputError(f"unknown filter field {c.field!r}")


def _record(row: Segment) -> SegmentRecord:
    return SegmentRecord(
        id=row.id, name=row.name, filters=tuple(row.filters), description=row.description
    )
