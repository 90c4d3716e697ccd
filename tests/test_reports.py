"""Segments, lifecycle, funnel and quadrants against a small hand-computed dataset,
and the CLI commands of issue #6 end to end."""

from __future__ import annotations

import csv
import os
import stat
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, update

from bot.cli import run
from bot.crm import reports, segments
from bot.errors import InputError
from bot.settings import Settings
from bot.store import Database, customers, messages, tags
from bot.store.models import Customer, CustomerTag, Transaction
from knowledge import files

T = lambda *a: datetime(*a, tzinfo=UTC)  # noqa: E731

# name: (adviser, source, created_at UTC, inbound message at, [(amount, at)], events)
DATA = {
    "c1": (
        "a1",
        "抖音",
        T(2026, 3, 2),
        T(2026, 3, 3),
        [(1000, T(2026, 3, 10)), (500, T(2026, 3, 20))],
        [],
    ),
    "c2": ("a1", "抖音", T(2026, 3, 5), T(2026, 3, 6), [(200, T(2026, 4, 5))], []),
    "c3": ("a2", "线下", T(2026, 3, 10), None, [], ["converted"]),
    "c4": ("a2", None, T(2026, 3, 31, 17), None, [], []),  # Apr 1 01:00 in Shanghai
    "c5": ("a1", "抖音", T(2026, 2, 28, 16, 30), None, [], []),  # Mar 1 00:30 in Shanghai
    "c6": ("a2", "线下", T(2026, 2, 1), None, [(3000, T(2026, 2, 2))], []),
    "c7": ("a1", "抖音", T(2026, 4, 1), T(2026, 4, 2), [], []),
}


def seed(db: Database) -> dict[str, int]:
    ids: dict[str, int] = {}
    with db.session() as s:
        tags.replace_taxonomy(
            session=s,
            categories=[tags.CategorySpec("险种", "insurance", tags=(tags.TagSpec("重疾险"),))],
        )
        (tag,) = tags.list_tags(session=s)
        for adviser in ("a1", "a2"):
            customers.ensure_adviser(session=s, adviser_id=adviser, name=adviser)
        for name, (adviser, source, created, inbound, orders, events) in DATA.items():
            c, _ = customers.find_or_create_customer(
                session=s, identity_kind="wx", identity_value=name, name=name, adviser_id=adviser
            )
            ids[name] = c.id
            row = s.get_one(Customer, c.id)
            row.source, row.created_at = source, created
            if inbound:
                conv = messages.get_or_create_conversation(
                    session=s, channel="m", external_id=name, customer_id=c.id, adviser_id=adviser
                )
                messages.log_message(
                    session=s,
                    msg_id=f"m-{name}",
                    conversation_id=conv,
                    customer_id=c.id,
                    adviser_id=adviser,
                    direction="in",
                    text="在吗",
                    sent_at=inbound,
                )
            for amount, at in orders:
                s.add(Transaction(customer_id=c.id, amount=amount, occurred_at=at))
            for event in events:
                customers.add_event(
                    session=s, customer_id=c.id, type=event, occurred_at=T(2026, 3, 11)
                )
        s.add(
            CustomerTag(customer_id=ids["c1"], tag_id=tag.id, source="manual", status="confirmed")
        )
    return ids


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'data' / 'siyu.db'}")
    database.migrate()
    seed(database)
    yield database
    database.dispose()


def _funnel(db: Database, by: reports.GroupBy) -> list[tuple[object, ...]]:
    from datetime import date

    with db.session() as s:
        rows = reports.funnel(
            session=s,
            since=date(2026, 3, 1),
            until=date(2026, 4, 1),
            by=by,
            timezone="Asia/Shanghai",
        )
    return [(r.group, r.new, r.engaged, r.converted, round(r.rate, 4), r.revenue) for r in rows]


def test_funnel_by_adviser_and_channel(db: Database) -> None:
    assert _funnel(db, "adviser") == [
        ("a1", 3, 2, 1, 0.3333, 1500.0),  # c1 c2 c5; c2's April order is after the period
        ("a2", 1, 0, 1, 1.0, 0.0),  # c3 converted by event; c4 was added on Apr 1 local
        ("合计", 4, 2, 2, 0.5, 1500.0),
    ]
    assert _funnel(db, "channel") == [
        ("抖音", 3, 2, 1, 0.3333, 1500.0),
        ("线下", 1, 0, 1, 1.0, 0.0),
        ("合计", 4, 2, 2, 0.5, 1500.0),
    ]


