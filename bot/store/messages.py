"""The message log: written first, idempotent on the channel's message id."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import exists, func, insert, select, update
from sqlalchemy.orm import Session

from bot.store.db import insert_or_get
from bot.store.models import ChannelInbox, Conversation, Customer, ErasedMessage, Message
from bot.store.records import MessageRecord, aware
from bot.vocab import Direction, MessageStatus

#: Ids per ``IN (...)`` query (SQLite allows 32,766 parameters).
_IN_CHUNK = 5000

#: Channel name of messages posted to the API (bot/services/messages.py).
API_CHANNEL = "api"


def api_source_id(adviser_id: str, source_id: str) -> str:
    """How a posted message or contact id is stored: prefixed by the adviser id and its
    length, so that no id can spell another adviser's."""
    return f"{len(adviser_id)}:{adviser_id}:{source_id}"


def external_msg_id(msg_id: str, *, channel: str, adviser_id: str | None) -> str:
    """The message id its sender gave: a posted message's id without the adviser prefix
    (``api_source_id``), any other channel's as stored."""
    if channel == API_CHANNEL and adviser_id is not None:
        prefix = api_source_id(adviser_id, "")
        if msg_id.startswith(prefix):
            return msg_id[len(prefix) :]
    return msg_id


def get_or_create_conversation(
    *,
    session: Session,
    channel: str,
    external_id: str,
    customer_id: int | None,
    adviser_id: str | None,
    is_group: bool = False,
    topic: str | None = None,
) -> int:
    stmt = select(Conversation).where(
        Conversation.channel == channel, Conversation.external_id == external_id
    )
    row, _ = insert_or_get(
        session,
        Conversation(
            channel=channel,
            external_id=external_id,
            customer_id=None if is_group else customer_id,
            adviser_id=adviser_id,
            is_group=is_group,
            topic=topic,
        ),
        lambda: session.scalar(stmt),
    )
    return row.id


def log_message(
    *,
    session: Session,
    msg_id: str,
    conversation_id: int,
    customer_id: int | None,
    adviser_id: str | None,
    direction: Direction,
    text: str,
    type: str = "text",
    sent_at: datetime | None = None,
    status: MessageStatus = "pending",
) -> tuple[MessageRecord, bool]:
    """Insert the message unless its ``msg_id`` is already logged.

    Returns ``(message, created)``; a repeated delivery returns the stored row and False.
    The unique constraint on ``msg_id`` decides under concurrency, not the pre-check.
    """
    # UTC in the store: SQLite keeps only the wall-clock time of an aware datetime.
    when = sent_at.astimezone(UTC) if sent_at is not None else datetime.now(UTC)
    row, created = insert_or_get(
        session,
        Message(
            msg_id=msg_id,
            conversation_id=conversation_id,
            customer_id=customer_id,
            adviser_id=adviser_id,
            direction=direction,
            type=type,
            text=text,
            sent_at=when,
            status=status,
        ),
        lambda: session.scalar(select(Message).where(Message.msg_id == msg_id)),
    )
    if not created:
        return message_record(row), False
    if customer_id is not None:
        customer = session.get(Customer, customer_id)
        if customer is not None and (
            customer.last_message_at is None or aware(customer.last_message_at) < aware(when)
        ):
            customer.last_message_at = when
    return message_record(row), True


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message for ``log_messages``."""

    msg_id: str
    conversation_id: int
    customer_id: int
    adviser_id: str | None
    direction: Direction
    text: str
    sent_at: datetime
    type: str = "text"
    status: MessageStatus = "done"


def log_messages(*, session: Session, messages: Sequence[NewMessage]) -> list[MessageRecord]:
    """Insert many new messages in one statement (a history import); their records, in
    order. Unlike ``log_message`` this expects message ids not logged yet: one that is
    makes the statement fail (an ``IntegrityError``; the caller then logs one by one)."""
    if not messages:
        return []
    values = [
        {
            "msg_id": m.msg_id,
            "conversation_id": m.conversation_id,
            "customer_id": m.customer_id,
            "adviser_id": m.adviser_id,
            "direction": m.direction,
            "type": m.type,
            "text": m.text,
            "sent_at": m.sent_at.astimezone(UTC),
            "status": m.status,
        }
        for m in messages
    ]
    with session.begin_nested():
        ids = list(
            session.scalars(
                insert(Message).returning(Message.id, sort_by_parameter_order=True), values
            )
        )
    latest: dict[int, datetime] = {}
    for m in messages:
        when = m.sent_at.astimezone(UTC)
        if m.customer_id not in latest or latest[m.customer_id] < when:
            latest[m.customer_id] = when
    for customer_id, when in latest.items():
        customer = session.get(Customer, customer_id)
        if customer is not None and (
            customer.last_message_at is None or aware(customer.last_message_at) < when
        ):
            customer.last_message_at = when
    return [
        MessageRecord(
            id=id_,
            msg_id=m.msg_id,
            conversation_id=m.conversation_id,
            customer_id=m.customer_id,
            adviser_id=m.adviser_id,
            direction=m.direction,
            type=m.type,
            text=m.text,
            sent_at=m.sent_at.astimezone(UTC),
            status=m.status,
        )
        for id_, m in zip(ids, messages, strict=True)
    ]


def set_message_status(*, session: Session, message_id: int, status: MessageStatus) -> None:
    row = session.get_one(Message, message_id)
    row.status = status
    session.flush()


def pending_messages(*, session: Session, limit: int = 100) -> list[MessageRecord]:
    """Inbound messages logged but not yet processed (oldest first), except those the
    channel's inbox still holds: the channel suggests them itself, with the note to the
    adviser (or the operator requeues them, when parked)."""
    held = exists().where(ChannelInbox.message_id == Message.id, ChannelInbox.status != "done")
    stmt = (
        select(Message)
        .where(Message.status == "pending", Message.direction == "in", ~held)
        .order_by(Message.id)
        .limit(limit)
    )
    return [message_record(m) for m in session.scalars(stmt)]


def count_messages(
    *, session: Session, customer_id: int | None = None, direction: Direction | None = None
) -> int:
    """Messages of one customer, or of everybody when ``customer_id`` is None."""
    stmt = select(func.count()).select_from(Message)
    if customer_id is not None:
        stmt = stmt.where(Message.customer_id == customer_id)
    if direction is not None:
        stmt = stmt.where(Message.direction == direction)
    return int(session.scalar(stmt) or 0)


def latest_id(*, session: Session) -> int:
    """The id of the newest message (0 when none): how many were ever logged, roughly,
    read from the primary key's index alone."""
    return int(session.scalar(select(func.max(Message.id))) or 0)


