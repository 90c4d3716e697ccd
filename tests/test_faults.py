"""Faults as tests: a lost or corrupted vector index, a process killed in the middle of a
knowledge ingest, a process killed between logging a message and suggesting for it."""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import RuntimeFactory

from bot.cli import run
from bot.store import messages, suggestions
from knowledge import open_vector_store
from knowledge.settings import VectorSettings

QUERY = "等待期内确诊能赔吗"


def _damage(chroma: Path, how: str) -> None:
    if how == "deleted":
        shutil.rmtree(chroma)
    elif how == "garbage":
        (chroma / "chroma.sqlite3").write_bytes(b"\x13garbage" * 4096)
    else:  # truncated: the catalogue cut in half, as by a full disk
        db = chroma / "chroma.sqlite3"
        with db.open("r+b") as f:
            f.truncate(db.stat().st_size // 2)


@pytest.mark.parametrize("how", ["deleted", "garbage", "truncated"])
def test_lost_or_corrupted_index_is_rebuilt_from_sql_at_start(
    make_runtime: RuntimeFactory, tmp_path: Path, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "data"
    rt = make_runtime(data_dir=data)
    before = [p.text for p in rt.kb.search(QUERY, k=3)]
    chunks = rt.vectors.collection("knowledge").count()
    rt.close()
    _damage(data / "chroma", how)
    with caplog.at_level(logging.WARNING, logger="bot.pipeline.runtime"):
        again = make_runtime(data_dir=data, load=False)
    assert [p.text for p in again.kb.search(QUERY, k=3)] == before
    assert again.vectors.collection("knowledge").count() == chunks
    moved = sorted(p.name for p in data.iterdir() if p.name.startswith("chroma.corrupt-"))
    if how == "deleted":
        assert moved == []
    else:
        assert len(moved) == 1, "the damaged store is kept aside, not deleted"
        assert "rebuilding the index from the database" in caplog.text


def _siyu() -> str:
    return str(Path(sys.executable).with_name("siyu"))


def _count(db: Path, sql: str) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(sql).fetchone()[0])


def _count_or_zero(db: Path, sql: str) -> int:
    """``_count`` on a database another process is still creating (0 until it exists)."""
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute(sql).fetchone()[0])
    except sqlite3.OperationalError:
        return 0  # tables not created yet


def _wait_for(proc: subprocess.Popen[bytes], ready: Callable[[], bool]) -> None:
    """Poll ``ready`` while ``proc`` runs; fail if it ends first or never gets there."""
    for _ in range(3000):  # a safety net of about a minute, never a measure of speed
        assert proc.poll() is None, "ingest finished before it could be killed"
        if ready():
            return
        time.sleep(0.02)
    raise AssertionError("the ingest never got there")


