"""Records that cross layers: what a channel delivers and what the assistant suggests."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.vocab import Direction, SuggestionMode

#: The adviser of a message whose channel or file names none (a history line without
#: ``adviser_id``, ``siyu chat``): its customers wait for a person to be assigned.
UNASSIGNED_ADVISER = "adviser"
#: What people see for it.
UNASSIGNED_ADVISER_NAME = "未指定顾问"

#: Longest text of one message, in characters, from any source: ``POST /api/messages``
#: and a chat-history import refuse a longer one.
MAX_MESSAGE_CHARS = 100_000
#: The earliest time a message or an event from another system may carry.
EARLIEST_TIME = datetime(2000, 1, 1, tzinfo=UTC)
#: An example of a time as other systems should write it.
TIME_EXAMPLE = "2026-03-01T09:30:00+08:00"


def plausible_time(value: datetime, field: str, *, now: datetime | None = None) -> datetime:
    """A time another system or a file gives (a message's ``sent_at``, an event's
    ``time``), in UTC: with its zone (a naive one would be read as UTC, eight hours off
    for a Chinese team), from 2000 to tomorrow. The one rule of the API and of the
    chat-history import; a ``ValueError`` in Chinese naming ``field`` otherwise (also for
    a year that leaves the calendar when converted to UTC: 0001-01-01 at +08:00)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{field} 需要带时区（例如 {TIME_EXAMPLE}）")
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        utc = None
    latest = (now or datetime.now(UTC)) + timedelta(days=1)
    if utc is None or not EARLIEST_TIME <= utc <= latest:
        raise ValueError(f"{field} 应在 2000 年到明天之间")
    return utc


#: Message types a channel may report; only "text" gets suggestions.
MESSAGE_TYPES = (
    "text",
    "image",
    "voice",
    "video",
    "file",
    "link",
    "mini_program",
    "emoticon",
    "recalled",
    "other",
)


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """One message seen by a channel, in either direction.

    ``msg_id`` is the channel's id and makes logging idempotent. ``contact_id`` is the
    customer's id on that channel (the Wechaty contact id, the WeCom external_userid …).
    """

    msg_id: str
    channel: str
    contact_id: str
    text: str
    contact_name: str = ""
    adviser_id: str = UNASSIGNED_ADVISER
    adviser_name: str = ""
    direction: Direction = "in"  # "in": from the customer; "out": the adviser's own message
    type: str = "text"
    room_id: str | None = None
    room_topic: str | None = None
    mentions_adviser: bool = False
    industry: str | None = None
    sent_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    #: Sent by the bot itself (an automatic welcome): logged, never matched to a suggestion.
    automated: bool = False


@dataclass(frozen=True, slots=True)
class ScriptSuggestion:
    id: str
    title: str
    category: str
    score: float
    text: str
    missing: tuple[str, ...] = ()
    #: Why it ranks here, shown to the adviser (「相似问题已用过 12 次」, 「都提到“重疾险”」,
    #: 「客户所在活动的欢迎语」, and the reply rate 「回复率 38%，n=120」 joined by 「；」);
    #: None when nothing can be said.
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class KnowledgeSuggestion:
    source: str
    section: str
    text: str
    score: float


@dataclass(frozen=True, slots=True)
class TagSuggestion:
    name: str
    category: str
    evidence: str
    score: float
    tag_id: int = 0


@dataclass(frozen=True, slots=True)
class NextActionSuggestion:
    """A next-best-action rule that applies to the customer: a product and / or a script
    (filled in for the customer), with the reason shown to the adviser."""

    rule: str
    product: str | None
    script_id: str | None
    script_text: str | None
    reason: str
    #: The script's title, as the adviser knows it (None: no script to send).
    script_title: str | None = None


@dataclass(frozen=True, slots=True)
class SuggestionResult:
    """What the adviser is shown for one customer message (the JSON of ``siyu suggest``)."""

    scripts: tuple[ScriptSuggestion, ...]
    knowledge: tuple[KnowledgeSuggestion, ...]
    tags: tuple[TagSuggestion, ...]
    reply: str | None
    mode: SuggestionMode
    latency_ms: float
    citations: tuple[int, ...] = ()
    note: str | None = None  # why the result is retrieval-only, when an LLM is configured
    customer_id: int | None = None
    suggestion_id: int | None = None
    #: Next-best-action cards for the customer (rules that apply); empty without a customer.
    next_actions: tuple[NextActionSuggestion, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The public JSON of ``siyu suggest --json`` (README.md, Interchange formats);
        ``next_actions`` only when a rule applies."""
        out: dict[str, Any] = {
            "scripts": [
                {k: v for k, v in asdict(s).items() if k != "missing"}
                | {"missing": list(s.missing)}
                for s in self.scripts
            ],
            "knowledge": [asdict(k) for k in self.knowledge],
            "tags": [
                {"name": t.name, "category": t.category, "evidence": t.evidence, "score": t.score}
                for t in self.tags
            ],
            "reply": self.reply,
            "mode": self.mode,
            "latency_ms": round(self.latency_ms, 1),
            "citations": list(self.citations),
            "note": self.note,
            "customer_id": self.customer_id,
            "suggestion_id": self.suggestion_id,
        }
        if self.next_actions:
            out["next_actions"] = [asdict(a) for a in self.next_actions]
        return out
