"""Data-subject requests: export everything held about one person, or erase it.

``export_customer`` returns every row about a customer as plain JSON-ready data.
``erase_customer`` ("forget") removes what identifies or describes the person and keeps
anonymous aggregates, so funnel, revenue and script-effectiveness figures do not change:

- deleted: identities, messages, 1:1 conversations, customer tags, follow-ups and their
  occurrences, merge records (they hold copies of profile fields), and the profiles that
  were merged into this one (erased the same way first, then deleted);
- kept, stripped: the customer row (name, city, birthday, product cleared; industry,
  stage, source, lifecycle, adviser and dates kept), suggestions (draft reply and any
  text in the candidates removed; script ids and scores kept), outcomes (the adviser's
  final text removed; kind, edit distance, replied, converted kept), events (payload
  removed; type and time kept), transactions (order number removed; product, amount and
  time kept).

Both are recorded in the audit log by the caller's actor.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, inspect, select, update
from sqlalchemy.orm import Session

from bot.errors import InputError
from bot.store import audit
from bot.store.models import (
    AuditLog,
    Base,
    Conversation,
    Customer,
    CustomerMerge,
    CustomerTag,
    Event,
    FollowUp,
    FollowUpOccurrence,
    Identity,
    Message,
    Outcome,
    Suggestion,
    Tag,
    Transaction,
)

#: Keys dropped from stored suggestion candidates on erasure (texts may quote the person).
_CANDIDATE_TEXT_KEYS = frozenset({"text", "evidence", "reply"})


def export_customer(*, session: Session, customer_id: int, actor: str) -> dict[str, Any]:
    """Everything held about one customer, as JSON-ready data (audit-logged)."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise InputError(f"no customer {customer_id}")
    suggestion_ids = select(Suggestion.id).where(Suggestion.customer_id == customer_id)
    tags = session.execute(
        select(CustomerTag, Tag.name)
        .join(Tag, Tag.id == CustomerTag.tag_id)
        .where(CustomerTag.customer_id == customer_id)
        .order_by(CustomerTag.id)
    ).all()

    def rows(model: type[Base], *where: Any) -> list[dict[str, Any]]:
        stmt = select(model).where(*where).order_by(model.id)  # type: ignore[attr-defined]
        return [_row(r) for r in session.scalars(stmt)]

    data = {
        "customer": _row(customer),
        "identities": rows(Identity, Identity.customer_id == customer_id),
        "conversations": rows(Conversation, Conversation.customer_id == customer_id),
        "messages": rows(Message, Message.customer_id == customer_id),
        "tags": [_row(ct) | {"tag": name} for ct, name in tags],
        "suggestions": rows(Suggestion, Suggestion.customer_id == customer_id),
        "outcomes": rows(Outcome, Outcome.suggestion_id.in_(suggestion_ids)),
        "events": rows(Event, Event.customer_id == customer_id),
        "transactions": rows(Transaction, Transaction.customer_id == customer_id),
        "follow_ups": rows(FollowUp, FollowUp.customer_id == customer_id),
        "merges": rows(
            CustomerMerge,
            (CustomerMerge.kept_id == customer_id) | (CustomerMerge.merged_id == customer_id),
        ),
        "merged_profiles": rows(Customer, Customer.merged_into_id == customer_id),
        "audit_log": rows(
            AuditLog, AuditLog.target_type == "customer", AuditLog.target_id == str(customer_id)
        ),
    }
    audit.record(
        session=session,
        actor=actor,
        action="customer.export",
        target_type="customer",
        target_id=customer_id,
    )
    return data


def erase_customer(*, session: Session, customer_id: int, actor: str) -> dict[str, int]:
    """Forget one customer (see the module docstring). Returns counts per kind of row
    deleted or stripped; the audit log keeps those counts, never the erased data."""
    if session.get(Customer, customer_id) is None:
        raise InputError(f"no customer {customer_id}")
    counts = _erase(session, customer_id)
    audit.record(
        session=session,
        actor=actor,
        action="customer.forget",
        target_type="customer",
        target_id=customer_id,
        detail=counts,
    )
    return counts


