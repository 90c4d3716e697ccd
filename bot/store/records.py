"""Dataclasses that leave the store. Nothing outside ``bot.store`` sees ORM objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from bot.vocab import (
    Direction,
    FollowUpStatus,
    Lifecycle,
    MessageStatus,
    Stage,
    SuggestionMode,
    TagSource,
    TagStatus,
    TimelineKind,
)


def aware(value: datetime) -> datetime:
    """SQLite returns naive datetimes; everything stored is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class AdviserRecord:
    id: str
    name: str
    team: str | None = None
    #: The persona: the name customers know (None: the account's ``name``), a signature
    #: closing welcome messages, tone notes for the LLM draft.
    persona_name: str | None = None
    signature: str = ""
    tone: str = ""

    @property
    def shown_name(self) -> str:
        """The ``{adviser_name}`` of scripts: the persona's name, else the account's."""
        return self.persona_name or self.name


@dataclass(frozen=True, slots=True)
class IdentityRecord:
    kind: str
    value: str
    display_name: str | None


@dataclass(frozen=True, slots=True)
class CustomerRecord:
    id: int
    name: str
    adviser_id: str | None
    industry: str | None
    stage: Stage
    product: str | None
    city: str | None
    created_at: datetime
    last_message_at: datetime | None
    birthday: date | None = None
    source: str | None = None
    lifecycle: Lifecycle | None = None
    merged_into_id: int | None = None
    referred_by_id: int | None = None
    entry_code_id: int | None = None


@dataclass(frozen=True, slots=True)
class MessageRecord:
    id: int
    msg_id: str
    conversation_id: int
    customer_id: int | None
    adviser_id: str | None
    direction: Direction
    type: str
    text: str
    sent_at: datetime
    status: MessageStatus


@dataclass(frozen=True, slots=True)
class TagRecord:
    id: int
    name: str
    category: str
    industry: str
    description: str
    keywords: tuple[str, ...]
    #: Messages that show the tag, written with the taxonomy.
    examples: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TagExampleRecord:
    """A message labelled for a tag by a person (``positive``: it shows the tag)."""

    id: int
    tag_id: int
    #: The labelled message (one message can be labelled for several tags).
    message_id: int
    text: str
    positive: bool


@dataclass(frozen=True, slots=True)
class CustomerTagRecord:
    id: int
    customer_id: int
    customer_name: str
    tag: TagRecord
    source: TagSource
    status: TagStatus
    evidence: str
    score: float
    reviewer: str | None
    created_at: datetime
    #: The id (as its channel or import gave it) of the message the tag was suggested
    #: from or added with.
    source_msg_id: str | None = None


@dataclass(frozen=True, slots=True)
class DocumentRecord:
    id: int
    #: The document's name (its file name): one document per name.
    source: str
    kind: str
    sha256: str
    industry: str | None
    chunks: int
    #: Where the current version came from (a path, or ``console upload``).
    origin: str = ""


@dataclass(frozen=True, slots=True)
class ChunkRecord:
    id: int
    document_id: int
    source: str
    industry: str | None
    ordinal: int
    section: str
    text: str

    @property
    def index_id(self) -> str:
        """Id of this chunk in the retrieval indexes."""
        return f"chunk-{self.id}"


@dataclass(frozen=True, slots=True)
class SuggestionRecord:
    id: int
    message_id: int | None
    customer_id: int | None
    mode: SuggestionMode
    reply: str | None
    candidates: dict[str, Any]
    latency_ms: float
    created_at: datetime
    #: What the adviser used of it in the console: script id ("" for the drafted reply)
    #: -> adopted / edited (filled for the sidebar, else empty).
    used: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One line of a customer's timeline: a message or an event."""

    at: datetime
    kind: TimelineKind
    direction: Direction | None
    text: str


@dataclass(frozen=True, slots=True)
class CustomerProfile:
    customer: CustomerRecord
    identities: tuple[IdentityRecord, ...]
    tags: tuple[CustomerTagRecord, ...]
    timeline: tuple[TimelineEntry, ...] = field(default=())
    message_count: int = 0


# --------------------------------------------------------------------------- OneID / CRM
@dataclass(frozen=True, slots=True)
class MergeRecord:
    """One OneID merge; ``moved`` counts the rows moved per table."""

    id: int
    kept_id: int
    merged_id: int
    actor: str
    reason: str
    moved: dict[str, int]
    created_at: datetime
    undone_at: datetime | None
    undone_by: str | None


@dataclass(frozen=True, slots=True)
class StrongIdentity:
    """An identity of a strong kind (phone, unionid) with its normalised value."""

    customer_id: int
    customer_name: str
    kind: str
    value: str


@dataclass(frozen=True, slots=True)
class CustomerFacts:
    """What follow-up rules and segments look at, for one visible customer."""

    id: int
    name: str
    adviser_id: str | None
    industry: str | None
    stage: Stage
    lifecycle: Lifecycle | None
    source: str | None
    city: str | None
    product: str | None
    birthday: date | None
    created_at: datetime
    tags: frozenset[str]
    last_inbound_at: datetime | None


@dataclass(frozen=True, slots=True)
class EventFact:
    customer_id: int
    type: str
    payload: dict[str, Any]
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class FollowUpRecord:
    id: int
    customer_id: int
    customer_name: str
    adviser_id: str | None
    due_at: datetime
    note: str
    script_id: str | None
    script_body: str | None
    rule: str | None
    status: FollowUpStatus
    customer: CustomerRecord | None = None
    #: The suggested script's ``{deadline}`` day, if it sets one.
    script_deadline: date | None = None
