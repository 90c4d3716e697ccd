"""Conversion events (a purchase, a stage change, "converted") and the script touches that
preceded them, for attribution (bot.learning.attribution)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from bot.errors import Conflict, InputError, NotFoundError
from bot.labels import EVENT_LABELS, STAGE_LABELS, choices
from bot.store.messages import API_CHANNEL, api_source_id
from bot.store.models import Customer, Event, Identity, Outcome, Suggestion, Transaction
from bot.store.records import aware
from bot.vocab import STAGES, Stage, member

#: Event types that count as a conversion for attribution.
CONVERSION_TYPES = ("purchase", "converted", "stage_changed")


#: Events that say the customer bought, the stages before a sale, and the stage after it.
BOUGHT = ("purchase", "converted")
BEFORE_SALE = (None, "acquire", "engage", "convert")
AFTER_SALE: Final[Stage] = "retain"


def _staged_after(session: Session, customer_id: int, when: datetime) -> bool:
    """Whether a person set the customer's stage after ``when``."""
    return (
        session.scalar(
            select(Event.id)
            .where(
                Event.customer_id == customer_id,
                Event.type == "stage_changed",
                Event.occurred_at > aware(when).astimezone(UTC),
            )
            .limit(1)
        )
        is not None
    )


@dataclass(frozen=True, slots=True)
class ConversionRecord:
    event_id: int
    transaction_id: int | None
    customer_id: int
    type: str
    amount: float | None
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class Touch:
    """A script the adviser used (adopted or edited) with a customer."""

    customer_id: int
    script_id: str
    at: datetime


def resolve_customer(*, session: Session, ref: str, adviser_id: str | None = None) -> int:
    """A customer id, or an identity value (phone, wechat id, member id …); follows merges.
    With ``adviser_id``, that adviser's own contact id as posted to ``POST /api/messages``
    (stored namespaced, ``api_source_id``) is looked up first: an integration names its
    customers by the contact ids it posted. ``#5`` is customer id 5 only, never an
    identity (a number that is also another customer's contact id)."""
    ref = ref.strip()
    by_id = ref.startswith("#") and ref[1:].strip().isdigit()
    number = ref[1:].strip() if by_id else ref
    customer: Customer | None = None
    if adviser_id and not by_id:
        owner = session.scalar(
            select(Identity.customer_id)
            .where(
                Identity.kind == f"{API_CHANNEL}_contact",
                Identity.value == api_source_id(adviser_id, ref),
            )
            .limit(1)
        )
        customer = session.get(Customer, owner) if owner is not None else None
    # ASCII digits only ("²".isdigit() is true, but int() refuses it), and no larger than a
    # 32-bit id column holds (the database refuses to compare with a larger number).
    if (
        customer is None
        and number.isascii()
        and number.isdigit()
        and len(number) <= 10
        and int(number) < 2**31
    ):
        customer = session.get(Customer, int(number))
    if customer is None and not by_id:
        customer = _holding(session, ref)
    customer = _merged(session, customer)
    if customer is None:
        raise NotFoundError(f"客户 {ref!r} 不存在")
    return customer.id


def identity_owner(*, session: Session, ref: str) -> int | None:
    """The customer holding ``ref`` as an identity value (a contact id, a phone …),
    following merges; None for none. ``resolve_customer`` reads a number as a customer
    id first: this is the other reading of a numeric contact id."""
    found = _merged(session, _holding(session, ref.strip()))
    return found.id if found is not None else None


def _holding(session: Session, value: str) -> Customer | None:
    """The customer holding ``value`` as an identity value (before following merges)."""
    owner = session.scalar(select(Identity.customer_id).where(Identity.value == value).limit(1))
    return session.get(Customer, owner) if owner is not None else None


def _merged(session: Session, customer: Customer | None) -> Customer | None:
    """The customer ``customer`` was merged into (through every merge), or itself."""
    seen = set()
    while customer is not None and customer.merged_into_id and customer.id not in seen:
        seen.add(customer.id)
        customer = session.get(Customer, customer.merged_into_id)
    return customer


#: An order id recorded for another customer (not named: the caller may not see them).
ORDER_ELSEWHERE = "订单号 {order_id} 已记在另一位客户名下，这次没有记录：请核对订单号和客户"


def order_owner(*, session: Session, order_id: str) -> int | None:
    """The customer an order id is recorded for, if any."""
    return session.scalar(
        select(Transaction.customer_id).where(Transaction.external_id == order_id)
    )


