"""In-memory channel: a real channel with no network, for tests, the demo and benchmarks."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.channels.base import Channel, Handler
from bot.domain import IncomingMessage, SuggestionResult
from bot.vocab import Direction


@dataclass
class SentMessage:
    contact_id: str
    text: str
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


class MemoryChannel(Channel):
    """Customers "say" things with ``receive``; whatever the bot sends is kept in ``sent``."""

    name = "memory"

    def __init__(self, handler: Handler, *, adviser_id: str = "adviser", adviser_name: str = ""):
        super().__init__(handler)
        self.adviser_id = adviser_id
        self.adviser_name = adviser_name
        self.sent: list[SentMessage] = []

    def receive(
        self,
        contact_id: str,
        text: str,
        *,
        contact_name: str = "",
        msg_id: str | None = None,
        type: str = "text",
        direction: Direction = "in",
        industry: str | None = None,
        room_id: str | None = None,
        mentions_adviser: bool = False,
    ) -> SuggestionResult | None:
        message = IncomingMessage(
            msg_id=msg_id or f"memory-{uuid.uuid4().hex}",
            channel=self.name,
            contact_id=contact_id,
            contact_name=contact_name,
            text=text,
            adviser_id=self.adviser_id,
            adviser_name=self.adviser_name,
            direction=direction,
            type=type,
            industry=industry,
            room_id=room_id,
            mentions_adviser=mentions_adviser,
        )
        return self.dispatch(message)

    def send(self, contact_id: str, text: str) -> None:
        self.sent.append(SentMessage(contact_id=contact_id, text=text))
