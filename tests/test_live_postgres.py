"""Live updates across processes on PostgreSQL (bot/pipeline/live.py, bot/store/notify.py):
two broadcasters with databases of their own stand for two processes; a message handled
by one reaches the other's subscribers through LISTEN / NOTIFY. Two real `siyu serve`
processes are tests/test_cluster.py."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from store_backends import backend_url, log_inbound

from bot.domain import IncomingMessage
from bot.pipeline.live import (
    LIVE_CHANNEL,
    Broadcaster,
    LiveEvent,
    PostgresBroadcaster,
    message_payload,
    open_broadcaster,
)
from bot.store import Database

DEADLINE_S = 20.0


@pytest.fixture
def pg_url(tmp_path: Path) -> Iterator[str]:
    yield from backend_url("postgresql", tmp_path)


@pytest.fixture
def processes(pg_url: str) -> Iterator[tuple[PostgresBroadcaster, PostgresBroadcaster]]:
    """Two processes' broadcasters, both listening."""
    dbs = [Database(pg_url), Database(pg_url)]
    dbs[0].migrate()
    pair = [open_broadcaster(d) for d in dbs]
    assert all(isinstance(b, PostgresBroadcaster) for b in pair)
    a, b = pair[0], pair[1]
    assert isinstance(a, PostgresBroadcaster) and isinstance(b, PostgresBroadcaster)
    a.start()
    b.start()
    assert a.listening and b.listening
    try:
        yield a, b
    finally:
        a.close()
        b.close()
        for d in dbs:
            d.dispose()


class Seen:
    """A subscriber that records events and lets a test wait for them."""

    def __init__(self) -> None:
        self.events: list[LiveEvent] = []
        self._arrived = threading.Condition()

    def __call__(self, event: LiveEvent) -> None:
        with self._arrived:
            self.events.append(event)
            self._arrived.notify_all()

    def wait_for(self, n: int) -> list[LiveEvent]:
        with self._arrived:
            assert self._arrived.wait_for(lambda: len(self.events) >= n, DEADLINE_S), (
                f"{len(self.events)} of {n} events arrived"
            )
            return list(self.events)


def _handled(broadcaster: Broadcaster, db: Database, msg_id: str, text: str) -> int:
    with db.session() as session:
        customer_id, _, _ = log_inbound(session, "wx-live", msg_id, text)
    broadcaster.message_handled(
        IncomingMessage(msg_id=msg_id, channel="memory", contact_id="wx-live", text=text),
        customer_id,
        "a1",  # the customer's adviser (log_inbound's)
        None,
    )
    return customer_id


def test_a_message_handled_in_one_process_reaches_the_others_subscribers(
    processes: tuple[PostgresBroadcaster, PostgresBroadcaster], pg_url: str
) -> None:
    a, b = processes
    here, there = Seen(), Seen()
    a.subscribe(here)
    b.subscribe(there)
    db = Database(pg_url)
    try:
        customer_id = _handled(a, db, "m-1", "我想了解重疾险")
        (event,) = there.wait_for(1)
        assert (event.kind, event.adviser_id, event.customer_id) == ("message", "a1", customer_id)
        assert event.data == {
            "direction": "in",
            "type": "text",
            "text": "我想了解重疾险",  # read from the store, not carried by the notification
            "suggestion_id": None,
        }
        _handled(b, db, "m-2", "好的")
        assert [e.data["text"] for e in here.wait_for(2)] == ["我想了解重疾险", "好的"]
        assert [e.data["text"] for e in there.wait_for(2)] == ["我想了解重疾险", "好的"]
        time.sleep(0.5)  # a process never gets its own events twice
        assert len(here.events) == len(there.events) == 2
        assert (a.relayed, b.relayed) == (1, 1)
    finally:
        db.dispose()


def test_the_notification_carries_ids_only() -> None:
    payload = message_payload(
        origin="p1", msg_id="5:adv-a:src-1", adviser_id="adv-a", customer_id=7, suggestion_id=9
    )
    assert json.loads(payload) == {"o": "p1", "m": "5:adv-a:src-1", "a": "adv-a", "c": 7, "s": 9}


def test_a_listener_whose_connection_is_killed_reconnects(
    processes: tuple[PostgresBroadcaster, PostgresBroadcaster], pg_url: str
) -> None:
    a, b = processes
    there = Seen()
    b.subscribe(there)
    db = Database(pg_url)
    try:
        with db.engine.connect() as conn:
            killed = conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND query = :listen"
                ),
                {"listen": f'LISTEN "{LIVE_CHANNEL}"'},
            ).scalars()
            assert list(killed) == [True, True]
        deadline = time.monotonic() + DEADLINE_S
        n = 0
        while not there.events:  # events sent while it reconnects are lost: send again
            assert time.monotonic() < deadline, "the listener did not come back"
            n += 1
            _handled(a, db, f"m-{n}", "还在吗")
            time.sleep(0.2)
        assert b.listening
    finally:
        db.dispose()


def test_sqlite_stays_in_process(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'siyu.db'}")
    try:
        broadcaster = open_broadcaster(db)
        assert type(broadcaster) is Broadcaster
        broadcaster.start()  # nothing to listen to
        broadcaster.close()
    finally:
        db.dispose()
