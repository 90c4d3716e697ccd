"""Engine and sessions. Built once at start-up from the settings and passed down.

Every text the store writes or looks up follows one rule, applied here at the engine
(the store's boundary, whichever repository function or statement sends it): NUL and
lone surrogates, which no database stores (PostgreSQL refuses NUL, neither backend
encodes a surrogate), become U+FFFD (``knowledge.text.storable``) — in statement
parameters and inside JSON values alike. The same rule the channels apply to messages,
now for final texts, order numbers, products, reasons, names and everything else."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bot.errors import SiyuError
from bot.store.migrate import upgrade
from knowledge.text import UNSTORABLE, storable

if TYPE_CHECKING:
    from bot.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")

#: ``session.info`` key: writes to make again if this unit of work is rolled back.
_AFTER_ROLLBACK = "siyu.after_rollback"


class StoreError(SiyuError):
    """The database cannot be opened or migrated."""


@dataclass(frozen=True, slots=True)
class Purged:
    """What ``Database.purge`` did so that erased text is gone from the files too."""

    backend: str
    tables: tuple[str, ...]
    #: PostgreSQL: VACUUM FULL (the tables rewritten) rather than a plain VACUUM.
    full: bool
    #: SQLite: the write-ahead log was checkpointed and emptied (False: another process
    #: was reading; the log is emptied at a later checkpoint).
    complete: bool


class Database:
    """Owns the engine and the session factory; ``session()`` is one unit of work."""

    def __init__(self, url: str, *, echo: bool = False, busy_timeout_s: float = 30.0) -> None:
        """``busy_timeout_s``: how long a SQLite writer waits for another process's write
        lock before the statement fails (the channel then keeps the message for a retry)."""
        self.url = url
        self.engine: Engine = _make_engine(url, echo=echo, busy_timeout_s=busy_timeout_s)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        event.listen(self._sessions, "after_commit", _forget_durable)

    @classmethod
    def from_settings(cls, settings: Settings) -> Database:
        """The database the settings name, with their SQL echo and busy timeout."""
        return cls(
            settings.database_url,
            echo=settings.store.echo,
            busy_timeout_s=settings.store.sqlite_busy_timeout_s,
        )

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed on success, rolled back on any error."""
        session = self._sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            self._write_again(session.info.pop(_AFTER_ROLLBACK, ()))
            raise
        finally:
            session.close()

    def _write_again(self, writes: Sequence[Callable[[Session], None]]) -> None:
        """The ``durable`` writes of a unit of work that was rolled back, in one of their
        own; a failure here is logged, never raised over the error being handled."""
        if not writes:
            return
        try:
            with self.session() as session:
                for write in writes:
                    write(session)
        except Exception:
            log.exception("writing %d entries after a rollback failed", len(writes))

    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision (idempotent). This is the first
        connection a process makes: an unreachable database is a ``StoreError`` here."""
        try:
            upgrade(self.engine)
        except DBAPIError as exc:  # unreachable, refused, a bad connection option …
            reason = str(exc.orig or exc).strip().splitlines()[0]
            raise StoreError(f"无法连接数据库 {redact(self.url)}：{reason}") from exc

    def purge(self, tables: Sequence[str], *, full: bool = True) -> Purged:
        """After an erasure has been committed: make the erased text unreadable in the
        database files, not only in the tables.

        SQLite overwrites deleted content with zeros (``secure_delete``, set on every
        connection), but the write-ahead log still holds the pages as they were before:
        it is checkpointed into the database and truncated to zero bytes.

        PostgreSQL keeps dead row versions in the table files until they are vacuumed,
        and a plain VACUUM leaves their bytes in the pages' free space: ``full`` rewrites
        ``tables`` (VACUUM FULL: an exclusive lock on each while it is copied), else a
        plain VACUUM. A rewrite keeps the rows a transaction older than the erasure may
        still see (one running anywhere on the server holds them): it first waits, up to
        ``PURGE_WAIT_S``, for the transactions running now to end; ``complete`` is False
        when some did not. PostgreSQL's own write-ahead log, archives and backups keep the
        text until they are recycled or expire (docs/SECURITY.md)."""
        dialect = self.engine.dialect
        names = tuple(dict.fromkeys(tables))
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if dialect.name == "sqlite":
                busy, _log, _done = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
                if busy:
                    log.warning("the write-ahead log could not be emptied: another reader")
                return Purged("sqlite", names, full=False, complete=not busy)
            if dialect.name == "postgresql" and names:
                settled = _older_transactions_ended(conn) if full else True
                quoted = ", ".join(dialect.identifier_preparer.quote(n) for n in names)
                options = "(FULL, ANALYZE)" if full else "(ANALYZE)"
                conn.exec_driver_sql(f"VACUUM {options} {quoted}")
                return Purged("postgresql", names, full=full, complete=settled)
        return Purged(dialect.name, names, full=False, complete=False)

    def dispose(self) -> None:
        self.engine.dispose()


#: How long ``Database.purge`` waits for older transactions before rewriting tables.
PURGE_WAIT_S = 30.0


def _older_transactions_ended(conn: Connection, timeout_s: float = PURGE_WAIT_S) -> bool:
    """Wait until every transaction running on the server now has ended (the oldest
    running transaction id passes the next one to be assigned now); False on timeout."""
    start = conn.exec_driver_sql("SELECT pg_snapshot_xmax(pg_current_snapshot())").scalar_one()
    deadline = time.monotonic() + timeout_s
    query = "SELECT pg_snapshot_xmin(pg_current_snapshot()) >= %(start)s::xid8"
    while not conn.exec_driver_sql(query, {"start": str(start)}).scalar_one():
        if time.monotonic() > deadline:
            log.warning("transactions older than the erasure still run: rows may stay")
            return False
        time.sleep(0.1)
    return True


def durable(session: Session, write: Callable[[Session], None]) -> None:
    """Run ``write(session)`` now, and again in a unit of work of its own if this one is
    rolled back: the audit entry of a refused request outlives the error that refuses it
    (and rolls the request back). Honoured by the sessions of ``Database.session``."""
    write(session)
    session.info.setdefault(_AFTER_ROLLBACK, []).append(write)


def _forget_durable(session: Session) -> None:
    session.info.pop(_AFTER_ROLLBACK, None)


def redact(url: str) -> str:
    """The URL with its password replaced by ``***`` (for messages and logs)."""
    try:
        parsed = make_url(url)
        if "password" in parsed.query:  # libpq also takes the password as a parameter
            parsed = parsed.update_query_dict({"password": "***"})
        return parsed.render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "<unparsable database URL>"


def storable_value(value: Any) -> Any:
    """``value`` (a statement parameter, a JSON document, or a list / tuple / dict of
    them) with every string made storable; the same object when nothing needs it."""
    if isinstance(value, str):
        return storable(value) if UNSTORABLE.search(value) else value
    if isinstance(value, dict):
        pairs = [(storable_value(k), storable_value(v)) for k, v in value.items()]
        if all(k is old and v is value[old] for (k, v), old in zip(pairs, value, strict=True)):
            return value
        return dict(pairs)
    if isinstance(value, list | tuple):
        items = [storable_value(v) for v in value]
        if all(new is old for new, old in zip(items, value, strict=True)):
            return value
        return tuple(items) if isinstance(value, tuple) else items
    return value


def _storable_json(value: Any) -> str:
    return json.dumps(storable_value(value))


def _storable_parameters(
    _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool
) -> tuple[str, Any]:
    return statement, storable_value(parameters)


def _make_engine(url: str, *, echo: bool, busy_timeout_s: float) -> Engine:
    kwargs: dict[str, Any] = {"echo": echo, "future": True, "json_serializer": _storable_json}
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):  # the driver we ship (the postgres extra), not psycopg2
            url = "postgresql+psycopg://" + url.removeprefix(plain)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": busy_timeout_s}
    else:
        # A server database (PostgreSQL) may restart or drop idle connections.
        kwargs["pool_pre_ping"] = True
    try:
        engine = create_engine(url, **kwargs)
    except (SQLAlchemyError, ValueError) as exc:
        raise StoreError(f"无法打开数据库 {redact(url)}：{exc}") from exc
    event.listen(engine, "before_cursor_execute", _storable_parameters, retval=True)
    if engine.dialect.name == "sqlite":
        busy_ms = max(0, int(busy_timeout_s * 1000))

        def pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            # WAL: readers never block the writer; busy_timeout: writers wait, not fail.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
            # Deleted and overwritten content is zeroed, not left in free pages (erasure;
            # some builds have it on by default, others not).
            cursor.execute("PRAGMA secure_delete=ON")
            cursor.close()

        event.listen(engine, "connect", pragmas)
        event.listen(engine, "savepoint", _begin_before_savepoint)
    return engine


def _begin_before_savepoint(conn: Connection, _name: str | None) -> None:
    """Open the SQLite transaction before a SAVEPOINT when the driver has not yet.

    Python's sqlite3 issues BEGIN only before its first INSERT / UPDATE / DELETE, so a
    ``session.begin_nested()`` that comes first in a unit of work started the transaction
    itself, and releasing it committed at once: a later error in the same unit of work
    no longer undid those rows (an interrupted history import kept a chunk's messages
    without what was learned from them). A BEGIN here puts the savepoint inside the
    session's transaction, which the session commits or rolls back as a whole."""
    raw = conn.connection.dbapi_connection
    if raw is not None and not raw.in_transaction:
        conn.exec_driver_sql("BEGIN")


def insert_or_get(session: Session, row: T, lookup: Callable[[], T | None]) -> tuple[T, bool]:
    """Insert ``row`` unless ``lookup`` finds it; under a race, the unique constraint
    decides and the loser returns the winner's row. Returns ``(row, created)``."""
    existing = lookup()
    if existing is not None:
        return existing, False
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        found = lookup()
        if found is None:
            raise
        return found, False
    return row, True
