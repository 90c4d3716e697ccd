"""Who referred whom (老带新): ``customers.referred_by_id``, how it was set (a
``referral_set`` event with its evidence), chains, and the facts of the referral report."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from bot.errors import InputError, NotFoundError
from bot.store.models import Customer, Event, Identity, Transaction
from bot.store.records import aware
from bot.vocab import AttributionMethod

#: The event that keeps how a referrer was set (payload: referrer id, method, evidence, who).
REFERRAL_EVENT = "referral_set"
#: Referral chains are followed at most this far (a cycle cannot loop forever).
MAX_CHAIN = 50
NO_CUSTOMER = "客户不存在"


@dataclass(frozen=True, slots=True)
class PersonRef:
    """A customer as shown in a referral chain."""

    id: int
    name: str
    adviser_id: str | None


@dataclass(frozen=True, slots=True)
class ReferralFact:
    """A visible customer, its referrer and its revenue (for the referral report)."""

    customer_id: int
    name: str
    adviser_id: str | None
    referred_by_id: int | None
    added_at: datetime
    revenue: float


def set_referrer(
    *,
    session: Session,
    customer_id: int,
    referrer_id: int | None,
    method: AttributionMethod,
    evidence: str,
    actor: str,
) -> None:
    """Set (None: clear) who referred the customer; refuses the customer themself, a
    merged-away profile and a referrer the customer (indirectly) referred."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFoundError(NO_CUSTOMER, ref=customer_id)
    if referrer_id is not None:
        if referrer_id == customer_id:
            raise InputError("客户不能是自己的介绍人")
        referrer = session.get(Customer, referrer_id)
        if referrer is None:
            raise NotFoundError("介绍人不存在", ref=referrer_id)
        if referrer.merged_into_id is not None:
            raise InputError(
                f"介绍人 {referrer_id} 已合并到客户 {referrer.merged_into_id}，请改用该客户"
            )
        if customer_id in {p.id for p in ancestors(session=session, customer_id=referrer_id)}:
            raise InputError(f"客户 {customer_id} 已是 {referrer_id} 的上级介绍人，不能形成循环")
    customer.referred_by_id = referrer_id
    session.add(
        Event(
            customer_id=customer_id,
            type=REFERRAL_EVENT,
            payload={
                "referrer_id": referrer_id,
                "method": method,
                "evidence": evidence,
                "by": actor,
            },
        )
    )
    session.flush()


def ancestors(*, session: Session, customer_id: int) -> list[PersonRef]:
    """The customer's referrer, that one's referrer … (nearest first), following merged
    profiles to the profile they live on in, stopping at a cycle or after ``MAX_CHAIN``."""
    out: list[PersonRef] = []
    seen = {customer_id}
    row = session.get(Customer, customer_id)
    while row is not None and row.referred_by_id is not None and len(out) < MAX_CHAIN:
        parent = _live(session, row.referred_by_id)
        if parent is None or parent.id in seen:
            break
        seen.add(parent.id)
        out.append(PersonRef(parent.id, parent.name, parent.adviser_id))
        row = parent
    return out


def referees(*, session: Session, customer_id: int) -> list[PersonRef]:
    """The visible customers this one referred directly, oldest first."""
    stmt = (
        select(Customer)
        .where(
            Customer.referred_by_id == customer_id,
            Customer.id != customer_id,
            Customer.merged_into_id.is_(None),
        )
        .order_by(Customer.created_at, Customer.id)
    )
    return [PersonRef(r.id, r.name, r.adviser_id) for r in session.scalars(stmt)]


def referral_facts(*, session: Session, until: datetime) -> list[ReferralFact]:
    """Every visible customer added before ``until``, with referrer and revenue (before
    ``until``)."""
    revenue = (
        select(func.coalesce(func.sum(Transaction.amount), 0.0))
        .where(Transaction.customer_id == Customer.id, Transaction.occurred_at < until)
        .scalar_subquery()
    )
    stmt = (
        select(
            Customer.id,
            Customer.name,
            Customer.adviser_id,
            Customer.referred_by_id,
            Customer.created_at,
            revenue,
        )
        .where(Customer.merged_into_id.is_(None), Customer.created_at < until)
        .order_by(Customer.id)
    )
    return [
        ReferralFact(
            customer_id=cid,
            name=name or "",
            adviser_id=adviser,
            referred_by_id=ref if ref != cid else None,
            added_at=aware(added),
            revenue=float(rev or 0.0),
        )
        for cid, name, adviser, ref, added, rev in session.execute(stmt)
    ]


def customers_named(
    *, session: Session, name: str, adviser_id: str | None, exclude: int
) -> list[int]:
    """Visible customers of ``adviser_id`` called ``name`` (their name or an identity's
    display name), other than ``exclude``."""
    stmt = _named(name, exclude).where(
        Customer.adviser_id == adviser_id
        if adviser_id is not None
        else Customer.adviser_id.is_(None)
    )
    return list(session.scalars(stmt))


def customers_named_among(
    *, session: Session, name: str, adviser_ids: Sequence[str] | None, exclude: int | None
) -> list[int]:
    """Visible customers called ``name`` (their name or an identity's display name) of
    the advisers ``adviser_ids`` (None: of anyone, or of no adviser), other than
    ``exclude``."""
    stmt = _named(name, exclude)
    if adviser_ids is not None:
        stmt = stmt.where(Customer.adviser_id.in_(adviser_ids))
    return list(session.scalars(stmt))


def _named(name: str, exclude: int | None) -> Select[int]:
    """The ids of the visible customers called ``name`` (their name or an identity's
    display name), other than ``exclude``, in order."""
    named = select(Identity.customer_id).where(Identity.display_name == name)
    stmt = (
        select(Customer.id)
        .where(
            Customer.merged_into_id.is_(None),
            or_(Customer.name == name, Customer.id.in_(named)),
        )
        .order_by(Customer.id)
    )
    return stmt if exclude is None else stmt.where(Customer.id != exclude)


def _live(session: Session, customer_id: int) -> Customer | None:
    """The customer, or the profile it was merged into (followed to the end)."""
    row = session.get(Customer, customer_id)
    hops = 0
    while row is not None and row.merged_into_id is not None and hops < MAX_CHAIN:
        row = session.get(Customer, row.merged_into_id)
        hops += 1
    return row