def test_lifecycle_stages(db: Database) -> None:
    with db.session() as s:
        counts = reports.refresh_lifecycles(session=s, now=T(2026, 4, 10), silent_after_days=30)
        stages = dict(s.execute(select(Customer.name, Customer.lifecycle)).all())
    assert stages == {
        "c1": "converted",
        "c2": "converted",
        "c3": "churn_risk",  # converted, then 30 days without a word
        "c4": "new",
        "c5": "silent",
        "c6": "churn_risk",
        "c7": "engaged",
    }
    assert counts == {"new": 1, "engaged": 1, "converted": 2, "silent": 1, "churn_risk": 2}


def test_quadrants(db: Database) -> None:
    with db.session() as s:
        median = reports.quadrants(session=s)
        fixed = reports.quadrants(session=s, frequency_threshold=2, ticket_threshold=1000)
    # buyers: c1 2 orders avg 750, c2 1 order 200, c6 1 order 3000; medians 1 and 750
    assert (median.frequency_threshold, median.ticket_threshold) == (1.0, 750.0)
    assert [(q.customers, q.revenue) for q in median.quadrants] == [
        (2, 4500.0),
        (0, 0.0),
        (1, 200.0),
        (0, 0.0),
    ]
    assert [(q.customers, q.revenue) for q in fixed.quadrants] == [
        (0, 0.0),
        (1, 3000.0),
        (1, 1500.0),
        (1, 200.0),
    ]


@pytest.mark.parametrize(
    "filters, expected",
    [
        (["source=抖音", "orders>=1"], ["c1", "c2"]),
        (["spent>=1000"], ["c1", "c6"]),
        (["tag=重疾险"], ["c1"]),
        (["tag!=重疾险", "source=抖音"], ["c2", "c5", "c7"]),
        (["event=converted"], ["c3"]),
        (["adviser=a2", "source!=线下"], ["c4"]),
        (["spent<1000", "orders>0"], ["c2"]),
        # the same filters written in Chinese: fields and code values by their names
        (["来源渠道=抖音", "订单数>=1"], ["c1", "c2"]),
        (["标签!=重疾险", "来源渠道=抖音"], ["c2", "c5", "c7"]),
        (["事件=成交"], ["c3"]),
        (["顾问=a2", "来源渠道!=线下"], ["c4"]),
    ],
)
def test_segments(db: Database, filters: list[str], expected: list[str]) -> None:
    with db.session() as s:
        segments.add_segment(session=s, name="seg", filters=filters)
        ids = segments.members(session=s, name="seg")
        names = sorted(s.get_one(Customer, i).name for i in ids)
    assert names == expected


def test_an_industry_filter_finds_customers_under_either_name(db: Database) -> None:
    """Stored industries may be the code or the Chinese name (rows written before imports
    stored codes): 行业=保险 and industry=insurance find both; before, 「industry=保险」
    saved in the console silently matched only the rows stored as 保险."""
    with db.session() as s:
        for name, industry in (("c1", "insurance"), ("c2", "保险"), ("c3", "kaoyan")):
            s.execute(update(Customer).where(Customer.name == name).values(industry=industry))
    for filters, expected in (
        (["行业=保险"], ["c1", "c2"]),
        (["industry=insurance"], ["c1", "c2"]),
        (["行业!=保险", "来源渠道=抖音"], ["c5", "c7"]),
        (["行业=考研"], ["c3"]),
        (["industry=保险", "来源渠道=抖音"], ["c1", "c2"]),
    ):
        with db.session() as s:
            ids = segments.matching(session=s, filters=filters)
            assert sorted(s.get_one(Customer, i).name for i in ids) == expected, filters


def test_an_adviser_filter_takes_the_name_colleagues_use(db: Database) -> None:
    """顾问=王芳 is the adviser colleagues call 王芳 (before: compared with the id, it
    matched nobody); a name two advisers share stays a value no adviser id has."""
    with db.session() as s:
        customers.ensure_adviser(session=s, adviser_id="a2", name="王芳")
    with db.session() as s:
        ids = segments.matching(session=s, filters=["顾问=王芳", "来源渠道!=线下"])
        assert [s.get_one(Customer, i).name for i in ids] == ["c4"]
        customers.ensure_adviser(session=s, adviser_id="a1", name="王芳")
    with db.session() as s:
        assert segments.matching(session=s, filters=["顾问=王芳"]) == []


