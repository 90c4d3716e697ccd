"""Saved segments and the query that counts their members."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, not_, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.errors import InputError, NotFoundError
from bot.store.models import (
    Customer,
    CustomerFieldValue,
    CustomerTag,
    Event,
    Segment,
    Tag,
    Transaction,
)
from scripts_lib.model import industry_names

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
NUMERIC_FIELDS = ("spent", "orders", "age")
#: Comparisons of numbers (and of dates, for date profile fields).
COMPARISONS = ("=", "!=", ">=", "<=", ">", "<")


@dataclass(frozen=True, slots=True)
class Condition:
    """``field op value``: a built-in profile field, ``tag`` / ``event`` (= has, != has
    not), ``spent`` / ``orders`` (sum / count of transactions) or ``age`` (whole years
    from the birthday), compared as numbers; or a declared profile field
    (``field_type`` set: number and money fields compare as numbers, date fields as
    dates, choice and text fields with = / !=). A customer without a value of a field
    meets only its ``!=`` conditions."""

    field: str
    op: str
    value: str
    field_type: str | None = None


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
        raise InputError(f"分群 {name!r} 刚被别人创建了") from exc
    return _record(row)


def get_segment(*, session: Session, name: str) -> SegmentRecord:
    row = session.scalar(select(Segment).where(Segment.name == name))
    if row is None:
        raise NotFoundError(f"分群 {name!r} 不存在")
    return _record(row)


def list_segments(*, session: Session) -> list[SegmentRecord]:
    return [_record(r) for r in session.scalars(select(Segment).order_by(Segment.name))]


def delete_segment(*, session: Session, name: str) -> SegmentRecord:
    """Delete a saved segment (its filters only: no customer changes); the deleted one."""
    row = session.scalar(select(Segment).where(Segment.name == name))
    if row is None:
        raise NotFoundError(f"分群 {name!r} 不存在")
    record = _record(row)
    session.delete(row)
    session.flush()
    return record


def matching_customer_ids(
    *,
    session: Session,
    conditions: Sequence[Condition],
    customer_ids: Sequence[int] | None = None,
    adviser_ids: Sequence[str] | None = None,
    today: date | None = None,
) -> list[int]:
    """Ids of visible customers (of ``customer_ids``, of the advisers ``adviser_ids``,
    when given) meeting every condition; ``age`` is counted on ``today`` (default: the
    machine's date)."""
    stmt = select(Customer.id).where(Customer.merged_into_id.is_(None))
    if customer_ids is not None:
        stmt = stmt.where(Customer.id.in_(list(customer_ids)))
    if adviser_ids is not None:
        stmt = stmt.where(Customer.adviser_id.in_(list(adviser_ids)))
    for c in conditions:
        stmt = stmt.where(_clause(c, today or date.today()))
    return list(session.scalars(stmt.order_by(Customer.id)))


def _clause(c: Condition, today: date) -> ColumnElement[bool]:
    if c.field_type is not None:
        return _field_clause(c)
    if c.field == "age":
        return _age_clause(c, today)
    if c.field in PROFILE_FIELDS:
        column = PROFILE_FIELDS[c.field]
        # an industry may be stored under its code or its Chinese name (保险 / insurance)
        values = industry_names(c.value) if c.field == "industry" else [c.value]
        if c.op == "=":
            clause: ColumnElement[bool] = column.in_(values)
            return clause
        if c.op == "!=":
            clause = or_(column.is_(None), column.not_in(values))
            return clause
        raise InputError(f"{c.field} 只能用 = 或 != 比较")
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
        raise InputError(f"{c.field} 只能用 = 或 != 比较")
    if c.field in NUMERIC_FIELDS:
        try:
            number = float(c.value)
        except ValueError as exc:
            raise InputError(f"{c.field} 需要一个数字，不是 {c.value!r}") from exc
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
    raise InputError(f"未知的筛选字段 {c.field!r}")


def _number(c: Condition) -> float:
    try:
        return float(c.value)
    except ValueError as exc:
        raise InputError(f"{c.field} 需要一个数字，不是 {c.value!r}") from exc


def _compare(column: Any, op: str, value: object) -> ColumnElement[bool]:
    if op not in COMPARISONS:
        raise InputError(f"未知的比较符 {op!r}")
    clause: ColumnElement[bool] = {
        "=": lambda: column == value,
        "!=": lambda: column != value,
        ">=": lambda: column >= value,
        "<=": lambda: column <= value,
        ">": lambda: column > value,
        "<": lambda: column < value,
    }[op]()
    return clause


def _field_clause(c: Condition) -> ColumnElement[bool]:
    """A declared profile field: the customer holds a value meeting the condition (for
    ``!=``: holds no value equal to it)."""
    if c.field_type in ("number", "money"):
        column: Any = CustomerFieldValue.number
        value: object = _number(c)
    elif c.field_type == "date":
        column = CustomerFieldValue.day
        try:
            value = date.fromisoformat(c.value)
        except ValueError as exc:
            raise InputError(f"{c.field} 需要一个日期（如 2026-01-31），不是 {c.value!r}") from exc
    else:
        if c.op not in ("=", "!="):
            raise InputError(f"{c.field} 只能用 = 或 != 比较")
        column, value = CustomerFieldValue.value, c.value
    op = "=" if c.op == "!=" else c.op
    held = exists().where(
        CustomerFieldValue.customer_id == Customer.id,
        CustomerFieldValue.field == c.field,
        _compare(column, op, value),
    )
    return not_(held) if c.op == "!=" else held


def _age_clause(c: Condition, today: date) -> ColumnElement[bool]:
    """``age OP n`` as a condition on the birthday: age >= n ⟺ born on or before the day
    n years before today."""
    n = _number(c)
    if n != int(n) or not 0 <= n <= 150:
        raise InputError(f"年龄需要整数（岁），不是 {c.value!r}")
    years = int(n)
    born = Customer.birthday

    def at_least(k: int) -> ColumnElement[bool]:
        clause: ColumnElement[bool] = born <= _years_before(today, k)
        return clause

    match c.op:
        case ">=":
            return at_least(years)
        case ">":
            return at_least(years + 1)
        case "<=":
            return born > _years_before(today, years + 1)
        case "<":
            return born > _years_before(today, years)
        case "=":
            return and_(at_least(years), born > _years_before(today, years + 1))
        case "!=":
            return not_(and_(at_least(years), born > _years_before(today, years + 1))) | (
                born.is_(None)
            )
    raise InputError(f"未知的比较符 {c.op!r}")


def _years_before(day: date, years: int) -> date:
    """The same day ``years`` years earlier (Feb 29 -> Feb 28 in a common year)."""
    year = day.year - years
    try:
        return day.replace(year=year)
    except ValueError:
        return day.replace(year=year, day=28)


def _record(row: Segment) -> SegmentRecord:
    return SegmentRecord(
        id=row.id, name=row.name, filters=tuple(row.filters), description=row.description
    )
