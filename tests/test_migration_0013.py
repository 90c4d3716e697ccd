"""Migration 0013 on outcomes written before a click updated the earlier one: four
clicks on 使用 for one suggestion's script were four adoptions (400% adopted); they
become one, with the latest click's kind and text and the reply any of them had. On
SQLite, and on PostgreSQL when configured."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import create_engine, text

from bot.store.migrate import upgrade

T1 = datetime(2026, 1, 1, tzinfo=UTC)


def test_0013_keeps_one_outcome_per_suggestion_and_script(database_url: str) -> None:
    engine = create_engine(database_url)
    upgrade(engine, "0012")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO scripts (id, title, category, stage, industry, tags, body, status,"
                " version, created_at, updated_at) VALUES ('S-1', 't', 'care', 'retain',"
                " 'general', '[]', '您好', 'approved', 1, :t, :t)"
            ),
            {"t": T1},
        )
        for suggestion in (1, 2):
            conn.execute(
                text(
                    "INSERT INTO suggestions (id, mode, candidates, latency_ms, created_at)"
                    " VALUES (:i, 'retrieval', '{}', 1.0, :t)"
                ),
                {"i": suggestion, "t": T1},
            )
        clicks = [
            (1, "S-1", "adopted", "您好", None),
            (1, "S-1", "adopted", "您好", True),
            (1, "S-1", "edited", "您好呀", None),
            (1, None, "adopted", "草稿", None),  # the drafted reply: a use of its own
            (1, "S-1", "ignored", None, None),  # not a click: stays
            (2, "S-1", "adopted", "您好", None),  # another suggestion: stays
        ]
        for suggestion, script, kind, final, replied in clicks:
            conn.execute(
                text(
                    "INSERT INTO outcomes (suggestion_id, kind, script_id, final_text,"
                    " customer_replied, created_at) VALUES (:s, :k, :sc, :f, :r, :t)"
                ),
                {"s": suggestion, "k": kind, "sc": script, "f": final, "r": replied, "t": T1},
            )
    upgrade(engine, "head")
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT id, suggestion_id, script_id, kind, final_text, customer_replied"
                " FROM outcomes ORDER BY id"
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        (1, 1, "S-1", "edited", "您好呀", True),
        (4, 1, None, "adopted", "草稿", None),
        (5, 1, "S-1", "ignored", None, None),
        (6, 2, "S-1", "adopted", "您好", None),
    ]
    engine.dispose()
