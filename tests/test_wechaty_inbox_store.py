"""The channel's durable inbox and account state tables (bot.store.channel_inbox,
bot.store.channel_accounts) on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.store import Database
from bot.store import channel_accounts as accounts_repo
from bot.store import channel_inbox as inbox_repo
from bot.store.channel_inbox import NewEvent

T0 = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    database.migrate()
    yield database
    database.dispose()


def customer(db: Database, contact: str = "wx-zhang") -> int:
    from bot.store import customers

    with db.session() as s:
        customers.ensure_adviser(session=s, adviser_id="wang", name="王")
        found, _ = customers.find_or_create_customer(
            session=s, identity_kind="wechaty_contact", identity_value=contact, adviser_id="wang"
        )
    return found.id


def events(account: str, *ids: str, kind: str = "message") -> list[NewEvent]:
    return [NewEvent(account, kind, i, T0 + timedelta(seconds=n)) for n, i in enumerate(ids)]


def statuses(db: Database, account: str = "wang") -> dict[str, str]:
    with db.session() as s:
        found = []
        for status in ("received", "ready", "logged", "done", "skipped", "parked"):
            found += inbox_repo.unfinished(session=s, account=account, status=status)
    return {r.event_id: r.status for r in found}


def test_events_are_stored_once_in_arrival_order(db: Database) -> None:
    with db.session() as s:
        first = inbox_repo.add_events(session=s, events=events("wang", "m1", "m2", "m1"))
    with db.session() as s:
        again = inbox_repo.add_events(session=s, events=events("wang", "m2", "m3"))
        other = inbox_repo.add_events(session=s, events=events("li", "m1"))  # per account
    assert len(first) == 2 and len(again) == 1 and len(other) == 1
    assert first[0] < first[1] < again[0]
    with db.session() as s:
        rows = inbox_repo.unfinished(session=s, account="wang", status="received")
        after = inbox_repo.unfinished(
            session=s, account="wang", status="received", after_id=first[0], exclude=[again[0]]
        )
    assert [r.event_id for r in rows] == ["m1", "m2", "m3"]
    assert [r.event_id for r in after] == ["m2"]


def test_a_row_moves_through_its_stages_and_loses_its_text(db: Database) -> None:
    cid = customer(db)
    with db.session() as s:
        a, b, c = inbox_repo.add_events(session=s, events=events("wang", "m1", "m2", "m3"))
        inbox_repo.mark_ready(
            session=s,
            rows=[
                (a, "c1", {"message": {"text": "多少钱"}}),
                (b, "c1", {"message": {"text": "?"}}),
            ],
            now=T0,
        )
        inbox_repo.mark_skipped(session=s, ids=[c], now=T0)
    with db.session() as s:
        inbox_repo.mark_logged(
            session=s, item_id=a, message_id=7, customer_id=cid, done=False, now=T0
        )
        inbox_repo.mark_logged(
            session=s, item_id=b, message_id=8, customer_id=cid, done=True, now=T0
        )
    with db.session() as s:
        [logged] = inbox_repo.unfinished(session=s, account="wang", status="logged")
        assert logged.payload == {"message": {"text": "多少钱"}} and logged.logged_at == T0
        inbox_repo.mark_done(session=s, item_id=a, now=T0)
        done = inbox_repo.unfinished(session=s, account="wang", status="done")
    assert [(r.event_id, r.payload, r.customer_id) for r in done] == [
        ("m1", None, cid),
        ("m2", None, cid),
    ]
    assert statuses(db)["m3"] == "skipped"


def test_failures_park_after_the_limit_and_requeue_to_the_failed_stage(db: Database) -> None:
    with db.session() as s:
        a, b = inbox_repo.add_events(session=s, events=events("wang", "m1", "m2"))
        inbox_repo.mark_ready(session=s, rows=[(b, "c1", {"message": {"text": "x"}})], now=T0)
    with db.session() as s:
        assert (
            inbox_repo.record_failure(
                session=s, item_id=a, stage="resolve", error="no payload", park=False, now=T0
            )
            == 1
        )
        inbox_repo.record_failure(
            session=s, item_id=a, stage="resolve", error="x", park=True, now=T0
        )
        inbox_repo.record_failure(
            session=s, item_id=b, stage="log", error="y" * 5000, park=True, now=T0
        )
    with db.session() as s:
        parked = inbox_repo.parked(session=s)
        counts = inbox_repo.counts(session=s)
    assert [(p.event_id, p.stage, p.attempts) for p in parked] == [
        ("m1", "resolve", 2),
        ("m2", "log", 1),
    ]
    assert len(parked[1].error or "") == 2000
    assert counts["wang"].parked == 2 and counts["wang"].backlog == 0
    assert counts["wang"].last_message_at == T0 + timedelta(seconds=1)
    with db.session() as s:
        assert inbox_repo.requeue(session=s, ids=None, now=T0) == 2
    assert statuses(db) == {"m1": "received", "m2": "ready"}
    with db.session() as s:
        assert inbox_repo.counts(session=s)["wang"].backlog == 2


def test_finished_rows_are_purged(db: Database) -> None:
    cid = customer(db)
    with db.session() as s:
        a, b = inbox_repo.add_events(session=s, events=events("wang", "m1", "m2"))
        inbox_repo.mark_ready(session=s, rows=[(b, "wx-li", {})], now=T0)
        inbox_repo.mark_logged(
            session=s, item_id=a, message_id=1, customer_id=cid, done=True, now=T0
        )
    with db.session() as s:
        assert inbox_repo.purge_finished(session=s, before=T0 - timedelta(days=1)) == 0
        assert inbox_repo.purge_finished(session=s, before=T0 + timedelta(days=1)) == 1
    assert statuses(db) == {"m2": "ready"}


def test_forgetting_a_customer_erases_their_inbox_rows_parked_ones_too(db: Database) -> None:
    from bot.store import erasure

    def body(contact: str, text: str) -> dict[str, object]:
        return {"message": {"channel": "wechaty", "contact_id": contact, "text": text}}

    zhang = customer(db)
    with db.session() as s:
        a, b, c = inbox_repo.add_events(session=s, events=events("wang", "m1", "m2", "m3"))
        inbox_repo.mark_ready(
            session=s,
            rows=[(b, "wx-zhang", body("wx-zhang", "我的电话")), (c, "wx-li", body("wx-li", "?"))],
            now=T0,
        )
        inbox_repo.mark_logged(
            session=s, item_id=a, message_id=None, customer_id=zhang, done=False, now=T0
        )
        inbox_repo.record_failure(session=s, item_id=b, stage="log", error="x", park=True, now=T0)
        inbox_repo.record_failure(session=s, item_id=c, stage="log", error="x", park=True, now=T0)
    with db.session() as s:
        assert inbox_repo.link_parked(session=s) == 1  # wx-li is nobody's yet
    with db.session() as s:
        counts = erasure.erase_customer(session=s, customer_id=zhang, actor="test")
    assert counts["channel_inbox"] == 2
    assert statuses(db) == {"m3": "parked"}


def test_account_state_is_saved_and_listed(db: Database) -> None:
    with db.session() as s:
        accounts_repo.save_state(
            session=s, account="wang", now=T0, state="waiting_scan", qr_code="q"
        )
    with db.session() as s:
        accounts_repo.save_state(
            session=s, account="wang", now=T0, state="logged_in", qr_code=None, connections=1
        )
        accounts_repo.save_state(session=s, account="li", now=T0, state="reconnecting")
    with db.session() as s:
        states = accounts_repo.list_states(session=s)
        with pytest.raises(ValueError, match="unknown"):
            accounts_repo.save_state(session=s, account="li", now=T0, token="secret")
    assert [(a.account, a.state, a.qr_code, a.connections) for a in states] == [
        ("li", "reconnecting", None, 0),
        ("wang", "logged_in", None, 1),
    ]
