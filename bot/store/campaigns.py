"""Campaigns, their per-adviser entry codes and targets, and which customer came in by
which code (attribution, with its evidence kept as an ``attributed`` event)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import case, exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from bot.errors import InputError, NotFoundError
from bot.store.customers import customer_record, ensure_adviser
from bot.store.models import (
    Adviser,
    Campaign,
    CampaignCode,
    Customer,
    Event,
    Message,
    Script,
    Transaction,
    User,
)
from bot.store.records import CustomerRecord, aware
from bot.store.reports import CONVERSION_EVENTS
from bot.vocab import AttributionMethod

#: The event that keeps how a customer was attributed (payload: code, campaign, channel,
#: adviser, method, evidence, message id, who).
ATTRIBUTED_EVENT = "attributed"
#: The event that keeps an entry code a contact wrote but was not attributed to: the code
#: is another adviser's (payload: code, campaign, channel, the code's adviser, the
#: contact's adviser, evidence, message id).
CODE_NOT_ATTRIBUTED_EVENT = "code_not_attributed"
NO_CAMPAIGN = "活动不存在"
NO_CODE = "渠道码不存在"


@dataclass(frozen=True, slots=True)
class CampaignSpec:
    name: str
    channel: str
    starts_on: date
    ends_on: date | None = None
    cost: float = 0.0
    segment: str | None = None
    welcome_script_id: str | None = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class CampaignRecord:
    id: int
    name: str
    channel: str
    starts_on: date
    ends_on: date | None
    cost: float
    segment: str | None
    welcome_script_id: str | None
    note: str
    created_by: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class CodeRecord:
    """One adviser's entry code of one campaign, with the adviser's targets."""

    id: int
    campaign_id: int
    campaign: str
    channel: str
    adviser_id: str
    adviser_name: str
    code: str
    target_added: int | None
    target_converted: int | None
    target_revenue: float | None
    welcome_script_id: str | None = None


@dataclass(frozen=True, slots=True)
class AttributionRecord:
    """Where a customer came from: the code (campaign, channel, adviser), and how that
    was established (method, evidence, when, by whom) — from the ``attributed`` event."""

    customer_id: int
    code: CodeRecord
    method: str
    evidence: str
    at: datetime | None
    by: str


@dataclass(frozen=True, slots=True)
class MemberFacts:
    """One attributed customer and what they did before the end of the report period."""

    customer_id: int
    name: str
    code_id: int
    #: The customer's own adviser (who may see them), not necessarily the code's.
    adviser_id: str | None
    added_at: datetime
    engaged: bool
    converted: bool
    revenue: float
    #: Customers this one referred directly (裂变), added before the end of the period.
    referred: int


# --------------------------------------------------------------------------- campaigns
def create_campaign(*, session: Session, spec: CampaignSpec, actor: str) -> CampaignRecord:
    if session.scalar(select(Campaign.id).where(Campaign.name == spec.name)) is not None:
        raise InputError(f"活动名称已存在：{spec.name}")
    if spec.welcome_script_id and session.get(Script, spec.welcome_script_id) is None:
        raise NotFoundError("欢迎语话术不存在", ref=spec.welcome_script_id)
    row = Campaign(
        name=spec.name,
        channel=spec.channel,
        starts_on=spec.starts_on,
        ends_on=spec.ends_on,
        cost=spec.cost,
        segment=spec.segment,
        welcome_script_id=spec.welcome_script_id,
        note=spec.note,
        created_by=actor,
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError as exc:  # a concurrent add of the same name
        raise InputError(f"活动名称已存在：{spec.name}") from exc
    return campaign_record(row)


def find_campaign(*, session: Session, ref: str) -> CampaignRecord:
    """A campaign by its id (digits) or its name."""
    text = ref.strip()
    row = session.scalar(select(Campaign).where(Campaign.name == text))
    if row is None and text.isascii() and text.isdigit() and len(text) <= 10:
        row = session.get(Campaign, int(text))
    if row is None:
        raise NotFoundError(NO_CAMPAIGN, ref=ref)
    return campaign_record(row)


def list_campaigns(*, session: Session) -> list[CampaignRecord]:
    stmt = select(Campaign).order_by(Campaign.starts_on.desc(), Campaign.id.desc())
    return [campaign_record(r) for r in session.scalars(stmt)]


# --------------------------------------------------------------------------- codes
def add_code(*, session: Session, campaign_id: int, adviser_id: str, code: str) -> CodeRecord:
    """Give ``adviser_id`` the entry code ``code`` for the campaign; an adviser has one
    code per campaign and a code belongs to one adviser."""
    ensure_adviser(session=session, adviser_id=adviser_id)
    mine = session.scalar(
        select(CampaignCode).where(
            CampaignCode.campaign_id == campaign_id, CampaignCode.adviser_id == adviser_id
        )
    )
    if mine is not None:
        raise InputError(f"顾问 {adviser_id} 在这个活动已有渠道码 {mine.code}")
    if session.scalar(select(CampaignCode.id).where(CampaignCode.code == code)) is not None:
        raise InputError(f"渠道码已被使用：{code}")
    row = CampaignCode(campaign_id=campaign_id, adviser_id=adviser_id, code=code)
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError as exc:
        raise InputError(f"渠道码已被使用：{code}") from exc
    return _code(session, row.id)


def own_code(code: CodeRecord, adviser_id: str | None) -> bool:
    """Whether ``code`` may credit, with nobody judging the case, a customer whose own
    adviser is ``adviser_id``: only when it is that adviser's code (a code in a greeting,
    the ``campaign_code`` column of an import). Reports count each customer by their own
    adviser's scope: a customer credited to another adviser's code is missing from that
    adviser's own figures (their row, 我的数据, the cost share) and, for a code of another
    team, from every team manager's rows."""
    return adviser_id is not None and code.adviser_id == adviser_id


