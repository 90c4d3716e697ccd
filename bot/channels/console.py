"""Console channel: ``siyu chat`` (bot/cli/suggest.py). You type as the customer; the
message is logged to the customer's profile like any other channel's."""

from __future__ import annotations

import uuid

from rich.console import Console
from rich.text import Text

from bot.channels.base import Channel, Handler
from bot.domain import IncomingMessage, SuggestionResult


class ConsoleChannel(Channel):
    name = "console"

    def __init__(self, handler: Handler, *, console: Console) -> None:
        super().__init__(handler)
        self._console = console

    def receive(
        self, text: str, *, contact_id: str, contact_name: str, industry: str | None
    ) -> SuggestionResult | None:
        return self.dispatch(
            IncomingMessage(
                msg_id=f"console-{uuid.uuid4().hex}",
                channel=self.name,
                contact_id=contact_id,
                contact_name=contact_name,
                text=text,
                industry=industry,
            )
        )

    def send(self, contact_id: str, text: str) -> None:
        # Sent text may hold a customer's name: a Text is never read as markup.
        self._console.print(Text.assemble((f"→ {contact_id}", "bold"), ": ", text))
