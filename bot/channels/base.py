"""The channel boundary: a channel turns vendor events into ``IncomingMessage`` and hands
them to one handler; it can also send text (to the adviser's note target, or a welcome
message when that is explicitly enabled)."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable

from bot.domain import IncomingMessage, SuggestionResult

log = logging.getLogger(__name__)

Handler = Callable[[IncomingMessage], SuggestionResult | None]


class Channel(ABC):
    """Base class: owns the error handling around the handler; subclasses deliver."""

    name: str = "channel"

    def __init__(self, handler: Handler) -> None:
        self._handler = handler

    def dispatch(self, message: IncomingMessage) -> SuggestionResult | None:
        """Give one message to the handler. A failure is logged, never raised into the
        channel's receive loop (the message is already logged as pending and is retried)."""
        try:
            return self._handler(message)
        except Exception:
            log.exception("processing message %s from %s failed", message.msg_id, self.name)
            return None

    @abstractmethod
    def send(self, contact_id: str, text: str) -> None:
        """Send ``text`` to a contact on this channel."""