def _erase(session: Session, customer_id: int) -> dict[str, int]:
    counts: dict[str, int] = {}

    def add(name: str, n: int) -> None:
        counts[name] = counts.get(name, 0) + n

    absorbed = list(
        session.scalars(select(Customer.id).where(Customer.merged_into_id == customer_id))
    )
    for other in absorbed:
        for name, n in _erase(session, other).items():
            add(name, n)
        session.execute(delete(Customer).where(Customer.id == other))
        add("merged_profiles", 1)

    def run(name: str, stmt: Any) -> None:
        result = cast(CursorResult[Any], session.execute(stmt))
        add(name, int(result.rowcount or 0))

    private_chats = select(Conversation.id).where(
        Conversation.customer_id == customer_id, Conversation.is_group.is_(False)
    )
    # theirs anywhere, and the adviser's in their 1:1 chats
    mine = (Message.customer_id == customer_id) | Message.conversation_id.in_(private_chats)
    message_ids = select(Message.id).where(mine)
    session.execute(
        update(Suggestion).where(Suggestion.message_id.in_(message_ids)).values(message_id=None)
    )
    session.execute(
        update(Outcome).where(Outcome.message_id.in_(message_ids)).values(message_id=None)
    )
    run("tags", delete(CustomerTag).where(CustomerTag.customer_id == customer_id))
    session.execute(
        update(CustomerTag)
        .where(CustomerTag.evidence_message_id.in_(message_ids))
        .values(evidence_message_id=None, evidence="")
    )
    run("messages", delete(Message).where(mine))
    conversations = select(Conversation.id).where(Conversation.customer_id == customer_id)
    run(
        "conversations",
        delete(Conversation).where(
            Conversation.id.in_(conversations),
            ~Conversation.id.in_(select(Message.conversation_id)),
        ),
    )
    session.execute(
        update(Conversation).where(Conversation.customer_id == customer_id).values(customer_id=None)
    )
    run("identities", delete(Identity).where(Identity.customer_id == customer_id))
    run(
        "follow_up_occurrences",
        delete(FollowUpOccurrence).where(FollowUpOccurrence.customer_id == customer_id),
    )
    run("follow_ups", delete(FollowUp).where(FollowUp.customer_id == customer_id))
    run(
        "merges",
        delete(CustomerMerge).where(
            (CustomerMerge.kept_id == customer_id) | (CustomerMerge.merged_id == customer_id)
        ),
    )
    for suggestion in session.scalars(
        select(Suggestion).where(Suggestion.customer_id == customer_id)
    ):
        suggestion.reply = None
        suggestion.candidates = _strip_texts(suggestion.candidates)
        add("suggestions_stripped", 1)
    suggestion_ids = select(Suggestion.id).where(Suggestion.customer_id == customer_id)
    run(
        "outcomes_stripped",
        update(Outcome).where(Outcome.suggestion_id.in_(suggestion_ids)).values(final_text=None),
    )
    run(
        "events_stripped",
        update(Event).where(Event.customer_id == customer_id).values(payload={}),
    )
    run(
        "transactions_stripped",
        update(Transaction).where(Transaction.customer_id == customer_id).values(external_id=None),
    )
    session.execute(
        update(Customer)
        .where(Customer.id == customer_id)
        .values(name="", city=None, birthday=None, product=None)
    )
    session.flush()
    return counts


def _strip_texts(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_texts(v) for k, v in value.items() if k not in _CANDIDATE_TEXT_KEYS}
    if isinstance(value, list):
        return [_strip_texts(v) for v in value]
    return value


def _row(row: Base) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for attr in inspect(row).mapper.column_attrs:
        value = getattr(row, attr.key)
        out[attr.key] = value.isoformat() if isinstance(value, datetime | date) else value
    return out