def recent_messages(
    *, session: Session, customer_id: int, before_id: int | None = None, limit: int = 6
) -> list[MessageRecord]:
    """The last ``limit`` messages of a customer, oldest first."""
    stmt = select(Message).where(Message.customer_id == customer_id)
    if before_id is not None:
        stmt = stmt.where(Message.id < before_id)
    rows = session.scalars(stmt.order_by(Message.id.desc()).limit(limit)).all()
    return [message_record(m) for m in reversed(rows)]


def answered_by(
    *, session: Session, message_id: int, since: datetime, limit: int, lookback: int = 30
) -> list[MessageRecord]:
    """The customer's text messages that the adviser's message ``message_id`` answers:
    those of its conversation since the adviser's previous turn (the adviser's messages
    just before it are the same turn: a greeting, then the script), sent after ``since``;
    the last ``limit`` of them, oldest first."""
    sent = session.get_one(Message, message_id)
    stmt = (
        select(Message)
        .where(Message.conversation_id == sent.conversation_id, Message.id < message_id)
        .order_by(Message.id.desc())
        .limit(lookback)
    )
    found: list[Message] = []
    for row in session.scalars(stmt):
        if row.direction == "out":
            if found:
                break
            continue
        if aware(row.sent_at) < aware(since):
            break
        if row.type == "text" and row.text.strip():
            found.append(row)
    return [message_record(m) for m in reversed(found[:limit])]


def message_record(row: Message) -> MessageRecord:
    return MessageRecord(
        id=row.id,
        msg_id=row.msg_id,
        conversation_id=row.conversation_id,
        customer_id=row.customer_id,
        adviser_id=row.adviser_id,
        direction=row.direction,
        type=row.type,
        text=row.text,
        sent_at=aware(row.sent_at),
        status=row.status,
    )


def get_message(*, session: Session, msg_id: str) -> MessageRecord | None:
    """The logged message with this channel message id, if any."""
    row = session.scalar(select(Message).where(Message.msg_id == msg_id))
    return message_record(row) if row else None


def logged_texts(*, session: Session, msg_ids: Sequence[str]) -> dict[str, str]:
    """Which of ``msg_ids`` are logged already, with the text logged under each."""
    found: dict[str, str] = {}
    for start in range(0, len(msg_ids), _IN_CHUNK):
        chunk = list(msg_ids[start : start + _IN_CHUNK])
        rows = session.execute(
            select(Message.msg_id, Message.text).where(Message.msg_id.in_(chunk))
        )
        found.update((msg_id, text or "") for msg_id, text in rows)
    return found


def erased_msg_ids(*, session: Session, msg_ids: Sequence[str]) -> set[str]:
    """Which of ``msg_ids`` were erased with their customer (never to be logged again)."""
    found: set[str] = set()
    for start in range(0, len(msg_ids), _IN_CHUNK):
        chunk = list(msg_ids[start : start + _IN_CHUNK])
        stmt = select(ErasedMessage.msg_id).where(ErasedMessage.msg_id.in_(chunk))
        found.update(session.scalars(stmt))
    return found


def find_customer_message(
    *, session: Session, customer_id: int, msg_id: str
) -> MessageRecord | None:
    """The customer's message whose id, as its sender gave it (``external_msg_id``), is
    ``msg_id``."""
    pattern = "%:" + msg_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    stmt = (
        select(Message, Conversation.channel)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(
            Message.customer_id == customer_id,
            (Message.msg_id == msg_id) | Message.msg_id.like(pattern, escape="\\"),
        )
        .order_by(Message.id)
    )
    for row, channel in session.execute(stmt):
        if external_msg_id(row.msg_id, channel=channel, adviser_id=row.adviser_id) == msg_id:
            return message_record(row)
    return None


def customer_texts(
    *, session: Session, customer_id: int, limit: int
) -> list[tuple[str, MessageRecord]]:
    """The customer's last ``limit`` text messages (theirs, not the adviser's; text not
    erased), newest first, each with its id as its sender gave it (``external_msg_id``:
    what ``find_customer_message`` takes)."""
    stmt = (
        select(Message, Conversation.channel)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(
            Message.customer_id == customer_id,
            Message.direction == "in",
            Message.type == "text",
            Message.text != "",
        )
        .order_by(Message.sent_at.desc(), Message.id.desc())
        .limit(limit)
    )
    return [
        (
            external_msg_id(row.msg_id, channel=channel, adviser_id=row.adviser_id),
            message_record(row),
        )
        for row, channel in session.execute(stmt)
    ]


def erase_text_before(*, session: Session, before: datetime) -> int:
    """Erase the text of messages sent before ``before`` (retention); returns how many."""
    result = session.execute(
        update(Message).where(Message.sent_at < before, Message.text != "").values(text="")
    )
    return int(getattr(result, "rowcount", 0) or 0)
