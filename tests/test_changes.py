"""The change feed: every change of the script library, the knowledge base or the taxonomy
bumps its topic in the same transaction, and a second process refreshes exactly what moved
(bot/store/changes.py, bot/pipeline/changes.py). Two runtimes stand for two processes:
one database (SQLite, then PostgreSQL) and one Chroma server, data directories apart."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from chroma_server import ChromaServer
from conftest import LIBRARY, RuntimeFactory, load_small_library

from bot.learning.effectiveness import StatsCache
from bot.pipeline.runtime import Runtime, open_runtime
from bot.pipeline.tagging import parse_taxonomy
from bot.settings import RankingSettings, Settings
from bot.store import Database
from bot.store import changes as changes_repo
from bot.store import documents as docs_repo
from bot.store import scripts as scripts_repo
from bot.store import tags as tags_repo
from knowledge import HybridIndex, IndexItem, build_embedder, open_vector_store
from knowledge.settings import EmbeddingSettings, RetrievalSettings, VectorSettings
from scripts_lib import load_scripts


def _versions(db: Database) -> dict[str, int]:
    with db.session() as session:
        return dict(changes_repo.versions(session=session))


def test_every_change_of_the_shared_state_bumps_its_topic_once(db: Database) -> None:
    records = load_scripts(LIBRARY / "scripts.csv")
    start = _versions(db)
    assert start == {"scripts": 0, "knowledge": 0, "tags": 0}
    with db.session() as s:
        scripts_repo.upsert_scripts(session=s, records=records)
    assert _versions(db) == start | {"scripts": 1}
    with db.session() as s:  # nothing changed: nothing to refresh
        scripts_repo.upsert_scripts(session=s, records=records)
        scripts_repo.set_script_status(session=s, script_id="INS-PRC-1", status="approved")
    assert _versions(db)["scripts"] == 1
    with db.session() as s:
        scripts_repo.set_script_status(session=s, script_id="INS-PRC-1", status="archived")
    assert _versions(db)["scripts"] == 2
    with db.session() as s:
        document, _ = docs_repo.replace_document(
            session=s,
            source="a.md",
            kind="markdown",
            sha256="x",
            industry=None,
            chunks=[docs_repo.ChunkSpec(ordinal=0, section="", text="等待期90天")],
        )
    with db.session() as s:
        docs_repo.delete_document(session=s, document_id=document.id)
        assert docs_repo.delete_document(session=s, document_id=document.id + 1) is None
    with db.session() as s:
        tags_repo.replace_taxonomy(session=s, categories=parse_taxonomy(LIBRARY / "tags.yaml"))
    assert _versions(db) == {"scripts": 2, "knowledge": 2, "tags": 1}


def test_a_change_rolled_back_is_not_counted(db: Database) -> None:
    records = load_scripts(LIBRARY / "scripts.csv")
    with pytest.raises(RuntimeError), db.session() as s:
        scripts_repo.upsert_scripts(session=s, records=records)
        raise RuntimeError("the import failed half way")
    assert _versions(db)["scripts"] == 0


@pytest.fixture
def two_processes(
    database_url: str, chroma_server: ChromaServer, tmp_path: Path
) -> Iterator[tuple[Runtime, Runtime]]:
    """Runtime A loads the small library; runtime B starts after it. Same database and
    Chroma collections, data directories apart (as on two machines)."""
    vectors = chroma_server.settings().model_dump()

    def settings(name: str) -> Settings:
        return Settings.model_validate(
            {
                "data_dir": str(tmp_path / name),
                "store": {"url": database_url},
                "vectors": vectors,
            }
        )

    a = open_runtime(settings("a"))
    try:
        load_small_library(a)
        b = open_runtime(settings("b"))
        try:
            yield a, b
        finally:
            b.close()
    finally:
        a.close()


def _script_ids(rt: Runtime, text: str, industry: str) -> list[str]:
    return [s.id for s in rt.assistant.suggest(text, industry=industry).scripts]


def _knowledge(rt: Runtime, text: str) -> list[str]:
    return [k.text for k in rt.kb.search(text, k=3, industry="insurance")]


@pytest.mark.slow
def test_the_other_process_refreshes_only_what_changed(
    two_processes: tuple[Runtime, Runtime], tmp_path: Path
) -> None:
    a, b = two_processes
    assert b.changes is not None
    assert b.changes.check() == []  # B loaded everything A had done
    asked = "重疾险一年多少钱"
    assert "INS-PRC-1" in _script_ids(b, asked, "insurance")

    a.library.set_status("INS-PRC-1", "archived")
    assert "INS-PRC-1" in _script_ids(b, asked, "insurance"), "B has not polled yet"
    assert b.changes.check() == ["scripts"]
    assert "INS-PRC-1" not in _script_ids(b, asked, "insurance")
    assert b.library.variants("none") == []

    a.library.set_status("INS-PRC-1", "approved")
    assert b.changes.check() == ["scripts"]
    assert _script_ids(b, asked, "insurance")[0] == "INS-PRC-1"
    assert b.changes.check() == []

    doc = tmp_path / "waiting.md"
    doc.write_text("# 等待期\n安心保的等待期是九十天，观察期内确诊不赔。\n", encoding="utf-8")
    assert not any("九十天" in t for t in _knowledge(b, "等待期多久"))
    a.kb.ingest(doc, industry="insurance")
    assert b.changes.check() == ["knowledge"]
    assert any("九十天" in t for t in _knowledge(b, "等待期多久"))
    with a.db.session() as session:
        document = docs_repo.get_document(session=session, source="waiting.md")
    assert document is not None
    a.kb.delete(document.id)
    assert b.changes.check() == ["knowledge"]
    assert not any("九十天" in t for t in _knowledge(b, "等待期多久"))

    kid = "我家宝宝三岁了"
    assert [t.name for t in b.tagger.suggest(kid, industry="insurance")] == ["有孩子"]
    with a.db.session() as session:  # only the first category stays active
        tags_repo.replace_taxonomy(
            session=session, categories=parse_taxonomy(LIBRARY / "tags.yaml")[:1]
        )
    a.reload_tags()
    assert b.changes.check() == ["tags"]
    assert b.tagger.size == 2
    assert b.tagger.suggest(kid, industry="insurance") == []
    assert {t.name for t in b.tagger.suggest("住院能报销吗", industry="insurance")} == {"医疗险"}
    assert b.changes.refreshes == {"scripts": 2, "knowledge": 2, "tags": 1}


def test_a_refresh_reads_vectors_and_writes_none(tmp_path: Path) -> None:
    """A process following another's change serves what it finds and never embeds nor
    deletes: a refresh that read an older list cannot undo the newer work."""
    embedder = build_embedder(EmbeddingSettings())
    vectors = open_vector_store(VectorSettings(), tmp_path)
    try:

        def index() -> HybridIndex:
            return HybridIndex(
                "docs", embedder=embedder, vectors=vectors, retrieval=RetrievalSettings()
            )

        writer, follower = index(), index()
        items = [
            IndexItem("a", "重疾险的等待期是九十天"),
            IndexItem("b", "考研全程班三科一万二"),
        ]
        writer.sync(items)
        follower.refresh([*items, IndexItem("c", "理赔材料：身份证和病历")])
        found = {h.id: h for h in follower.search("理赔要什么材料", k=3)}
        assert found["c"].dense_rank is None and found["c"].lexical_rank == 1  # no vector yet
        follower.refresh(items[:1])  # an older list: "b" stays stored for the writer
        assert [h.id for h in follower.search("考研全程班", k=3)] == ["a"]
        assert set(vectors.collection("docs", model=embedder.name).get_metadata()) == {"a", "b"}
        writer.sync([*items, IndexItem("c", "理赔材料：身份证和病历")])
        follower.refresh([*items, IndexItem("c", "理赔材料：身份证和病历")])
        found = {h.id: h for h in follower.search("理赔要什么材料", k=3)}
        assert found["c"].dense_rank is not None
    finally:
        vectors.close()
        embedder.close()


class CountingStats(StatsCache):
    """A real StatsCache that counts its refreshes."""

    refreshes = 0

    def refresh(self) -> None:
        self.refreshes += 1
        super().refresh()


def test_ranking_statistics_refresh_after_messages_logged_by_any_process(db: Database) -> None:
    stats = CountingStats(
        db=db,
        settings=RankingSettings(refresh_every_messages=3),
        reply_window=timedelta(hours=24),
    )
    stats.observe_logged(10)  # the first look only sets the mark
    stats.observe_logged(12)
    assert stats.refreshes == 0
    stats.observe_logged(13)  # three more messages, logged by whichever process
    assert stats.refreshes == 1
    stats.observe_logged(15)
    assert stats.refreshes == 1
    stats.observe_logged(16)
    assert stats.refreshes == 2


def test_a_script_another_process_imports_on_embedded_chroma_reaches_this_one(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    """The default set-up (SQLite, embedded Chroma): ``siyu scripts import`` run beside a
    ``siyu serve`` on the same data directory. Chroma's embedded store showed the running
    process nothing the other one wrote ("Error finding id"): it failed to refresh at
    every poll and never served the new script until restarted."""
    data = tmp_path / "data"
    # by meaning only: found means its vector, stored by the other process, was read
    rt = make_runtime(data_dir=data, retrieval={"lexical_weight": 0.0})
    rt.changes.check()  # its own loading
    before = rt.changes.refreshes["scripts"]
    new = tmp_path / "new.csv"
    new.write_text(
        "id,title,category,stage,industry,tags,body\n"
        "INS-MARS-1,火星旅行保险,pricing,convert,insurance,火星,"
        "火星旅行保险是我们的新产品，去火星的路上出事也赔。\n",
        encoding="utf-8",
    )
    siyu = Path(sys.executable).with_name("siyu")
    done = subprocess.run(
        [str(siyu), "--data-dir", str(data), "scripts", "import", str(new)],
        capture_output=True,
        text=True,
        env=os.environ | {"OPENBLAS_NUM_THREADS": "1"},
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert rt.changes.check() == ["scripts"]
    assert rt.changes.refreshes["scripts"] == before + 1
    hits = rt.library.search("我想买去火星旅行的保险", k=3, industry="insurance")
    assert hits[0].script.id == "INS-MARS-1"