def add_conversion(
    *,
    session: Session,
    customer_id: int,
    type: str,
    occurred_at: datetime,
    amount: float | None = None,
    product: str = "",
    order_id: str | None = None,
    stage: str | None = None,
) -> ConversionRecord | None:
    """Record a conversion event; with an amount also an order (Transaction). An
    ``order_id`` already recorded for this customer is skipped (returns None, nothing
    changes), so re-importing an order file is harmless; one recorded for another
    customer is refused (``Conflict``): an order id is the shop's, one order is one
    customer's (before, a colleague's earlier order id silently swallowed a real
    purchase). ``stage_changed`` moves the customer to ``stage``; a purchase or
    ``converted`` moves one still courted to 服务 (``retain``), unless a stage was set by
    hand after it (an old order imported late)."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFoundError(f"客户 {customer_id} 不存在")
    if type not in CONVERSION_TYPES:
        raise InputError(f"事件类型只能是 {choices(EVENT_LABELS, CONVERSION_TYPES)}")
    if amount is not None and amount < 0:
        raise InputError("金额不能为负数")
    new_stage = member(STAGES, stage)
    if type == "stage_changed" and new_stage is None:
        raise InputError(f"stage_changed（阶段变化）需要给出阶段：{choices(STAGE_LABELS, STAGES)}")
    if order_id:
        owner = order_owner(session=session, order_id=order_id)
        if owner is not None and owner != customer_id:
            raise Conflict(ORDER_ELSEWHERE.format(order_id=order_id))
        if owner is not None:
            return None
    if type == "stage_changed" and new_stage is not None:
        customer.stage = new_stage
    elif (
        type in BOUGHT
        and customer.stage in BEFORE_SALE
        and not _staged_after(session, customer_id, occurred_at)
    ):
        customer.stage = AFTER_SALE  # a customer who bought is served, no longer courted
    transaction_id = None
    if amount is not None:
        tx = Transaction(
            customer_id=customer_id,
            external_id=order_id or None,
            product=product,
            amount=amount,
            occurred_at=occurred_at,
        )
        session.add(tx)
        session.flush()
        transaction_id = tx.id
    payload: dict[str, Any] = {"amount": amount, "product": product, "order_id": order_id}
    if stage:
        payload["stage"] = stage
    if transaction_id is not None:
        payload["transaction_id"] = transaction_id
    event = Event(customer_id=customer_id, type=type, payload=payload, occurred_at=occurred_at)
    session.add(event)
    session.flush()
    return ConversionRecord(
        event_id=event.id,
        transaction_id=transaction_id,
        customer_id=customer_id,
        type=type,
        amount=amount,
        occurred_at=aware(occurred_at),
    )


def list_conversions(
    *,
    session: Session,
    since: datetime | None = None,
    adviser_ids: Sequence[str] | None = None,
) -> list[ConversionRecord]:
    """Conversion events, plus orders recorded without one (as purchases), oldest first;
    of the customers of ``adviser_ids`` only, when given."""
    stmt = select(Event).where(Event.type.in_(CONVERSION_TYPES)).order_by(Event.occurred_at)
    if since is not None:
        stmt = stmt.where(Event.occurred_at >= since)
    if adviser_ids is not None:
        stmt = stmt.where(Event.customer_id.in_(_customers_of(adviser_ids)))
    out = []
    linked: set[int] = set()
    for e in session.scalars(stmt):
        tx = (e.payload or {}).get("transaction_id")
        if isinstance(tx, int):
            linked.add(tx)
        amount = (e.payload or {}).get("amount")
        out.append(
            ConversionRecord(
                event_id=e.id,
                transaction_id=tx if isinstance(tx, int) else None,
                customer_id=e.customer_id,
                type=e.type,
                amount=float(amount) if isinstance(amount, int | float) else None,
                occurred_at=aware(e.occurred_at),
            )
        )
    tx_stmt = select(Transaction).order_by(Transaction.occurred_at)
    if since is not None:
        tx_stmt = tx_stmt.where(Transaction.occurred_at >= since)
    if adviser_ids is not None:
        tx_stmt = tx_stmt.where(Transaction.customer_id.in_(_customers_of(adviser_ids)))
    for t in session.scalars(tx_stmt):
        if t.id not in linked:
            out.append(
                ConversionRecord(
                    event_id=0,
                    transaction_id=t.id,
                    customer_id=t.customer_id,
                    type="purchase",
                    amount=t.amount,
                    occurred_at=aware(t.occurred_at),
                )
            )
    return sorted(out, key=lambda c: c.occurred_at)


def script_touches(
    *,
    session: Session,
    since: datetime | None = None,
    adviser_ids: Sequence[str] | None = None,
) -> list[Touch]:
    """Every adopted or edited script (in suggestions to ``adviser_ids`` only, when given),
    with the customer and when, oldest first."""
    stmt = (
        select(Suggestion.customer_id, Outcome.script_id, Outcome.created_at)
        .join(Suggestion, Outcome.suggestion_id == Suggestion.id)
        .where(
            Outcome.kind.in_(("adopted", "edited")),
            Outcome.script_id.is_not(None),
            Suggestion.customer_id.is_not(None),
        )
        .order_by(Outcome.created_at, Outcome.id)
    )
    if since is not None:
        stmt = stmt.where(Outcome.created_at >= since)
    if adviser_ids is not None:
        stmt = stmt.where(Suggestion.adviser_id.in_(adviser_ids))
    return [
        Touch(customer_id=cid, script_id=sid, at=aware(at))
        for cid, sid, at in session.execute(stmt)
        if cid is not None and sid is not None
    ]


def _customers_of(adviser_ids: Sequence[str]) -> Select[int]:
    return select(Customer.id).where(Customer.adviser_id.in_(adviser_ids))
