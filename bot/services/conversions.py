"""Conversions from other systems: a purchase (with an amount: an order), "converted", a
stage change; and order files."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.orm import Session

from bot.crm import conversions as crm_conversions
from bot.errors import InputError, NotFoundError, RejectedInput
from bot.services import audit
from bot.services.access import CUSTOMER_VIEWERS, NO_CUSTOMER, Principal, check_customer, require
from bot.store import conversions as conv_repo


@dataclass(frozen=True, slots=True)
class Recorded:
    customer_id: int
    #: None: an order with this order id was recorded before (nothing was added).
    conversion: conv_repo.ConversionRecord | None


def record(
    session: Session,
    principal: Principal,
    *,
    customer: str,
    type: str,
    occurred_at: datetime,
    amount: float | None = None,
    product: str = "",
    order_id: str | None = None,
    stage: str | None = None,
) -> Recorded:
    """Record a conversion of a customer in scope, named by id or by any identity value
    (phone, WeChat id …); a time without a zone is UTC."""
    require(principal, *CUSTOMER_VIEWERS)
    try:
        when = (
            occurred_at.astimezone(UTC) if occurred_at.tzinfo else occurred_at.replace(tzinfo=UTC)
        )
    except (OverflowError, ValueError) as exc:
        raise RejectedInput("时间超出范围") from exc
    try:
        customer_id = conv_repo.resolve_customer(
            session=session, ref=customer, adviser_id=principal.adviser_id
        )
    except NotFoundError:
        raise NotFoundError(NO_CUSTOMER, ref=customer) from None
    check_customer(session, principal, customer_id)
    try:
        found = conv_repo.add_conversion(
            session=session,
            customer_id=customer_id,
            type=type,
            occurred_at=when,
            amount=amount,
            product=product,
            order_id=order_id,
            stage=stage,
        )
    except InputError as exc:
        raise RejectedInput(str(exc)) from exc
    audit.record(session, principal, f"event.{type}", "customer", customer_id)
    return Recorded(customer_id=customer_id, conversion=found)


def import_orders(
    session: Session, principal: Principal, *, path: Path, timezone: str
) -> crm_conversions.OrderImportStats:
    """Import orders (all or nothing; order ids already stored are skipped)."""
    require(principal)
    stats = crm_conversions.import_orders(session=session, path=path, timezone=timezone)
    audit.record(
        session,
        principal,
        "orders.import",
        "order",
        path.name,
        added=stats.added,
        skipped=stats.skipped,
    )
    return stats
