"""One follow-up scheduler at a time across processes (bot/store/locks.py,
bot/crm/scheduler.py): two locks or schedulers on one database stand for two processes;
a PostgreSQL advisory lock held on its own connection, a file lock beside SQLite. The
holder killed with SIGKILL is tests/test_cluster.py."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from sqlalchemy import text

from bot.crm.scheduler import FollowupScheduler
from bot.settings import Settings
from bot.store import Database
from bot.store import customers as customers_repo
from bot.store.locks import AdvisoryLock, FileLock, holder_name, runner_lock

DEADLINE_S = 20.0


def test_one_holder_at_a_time_and_the_next_takes_over(db: Database) -> None:
    first, second = runner_lock(db, "job"), runner_lock(db, "job")
    other_job = runner_lock(db, "another-job")
    try:
        assert first.acquire() and first.held
        assert first.acquire(), "the holder keeps it"
        assert not second.acquire() and not second.held
        assert other_job.acquire(), "locks of other names are independent"
        first.release()
        assert not first.held
        assert second.acquire()
        assert not first.acquire()
    finally:
        for lock in (first, second, other_job):
            lock.release()
    kind = AdvisoryLock if db.engine.dialect.name == "postgresql" else FileLock
    assert isinstance(first, kind)


def test_a_holder_whose_connection_died_finds_out_and_stands_by(db: Database) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("a file lock has no connection to lose")
    holder, other = runner_lock(db, "job"), runner_lock(db, "job")
    assert isinstance(holder, AdvisoryLock)
    try:
        assert holder.acquire()
        with db.engine.connect() as conn:  # the server ends the holder's session
            holders = conn.execute(
                text(
                    "SELECT a.pid, a.application_name FROM pg_locks l"
                    " JOIN pg_stat_activity a ON a.pid = l.pid"
                    " WHERE l.locktype = 'advisory' AND l.granted"
                    " AND l.database = (SELECT oid FROM pg_database"
                    " WHERE datname = current_database())"
                )
            ).all()
            assert [name for _, name in holders] == [holder_name("job")]
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": holders[0][0]})
        deadline = time.monotonic() + DEADLINE_S
        while not other.acquire():  # the server releases the lock with the session
            assert time.monotonic() < deadline, "the lock was not released"
            time.sleep(0.05)
        assert not holder.acquire() and not holder.held
    finally:
        holder.release()
        other.release()


def _wait(condition: object, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def test_two_schedulers_run_the_rules_in_one_process_and_hand_over(
    db: Database, tmp_path: Path
) -> None:
    with db.session() as session:
        customers_repo.ensure_adviser(session=session, adviser_id="a1", name="李顾问")
        customers_repo.find_or_create_customer(
            session=session, identity_kind="wechat", identity_value="wx-1", adviser_id="a1"
        )
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        yaml.safe_dump({"rules": [{"id": "welcome-0", "anchor": "added", "offset_days": 0}]}),
        encoding="utf-8",
    )
    settings = Settings.model_validate(
        {"followups": {"rules_file": str(rules), "interval_minutes": 0.001}}
    )
    now = lambda: datetime.now(UTC)  # noqa: E731
    first = FollowupScheduler(db=db, settings=settings, clock=now)
    first.start()
    _wait(lambda: first.runs >= 2, "the first scheduler never ran")
    second = FollowupScheduler(db=db, settings=settings, clock=now)
    second.start()
    try:
        _wait(lambda: first.runs >= 6, "the first scheduler stopped running")
        assert (first.role, second.role) == ("running", "standby")
        assert second.attempts == 0, "the standby never runs the rules"
        first.stop()  # the holder goes: the other one takes over
        assert first.role == "off"
        _wait(lambda: second.runs >= 2, "the standby did not take over")
        assert second.role == "running"
    finally:
        first.stop()
        second.stop()
