"""Relational backends for the tests: SQLite always, PostgreSQL when
``SIYU_TEST_POSTGRES_URL`` names a server (``.ci/run`` starts one and exports it).

``database_url`` is parametrized over both; each PostgreSQL test gets a database of its own,
created from the server URL and dropped (forcibly) afterwards."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.orm import Session

from bot.store import Database
from bot.store.records import MessageRecord

POSTGRES_ENV = "SIYU_TEST_POSTGRES_URL"
BACKENDS = ["sqlite", "postgresql"]


def postgres_server_url() -> str | None:
    return os.environ.get(POSTGRES_ENV) or None


def require_postgres() -> str:
    url = postgres_server_url()
    if url is None:
        pytest.skip(
            f"PostgreSQL tests need {POSTGRES_ENV} (e.g. postgresql+psycopg://…); .ci/run sets it"
        )
    return url


def create_postgres_database(server_url: str) -> str:
    """A fresh, empty database on the server; returns its URL."""
    name = f"siyu_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_postgres_database(server_url: str, url: str) -> None:
    name = make_url(url).database
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def backend_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """Yield a database URL of ``backend``: a SQLite file in tmp_path or a new PG database."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'siyu.db'}"
        return
    server = require_postgres()
    url = create_postgres_database(server)
    try:
        yield url
    finally:
        drop_postgres_database(server, url)


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: SQLite, then PostgreSQL (skipped when not configured)."""
    yield from backend_url(request.param, tmp_path)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """A migrated database on each backend (SQLite; PostgreSQL when configured)."""
    database = Database(database_url)
    database.migrate()
    yield database
    database.dispose()


def log_inbound(
    session: Session, contact: str, msg_id: str, text: str = "你好"
) -> tuple[int, MessageRecord, bool]:
    """The customer with WeChat contact id ``contact`` (created if new, adviser a1) writes
    ``text`` in their 1:1 chat: (customer id, the message, whether this logged it)."""
    from bot.store import customers, messages

    customers.ensure_adviser(session=session, adviser_id="a1", name="李顾问")
    customer, _ = customers.find_or_create_customer(
        session=session, identity_kind="wechat", identity_value=contact, adviser_id="a1"
    )
    conv = messages.get_or_create_conversation(
        session=session,
        channel="memory",
        external_id=contact,
        customer_id=customer.id,
        adviser_id="a1",
    )
    message, created = messages.log_message(
        session=session,
        msg_id=msg_id,
        conversation_id=conv,
        customer_id=customer.id,
        adviser_id="a1",
        direction="in",
        text=text,
    )
    return customer.id, message, created


def log_messages_worker(url: str, msg_ids: list[str], start: object, out: object) -> None:
    """One process of the concurrent-dedupe test: resolve the same customer and log the same
    message ids as its siblings; report which ids this process created."""
    from bot.store import Database

    db = Database(url)
    created: list[str] = []
    try:
        start.wait()  # type: ignore[attr-defined]  (a multiprocessing Barrier)
        for msg_id in msg_ids:
            with db.session() as s:
                _, _, was_created = log_inbound(s, "wx-race", msg_id, f"消息 {msg_id}")
            if was_created:
                created.append(msg_id)
    finally:
        db.dispose()
    out.put(created)  # type: ignore[attr-defined]  (a multiprocessing Queue)


def hold_sqlite_write_lock(path: str, locked: object, release: object) -> None:
    """Another process in the middle of a long write transaction: takes SQLite's write lock
    (``BEGIN IMMEDIATE``), sets ``locked`` and keeps the lock until ``release`` is set."""
    import sqlite3

    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        locked.set()  # type: ignore[attr-defined]  (a multiprocessing Event)
        release.wait(60)  # type: ignore[attr-defined]
        conn.execute("COMMIT")
    finally:
        conn.close()
