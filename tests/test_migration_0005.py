"""Migration 0005 on data written under 0003: one knowledge document per file name (the
newest copy stays, with its chunks), "every industry" synonyms stored as general, the old
default adviser name blanked. On SQLite, and on PostgreSQL when configured."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import create_engine, text

from bot.store import Database
from bot.store import documents as docs_repo
from bot.store.migrate import upgrade

T1 = datetime(2026, 1, 1, tzinfo=UTC)
T2 = datetime(2026, 2, 1, tzinfo=UTC)


def test_0005_keeps_one_document_per_name_and_spells_general_one_way(database_url: str) -> None:
    engine = create_engine(database_url)
    upgrade(engine, "0003")
    with engine.begin() as conn:
        for doc_id, source, at in (
            (1, "/srv/kb/售后政策.txt", T2),
            (2, "/home/op/旧/售后政策.txt", T1),
            (3, "/srv/kb/保费.md", T1),
        ):
            conn.execute(
                text(
                    "INSERT INTO documents (id, source, kind, sha256, industry, created_at,"
                    " updated_at) VALUES (:i, :s, 'txt', 'x', 'all', :t, :t)"
                ),
                {"i": doc_id, "s": source, "t": at},
            )
            conn.execute(
                text(
                    "INSERT INTO chunks (document_id, ordinal, section, text)"
                    " VALUES (:i, 0, '', :s)"
                ),
                {"i": doc_id, "s": source},
            )
        for name, industry in (("顾虑", "all"), ("家庭", "通用"), ("家庭", "general")):
            conn.execute(
                text(
                    "INSERT INTO tag_categories (name, industry, description) VALUES (:n, :i, '')"
                ),
                {"n": name, "i": industry},
            )
        conn.execute(
            text(
                "INSERT INTO scripts (id, title, category, stage, industry, tags, body, status,"
                " version, created_at, updated_at) VALUES ('S-1', 't', 'care', 'retain',"
                " 'ALL', '[]', '您好', 'approved', 1, :t, :t)"
            ),
            {"t": T1},
        )
        for adviser_id, name in (("a1", "顾问"), ("a2", "李敏")):
            conn.execute(
                text("INSERT INTO advisers (id, name, created_at) VALUES (:i, :n, :t)"),
                {"i": adviser_id, "n": name, "t": T1},
            )
    engine.dispose()

    db = Database(database_url)
    db.migrate()
    with db.session() as session:
        docs = docs_repo.list_documents(session=session)
        chunks = docs_repo.all_chunks(session=session)
    assert [(d.id, d.source, d.origin) for d in docs] == [
        (3, "保费.md", "/srv/kb/保费.md"),
        (1, "售后政策.txt", "/srv/kb/售后政策.txt"),
    ]
    assert sorted(c.text for c in chunks) == ["/srv/kb/保费.md", "/srv/kb/售后政策.txt"]
    assert {d.industry for d in docs} == {"general"}
    with db.engine.connect() as conn:
        categories = sorted(conn.execute(text("SELECT name, industry FROM tag_categories")))
        industry = conn.execute(text("SELECT industry FROM scripts")).scalar()
        advisers = dict(conn.execute(text("SELECT id, name FROM advisers")).all())
    assert categories == [("家庭", "general"), ("家庭", "通用"), ("顾虑", "general")]
    assert industry == "general"
    assert advisers == {"a1": "", "a2": "李敏"}
    db.dispose()
