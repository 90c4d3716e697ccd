"""Migration 0014 on customers who bought before a purchase moved them to 服务: a
customer still 引流 / 承接 / 转化 with a purchase or ``converted`` event becomes 服务
(``retain``), unless a person set the stage after the purchase. On SQLite, and on
PostgreSQL when configured."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import create_engine, text

from bot.store.migrate import upgrade

T1 = datetime(2026, 1, 1, tzinfo=UTC)
T2 = datetime(2026, 2, 1, tzinfo=UTC)


def test_0014_moves_customers_who_bought_to_the_service_stage(database_url: str) -> None:
    engine = create_engine(database_url)
    upgrade(engine, "0013")
    customers = {
        1: ("acquire", [("purchase", T1)]),  # bought: served
        2: ("engage", [("converted", T1)]),  # converted: served
        3: ("convert", [("purchase", T1), ("stage_changed", T2)]),  # set by hand after: kept
        4: ("convert", [("stage_changed", T1), ("purchase", T2)]),  # set before the purchase
        5: ("acquire", [("contact_added", T1)]),  # never bought: kept
        6: ("retain", [("purchase", T1)]),  # already served
    }
    with engine.begin() as conn:
        for cid, (stage, events) in customers.items():
            conn.execute(
                text("INSERT INTO customers (id, name, stage, created_at) VALUES (:i, :n, :s, :t)"),
                {"i": cid, "n": f"客户{cid}", "s": stage, "t": T1},
            )
            for kind, at in events:
                conn.execute(
                    text(
                        "INSERT INTO events (customer_id, type, payload, occurred_at)"
                        " VALUES (:c, :k, '{}', :t)"
                    ),
                    {"c": cid, "k": kind, "t": at},
                )
    upgrade(engine, "head")
    with engine.connect() as conn:
        stages = dict(conn.execute(text("SELECT id, stage FROM customers ORDER BY id")).all())
    engine.dispose()
    assert stages == {
        1: "retain",
        2: "retain",
        3: "convert",
        4: "retain",
        5: "acquire",
        6: "retain",
    }
