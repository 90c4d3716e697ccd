"""Conversion events and attribution to the scripts used before them (issue #5)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.channels.memory import MemoryChannel
from bot.cli import run
from bot.errors import InputError
from bot.learning.attribution import attribute, attribute_all, last_touch, position_weighted
from bot.pipeline.runtime import Runtime
from bot.store import conversions as conv_repo
from bot.store import customers as customers_repo
from bot.store.conversions import ConversionRecord, Touch

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def test_models() -> None:
    assert last_touch([]) == {} and position_weighted([]) == {}
    assert last_touch(["a", "b", "c"]) == {"c": 1.0}
    assert position_weighted(["a"]) == {"a": 1.0}
    assert position_weighted(["a", "b"]) == {"a": 0.5, "b": 0.5}
    w = position_weighted(["a", "b", "c", "d"])
    assert w == pytest.approx({"a": 0.4, "b": 0.1, "c": 0.1, "d": 0.4})
    # a script used twice adds up; credit always sums to one conversion
    assert position_weighted(["a", "b", "a"]) == pytest.approx({"a": 0.8, "b": 0.2})
    assert sum(position_weighted(list("abcdefg")).values()) == pytest.approx(1.0)


def test_attribute_respects_customer_and_window() -> None:
    touches = [
        Touch(1, "OLD", T0 - timedelta(days=30)),  # outside the window
        Touch(1, "FIRST", T0 - timedelta(days=3)),
        Touch(1, "MID", T0 - timedelta(days=2)),
        Touch(1, "LAST", T0 - timedelta(days=1)),
        Touch(1, "AFTER", T0 + timedelta(days=1)),  # after the conversion
        Touch(2, "OTHER", T0 - timedelta(days=1)),  # another customer
    ]
    conversions = [
        ConversionRecord(1, 1, 1, "purchase", 1000.0, T0),
        ConversionRecord(2, None, 3, "converted", None, T0),  # no touches
    ]
    result = attribute(conversions, touches, window=timedelta(days=14))
    assert (result.conversions, result.attributed) == (2, 1)
    credit = {c.script_id: c for c in result.credits}
    assert set(credit) == {"FIRST", "MID", "LAST"}
    assert credit["LAST"].last_touch == 1.0 and credit["LAST"].last_touch_revenue == 1000.0
    assert credit["FIRST"].last_touch == 0.0
    assert credit["FIRST"].position == pytest.approx(0.4)
    assert credit["MID"].position == pytest.approx(0.2)
    assert credit["MID"].position_revenue == pytest.approx(200.0)


def test_events_orders_and_attribution_through_the_pipeline(
    make_runtime: Callable[..., Runtime], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rt = make_runtime()
    ch = MemoryChannel(rt.assistant.handle)
    shown = ch.receive("c1", "重疾险一年多少钱", msg_id="in-1", industry="insurance")
    assert shown is not None and shown.customer_id is not None
    cid = shown.customer_id
    used = shown.scripts[0]
    ch.receive("c1", used.text, msg_id="out-1", direction="out")
    data = str(rt.settings.data_dir)
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()

    code = run(
        ["--data-dir", data, "events", "add", "--customer", str(cid), "--amount", "4680",
         "--time", later, "--order-id", "A-1", "--product", "安心保"]
    )  # fmt: skip
    assert code == 0
    with rt.db.session() as session:  # a customer who bought is served (服务), no longer courted
        assert customers_repo.get_customer(session=session, customer_id=cid).stage == "retain"
    # the same order again is skipped, not doubled
    assert run(["--data-dir", data, "events", "add", "--customer", str(cid),
                "--amount", "4680", "--order-id", "A-1"]) == 0  # fmt: skip
    assert run(["--data-dir", data, "events", "add", "--customer", "nobody"]) == 1
    assert run(["--data-dir", data, "events", "add", "--customer", str(cid),
                "--type", "stage_changed"]) == 1  # fmt: skip

    orders = tmp_path / "orders.csv"
    orders.write_text(
        f"customer,amount,time,order_id,product\n{cid},1200,{later},B-1,附加险\n",
        encoding="utf-8",
    )
    assert run(["--data-dir", data, "events", "import-orders", str(orders)]) == 0
    bad = tmp_path / "bad.csv"
    bad.write_text("customer,amount,time\n999,abc,2026-01-01\n", encoding="utf-8")
    assert run(["--data-dir", data, "events", "import-orders", str(bad)]) == 1
    # an order id of another customer, in the store or earlier in the file, is refused
    other = ch.receive("c2", "你好", msg_id="in-2")
    assert other is not None and other.customer_id is not None
    clash = tmp_path / "clash.csv"
    clash.write_text(
        "customer,amount,time,order_id\n"
        f"{other.customer_id},10,{later},B-1\n"
        f"{other.customer_id},20,{later},C-1\n"
        f"{cid},30,{later},C-1\n",
        encoding="utf-8",
    )
    capsys.readouterr()
    assert run(["--data-dir", data, "events", "import-orders", str(clash)]) == 1
    err = capsys.readouterr().err
    assert f"第 2 行：订单号 B-1 已记在客户 {cid} 名下，这一行是客户 {other.customer_id}" in err
    assert f"第 4 行：订单号 C-1 已记在客户 {other.customer_id} 名下，这一行是客户 {cid}" in err

    result = attribute_all(db=rt.db, window=timedelta(days=14))
    assert (result.conversions, result.attributed) == (2, 2)
    [credit] = result.credits
    assert credit.script_id == used.id and credit.last_touch == 2.0
    assert credit.last_touch_revenue == pytest.approx(5880.0)
    capsys.readouterr()
    assert run(["--data-dir", data, "report", "attribution"]) == 0
    assert "2/2" in capsys.readouterr().out

    # conversion rate in the effectiveness stats picks the purchase up
    from bot.learning import effectiveness

    stats = {s.script_id: s for s in effectiveness.compute(effectiveness.load(db=rt.db))}
    assert stats[used.id].converted == 1 and stats[used.id].conversion_rate == 1.0

    with rt.db.session() as session, pytest.raises(InputError):
        conv_repo.add_conversion(session=session, customer_id=cid, type="refund", occurred_at=T0)


def test_a_purchase_moves_a_courted_customer_to_service_unless_staged_by_hand_after(
    make_runtime: Callable[..., Runtime],
) -> None:
    rt = make_runtime()
    shown = MemoryChannel(rt.assistant.handle).receive("c1", "你好", msg_id="in-1")
    assert shown is not None and shown.customer_id is not None
    cid, data = str(shown.customer_id), str(rt.settings.data_dir)

    def stage() -> str:
        with rt.db.session() as session:
            return customers_repo.get_customer(session=session, customer_id=int(cid)).stage

    def add(*args: str) -> None:
        assert run(["--data-dir", data, "events", "add", "--customer", cid, *args]) == 0

    assert stage() == "acquire"
    add("--type", "stage_changed", "--stage", "engage", "--time", "2026-03-01T10:00:00+08:00")
    add("--amount", "99", "--time", "2026-01-05T10:00:00+08:00", "--order-id", "OLD-1")
    assert stage() == "engage"  # the order is older than the stage set by hand
    add("--amount", "99", "--time", "2026-03-02T10:00:00+08:00", "--order-id", "NEW-1")
    assert stage() == "retain"
    add("--type", "stage_changed", "--stage", "convert")
    add("--type", "converted")
    assert stage() == "retain"
