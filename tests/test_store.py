from __future__ import annotations

import multiprocessing
import queue
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from bot.errors import InputError
from bot.store import (
    Database,
    changes,
    customers,
    documents,
    messages,
    scripts,
    suggestions,
    tags,
)
from bot.store.models import Base
from scripts_lib.model import ScriptRecord


def _customer(db: Database, contact: str = "wx1", name: str = "张丽") -> int:
    with db.session() as s:
        customers.ensure_adviser(session=s, adviser_id="a1", name="李顾问")
        c, _ = customers.find_or_create_customer(
            session=s, identity_kind="wechat", identity_value=contact, name=name, adviser_id="a1"
        )
    return c.id


def _log(db: Database, customer_id: int, msg_id: str, text: str = "你好") -> bool:
    with db.session() as s:
        conv = messages.get_or_create_conversation(
            session=s, channel="memory", external_id="wx1", customer_id=customer_id, adviser_id="a1"
        )
        _, created = messages.log_message(
            session=s,
            msg_id=msg_id,
            conversation_id=conv,
            customer_id=customer_id,
            adviser_id="a1",
            direction="in",
            text=text,
        )
    return created


def test_migration_matches_the_models_and_is_rerunnable(db: Database) -> None:
    db.migrate()  # second run is a no-op
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    assert "messages" in inspect(db.engine).get_table_names()
    if db.engine.dialect.name == "sqlite":
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_plain_postgres_urls_use_the_shipped_driver() -> None:
    for url in ("postgresql://u@127.0.0.1:1/x", "postgres://u@127.0.0.1:1/x"):
        database = Database(url)  # no connection is made until first use
        assert (database.engine.dialect.name, database.engine.dialect.driver) == (
            "postgresql",
            "psycopg",
        )
        database.dispose()


def test_same_delivery_twice_is_one_row(db: Database) -> None:
    cid = _customer(db)
    assert _log(db, cid, "m-1") is True
    assert _log(db, cid, "m-1") is False
    with db.session() as s:
        assert messages.count_messages(session=s, customer_id=cid) == 1


def test_concurrent_duplicate_deliveries_store_one_row(database_url: str) -> None:
    database = Database(database_url)
    database.migrate()
    cid = _customer(database)
    results: list[bool] = []
    racers: list[int] = []
    barrier = threading.Barrier(4)

    def worker() -> None:
        barrier.wait()
        racers.append(_customer(database, "new-contact", "并发"))
        results.append(_log(database, cid, "same-id"))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False, False, False, True]
    assert len(set(racers)) == 1, "one customer for one identity, whoever wins"
    with database.session() as s:
        assert messages.count_messages(session=s, customer_id=cid) == 1
    database.dispose()


def test_identity_resolves_to_one_customer(db: Database) -> None:
    first = _customer(db, "wx9", "王")
    again = _customer(db, "wx9", "")
    other = _customer(db, "wx10", "赵")
    assert first == again != other
    with db.session() as s:
        profile = customers.customer_profile(session=s, customer_id=first)
    assert profile.customer.name == "王"
    assert [(i.kind, i.value) for i in profile.identities] == [("wechat", "wx9")]
    assert [e.text for e in profile.timeline] == ["contact_added"]


def test_timeline_orders_messages_and_events(db: Database) -> None:
    cid = _customer(db)
    _log(db, cid, "a", "第一条")
    _log(db, cid, "b", "第二条")
    with db.session() as s:
        profile = customers.customer_profile(session=s, customer_id=cid)
        recent = messages.recent_messages(session=s, customer_id=cid, limit=1)
    assert [e.text for e in profile.timeline] == ["contact_added", "第一条", "第二条"]
    assert profile.message_count == 2
    assert [m.text for m in recent] == ["第二条"]


def _taxonomy(*names: str) -> list[tags.CategorySpec]:
    return [
        tags.CategorySpec(
            name="险种兴趣",
            industry="insurance",
            tags=tuple(tags.TagSpec(name=n, keywords=(n,)) for n in names),
        )
    ]