@pytest.mark.parametrize(
    "bad, needle",
    [
        ("colour=red", "未知字段"),
        ("spent>=lots", "需要一个数字"),
        ("tag>=x", "只能用 = 或 !="),
        ("nonsense", "字段 运算符 值"),
    ],
)
def test_bad_segment_filters(db: Database, bad: str, needle: str) -> None:
    with pytest.raises(InputError, match=needle), db.session() as s:
        segments.add_segment(session=s, name="x", filters=[bad])


# --------------------------------------------------------------------------- CLI
def siyu(capsys: pytest.CaptureFixture[str], data: Path, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = run(["--data-dir", str(data), *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_funnel_csv_png_quadrants_segments(
    db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    assert Settings(data_dir=data).database_url == str(db.url)
    out_csv, out_png = tmp_path / "f.csv", tmp_path / "f.png"
    code, out, _ = siyu(
        capsys,
        data,
        "report",
        "funnel",
        "--since",
        "2026-03-01",
        "--until",
        "2026-03-31",
        "--by",
        "channel",
        "--csv",
        str(out_csv),
        "--png",
        str(out_png),
    )
    assert code == 0 and "抖音" in out
    with out_csv.open(encoding="utf-8-sig") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == list(reports.FUNNEL_COLUMNS)
    assert rows[1] == ["抖音", "3", "2", "1", "0.3333", "1500.0"]
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, out, _ = siyu(capsys, data, "report", "quadrants", "--min-orders", "2")
    assert code == 0 and "3,000.00" in out
    assert siyu(capsys, data, "segments", "add", "大客户", "-f", "spent>=1000")[0] == 0
    assert siyu(capsys, data, "segments", "count", "大客户")[1].strip() == "2"
    code, _, err = siyu(capsys, data, "segments", "add", "坏", "-f", "colour=red")
    assert code == 1 and "未知字段" in err
    assert siyu(capsys, data, "segments", "delete", "大客户")[1].strip() == "已删除分群：大客户"
    assert "还没有保存的分群" in siyu(capsys, data, "segments", "list")[1]
    code, _, err = siyu(capsys, data, "segments", "delete", "大客户")
    assert code == 1 and "分群 '大客户' 不存在" in err
    assert siyu(capsys, data, "report", "funnel", "--by", "moon")[0] == 1


def test_cli_merge_unmerge_and_followups(
    db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    people = tmp_path / "people.csv"
    people.write_text(
        "name,id:wx,phone,birthday,adviser\nc1,c1,13800000000,1990-03-20,a1\n"
        "新客,n1,+86 13800000000,,a1\n",
        encoding="utf-8",
    )
    code, _, err = siyu(capsys, data, "customers", "import", str(people))
    assert code == 1 and "第 3 行：phone 13800000000 在第 2 行也出现了" in err
    people.write_text(
        "name,id:wx,phone,birthday,adviser\nc1,c1,13800000000,1990-03-20,a1\n"
        "新客,n1,,,a1\nc2,c2,,,\n",
        encoding="utf-8",
    )
    code, out, _ = siyu(capsys, data, "customers", "import", str(people))
    assert code == 0 and "新建 1 · 更新 1 · 未变 1" in out  # c2's line is as stored
    with db.session() as s:
        new_id, _ = customers.find_or_create_customer(
            session=s, identity_kind="wx", identity_value="n1"
        )
        s.add(Customer(name="同号"))
        s.flush()
        other = s.scalar(select(Customer.id).where(Customer.name == "同号"))
        from bot.store.models import Identity

        s.add(Identity(customer_id=other, kind="phone", value="138 0000 0000"))
    code, out, _ = siyu(capsys, data, "customers", "merge-suggestions")
    assert code == 0 and "手机号 13800000000" in out
    code, out, _ = siyu(capsys, data, "customers", "merge", "1", str(other), "--reason", "同号")
    assert code == 0 and "撤销：siyu customers unmerge 1" in out
    assert "没有建议" in siyu(capsys, data, "customers", "merge-suggestions")[1]
    assert siyu(capsys, data, "customers", "unmerge", "1")[0] == 0
    assert siyu(capsys, data, "customers", "unmerge", "1")[0] == 1
    assert "同号" in siyu(capsys, data, "customers", "merges")[1]

    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n  - id: bday\n    anchor: birthday\n    offset_days: -15\n"
        "    note: '{customer_name} 生日 {date}'\n",
        encoding="utf-8",
    )
    args = ("followups", "run", "--rules", str(rules), "--now", "2026-03-05T09:00")
    assert "提醒 1" in siyu(capsys, data, *args)[1]
    assert "提醒 0 · 标记沉默 0 · 已处理 1" in siyu(capsys, data, *args)[1]
    assert siyu(capsys, data, "advisers", "persona", "a1", "--name", "李明")[0] == 0
    code, out, _ = siyu(capsys, data, "followups", "list", "--adviser", "a1", "--now", "2026-03-05")
    assert code == 0 and "c1 生日 3月20日" in out
    assert "顾问 李明" in out  # by name (before: 「顾问 a1」)
    assert "今天没有待办提醒" in siyu(capsys, data, "followups", "list", "--adviser", "a2")[1]
    code, _, err = siyu(capsys, data, "followups", "run")
    assert code == 1 and "没有规则" in err
    assert new_id.name == "新客"


def test_funnel_drill_down_lists_the_cohort_and_matches_the_counts(db: Database) -> None:
    from datetime import date

    ids = {v: k for k, v in _customer_ids(db).items()}
    with db.session() as s:
        rows = reports.funnel(
            session=s,
            since=date(2026, 3, 1),
            until=date(2026, 4, 1),
            by="adviser",
            timezone="Asia/Shanghai",
        )
        drill = {
            r.group: reports.funnel_customers(
                session=s,
                since=date(2026, 3, 1),
                until=date(2026, 4, 1),
                adviser_id=r.group,
                timezone="Asia/Shanghai",
            )
            for r in rows[:-1]
        }
    assert {g: [(ids[m.customer_id], m.stage) for m in ms] for g, ms in drill.items()} == {
        "a1": [("c1", "converted"), ("c2", "engaged"), ("c5", "new")],
        "a2": [("c3", "converted")],  # converted by an event, never wrote
    }
    for r in rows[:-1]:
        ms = drill[r.group]
        assert (len(ms), sum(m.engaged for m in ms)) == (r.new, r.engaged)
        assert sum(m.stage == "converted" for m in ms) == r.converted
        assert round(sum(m.revenue for m in ms), 2) == r.revenue


def _customer_ids(db: Database) -> dict[str, int]:
    with db.session() as s:
        return dict(s.execute(select(Customer.name, Customer.id)).all())


def test_cli_funnel_customers_of_one_adviser(
    db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    period = ("--since", "2026-03-01", "--until", "2026-03-31")
    code, out, _ = siyu(capsys, data, "report", "funnel", *period, "--adviser", "a1", "--customers")
    assert code == 0 and "漏斗 a1" in out
    lines = {line.split("│")[2].strip(): line for line in out.splitlines() if line.count("│") > 3}
    assert set(lines) == {"c1", "c2", "c5"}
    assert "已成交" in lines["c1"] and "互动中" in lines["c2"] and "新客户" in lines["c5"]
    code, _, err = siyu(capsys, data, "report", "funnel", "--customers")
    assert code == 1 and "--adviser" in err
    # before: --adviser alone was ignored, and every adviser's funnel printed as a1's
    code, out, err = siyu(capsys, data, "report", "funnel", *period, "--adviser", "a1")
    assert code == 1 and out == "" and "--adviser 要与 --customers 一起用" in err
    # before: a misspelt adviser printed 「没有新客户」, as if they had had none
    code, out, err = siyu(
        capsys, data, "report", "funnel", *period, "--adviser", "a9", "--customers"
    )
    assert code == 1 and out == "" and "没有顾问“a9”" in err


# --------------------------------------------------------------------------- CSV safety
HOSTILE_NAMES = [
    '=HYPERLINK("http://evil","点我")',
    "+86 138 0000 0000",
    "-2+3",
    "@SUM(A1)",
    "\t=1",
]


def test_report_csvs_never_hand_a_formula_to_the_spreadsheet(tmp_path: Path) -> None:
    """Group names come from customers and advisers (a channel source, a display name):
    every text cell that a spreadsheet would evaluate gets a leading ', numbers stay
    numbers (a refund's negative revenue is not quoted)."""
    rows = [reports.FunnelRow(name, 3, 2, 1, -150.0) for name in HOSTILE_NAMES]
    rows.append(reports.FunnelRow("抖音", 3, 2, 1, 1500.0))
    path = tmp_path / "funnel.csv"
    reports.write_funnel_csv(rows, path)
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")  # Excel / WPS read it as UTF-8
    with path.open(encoding="utf-8-sig", newline="") as fh:
        header, *body = list(csv.reader(fh))
    assert header == list(reports.FUNNEL_COLUMNS)
    assert [r[0] for r in body] == ["'" + name for name in HOSTILE_NAMES] + ["抖音"]
    assert all(r[5] == "-150.0" for r in body[:-1])
    for r in body:
        assert not any(c[:1] in ("=", "+", "@", "\t", "\r") for c in r)


def test_a_failed_report_write_keeps_the_previous_file(tmp_path: Path) -> None:
    path = tmp_path / "funnel.csv"
    reports.write_funnel_csv([reports.FunnelRow("抖音", 1, 1, 1, 10.0)], path)
    before = path.read_bytes()

    def broken() -> Iterator[list[object]]:
        yield ["视频号", 1, 0, 0, 0.0, 0.0]
        raise RuntimeError("disk went away")

    with pytest.raises(RuntimeError):
        files.write_csv(path, reports.FUNNEL_COLUMNS, broken())
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["funnel.csv"]  # no temp file left


def test_a_chart_or_export_to_a_missing_folder_is_one_line_in_chinese(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`--png` into a folder that is not there ended in a FileNotFoundError traceback
    (funnel, scripts, campaign report), and so did `customers export --out`."""
    pytest.importorskip("matplotlib")
    data = tmp_path / "data"
    people = tmp_path / "people.csv"
    people.write_text("name,phone\n王芳,13800138000\n", encoding="utf-8")
    assert siyu(capsys, data, "customers", "import", str(people))[0] == 0
    nowhere = tmp_path / "没有这个文件夹"
    for args in (
        ("report", "funnel", "--png", str(nowhere / "f.png")),
        ("report", "scripts", "--png", str(nowhere / "s.png")),
        ("campaigns", "report", "--png", str(nowhere / "c.png")),
        ("customers", "export", "1", "--out", str(nowhere / "a.json")),
    ):
        code, _, err = siyu(capsys, data, *args)
        assert code == 1, args
        assert err.startswith(f"错误：无法写入 {nowhere}") and "Traceback" not in err, err
        assert f"文件夹 {nowhere} 不存在" in err
    assert not nowhere.exists()
    # a pipe (as /dev/stdout can be) is written into, not replaced by a file
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    got: list[str] = []
    reader = threading.Thread(
        target=lambda: got.append(pipe.read_text(encoding="utf-8")), daemon=True
    )
    reader.start()
    code, _, err = siyu(capsys, data, "customers", "export", "1", "--out", str(pipe))
    reader.join(timeout=10)
    assert code == 0, err
    assert got and "王芳" in got[0] and stat.S_ISFIFO(pipe.stat().st_mode)


def test_customers_without_an_adviser_are_one_row_named_as_people_read_it(
    db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A customer imported without an adviser and one a chat gave to no adviser are the
    same case: one funnel row 「未指定顾问」 (before: 「(未知)」 and 「未指定顾问」 side by
    side), with its drill-down; and it is named so before any chat stored the placeholder."""
    data = tmp_path / "data"
    period = ("--since", "2026-03-01", "--until", "2026-03-31")
    with db.session() as s:
        for name in ("导入的客户", "聊天的客户"):
            c, _ = customers.find_or_create_customer(
                session=s, identity_kind="phone", identity_value=name, name=name
            )
            row = s.get_one(Customer, c.id)
            row.created_at = T(2026, 3, 12)
            row.adviser_id = None  # imported without one
    code, out, _ = siyu(capsys, data, "report", "funnel", *period)
    assert code == 0
    groups = [line.split("│")[1].strip() for line in out.splitlines() if line.count("│") > 3]
    assert "未指定顾问" in groups and "(未知)" not in groups and "adviser" not in groups, out
    with db.session() as s:
        customers.ensure_adviser(session=s, adviser_id="adviser", name="")
        (chat,) = s.scalars(select(Customer).where(Customer.name == "聊天的客户"))
        chat.adviser_id = "adviser"  # a chat without an adviser
    code, out, _ = siyu(capsys, data, "report", "funnel", *period)
    unassigned = [line for line in out.splitlines() if "未指定顾问" in line]
    assert len(unassigned) == 1 and unassigned[0].split("│")[2].strip() == "2", out
    assert "(未知)" not in out
    code, out, _ = siyu(
        capsys, data, "report", "funnel", *period, "--adviser", "adviser", "--customers"
    )
    assert code == 0 and "导入的客户" in out and "聊天的客户" in out, out
