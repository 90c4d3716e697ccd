"""In-process publish/subscribe for live updates (the web sidebar's server-sent events).

The assistant runs wherever a channel delivers a message (a channel thread, the CLI, a
test); the web console runs in an event loop. ``Broadcaster`` is the thread-safe seam
between them: publishers call ``publish`` from any thread, and each subscriber's
callback is invoked on the publisher's thread, so an asyncio consumer hands the event
over with ``loop.call_soon_threadsafe`` (see ``bot.web.sse``).
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.domain import IncomingMessage, SuggestionResult

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """Something an open console may want to show at once.

    ``kind`` is ``"message"`` (a message was logged; ``suggestion_id`` is set when the
    assistant made suggestions for it). ``adviser_id`` and ``customer_id`` let the
    consumer drop what the viewer may not see.
    """

    kind: str
    adviser_id: str | None
    customer_id: int | None
    data: dict[str, Any] = field(default_factory=dict)
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


Subscriber = Callable[[LiveEvent], None]


class Broadcaster:
    """Fan out ``LiveEvent``s to subscribers; safe to use from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[int, Subscriber] = {}
        self._ids = itertools.count(1)

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Register ``callback``; returns the function that unsubscribes it."""
        with self._lock:
            key = next(self._ids)
            self._subscribers[key] = callback

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers.pop(key, None)

        return unsubscribe

    @property
    def subscriber_count(self) -> int:
        with self._lock:
            return len(self._subscribers)

    def publish(self, event: LiveEvent) -> None:
        """Deliver to every subscriber; a failing subscriber is logged, never raised."""
        with self._lock:
            targets = list(self._subscribers.values())
        for callback in targets:
            try:
                callback(event)
            except Exception:
                log.exception("live-event subscriber failed")

    def message_handled(
        self, message: IncomingMessage, customer_id: int, result: SuggestionResult | None
    ) -> None:
        """The assistant's hook: one event per logged message."""
        self.publish(
            LiveEvent(
                kind="message",
                adviser_id=message.adviser_id,
                customer_id=customer_id,
                data={
                    "direction": message.direction,
                    "type": message.type,
                    "text": message.text,
                    "suggestion_id": result.suggestion_id if result else None,
                },
            )
        )