@pytest.mark.slow
def test_killed_ingest_finishes_on_rerun_without_duplicates(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for n in range(12):
        sections = "\n\n".join(
            f"## 条款{n}-{k}\n第{n}号产品第{k}条：等待期{n * 10 + k}天，"
            f"保费每年{1000 + n * 37 + k}元，"
            f"理赔需要身份证、病历和诊断证明，材料齐全后{k + 1}个工作日内审核完毕。"
            for k in range(6)
        )
        (docs / f"product-{n:02d}.md").write_text(f"# 产品{n}\n\n{sections}\n", encoding="utf-8")
    data = tmp_path / "data"
    config = tmp_path / "siyu.toml"
    config.write_text("[embedding]\nbatch_size = 2\n", encoding="utf-8")
    cmd = [_siyu(), "--config", str(config), "--data-dir", str(data), "kb", "ingest", str(docs)]
    env = os.environ | {"OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    db = data / "siyu.db"
    try:
        # Kill it hard once the chunks are committed and the first vectors have reached
        # Chroma's own SQLite file (the signal that embedding is under way).
        _wait_for(proc, lambda: _count_or_zero(db, "SELECT count(*) FROM chunks") > 0)
        vectors = data / "chroma" / "chroma.sqlite3"
        _wait_for(proc, lambda: _count_or_zero(vectors, "SELECT count(*) FROM embeddings") > 0)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    chunks = _count(db, "SELECT count(*) FROM chunks")
    with open_vector_store(VectorSettings(), data) as store:
        indexed = store.collection("knowledge").count()
    assert chunks == 72 and indexed < chunks, "killed in the middle of embedding"

    rerun = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert "未变 12" in rerun.stdout, "the documents were committed before the kill"
    assert _count(db, "SELECT count(*) FROM chunks") == 72
    assert _count(db, "SELECT count(*) FROM documents") == 12
    assert _count(db, "SELECT count(DISTINCT document_id || '-' || ordinal) FROM chunks") == 72
    with open_vector_store(VectorSettings(), data) as store:
        collection = store.collection("knowledge")
        assert collection.count() == 72
        ids = set(collection.get_metadata())
    with sqlite3.connect(db) as conn:
        chunk_ids = {f"chunk-{row[0]}" for row in conn.execute("SELECT id FROM chunks")}
    assert ids == chunk_ids, "one vector per chunk, none left over from the killed run"


CRASH_AFTER_LOGGING = textwrap.dedent(
    """
    import os, sys
    from bot.channels.memory import MemoryChannel
    from bot.pipeline.runtime import open_runtime
    from bot.settings import Settings

    rt = open_runtime(Settings.model_validate({"data_dir": sys.argv[1]}))
    # die the hardest way right after the message is logged, before any suggestion
    rt.assistant._process = lambda *a, **k: os.kill(os.getpid(), 9)
    channel = MemoryChannel(rt.assistant.handle, adviser_id="li", adviser_name="李顾问")
    channel.receive("wx-crash", "理赔要什么材料", msg_id="m-crash", industry="insurance")
    """
)


def test_message_logged_before_a_crash_is_processed_when_serve_starts(
    make_runtime: RuntimeFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    make_runtime(data_dir=data).close()
    env = os.environ | {"OPENBLAS_NUM_THREADS": "1"}
    child = subprocess.run(
        [sys.executable, "-c", CRASH_AFTER_LOGGING, str(data)], env=env, timeout=120
    )
    assert child.returncode == -signal.SIGKILL
    check = make_runtime(data_dir=data, load=False)
    with check.db.session() as s:
        (pending,) = messages.pending_messages(session=s)
    check.close()
    assert pending.msg_id == "m-crash"

    import uvicorn

    served: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: served.append(app))
    monkeypatch.setenv("SIYU_WEB_SECRET", secrets.token_hex(32))
    with socket.create_server(("127.0.0.1", 0)) as probe:  # not 8765: a console may run
        port = str(probe.getsockname()[1])
    assert run(["--data-dir", str(data), "serve", "--port", port]) == 0
    assert served, "the web app was built"
    after = make_runtime(data_dir=data, load=False)
    with after.db.session() as s:
        assert messages.pending_messages(session=s) == []
        (stored,) = suggestions.list_suggestions(session=s)
        assert messages.get_message(session=s, msg_id="m-crash").status == "done"  # type: ignore[union-attr]
    assert stored.message_id == pending.id
    assert "INS-AFS-1" in [c["id"] for c in stored.candidates["scripts"]]


def test_sqlite_busy_past_the_timeout_keeps_the_message_for_a_retry(
    make_runtime: RuntimeFactory,
) -> None:
    """Another process holds SQLite's write lock longer than the busy timeout: the
    channel does not lose the message; it stays in the retry queue and the retry after
    the lock is released logs it once and suggests for it."""
    import multiprocessing

    from store_backends import hold_sqlite_write_lock

    from bot.channels.memory import MemoryChannel

    rt = make_runtime(store={"sqlite_busy_timeout_s": 0.3})
    channel = MemoryChannel(rt.assistant.handle, adviser_id="adv-1")
    path = rt.settings.database_url.split("///", 1)[1]
    ctx = multiprocessing.get_context("spawn")
    locked, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=hold_sqlite_write_lock, args=(path, locked, release))
    holder.start()
    try:
        assert locked.wait(30)
        started = time.monotonic()
        assert channel.receive("wx-busy", "重疾险一年多少钱？", msg_id="m-busy") is None
        waited = time.monotonic() - started
        assert channel.failed_count == 1
        assert channel.retry_failed() == 0  # still locked: stays queued
        assert channel.failed_count == 1
    finally:
        release.set()
        holder.join(timeout=30)
    assert holder.exitcode == 0
    assert waited >= 0.3  # it waited for the lock before giving up
    assert channel.retry_failed() == 1 and channel.failed_count == 0
    with rt.db.session() as s:
        logged = messages.get_message(session=s, msg_id="m-busy")
        assert logged is not None and logged.status == "done"
        (stored,) = suggestions.list_suggestions(session=s)
    assert stored.message_id == logged.id