def code_exists(*, session: Session, code: str) -> bool:
    return session.scalar(select(CampaignCode.id).where(CampaignCode.code == code)) is not None


def set_targets(
    *,
    session: Session,
    code_id: int,
    added: int | None,
    converted: int | None,
    revenue: float | None,
) -> CodeRecord:
    row = session.get(CampaignCode, code_id)
    if row is None:
        raise NotFoundError(NO_CODE, ref=code_id)
    row.target_added, row.target_converted, row.target_revenue = added, converted, revenue
    session.flush()
    return _code(session, code_id)


def list_codes(
    *,
    session: Session,
    campaign_id: int | None = None,
    adviser_ids: tuple[str, ...] | None = None,
) -> list[CodeRecord]:
    """Entry codes (of one campaign; of the advisers ``adviser_ids`` when given)."""
    stmt = _codes_query().order_by(Campaign.starts_on.desc(), Campaign.id, CampaignCode.id)
    if campaign_id is not None:
        stmt = stmt.where(CampaignCode.campaign_id == campaign_id)
    if adviser_ids is not None:
        stmt = stmt.where(CampaignCode.adviser_id.in_(adviser_ids))
    return [_code_record(*row) for row in session.execute(stmt)]


def find_code(*, session: Session, code: str) -> CodeRecord | None:
    row = session.execute(_codes_query().where(CampaignCode.code == code)).first()
    return _code_record(*row) if row else None


def code_for(*, session: Session, campaign_id: int, adviser_id: str) -> CodeRecord | None:
    row = session.execute(
        _codes_query().where(
            CampaignCode.campaign_id == campaign_id, CampaignCode.adviser_id == adviser_id
        )
    ).first()
    return _code_record(*row) if row else None


def get_code(*, session: Session, code_id: int) -> CodeRecord:
    if session.get(CampaignCode, code_id) is None:
        raise NotFoundError(NO_CODE, ref=code_id)
    return _code(session, code_id)


def all_codes(*, session: Session) -> list[str]:
    """Every entry code (the greeting detector looks for them)."""
    return list(session.scalars(select(CampaignCode.code).order_by(CampaignCode.id)))


def _code(session: Session, code_id: int) -> CodeRecord:
    row = session.execute(_codes_query().where(CampaignCode.id == code_id)).one()
    return _code_record(*row)


