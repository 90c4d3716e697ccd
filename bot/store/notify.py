"""PostgreSQL ``LISTEN`` / ``NOTIFY``: small messages between the processes sharing one
database (live updates for the console, bot/pipeline/live.py).

A notification is delivered to every listening connection when the sending transaction
commits, in commit order; one that arrives while a listener is disconnected is lost, so
payloads only point at rows (ids) that the listener then reads. PostgreSQL limits a
payload to 8000 bytes.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from bot.store.db import Database, StoreError

log = logging.getLogger(__name__)

#: PostgreSQL refuses longer payloads.
MAX_PAYLOAD_BYTES = 8000


def notify(*, session: Session, channel: str, payload: str) -> None:
    """Send ``payload`` on ``channel`` when the session's transaction commits."""
    if len(payload.encode("utf-8")) >= MAX_PAYLOAD_BYTES:
        raise ValueError(f"notification payload of {len(payload)} characters is too long")
    session.execute(
        text("SELECT pg_notify(:channel, :payload)"), {"channel": channel, "payload": payload}
    )


class Listener:
    """A connection of its own (outside the pool) listening on one channel."""

    def __init__(self, db: Database, channel: str) -> None:
        if db.engine.dialect.name != "postgresql":
            raise StoreError("实时推送（LISTEN / NOTIFY）需要 PostgreSQL")
        self._db = db
        self.channel = channel
        self._conn: Any = None  # a psycopg.Connection

    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.closed

    def connect(self) -> None:
        """Open the connection and ``LISTEN`` (the connection options are the engine's)."""
        import psycopg
        from psycopg import sql

        self.close()
        dialect = self._db.engine.dialect
        cargs, cparams = dialect.create_connect_args(self._db.engine.url)
        try:
            conn = psycopg.connect(*cargs, **cparams, autocommit=True)
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self.channel)))
        except psycopg.Error as exc:
            raise StoreError(f"无法监听实时推送：{_first_line(exc)}") from exc
        self._conn = conn

    def wait(self, timeout_s: float) -> list[str]:
        """The payloads that arrive within ``timeout_s``: returns as soon as some have
        arrived, or empty when the time is up. ``StoreError`` when the connection is lost."""
        import psycopg

        if self._conn is None:
            raise StoreError("实时推送的监听连接没有连上")
        try:
            # Returns after the first notification (with any that came in the same
            # packet) or when the time is up.
            payloads = [n.payload for n in self._conn.notifies(timeout=timeout_s, stop_after=1)]
        except psycopg.Error as exc:
            self.close()
            raise StoreError(f"实时推送的连接断开了：{_first_line(exc)}") from exc
        return payloads

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # closing a broken connection may fail; it is gone either way
                log.debug("closing the listener connection failed", exc_info=True)
            self._conn = None


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
