"""The channel boundary: a channel turns vendor events into ``IncomingMessage`` and hands
them to one handler; it can also send text (to the adviser's note target, or a welcome
message when that is explicitly enabled)."""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from bot.domain import IncomingMessage, SuggestionResult

log = logging.getLogger(__name__)

Handler = Callable[[IncomingMessage], SuggestionResult | None]

#: Failed messages kept for a retry (beyond this, the oldest are dropped, with a log line).
MAX_RETRY_QUEUE = 10_000


@dataclass
class Backoff:
    """Exponential reconnect delays: ``initial``, doubling up to ``maximum``."""

    initial: float = 1.0
    maximum: float = 60.0
    factor: float = 2.0
    _next: float = 0.0

    def next_delay(self) -> float:
        delay = self._next or self.initial
        self._next = min(delay * self.factor, self.maximum)
        return min(delay, self.maximum)

    def reset(self) -> None:
        self._next = 0.0


class Channel(ABC):
    """Base class: owns the error handling around the handler; subclasses deliver."""

    name: str = "channel"

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._failed: deque[IncomingMessage] = deque()
        self._failed_lock = threading.Lock()

    def dispatch(self, message: IncomingMessage) -> SuggestionResult | None:
        """Give one message to the handler. A failure is logged, never raised into the
        channel's receive loop; the message is kept for ``retry_failed`` (the handler is
        idempotent on ``msg_id``, so a message that was logged before failing is safe)."""
        try:
            return self._handler(message)
        except Exception:
            log.exception("processing message %s from %s failed", message.msg_id, self.name)
            with self._failed_lock:
                if len(self._failed) >= MAX_RETRY_QUEUE:
                    lost = self._failed.popleft()
                    log.error("retry queue full: message %s dropped", lost.msg_id)
                self._failed.append(message)
            return None

    @property
    def failed_count(self) -> int:
        return len(self._failed)

    def retry_failed(self) -> int:
        """Dispatch the messages that failed again; returns how many succeeded now."""
        with self._failed_lock:
            batch = list(self._failed)
            self._failed.clear()
        done = 0
        for message in batch:
            before = len(self._failed)
            self.dispatch(message)
            done += len(self._failed) == before
        return done

    @abstractmethod
    def send(self, contact_id: str, text: str) -> None:
        """Send ``text`` to a contact on this channel."""
