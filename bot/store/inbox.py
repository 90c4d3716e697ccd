"""Read models of the web console: the adviser's conversation list (unread, waiting
time), the manager's tag review queue, and ownership look-ups for access checks.

"Unread" counts the customer's messages since this viewer last opened the customer
(the audit log's ``customer.view`` entries); "waiting since" is the first customer
message not yet followed by an adviser message.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import String, cast, func, select
from sqlalchemy.orm import Session

from bot.store.models import (
    AuditLog,
    Customer,
    CustomerTag,
    Message,
    Suggestion,
    Tag,
    TagCategory,
)
from bot.store.records import CustomerTagRecord, SuggestionRecord, aware
from bot.store.suggestions import suggestion_record
from bot.store.tags import customer_tag_record

VIEW_ACTION = "customer.view"


@dataclass(frozen=True, slots=True)
class InboxRow:
    customer_id: int
    name: str
    adviser_id: str | None
    last_message_at: datetime | None
    last_text: str
    unread: int
    waiting_since: datetime | None


def conversation_list(
    *,
    session: Session,
    adviser_ids: tuple[str, ...] | None,
    viewer: str,
    customer_ids: Collection[int] | None = None,
    limit: int = 100,
) -> list[InboxRow]:
    """Customers in scope (only ``customer_ids`` when given), most recently active first;
    a profile merged into another is not listed (it lives on in the one it was merged
    into)."""
    stmt = (
        select(Customer)
        .where(Customer.merged_into_id.is_(None))
        .order_by(Customer.last_message_at.desc().nulls_last(), Customer.id.desc())
        .limit(limit)
    )
    if adviser_ids is not None:
        stmt = stmt.where(Customer.adviser_id.in_(adviser_ids))
    if customer_ids is not None:
        stmt = stmt.where(Customer.id.in_(customer_ids))
    customers = list(session.scalars(stmt))
    ids = [c.id for c in customers]
    if not ids:
        return []
    last_view = (
        select(AuditLog.target_id.label("cid"), func.max(AuditLog.at).label("at"))
        .where(
            AuditLog.actor == viewer,
            AuditLog.action == VIEW_ACTION,
            AuditLog.target_type == "customer",
        )
        .group_by(AuditLog.target_id)
        .subquery()
    )
    unread = dict(
        session.execute(
            select(Message.customer_id, func.count())
            .outerjoin(last_view, last_view.c.cid == cast(Message.customer_id, String))
            .where(
                Message.customer_id.in_(ids),
                Message.direction == "in",
                (last_view.c.at.is_(None)) | (Message.sent_at > last_view.c.at),
            )
            .group_by(Message.customer_id)
        ).all()
    )
    last_out = (
        select(Message.customer_id.label("cid"), func.max(Message.sent_at).label("at"))
        .where(Message.customer_id.in_(ids), Message.direction == "out")
        .group_by(Message.customer_id)
        .subquery()
    )
    waiting = dict(
        session.execute(
            select(Message.customer_id, func.min(Message.sent_at))
            .outerjoin(last_out, last_out.c.cid == Message.customer_id)
            .where(
                Message.customer_id.in_(ids),
                Message.direction == "in",
                (last_out.c.at.is_(None)) | (Message.sent_at > last_out.c.at),
            )
            .group_by(Message.customer_id)
        ).all()
    )
    newest_id = (
        select(func.max(Message.id))
        .where(Message.customer_id.in_(ids))
        .group_by(Message.customer_id)
        .scalar_subquery()
    )
    last_text = dict(
        session.execute(
            select(Message.customer_id, Message.text).where(Message.id.in_(newest_id))
        ).all()
    )
    return [
        InboxRow(
            customer_id=c.id,
            name=c.name,
            adviser_id=c.adviser_id,
            last_message_at=aware(c.last_message_at) if c.last_message_at else None,
            last_text=last_text.get(c.id) or "",
            unread=int(unread.get(c.id, 0)),
            waiting_since=aware(waiting[c.id]) if waiting.get(c.id) else None,
        )
        for c in customers
    ]


def customer_adviser(*, session: Session, customer_id: int) -> tuple[bool, str | None]:
    """``(exists, adviser_id)`` of a customer, for access checks."""
    row = session.get(Customer, customer_id)
    return (row is not None, row.adviser_id if row else None)


def customer_tag_customer(*, session: Session, customer_tag_id: int) -> int | None:
    """The customer a customer-tag belongs to (None if unknown)."""
    return session.scalar(select(CustomerTag.customer_id).where(CustomerTag.id == customer_tag_id))


def latest_suggestion(*, session: Session, customer_id: int) -> SuggestionRecord | None:
    row = session.scalar(
        select(Suggestion)
        .where(Suggestion.customer_id == customer_id)
        .order_by(Suggestion.id.desc())
        .limit(1)
    )
    return suggestion_record(row) if row else None


def get_suggestion(*, session: Session, suggestion_id: int) -> SuggestionRecord | None:
    row = session.get(Suggestion, suggestion_id)
    return suggestion_record(row) if row else None


@dataclass(frozen=True, slots=True)
class ReviewItem:
    tag: CustomerTagRecord
    adviser_id: str | None
    evidence_message: str | None
    #: Filled in by the service (bot/services/tags.py): what colleagues call the adviser.
    adviser_name: str | None = None


def tag_review_queue(
    *,
    session: Session,
    adviser_ids: tuple[str, ...] | None,
    limit: int = 200,
    adviser_id: str | None = None,
    category: str | None = None,
    tag: str | None = None,
) -> list[ReviewItem]:
    """Suggested customer tags waiting for review, with the message they came from; only
    ``adviser_id``'s customers, of ``category``, of the tag named ``tag`` when given."""
    stmt = (
        select(CustomerTag, Customer.name, Customer.adviser_id, Message.text)
        .join(Customer, Customer.id == CustomerTag.customer_id)
        .join(Tag, Tag.id == CustomerTag.tag_id)
        .outerjoin(Message, Message.id == CustomerTag.evidence_message_id)
        .where(CustomerTag.status == "suggested")
        .order_by(CustomerTag.id)
        .limit(limit)
    )
    if adviser_ids is not None:
        stmt = stmt.where(Customer.adviser_id.in_(adviser_ids))
    if adviser_id is not None:
        stmt = stmt.where(Customer.adviser_id == adviser_id)
    if category is not None:
        stmt = stmt.where(Tag.category.has(TagCategory.name == category))
    if tag is not None:
        stmt = stmt.where(Tag.name == tag)
    return [
        ReviewItem(tag=customer_tag_record(ct, name), adviser_id=adviser_id, evidence_message=text)
        for ct, name, adviser_id, text in session.execute(stmt)
    ]


def suggestion_message(*, session: Session, suggestion_id: int) -> tuple[int, str] | None:
    """The id and text of the message a suggestion answered (None without one)."""
    row = session.execute(
        select(Message.id, Message.text)
        .join(Suggestion, Suggestion.message_id == Message.id)
        .where(Suggestion.id == suggestion_id)
    ).first()
    return (row[0], row[1]) if row is not None else None


def add_script_candidates(
    *, session: Session, suggestion_id: int, scripts: list[dict[str, object]]
) -> SuggestionRecord:
    """Append scripts shown later (the sidebar's 「更多」) to a suggestion's candidates,
    so using one is recorded like the first ones and counted as shown."""
    row = session.get(Suggestion, suggestion_id)
    if row is None:
        raise KeyError(suggestion_id)
    candidates = dict(row.candidates or {})
    candidates["scripts"] = [*candidates.get("scripts", []), *scripts]
    row.candidates = candidates
    session.flush()
    return suggestion_record(row)