def test_reviewed_tags_are_not_overwritten_by_new_suggestions(db: Database) -> None:
    cid = _customer(db)
    with db.session() as s:
        tags.replace_taxonomy(session=s, categories=_taxonomy("重疾险", "医疗险"))
        tag_ids = {t.name: t.id for t in tags.list_tags(session=s, industry="insurance")}
        assert tags.suggest_customer_tag(
            session=s,
            customer_id=cid,
            tag_id=tag_ids["重疾险"],
            evidence="e1",
            score=0.5,
            message_id=None,
        )
        row = tags.list_customer_tags(session=s, customer_id=cid)[0]
        tags.review_customer_tag(session=s, customer_tag_id=row.id, status="rejected", reviewer="m")
        assert not tags.suggest_customer_tag(
            session=s,
            customer_id=cid,
            tag_id=tag_ids["重疾险"],
            evidence="e2",
            score=0.9,
            message_id=None,
        )
        (after,) = tags.list_customer_tags(session=s, customer_id=cid)
    assert (after.status, after.evidence, after.reviewer) == ("rejected", "e1", "m")


def test_review_rejects_unknown_status(db: Database) -> None:
    with db.session() as s, pytest.raises(InputError):
        tags.review_customer_tag(session=s, customer_tag_id=1, status="maybe", reviewer="m")


def test_taxonomy_reimport_deactivates_dropped_tags(db: Database) -> None:
    with db.session() as s:
        tags.replace_taxonomy(session=s, categories=_taxonomy("重疾险", "医疗险"))
        stats = tags.replace_taxonomy(session=s, categories=_taxonomy("重疾险"))
        names = [t.name for t in tags.list_tags(session=s)]
    assert (stats.added, stats.updated, stats.unchanged, stats.deactivated) == (0, 0, 1, 1)
    assert names == ["重疾险"]


def test_taxonomy_reimport_tells_changed_tags_from_unchanged_ones(db: Database) -> None:
    """Re-importing the same file changes nothing and tells no other process to reload;
    a new keyword is an update."""
    with db.session() as s:
        tags.replace_taxonomy(session=s, categories=_taxonomy("重疾险", "医疗险"))
        before = changes.versions(session=s)
        same = tags.replace_taxonomy(session=s, categories=_taxonomy("重疾险", "医疗险"))
        assert changes.versions(session=s) == before
        spec = _taxonomy("重疾险", "医疗险")[0]
        edited = replace(spec, tags=(replace(spec.tags[0], keywords=("新词",)), *spec.tags[1:]))
        changed = tags.replace_taxonomy(session=s, categories=[edited])
        assert changes.versions(session=s) != before
    assert (same.added, same.updated, same.unchanged, same.deactivated) == (0, 0, 2, 0)
    assert (changed.added, changed.updated, changed.unchanged) == (0, 1, 1)


def _script(body: str, status: str = "approved") -> ScriptRecord:
    return ScriptRecord(
        id="S1",
        title="t",
        category="pricing",
        stage="convert",
        industry="insurance",
        body=body,
        status=status,
    )


def test_script_upsert_versions_changes_only(db: Database) -> None:
    with db.session() as s:
        assert scripts.upsert_scripts(session=s, records=[_script("a")]).added == 1
        assert scripts.upsert_scripts(session=s, records=[_script("a")]).unchanged == 1
        assert scripts.upsert_scripts(session=s, records=[_script("b")]).updated == 1
        (rec,) = scripts.list_scripts(session=s)
        scripts.set_script_status(session=s, script_id="S1", status="archived")
        assert scripts.list_scripts(session=s, status="approved") == []
    assert (rec.body, rec.version) == ("b", 2)


def test_failed_transaction_writes_nothing(db: Database) -> None:
    with pytest.raises(RuntimeError), db.session() as s:
        scripts.upsert_scripts(session=s, records=[_script("a")])
        raise RuntimeError("boom")
    with db.session() as s:
        assert scripts.list_scripts(session=s) == []


def test_replacing_a_document_swaps_its_chunks(db: Database) -> None:
    spec = documents.ChunkSpec
    with db.session() as s:
        doc, removed = documents.replace_document(
            session=s,
            source="/k/a.md",
            kind="markdown",
            sha256="1",
            industry=None,
            chunks=[spec(0, "A", "一"), spec(1, "B", "二")],
        )
        assert removed == [] and doc.chunks == 2
        old_ids = [c.id for c in documents.all_chunks(session=s)]
        doc, removed = documents.replace_document(
            session=s,
            source="/k/a.md",
            kind="markdown",
            sha256="2",
            industry="insurance",
            chunks=[spec(0, "A", "新")],
        )
        chunks = documents.all_chunks(session=s)
    assert sorted(removed) == sorted(old_ids)
    assert [(c.text, c.industry) for c in chunks] == [("新", "insurance")]


