"""Publish/subscribe for live updates (the web sidebar's server-sent events).

The assistant runs wherever a channel delivers a message (a channel thread, the CLI, a
test); the web console runs in an event loop. ``Broadcaster`` is the thread-safe seam
between them: publishers call ``publish`` from any thread, and each subscriber's
callback is invoked on the publisher's thread, so an asyncio consumer hands the event
over with ``loop.call_soon_threadsafe`` (see the ``/api/events`` route in bot/web/api.py).

Across processes (several console workers, ``siyu bot`` beside ``siyu serve``) on
PostgreSQL, ``PostgresBroadcaster`` also sends each event with ``NOTIFY`` on
``LIVE_CHANNEL`` (payload: ids only, see ``share``) and, once ``start``ed, listens for
the other processes' events, reads the message they point at and publishes it to its
own subscribers. On SQLite the broadcaster stays in-process.
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.domain import IncomingMessage, SuggestionResult
from bot.store import Database, StoreError
from bot.store import customers as customers_repo
from bot.store import messages as messages_repo
from bot.store.notify import Listener, notify

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LiveEvent:
    """Something an open console may want to show at once.

    ``kind`` is ``"message"`` (a message was logged; ``suggestion_id`` is set when the
    assistant made suggestions for it). ``adviser_id`` (the customer's adviser, who may
    not be the account that received the message) and ``customer_id`` let the consumer
    drop what the viewer may not see.
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
        self,
        message: IncomingMessage,
        customer_id: int,
        owner: str | None,
        result: SuggestionResult | None,
    ) -> None:
        """The assistant's hook: one event per logged message, for the customer's adviser
        ``owner`` (and their managers)."""
        suggestion_id = result.suggestion_id if result else None
        self.publish(
            LiveEvent(
                kind="message",
                adviser_id=owner,
                customer_id=customer_id,
                data={
                    "direction": message.direction,
                    "type": message.type,
                    "text": message.text,
                    "suggestion_id": suggestion_id,
                },
            )
        )
        self.share(message.msg_id, owner, customer_id, suggestion_id)

    def share(
        self, msg_id: str, adviser_id: str | None, customer_id: int, suggestion_id: int | None
    ) -> None:
        """Tell the other processes (nothing to do in one process)."""

    def start(self) -> None:
        """Publish the other processes' events here too (nothing to do in one process)."""

    def close(self) -> None:
        """Stop listening (nothing to do in one process)."""


#: The ``NOTIFY`` channel of live events.
LIVE_CHANNEL = "siyu_live"
#: Seconds a listener waits for notifications before checking whether it should stop.
LISTEN_POLL_S = 1.0
#: Reconnecting a lost listener: first wait, doubled up to the last.
RECONNECT_S = (1.0, 30.0)


def message_payload(
    *,
    origin: str,
    msg_id: str,
    adviser_id: str | None,
    customer_id: int,
    suggestion_id: int | None,
) -> str:
    """A ``NOTIFY`` payload: who sent it and which rows to read, never customer text."""
    return json.dumps(
        {"o": origin, "m": msg_id, "a": adviser_id, "c": customer_id, "s": suggestion_id},
        ensure_ascii=False,
        separators=(",", ":"),
    )


class PostgresBroadcaster(Broadcaster):
    """A ``Broadcaster`` whose events reach the subscribers of every process sharing the
    PostgreSQL database (``LISTEN`` / ``NOTIFY`` on ``LIVE_CHANNEL``).

    An event published here reaches this process's subscribers at once and the others'
    through the database; the listener thread (``start``, in processes that serve the
    console) skips this process's own notifications. Events sent while a listener is
    reconnecting are lost to its subscribers: the sidebar shows them on its next load.
    """

    def __init__(self, db: Database, *, channel: str = LIVE_CHANNEL) -> None:
        super().__init__()
        self._db = db
        self.channel = channel
        #: Identifies this process's notifications (skipped by its own listener).
        self.origin = uuid.uuid4().hex[:16]
        self._stop = threading.Event()
        self._listening = threading.Event()
        self._thread: threading.Thread | None = None
        #: Other processes' events published here (for the health page and tests).
        self.relayed = 0

    def share(
        self, msg_id: str, adviser_id: str | None, customer_id: int, suggestion_id: int | None
    ) -> None:
        payload = message_payload(
            origin=self.origin,
            msg_id=msg_id,
            adviser_id=adviser_id,
            customer_id=customer_id,
            suggestion_id=suggestion_id,
        )
        try:
            with self._db.session() as session:
                notify(session=session, channel=self.channel, payload=payload)
        except Exception:  # the message is logged; only other consoles miss the update
            log.exception("sending the live update of %s to other processes failed", msg_id)

    @property
    def listening(self) -> bool:
        return self._listening.is_set()

    def start(self, *, wait_s: float = 10.0) -> None:
        """Listen on a thread of its own; returns once listening (or after ``wait_s``,
        the thread then keeps trying to connect)."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._listen, name="live-listener", daemon=True)
        self._thread.start()
        self._listening.wait(wait_s)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(LISTEN_POLL_S * 3)
            self._thread = None

    def _listen(self) -> None:
        listener = Listener(self._db, self.channel)
        delay = RECONNECT_S[0]
        try:
            while not self._stop.is_set():
                if not listener.connected:
                    try:
                        listener.connect()
                    except StoreError as exc:
                        log.warning("%s; retrying in %.0f s", exc, delay)
                        self._stop.wait(delay)
                        delay = min(delay * 2, RECONNECT_S[1])
                        continue
                    delay = RECONNECT_S[0]
                    self._listening.set()
                try:
                    payloads = listener.wait(LISTEN_POLL_S)
                except StoreError as exc:
                    self._listening.clear()
                    log.warning("%s; reconnecting", exc)
                    continue
                for payload in payloads:
                    self._relay(payload)
        finally:
            self._listening.clear()
            listener.close()

    def _relay(self, payload: str) -> None:
        """Publish another process's event here, with the message read from the store."""
        try:
            note = json.loads(payload)
            if note.get("o") == self.origin or self.subscriber_count == 0:
                return
            with self._db.session() as session:
                message = messages_repo.get_message(session=session, msg_id=str(note["m"]))
                if message is None or message.customer_id is None:  # erased meanwhile
                    return
                owner = customers_repo.get_customer(
                    session=session, customer_id=message.customer_id
                ).adviser_id
            self.publish(
                LiveEvent(
                    kind="message",
                    adviser_id=owner,
                    customer_id=message.customer_id,
                    data={
                        "direction": message.direction,
                        "type": message.type,
                        "text": message.text,
                        "suggestion_id": note.get("s"),
                    },
                )
            )
            self.relayed += 1
        except Exception:
            log.exception("relaying a live update failed (%.200s)", payload)


def open_broadcaster(db: Database) -> Broadcaster:
    """The broadcaster for processes sharing ``db``: across processes on PostgreSQL,
    in-process otherwise."""
    if db.engine.dialect.name == "postgresql":
        return PostgresBroadcaster(db)
    return Broadcaster()
