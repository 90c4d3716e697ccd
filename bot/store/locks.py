"""Locks that let one process of a deployment do a job alone (the follow-up scheduler):
whichever process takes the lock does the job, the others stand by and try again later.

A lock is released when its holder stops, and also when it dies (SIGKILL, a crash, a
lost machine): on PostgreSQL it is a session-level advisory lock, which the server drops
with the holder's connection; on SQLite (one machine) it is an ``flock`` on a file next
to the database, which the kernel drops with the holder's open file.
"""

from __future__ import annotations

import hashlib
import logging
import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, text
from sqlalchemy.exc import SQLAlchemyError

from bot.store.db import Database

log = logging.getLogger(__name__)


class RunnerLock(ABC):
    """Held by at most one process at a time; ``acquire`` never waits."""

    @abstractmethod
    def acquire(self) -> bool:
        """Take the lock if it is free. True while this process holds it: a holder
        whose hold was lost meanwhile (its database connection broke) finds out here."""

    @abstractmethod
    def release(self) -> None:
        """Let another process take it (nothing when not held)."""

    @property
    @abstractmethod
    def held(self) -> bool:
        """Whether this process held the lock at the last ``acquire``."""


def holder_name(name: str) -> str:
    """The PostgreSQL ``application_name`` of the connection holding lock ``name``: an
    operator finds the process running a job in ``pg_stat_activity``."""
    return f"siyu {name} lock, pid {os.getpid()}"


class AdvisoryLock(RunnerLock):
    """A PostgreSQL session-level advisory lock, held on a connection of its own."""

    def __init__(self, db: Database, name: str) -> None:
        self._db = db
        self.name = name
        #: The 64-bit key of ``name`` (advisory locks are per database).
        self.key = int.from_bytes(
            hashlib.blake2b(f"siyu:{name}".encode(), digest_size=8).digest(), "big", signed=True
        )
        self._conn: Connection | None = None

    @property
    def held(self) -> bool:
        return self._conn is not None

    def acquire(self) -> bool:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT 1"))
                return True
            except SQLAlchemyError:
                log.warning("lost the connection holding the %s lock", self.name)
                self._discard()
        conn = None
        try:
            conn = self._db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            got = bool(
                conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}).scalar()
            )
        except SQLAlchemyError as exc:
            log.warning("cannot try the %s lock: %s", self.name, str(exc).splitlines()[0])
            if conn is not None:
                conn.invalidate()
                conn.close()
            return False
        if not got:
            conn.close()
            return False
        self._conn = conn
        try:  # who holds it, for pg_stat_activity (and tests/test_cluster.py)
            conn.execute(
                text("SELECT set_config('application_name', :name, false)"),
                {"name": holder_name(self.name)},
            )
        except SQLAlchemyError:
            log.debug("cannot name the %s lock's connection", self.name, exc_info=True)
        return True

    def release(self) -> None:
        if self._conn is None:
            return
        try:
            self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
            self._conn.execute(text("RESET application_name"))
            self._conn.close()
        except SQLAlchemyError:
            self._discard()
        self._conn = None

    def _discard(self) -> None:
        """Drop a broken connection (the server released the lock with it)."""
        if self._conn is not None:
            try:
                self._conn.invalidate()
                self._conn.close()
            except SQLAlchemyError:
                pass
        self._conn = None


class FileLock(RunnerLock):
    """An exclusive ``flock`` on ``path`` (processes on one machine, as SQLite needs)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[bytes] | None = None

    @property
    def held(self) -> bool:
        return self._file is not None

    def acquire(self) -> bool:
        import fcntl

        if self._file is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("ab")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.truncate(0)
        handle.write(f"{os.getpid()}\n".encode())
        handle.flush()
        self._file = handle
        return True

    def release(self) -> None:
        if self._file is None:
            return
        import fcntl

        fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
        self._file.close()
        self._file = None


class ProcessLock(RunnerLock):
    """For a database only this process can open (SQLite in memory): always free."""

    def __init__(self) -> None:
        self._held = False

    @property
    def held(self) -> bool:
        return self._held

    def acquire(self) -> bool:
        self._held = True
        return True

    def release(self) -> None:
        self._held = False


def runner_lock(db: Database, name: str) -> RunnerLock:
    """The lock named ``name`` for the processes sharing ``db``."""
    if db.engine.dialect.name == "postgresql":
        return AdvisoryLock(db, name)
    database = db.engine.url.database
    if database and database != ":memory:":
        path = Path(database)
        return FileLock(path.with_name(f"{path.name}.{name}.lock"))
    return ProcessLock()
