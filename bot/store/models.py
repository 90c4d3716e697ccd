"""SQLAlchemy models: the relational source of truth.

Only ``bot.store`` imports this module. Everything outside the store sees the
dataclasses of ``bot.store.records``. The vector and lexical indexes are derived from
the ``scripts`` and ``chunks`` tables and can be rebuilt from them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from bot.vocab import (
    ChangeTopic,
    Direction,
    ExampleOrigin,
    ExampleSource,
    FieldSource,
    FieldType,
    FollowUpStatus,
    Lifecycle,
    MessageStatus,
    OutcomeKind,
    Role,
    ScriptStatus,
    Stage,
    SuggestionMode,
    TagSource,
    TagStatus,
    UseKind,
)

# Deterministic constraint names, so migrations behave the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute
        datetime: DateTime(timezone=True),
        dict[str, Any]: JSON,
        list[str]: JSON,
    }


class Adviser(Base):
    __tablename__ = "advisers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    #: Managers see the customers of every adviser in their team.
    team: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: The persona (IP 人设, schema 0010): the name customers know the adviser by (the
    #: ``{adviser_name}`` of scripts; ``name`` is the channel account's own name, which
    #: the channel overwrites), a signature closing welcome messages, and tone notes for
    #: the LLM draft.
    persona_name: Mapped[str | None] = mapped_column(String(100))
    signature: Mapped[str | None] = mapped_column(Text)
    tone: Mapped[str | None] = mapped_column(Text)


class User(Base):
    """A person who logs in to the web console or the API."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100), default="")
    role: Mapped[Role] = mapped_column(String(10))
    password_hash: Mapped[str] = mapped_column(String(255))
    #: For an adviser: the adviser record whose customers they see.
    adviser_id: Mapped[str | None] = mapped_column(ForeignKey("advisers.id"))
    team: Mapped[str | None] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Console sessions carry the version they were created under; raising it (logout,
    #: deactivation, a password change) ends every session of the user at once.
    session_version: Mapped[int] = mapped_column(default=0, server_default="0")


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    #: Only a hash of the token is stored; the token is shown once at creation.
    token_hash: Mapped[str] = mapped_column(String(128), unique=True)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]