def _codes_query() -> Any:
    # the name colleagues know the adviser by (bot/store/advisers.py adviser_names)
    display = (
        select(User.display_name)
        .where(User.adviser_id == Adviser.id, User.display_name != "")
        .order_by(User.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    return (
        select(CampaignCode, Campaign, Adviser, display)
        .join(Campaign, Campaign.id == CampaignCode.campaign_id)
        .join(Adviser, Adviser.id == CampaignCode.adviser_id)
    )


def _code_record(
    code: CampaignCode, campaign: Campaign, adviser: Adviser, display: str | None
) -> CodeRecord:
    return CodeRecord(
        id=code.id,
        campaign_id=campaign.id,
        campaign=campaign.name,
        channel=campaign.channel,
        adviser_id=adviser.id,
        adviser_name=display or adviser.persona_name or adviser.name or adviser.id,
        code=code.code,
        target_added=code.target_added,
        target_converted=code.target_converted,
        target_revenue=code.target_revenue,
        welcome_script_id=campaign.welcome_script_id,
    )


# --------------------------------------------------------------------------- attribution
def attribute(
    *,
    session: Session,
    customer_id: int,
    code_id: int,
    method: AttributionMethod,
    evidence: str,
    actor: str,
    message_id: int | None = None,
    at: datetime | None = None,
) -> AttributionRecord:
    """Attribute the customer to an entry code (campaign, channel, adviser), keeping how
    as an ``attributed`` event; the channel becomes the customer's ``source`` when it
    has none. Replaces an earlier attribution (its event stays in the trail)."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFoundError("客户不存在", ref=customer_id)
    code = _code(session, code_id)
    customer.entry_code_id = code_id
    if not customer.source:
        customer.source = code.channel[:50]
    event = Event(
        customer_id=customer_id,
        type=ATTRIBUTED_EVENT,
        payload={
            **_code_fields(code),
            "adviser_id": code.adviser_id,
            "method": method,
            "evidence": evidence,
            "message_id": message_id,
            "by": actor,
        },
    )
    if at is not None:
        event.occurred_at = at
    session.add(event)
    session.flush()
    return AttributionRecord(
        customer_id=customer_id,
        code=code,
        method=method,
        evidence=evidence,
        at=aware(event.occurred_at),
        by=actor,
    )


def code_not_attributed(
    *,
    session: Session,
    customer_id: int,
    code_id: int,
    evidence: str,
    message_id: int | None = None,
) -> None:
    """Keep, as a ``code_not_attributed`` event, that the customer wrote an entry code
    they were not attributed to (another adviser's): the contact stays unattributed, and
    whoever fixes it sees which code was written."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise NotFoundError("客户不存在", ref=customer_id)
    code = _code(session, code_id)
    session.add(
        Event(
            customer_id=customer_id,
            type=CODE_NOT_ATTRIBUTED_EVENT,
            payload={
                **_code_fields(code),
                "code_adviser_id": code.adviser_id,
                "adviser_id": customer.adviser_id,
                "evidence": evidence,
                "message_id": message_id,
            },
        )
    )
    session.flush()


def _code_fields(code: CodeRecord) -> dict[str, Any]:
    """What an event keeps of the entry code it is about."""
    return {
        "code": code.code,
        "campaign_id": code.campaign_id,
        "campaign": code.campaign,
        "channel": code.channel,
    }


def codes_not_attributed(
    *,
    session: Session,
    customer_ids: Sequence[int],
    adviser_ids: tuple[str, ...] | None = None,
) -> dict[int, str]:
    """Customer id -> the entry code they last wrote but were not attributed to (those
    of ``customer_ids`` that have one; of the advisers ``adviser_ids`` when given)."""
    if not customer_ids:
        return {}
    stmt = (
        select(Event.customer_id, Event.payload)
        .join(Customer, Customer.id == Event.customer_id)
        .where(Event.customer_id.in_(customer_ids), Event.type == CODE_NOT_ATTRIBUTED_EVENT)
        .order_by(Event.occurred_at, Event.id)
    )
    if adviser_ids is not None:
        stmt = stmt.where(Customer.adviser_id.in_(adviser_ids))
    rows = session.execute(stmt)
    found: dict[int, str] = {}
    for customer_id, payload in rows:
        code = (payload or {}).get("code")  # blank after the customer was forgotten
        if code:
            found[customer_id] = str(code)
    return found


def attribution_of(*, session: Session, customer_id: int) -> AttributionRecord | None:
    """The customer's attribution (None: unattributed), with the evidence of the latest
    ``attributed`` event (empty after the customer was forgotten)."""
    customer = session.get(Customer, customer_id)
    if customer is None or customer.entry_code_id is None:
        return None
    code = _code(session, customer.entry_code_id)
    event = session.scalar(
        select(Event)
        .where(Event.customer_id == customer_id, Event.type == ATTRIBUTED_EVENT)
        .order_by(Event.occurred_at.desc(), Event.id.desc())
        .limit(1)
    )
    payload: dict[str, Any] = dict(event.payload) if event is not None else {}
    return AttributionRecord(
        customer_id=customer_id,
        code=code,
        method=str(payload.get("method", "")),
        evidence=str(payload.get("evidence", "")),
        at=aware(event.occurred_at) if event is not None else None,
        by=str(payload.get("by", "")),
    )


def unattributed(
    *,
    session: Session,
    since: datetime,
    adviser_ids: tuple[str, ...] | None = None,
    limit: int = 500,
) -> list[CustomerRecord]:
    """Visible customers added since ``since`` without an entry code, newest first."""
    stmt = (
        select(Customer)
        .where(
            Customer.merged_into_id.is_(None),
            Customer.entry_code_id.is_(None),
            Customer.created_at >= since,
        )
        .order_by(Customer.created_at.desc(), Customer.id.desc())
        .limit(limit)
    )
    if adviser_ids is not None:
        stmt = stmt.where(Customer.adviser_id.in_(adviser_ids))
    return [customer_record(r) for r in session.scalars(stmt)]


# --------------------------------------------------------------------------- report facts
def members(
    *,
    session: Session,
    since: datetime | None,
    until: datetime,
    code_ids: Sequence[int] | None = None,
    adviser_ids: tuple[str, ...] | None = None,
    referee_adviser_ids: tuple[str, ...] | None = None,
) -> list[MemberFacts]:
    """Attributed, visible customers added in [since, until) (any time before ``until``
    when ``since`` is None), with what they did before ``until``: engaged (wrote),
    converted (a transaction or a converted / purchase event), revenue (their
    transactions), and how many customers they referred. ``adviser_ids`` (a scope): only
    the customers whose own adviser is one of them, whoever's code they came by.
    ``referee_adviser_ids`` (a scope): only the referred customers whose own adviser is
    one of them are counted (whoever referred them)."""
    engaged = exists().where(
        Message.customer_id == Customer.id, Message.direction == "in", Message.sent_at < until
    )
    bought = exists().where(Transaction.customer_id == Customer.id, Transaction.occurred_at < until)
    event = exists().where(
        Event.customer_id == Customer.id,
        Event.type.in_(CONVERSION_EVENTS),
        Event.occurred_at < until,
    )
    revenue = (
        select(func.coalesce(func.sum(Transaction.amount), 0.0))
        .where(Transaction.customer_id == Customer.id, Transaction.occurred_at < until)
        .scalar_subquery()
    )
    referee = aliased(Customer)
    referred = (
        select(func.count(referee.id))
        .where(
            referee.referred_by_id == Customer.id,
            referee.id != Customer.id,
            referee.merged_into_id.is_(None),
            referee.created_at < until,
            *(
                (referee.adviser_id.in_(referee_adviser_ids),)
                if referee_adviser_ids is not None
                else ()
            ),
        )
        .scalar_subquery()
    )
    stmt = (
        select(
            Customer.id,
            Customer.name,
            Customer.entry_code_id,
            Customer.adviser_id,
            Customer.created_at,
            case((engaged, True), else_=False),
            case((bought | event, True), else_=False),
            revenue,
            referred,
        )
        .where(
            Customer.merged_into_id.is_(None),
            Customer.entry_code_id.is_not(None),
            Customer.created_at < until,
        )
        .order_by(Customer.id)
    )
    if since is not None:
        stmt = stmt.where(Customer.created_at >= since)
    if code_ids is not None:
        stmt = stmt.where(Customer.entry_code_id.in_(code_ids))
    if adviser_ids is not None:
        stmt = stmt.where(Customer.adviser_id.in_(adviser_ids))
    return [
        MemberFacts(
            customer_id=cid,
            name=name or "",
            code_id=code_id,
            adviser_id=adviser,
            added_at=aware(added),
            engaged=bool(eng),
            converted=bool(conv),
            revenue=float(rev or 0.0),
            referred=int(ref or 0),
        )
        for cid, name, code_id, adviser, added, eng, conv, rev, ref in session.execute(stmt)
    ]


def campaign_record(row: Campaign) -> CampaignRecord:
    return CampaignRecord(
        id=row.id,
        name=row.name,
        channel=row.channel,
        starts_on=row.starts_on,
        ends_on=row.ends_on,
        cost=float(row.cost or 0.0),
        segment=row.segment,
        welcome_script_id=row.welcome_script_id,
        note=row.note,
        created_by=row.created_by,
        created_at=aware(row.created_at),
    )
