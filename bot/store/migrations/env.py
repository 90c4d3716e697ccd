"""Alembic environment: uses the engine handed over by ``bot.store.migrate``.

SQLite needs care (everything in ``_run_sqlite``): a migration that adds a foreign key
recreates the table ("move and copy"), and with foreign keys enforced, dropping the old
table fails as soon as other rows point at it (a store with data); the driver ignores
``PRAGMA foreign_keys`` inside a transaction, and runs DDL outside any transaction, so a
migration that failed half-way would stay half done. So foreign keys are turned off
first, the whole upgrade runs in one transaction begun explicitly, the foreign keys are
checked before it commits, and they are turned back on.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, Engine

from bot.store.models import Base


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_sqlite(engine: Engine) -> None:
    with engine.connect() as connection:
        raw = connection.connection.driver_connection
        assert raw is not None
        previous = raw.isolation_level
        raw.isolation_level = None  # the driver issues no BEGIN / COMMIT of its own now
        raw.execute("PRAGMA foreign_keys=OFF")
        try:
            with connection.begin():  # commits (or rolls back) the BEGIN below
                raw.execute("BEGIN")
                _run(connection)
                broken = raw.execute("PRAGMA foreign_key_check").fetchall()
                if broken:
                    raise RuntimeError(f"migration left rows with dangling foreign keys: {broken}")
        finally:
            raw.execute("PRAGMA foreign_keys=ON")
            raw.isolation_level = previous


engine: Engine = context.config.attributes["engine"]
if engine.dialect.name == "sqlite":
    _run_sqlite(engine)
else:
    with engine.begin() as connection:
        _run(connection)