class AuditLog(Base):
    """Every view and export of customer data, and every administrative change."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_target", "target_type", "target_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(50))
    target_type: Mapped[str] = mapped_column(String(30), default="")
    target_id: Mapped[str] = mapped_column(String(64), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    adviser_id: Mapped[str | None] = mapped_column(ForeignKey("advisers.id"), index=True)
    industry: Mapped[str | None] = mapped_column(String(50))
    #: Lifecycle stage in the script vocabulary: acquire / engage / convert / retain.
    stage: Mapped[Stage] = mapped_column(String(20), default="acquire")
    product: Mapped[str | None] = mapped_column(String(100))
    city: Mapped[str | None] = mapped_column(String(50))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_message_at: Mapped[datetime | None]
    #: OneID / CRM fields (schema 0003): birthday for SOP triggers, acquisition channel
    #: for the funnel, computed lifecycle (new / engaged / converted / silent / churn_risk),
    #: and the profile this one was merged into (hidden from lists while merged).
    birthday: Mapped[date | None] = mapped_column(Date)
    source: Mapped[str | None] = mapped_column(String(50), index=True)
    lifecycle: Mapped[Lifecycle | None] = mapped_column(String(20), index=True)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    #: Growth (schema 0010): the customer who referred this one (老带新), and the campaign
    #: entry code this contact came in by (campaign, channel and adviser). How each was
    #: set is kept as an event (``referral_set`` / ``attributed``) with its evidence.
    referred_by_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    entry_code_id: Mapped[int | None] = mapped_column(ForeignKey("campaign_codes.id"), index=True)

    identities: Mapped[list[Identity]] = relationship(back_populates="customer")


class Identity(Base):
    """One way to recognise a customer (OneID): a channel contact id, unionid, phone …"""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("kind", "value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    value: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    customer: Mapped[Customer] = relationship(back_populates="identities")


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("channel", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(30))
    #: Contact id for a 1:1 chat, room id for a group chat.
    external_id: Mapped[str] = mapped_column(String(200))
    is_group: Mapped[bool] = mapped_column(Boolean, default=False)
    topic: Mapped[str | None] = mapped_column(String(200))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    adviser_id: Mapped[str | None] = mapped_column(ForeignKey("advisers.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_customer_sent", "customer_id", "sent_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The channel's message id; unique, so a repeated delivery is one row.
    msg_id: Mapped[str] = mapped_column(String(200), unique=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    adviser_id: Mapped[str | None] = mapped_column(ForeignKey("advisers.id"))
    direction: Mapped[Direction] = mapped_column(String(3))
    type: Mapped[str] = mapped_column(String(20), default="text")
    text: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: pending -> done / failed: a message logged but not yet processed is retried.
    status: Mapped[MessageStatus] = mapped_column(String(10), default="pending", index=True)


class ErasedMessage(Base):
    """The id of a message erased with its customer (``siyu customers forget``): a chat
    history imported again does not bring it back. The id only, never the message."""

    __tablename__ = "erased_messages"

    msg_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    erased_at: Mapped[datetime] = mapped_column(default=utcnow)


class TagCategory(Base):
    __tablename__ = "tag_categories"
    __table_args__ = (UniqueConstraint("name", "industry"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    industry: Mapped[str] = mapped_column(String(50), default="general")
    description: Mapped[str] = mapped_column(Text, default="")


class Tag(Base):
    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("category_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("tag_categories.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    keywords: Mapped[list[str]] = mapped_column(default=list)
    #: Messages that show the tag, written with the taxonomy (labelled examples).
    examples: Mapped[list[str]] = mapped_column(default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    category: Mapped[TagCategory] = relationship()


class CustomerTag(Base):
    __tablename__ = "customer_tags"
    __table_args__ = (UniqueConstraint("customer_id", "tag_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id"))
    source: Mapped[TagSource] = mapped_column(String(10))
    status: Mapped[TagStatus] = mapped_column(String(10))
    evidence: Mapped[str] = mapped_column(Text, default="")
    evidence_message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    score: Mapped[float] = mapped_column(Float, default=0.0)
    reviewer: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    reviewed_at: Mapped[datetime | None]

    tag: Mapped[Tag] = relationship()


class TagExample(Base):
    """A customer message labelled by a person: it shows the tag (a confirmed or added
    tag) or it does not (a rejected suggestion). The tagger learns from these; the text
    is read from the message, so an erased message is no longer an example."""

    __tablename__ = "tag_examples"
    __table_args__ = (UniqueConstraint("tag_id", "message_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id"), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    positive: Mapped[bool] = mapped_column(Boolean)
    origin: Mapped[ExampleOrigin] = mapped_column(String(10))
    reviewer: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    tag: Mapped[Tag] = relationship()


class Script(Base):
    __tablename__ = "scripts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(20), index=True)
    stage: Mapped[str] = mapped_column(String(20))
    industry: Mapped[str] = mapped_column(String(50), index=True)
    tags: Mapped[list[str]] = mapped_column(default=list)
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[ScriptStatus] = mapped_column(String(10), default="approved", index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    variant_group: Mapped[str | None] = mapped_column(String(64))
    #: The day ``{deadline}`` stands for (schema 0005); None: the script sets none.
    deadline: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ScriptVersion(Base):
    """Every saved version of a script (history and diff for operators)."""

    __tablename__ = "script_versions"
    __table_args__ = (UniqueConstraint("script_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    script_id: Mapped[str] = mapped_column(ForeignKey("scripts.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[ScriptStatus] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Document(Base):
    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The document's name: its file name. One document per name (schema 0005): the same
    #: name ingested again, from any folder or uploaded in the console, replaces it.
    source: Mapped[str] = mapped_column(String(500), unique=True)
    #: Where the current version came from: the file's full path, or ``console upload``.
    origin: Mapped[str] = mapped_column(String(1000), default="")
    kind: Mapped[str] = mapped_column(String(20))
    sha256: Mapped[str] = mapped_column(String(64))
    industry: Mapped[str | None] = mapped_column(String(50))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Chunk(Base):
    __tablename__ = "chunks"
    __table_args__ = (UniqueConstraint("document_id", "ordinal"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id"), index=True)
    ordinal: Mapped[int] = mapped_column(Integer)
    section: Mapped[str] = mapped_column(String(500), default="")
    text: Mapped[str] = mapped_column(Text)


class Suggestion(Base):
    __tablename__ = "suggestions"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    adviser_id: Mapped[str | None] = mapped_column(ForeignKey("advisers.id"))
    mode: Mapped[SuggestionMode] = mapped_column(String(10))
    reply: Mapped[str | None] = mapped_column(Text)
    #: Everything shown: scripts, knowledge, tags, with scores (the JSON of the CLI).
    candidates: Mapped[dict[str, Any]] = mapped_column(default=dict)
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Outcome(Base):
    """What happened to a suggestion: adopted / edited / ignored, reply, conversion."""

    __tablename__ = "outcomes"

    id: Mapped[int] = mapped_column(primary_key=True)
    suggestion_id: Mapped[int] = mapped_column(ForeignKey("suggestions.id"), index=True)
    #: The adviser's outgoing message this outcome was matched from (if any).
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    kind: Mapped[OutcomeKind] = mapped_column(String(10))
    script_id: Mapped[str | None] = mapped_column(ForeignKey("scripts.id"), index=True)
    final_text: Mapped[str | None] = mapped_column(Text)
    edit_distance: Mapped[int | None]
    customer_replied: Mapped[bool | None]
    replied_at: Mapped[datetime | None]
    converted: Mapped[bool | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Event(Base):
    """Behaviour trail: added as friend, stage change, appointment, conversion …"""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    type: Mapped[str] = mapped_column(String(50))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)


class Transaction(Base):
    __tablename__ = "transactions"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    external_id: Mapped[str | None] = mapped_column(String(100), unique=True)
    product: Mapped[str] = mapped_column(String(200), default="")
    amount: Mapped[float] = mapped_column(Float)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)


class FollowUp(Base):
    __tablename__ = "follow_ups"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    adviser_id: Mapped[str | None] = mapped_column(ForeignKey("advisers.id"), index=True)
    due_at: Mapped[datetime]
    note: Mapped[str] = mapped_column(Text, default="")
    script_id: Mapped[str | None] = mapped_column(ForeignKey("scripts.id"))
    rule: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[FollowUpStatus] = mapped_column(String(10), default="open")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --------------------------------------------------------------------------- schema 0003
class CustomerMerge(Base):
    """One OneID merge: ``merged_id``'s rows moved to ``kept_id``; ``moved`` lists the row
    ids per table and ``kept_before`` the kept profile's fields, so it can be undone."""

    __tablename__ = "customer_merges"

    id: Mapped[int] = mapped_column(primary_key=True)
    kept_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    merged_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    actor: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text, default="")
    moved: Mapped[dict[str, Any]] = mapped_column(default=dict)
    kept_before: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    undone_at: Mapped[datetime | None]
    undone_by: Mapped[str | None] = mapped_column(String(64))


