"""Referrals (老带新): set who referred a customer, a customer's referral chain, and the
share of customers and revenue that came by referral."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from sqlalchemy.orm import Session

from bot.crm import referrals as crm_referrals
from bot.errors import NotFoundError
from bot.services import audit, customer_refs
from bot.services.access import CUSTOMER_VIEWERS, Principal, check_customer, require, scope_of
from bot.store import referrals as repo
from bot.store.referrals import PersonRef

Chain = crm_referrals.Chain
Referred = crm_referrals.Referred
ReferralReport = crm_referrals.ReferralReport
#: How a referrer outside the viewer's scope appears in a chain (once, at its end).
OTHER = "（其他顾问的客户）"
NO_REFERRER = "介绍人不存在"


def resolve(session: Session, principal: Principal, ref: str, *, exclude: int | None = None) -> int:
    """A customer in scope given by id, by any identity value (phone, contact id …) or,
    failing those, by name (``customer_refs.resolve``: a customer of the principal's
    scope other than ``exclude``; ``InputError`` when several have it). One outside the
    principal's scope is refused exactly as one that does not exist (the same
    ``NO_REFERRER``), so the field cannot probe other advisers' customers."""
    try:
        return customer_refs.resolve(session, principal, ref, exclude=exclude, whose="介绍人")
    except NotFoundError:
        raise NotFoundError(NO_REFERRER, ref=ref.strip()) from None


def check_referrer(session: Session, principal: Principal, referrer_id: int, *, ref: str) -> None:
    """``NotFoundError(NO_REFERRER)`` unless the referrer exists and is in the principal's
    scope: the same answer for both (the refusal is audited as ``customer.denied``)."""
    try:
        check_customer(session, principal, referrer_id)
    except NotFoundError:
        raise NotFoundError(NO_REFERRER, ref=ref) from None


def set_referrer(
    session: Session,
    principal: Principal,
    *,
    customer_id: int,
    referrer: str | None,
    note: str = "",
) -> int | None:
    """Set (None or empty: clear) who referred a customer; both must be in scope."""
    require(principal, *CUSTOMER_VIEWERS)
    check_customer(session, principal, customer_id)
    referrer_id = (
        resolve(session, principal, referrer, exclude=customer_id)
        if referrer and referrer.strip()
        else None
    )
    repo.set_referrer(
        session=session,
        customer_id=customer_id,
        referrer_id=referrer_id,
        method="manual",
        evidence=note.strip() or f"{principal.username} 手动设置",
        actor=principal.username,
    )
    audit.record(
        session, principal, "customer.referrer", "customer", customer_id, referrer=referrer_id
    )
    return referrer_id


def chain(session: Session, principal: Principal, customer_id: int) -> Chain:
    """Who referred the customer (up the chain) and whom they referred (the tree), as
    far as the principal's scope goes: a referrer outside it shows once, without name or
    id (that the customer was referred is the customer's own record), and ends the chain
    up; the customers they referred who are outside it are left out with everyone below
    them, so nothing counts or names another adviser's customers."""
    require(principal, *CUSTOMER_VIEWERS)
    check_customer(session, principal, customer_id)
    scope = scope_of(session, principal)
    found = crm_referrals.chain(session=session, customer_id=customer_id)
    audit.record(session, principal, "customer.referrals.view", "customer", customer_id)

    up: list[PersonRef] = []
    for p in found.up:
        if not scope.allows(p.adviser_id):
            up.append(PersonRef(0, OTHER, None))
            break
        up.append(p)

    def tree(nodes: tuple[Referred, ...]) -> tuple[Referred, ...]:
        return tuple(
            Referred(n.person, tree(n.children)) for n in nodes if scope.allows(n.person.adviser_id)
        )

    return replace(found, up=tuple(up), down=tree(found.down))


def report(
    session: Session, principal: Principal, *, since: date | None, until: date, timezone: str
) -> ReferralReport:
    """Referral shares per adviser and the referrers, of the principal's scope (audited:
    it names customers)."""
    require(principal, *CUSTOMER_VIEWERS)
    found = crm_referrals.report(
        session=session,
        since=since,
        until=until,
        timezone=timezone,
        adviser_ids=scope_of(session, principal).adviser_ids,
    )
    audit.record(
        session, principal, "referrals.report", "customer", "", referrers=len(found.referrers)
    )
    return found