def test_delete_customer_removes_everything_about_them(db: Database) -> None:
    cid = _customer(db)
    keep = _customer(db, "wx-other", "留")
    _log(db, cid, "x")
    with db.session() as s:
        suggestions.save_suggestion(
            session=s,
            message_id=None,
            customer_id=cid,
            adviser_id="a1",
            mode="retrieval",
            reply=None,
            candidates={},
            latency_ms=1.0,
        )
        assert customers.delete_customer_by_identity(
            session=s, identity_kind="wechat", identity_value="wx1"
        )
        assert suggestions.list_suggestions(session=s, customer_id=cid) == []
        assert [c.id for c in customers.list_customers(session=s)] == [keep]


@pytest.mark.slow
def test_processes_logging_the_same_deliveries_store_each_once(database_url: str) -> None:
    """Several OS processes (spawned, own engines and connections) receive the same message
    ids in different orders: every id is stored exactly once and none is lost."""
    from store_backends import log_messages_worker

    database = Database(database_url)
    database.migrate()
    database.dispose()
    ids = [f"m-{i}" for i in range(30)]
    workers = 4
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(workers)
    out = ctx.Queue()
    procs = [
        ctx.Process(
            target=log_messages_worker,
            args=(database_url, ids[n:] + ids[:n] if n % 2 else list(reversed(ids)), start, out),
        )
        for n in range(workers)
    ]
    for p in procs:
        p.start()
    created = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    flat = [m for part in created for m in part]
    assert sorted(flat) == sorted(ids), "each id created by exactly one process"
    database = Database(database_url)
    with database.session() as s:
        (customer,) = customers.list_customers(session=s)
        assert messages.count_messages(session=s, customer_id=customer.id) == len(ids)
        assert all(messages.get_message(session=s, msg_id=m) for m in ids)
    database.dispose()


@pytest.mark.slow
def test_sqlite_writers_wait_for_another_processes_write_lock(tmp_path: Path) -> None:
    """SQLite busy: while another process holds the write lock, writer processes wait
    (busy timeout) instead of failing, readers are not blocked, and once the lock is
    released every message is stored exactly once."""
    from store_backends import hold_sqlite_write_lock, log_messages_worker

    path = tmp_path / "siyu.db"
    url = f"sqlite:///{path}"
    database = Database(url)
    database.migrate()
    ctx = multiprocessing.get_context("spawn")
    locked, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=hold_sqlite_write_lock, args=(str(path), locked, release))
    holder.start()
    assert locked.wait(30)
    workers = 3
    # The barrier includes this process: once it opens, every writer is starting its first
    # write, which cannot complete while the lock is held.
    start, out = ctx.Barrier(workers + 1), ctx.Queue()
    batches = [[f"w{n}-{i}" for i in range(20)] for n in range(workers)]
    procs = [ctx.Process(target=log_messages_worker, args=(url, b, start, out)) for b in batches]
    try:
        for p in procs:
            p.start()
        start.wait(60)
        with pytest.raises(queue.Empty):  # nobody finishes (or fails and reports) while locked
            out.get(timeout=2)
        assert all(p.is_alive() for p in procs), "a writer gave up instead of waiting"
        with database.session() as s:  # WAL: reading is not blocked by the writer
            assert messages.count_messages(session=s) == 0
    finally:
        release.set()
    created = [out.get(timeout=60) for _ in procs]
    for p in [*procs, holder]:
        p.join(timeout=30)
        assert p.exitcode == 0
    assert sorted(m for part in created for m in part) == sorted(m for b in batches for m in b)
    with database.session() as s:
        assert messages.count_messages(session=s) == workers * 20
    database.dispose()


def test_a_durable_write_outlives_a_rollback_and_is_never_doubled(db: Database) -> None:
    from bot.store.audit import list_entries, record_durable

    def actions() -> list[str]:
        with db.session() as s:
            return [e.action for e in list_entries(session=s, actor="probe")]

    with pytest.raises(RuntimeError), db.session() as s:
        record_durable(session=s, actor="probe", action="refused")
        raise RuntimeError("the request fails after the refusal")
    assert actions() == ["refused"]
    with db.session() as s:
        record_durable(session=s, actor="probe", action="kept")
    assert actions() == ["kept", "refused"]
    with pytest.raises(RuntimeError), db.session() as s:
        record_durable(session=s, actor="probe", action="committed first")
        s.commit()
        raise RuntimeError("a later failure")
    assert actions() == ["committed first", "kept", "refused"]


def test_sqlite_zeroes_what_it_deletes(tmp_path: Path) -> None:
    """``secure_delete`` on every connection, whatever the SQLite build's default."""
    db = Database(f"sqlite:///{tmp_path / 'siyu.db'}")
    try:
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA secure_delete").scalar_one() == 1
    finally:
        db.dispose()