class FollowUpOccurrence(Base):
    """A follow-up rule fired for one customer and one occurrence (idempotency key)."""

    __tablename__ = "followup_occurrences"
    __table_args__ = (UniqueConstraint("rule", "customer_id", "occurs_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rule: Mapped[str] = mapped_column(String(100))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    #: The anchor's date (birthday this year, the event's day, the last message's day).
    occurs_on: Mapped[date] = mapped_column(Date)
    action: Mapped[str] = mapped_column(String(20))
    follow_up_id: Mapped[int | None] = mapped_column(ForeignKey("follow_ups.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Segment(Base):
    """A saved, named set of filters over profile fields, tags, events and transactions."""

    __tablename__ = "segments"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    filters: Mapped[list[str]] = mapped_column(default=list)
    description: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --------------------------------------------------------------------------- schema 0006
class ChannelInbox(Base):
    """The channel's durable inbox: every message / friend-request event of a channel
    account, written before anything slow (bot.channels.inbox), then processed per
    contact in arrival order (``id``). ``payload`` holds the converted event (customer
    text) until it is processed; parked rows keep it for the operator."""

    __tablename__ = "channel_inbox"
    __table_args__ = (
        UniqueConstraint("account", "event_id"),
        Index("ix_channel_inbox_account_status", "account", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account: Mapped[str] = mapped_column(String(64))
    #: "message" / "friendship".
    kind: Mapped[str] = mapped_column(String(20), default="message")
    #: The puppet's message or friendship id.
    event_id: Mapped[str] = mapped_column(String(200))
    #: received -> ready -> logged -> done; skipped (never logged); parked (gave up).
    status: Mapped[str] = mapped_column(String(10), default="received")
    #: The stage that last failed: resolve / log / suggest / greet.
    stage: Mapped[str | None] = mapped_column(String(10))
    #: Ordering lane: the contact (1:1) or room id, known once the payload is fetched.
    contact_key: Mapped[str | None] = mapped_column(String(200))
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    #: The logged ``messages`` row (a plain id: the row goes with its customer) and the
    #: customer (set once logged, or once a parked row's contact is known), through which
    #: merge, delete, forget and export find the row (bot/store/ownership.py).
    message_id: Mapped[int | None] = mapped_column(Integer)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    #: When the event reached the process, and when its message was logged.
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    logged_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChannelAccount(Base):
    """The live state of one channel account, written by the process serving it (for
    ``siyu bot --status`` and the console's login QR code / logout banner)."""

    __tablename__ = "channel_accounts"

    account: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(String(30), default="wechaty")
    adviser_id: Mapped[str | None] = mapped_column(String(64))
    #: host:port (never the token).
    endpoint: Mapped[str] = mapped_column(String(200), default="")
    #: connecting / waiting_scan / logged_in / logged_out / reconnecting / stopped.
    state: Mapped[str] = mapped_column(String(20), default="connecting")
    user_id: Mapped[str | None] = mapped_column(String(200))
    user_name: Mapped[str] = mapped_column(String(100), default="")
    #: The login QR code payload while a scan is awaited (None otherwise).
    qr_code: Mapped[str | None] = mapped_column(Text)
    connections: Mapped[int] = mapped_column(Integer, default=0)
    drops: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    pid: Mapped[int | None] = mapped_column(Integer)
    logged_in_at: Mapped[datetime | None]
    logged_out_at: Mapped[datetime | None]
    #: Last sign of life from the puppet service, and last write by the serving process.
    last_event_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


# --------------------------------------------------------------------------- schema 0007
class ScriptUse(Base):
    """An adviser's sent message recognised as a script of the library — any approved
    script, shown as a suggestion or found by the adviser — in answer to the customer's
    messages since the adviser's previous turn (their ``ScriptExample`` rows)."""

    __tablename__ = "script_uses"

    id: Mapped[int] = mapped_column(primary_key=True)
    script_id: Mapped[str] = mapped_column(ForeignKey("scripts.id"), index=True)
    #: The adviser's sent message (one use per message).
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    adviser_id: Mapped[str | None] = mapped_column(ForeignKey("advisers.id"))
    kind: Mapped[UseKind] = mapped_column(String(10))
    #: 1.0 for a filled template, else the edit similarity (scripts_lib/matching.py).
    similarity: Mapped[float] = mapped_column(Float)
    #: The script was among the suggestions the adviser had been shown for this customer.
    shown: Mapped[bool] = mapped_column(Boolean, default=False)
    #: When the message was sent.
    used_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ScriptExample(Base):
    """A customer message a script answers: learned from a use (the customer's text,
    personal data masked) or written by an operator. Retrieval's examples channel votes
    with them (bot/pipeline/triggers.py)."""

    __tablename__ = "script_examples"
    __table_args__ = (UniqueConstraint("script_id", "message_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    script_id: Mapped[str] = mapped_column(ForeignKey("scripts.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    source: Mapped[ExampleSource] = mapped_column(String(10))
    #: A learned example: the customer who wrote it, the message and the use.
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    use_id: Mapped[int | None] = mapped_column(ForeignKey("script_uses.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --------------------------------------------------------------------------- schema 0009
class ChangeVersion(Base):
    """How many times one kind of shared state (scripts, knowledge, tags) has changed.

    Bumped in the transaction of every change (``bot.store.changes``); each process
    compares the numbers with those it loaded and refreshes what differs
    (bot/pipeline/changes.py). One row per topic, seeded by the migration."""

    __tablename__ = "change_versions"

    topic: Mapped[ChangeTopic] = mapped_column(String(20), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)


# --------------------------------------------------------------------------- schema 0010
class Campaign(Base):
    """An acquisition campaign (活动): a channel, a period, its cost, the segment it aims
    at and the welcome script new contacts get first."""

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    #: The acquisition channel: 直播, 门店扫码, 信息流, 转介绍 … (free text, shown as is).
    channel: Mapped[str] = mapped_column(String(30))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    cost: Mapped[float] = mapped_column(Float, default=0.0)
    #: Name of the saved segment the campaign aims at (informational).
    segment: Mapped[str | None] = mapped_column(String(100))
    welcome_script_id: Mapped[str | None] = mapped_column(ForeignKey("scripts.id"))
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CampaignCode(Base):
    """One adviser's entry code (渠道码) for one campaign, with that adviser's targets."""

    __tablename__ = "campaign_codes"
    __table_args__ = (UniqueConstraint("campaign_id", "adviser_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    adviser_id: Mapped[str] = mapped_column(ForeignKey("advisers.id"), index=True)
    #: Upper-case letters and digits, unique; found in a friend request's greeting.
    code: Mapped[str] = mapped_column(String(32), unique=True)
    target_added: Mapped[int | None]
    target_converted: Mapped[int | None]
    target_revenue: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProfileField(Base):
    """An industry-specific profile field declared in the profile fields file (预算, 职业 …)."""

    __tablename__ = "profile_fields"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    type: Mapped[FieldType] = mapped_column(String(10))
    industry: Mapped[str] = mapped_column(String(50), default="general")
    unit: Mapped[str] = mapped_column(String(20), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    choices: Mapped[list[str]] = mapped_column(default=list)
    #: choice -> words that state it (a choice's own text always does).
    choice_keywords: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: Cue words: a value stated right after one of them is suggested.
    keywords: Mapped[list[str]] = mapped_column(default=list)
    #: Regular expressions whose group ``value`` is a stated value.
    patterns: Mapped[list[str]] = mapped_column(default=list)
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class CustomerFieldValue(Base):
    """A customer's value of one profile field (the field's name; kept if the field is
    dropped from the file, like a deactivated tag)."""

    __tablename__ = "customer_field_values"
    __table_args__ = (UniqueConstraint("customer_id", "field"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    field: Mapped[str] = mapped_column(String(64), index=True)
    #: The value as shown (numbers without their unit, dates ISO).
    value: Mapped[str] = mapped_column(String(200))
    #: number / money fields: the number; date fields: the day (for comparisons).
    number: Mapped[float | None] = mapped_column(Float)
    day: Mapped[date | None] = mapped_column(Date)
    source: Mapped[FieldSource] = mapped_column(String(10))
    evidence: Mapped[str] = mapped_column(Text, default="")
    set_by: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProfileSuggestion(Base):
    """A profile field value (or a referrer, field ``referred_by``) stated in a message,
    suggested with its evidence until a person confirms or rejects it (like a tag)."""

    __tablename__ = "profile_suggestions"
    __table_args__ = (UniqueConstraint("customer_id", "field", "value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    field: Mapped[str] = mapped_column(String(64))
    #: The value as it would be stored; for ``referred_by`` the referrer's customer id
    #: when one customer of the adviser has that name, else the name as said.
    value: Mapped[str] = mapped_column(String(200))
    evidence: Mapped[str] = mapped_column(Text, default="")
    evidence_message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    status: Mapped[TagStatus] = mapped_column(String(10), default="suggested")
    reviewer: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    reviewed_at: Mapped[datetime | None]


class CustomerNote(Base):
    """A private note (备注) on a customer, written by an adviser or a manager; seen by the
    customer's adviser and their manager, never by the customer (schema 0011)."""

    __tablename__ = "customer_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    #: The console user who wrote it (their username: users are deactivated, never removed).
    author: Mapped[str] = mapped_column(String(64))
    #: How the author was shown when they wrote it (their display name).
    author_name: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ScriptFavourite(Base):
    """A script a console user starred in the sidebar's library search (schema 0011)."""

    __tablename__ = "script_favourites"
    __table_args__ = (UniqueConstraint("user_id", "script_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    script_id: Mapped[str] = mapped_column(ForeignKey("scripts.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
