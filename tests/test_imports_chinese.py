"""The names the product shows are the names it accepts: Chinese headers on the customer
and orders imports, stages by their Chinese names, a tag written 「分类/标签」 as the
product shows it, and "every industry" spelled any usual way."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.crm import conversions, oneid
from bot.errors import InputError
from bot.services import customers as customers_service
from bot.services.access import cli_principal
from bot.store import Database, customers, tags

ADMIN = cli_principal("operator-test")


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'siyu.db'}")
    database.migrate()
    with database.session() as s:
        tags.replace_taxonomy(
            session=s,
            categories=[
                tags.CategorySpec(
                    name="险种兴趣",
                    industry="insurance",
                    tags=(tags.TagSpec(name="重疾险"), tags.TagSpec(name="医疗险")),
                ),
                tags.CategorySpec(
                    name="家庭", industry="general", tags=(tags.TagSpec(name="有孩子"),)
                ),
            ],
        )
    yield database
    database.dispose()


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_customer_import_reads_chinese_headers_stages_and_category_tags(
    db: Database, tmp_path: Path
) -> None:
    path = write(
        tmp_path / "客户.csv",
        "姓名,手机号,顾问,行业,阶段,意向产品,所在城市,获客渠道,出生日期,添加时间,标签,会员号\n"
        "王芳,13800139000,a1,insurance,转化,安心保,杭州,抖音,1990-02-28,2026-01-05,"
        "险种兴趣/重疾险;家庭 / 有孩子,M-1\n"
        "李雷,13900000001,a1,通用,服务,,,,,,医疗险,\n",
    )
    with db.session() as s:
        stats = customers_service.import_file(s, ADMIN, path=path, timezone="Asia/Shanghai")
    assert (stats.created, stats.tags_added) == (2, 3)
    with db.session() as s:
        wang, _ = customers.find_or_create_customer(
            session=s, identity_kind="phone", identity_value="13800139000"
        )
        li, _ = customers.find_or_create_customer(
            session=s, identity_kind="phone", identity_value="13900000001"
        )
        profile = customers.customer_profile(session=s, customer_id=wang.id)
    assert (wang.stage, wang.product, wang.city, wang.source) == (
        "convert",
        "安心保",
        "杭州",
        "抖音",
    )
    assert sorted(t.tag.name for t in profile.tags) == ["有孩子", "重疾险"]
    # the evidence an adviser reads on the profile card (before: 「import 客户.csv」)
    assert {t.evidence for t in profile.tags} == {"导入 客户.csv 第 2 行"}
    assert {(i.kind, i.value) for i in profile.identities} >= {("member_id", "M-1")}
    assert (li.industry, li.stage) == ("general", "retain")


def test_a_category_tag_that_does_not_exist_is_named(db: Database, tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", "姓名,手机号,标签\n王芳,13800139000,家庭/重疾险\n")
    with db.session() as s, pytest.raises(Exception, match="家庭/重疾险"):
        oneid.import_customer_file(session=s, path=path, actor="op")


def test_customer_import_warns_about_an_industry_nothing_uses(db: Database, tmp_path: Path) -> None:
    path = write(tmp_path / "c.csv", "姓名,手机号,行业\n王芳,13800139000,保健\n")
    with db.session() as s:
        stats = customers_service.import_file(s, ADMIN, path=path, timezone="Asia/Shanghai")
    assert len(stats.warnings) == 1 and "「保健」" in stats.warnings[0]


def test_orders_import_reads_chinese_headers(db: Database, tmp_path: Path) -> None:
    with db.session() as s:
        customers.find_or_create_customer(
            session=s, identity_kind="phone", identity_value="13800139000"
        )
    path = write(
        tmp_path / "订单.csv",
        "客户,实付金额,支付时间,订单编号,商品名称\n13800139000,4680,2026-03-01 10:00,A-1,安心保\n",
    )
    with db.session() as s:
        stats = conversions.import_orders(session=s, path=path, timezone="Asia/Shanghai")
    assert (stats.added, stats.skipped) == (1, 0)


def test_orders_and_customers_read_times_as_a_spreadsheet_writes_them(
    db: Database, tmp_path: Path
) -> None:
    """The chat-history import read 「2026/11/28 14:00」 and 「2026年11月28日 下午 2:30」;
    the orders import (支付时间 of a shop's export) and the customers' 添加时间 refused
    them: 「时间 '2026/11/28 14:00' 不是日期或日期时间」."""
    from datetime import UTC, datetime

    from sqlalchemy import select

    from bot.store.models import Customer, Transaction

    path = write(
        tmp_path / "客户.csv",
        "姓名,手机号,添加时间\n王芳,13800139000,2026/11/20 9:05\n李娜,13800139001,2026-3-1\n",
    )
    with db.session() as s:
        oneid.import_customer_file(session=s, path=path, actor="op")
    path = write(
        tmp_path / "订单.csv",
        "客户,实付金额,支付时间,订单编号\n"
        "13800139000,4680,2026/11/28 14:00,A-1\n"
        "13800139001,980,2026年11月28日 下午 2:30,A-2\n",
    )
    with db.session() as s:
        stats = conversions.import_orders(session=s, path=path, timezone="Asia/Shanghai")
    assert (stats.added, stats.skipped) == (2, 0)
    with db.session() as s:
        added = dict(s.execute(select(Customer.name, Customer.created_at)).all())
        paid = dict(s.execute(select(Transaction.external_id, Transaction.occurred_at)).all())
    assert added["王芳"].replace(tzinfo=UTC) == datetime(2026, 11, 20, 1, 5, tzinfo=UTC)
    assert added["李娜"].replace(tzinfo=UTC) == datetime(2026, 2, 28, 16, 0, tzinfo=UTC)
    assert paid["A-1"].replace(tzinfo=UTC) == datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
    assert paid["A-2"].replace(tzinfo=UTC) == datetime(2026, 11, 28, 6, 30, tzinfo=UTC)


def test_an_orders_file_with_a_misspelt_column_names_it(db: Database, tmp_path: Path) -> None:
    """Before: every line said 「金额 '' 不是大于等于 0 的数字」, not that the column was
    missing, nor which column the file had instead."""
    path = write(tmp_path / "订单.csv", "客户,实付金颜,支付时间\n1,4680,2026-03-01\n")
    with db.session() as s, pytest.raises(InputError) as info:
        conversions.import_orders(session=s, path=path, timezone="Asia/Shanghai")
    message = str(info.value)
    assert "缺少列 amount（实付金额）" in message and "文件里未知的列：实付金颜" in message
    assert "第 2 行" not in message


def test_events_add_takes_the_chinese_names_its_errors_show(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`events add --type 购买` was refused with 「事件类型只能是 purchase（购买）、…」, and
    `--stage 转化` with 「需要给出阶段：… convert（转化）…」."""
    from bot.cli import run

    data = str(tmp_path / "data")
    people = write(tmp_path / "客户.csv", "姓名,手机号\n王芳,13800139000\n")
    assert run(["--data-dir", data, "customers", "import", str(people)]) == 0
    capsys.readouterr()
    base = ["--data-dir", data, "events", "add", "--customer", "13800139000"]
    assert run([*base, "--type", "购买", "--amount", "4680"]) == 0
    assert run([*base, "--type", "阶段变化", "--stage", "转化"]) == 0
    out = capsys.readouterr().out
    assert "购买 · 客户 1" in out and "阶段变化 · 客户 1" in out
    assert run([*base, "--type", "买了"]) == 1
    assert "事件类型只能是" in capsys.readouterr().err


def test_export_table_writes_the_added_time_in_the_teams_time_zone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A customer added at 9:05 in Shanghai was exported as 「2026-11-20T01:05:00+00:00」:
    exact, but not the time anyone wrote; every other time the CLI prints is local."""
    from bot.cli import run

    data = str(tmp_path / "data")
    people = write(
        tmp_path / "客户.csv", "姓名,手机号,添加时间\n王芳,13800139000,2026/11/20 9:05\n"
    )
    assert run(["--data-dir", data, "customers", "import", str(people)]) == 0
    table = tmp_path / "导出.csv"
    assert run(["--data-dir", data, "customers", "export-table", str(table)]) == 0
    assert ",2026-11-20T09:05:00+08:00," in table.read_text(encoding="utf-8-sig")
    assert run(["--data-dir", data, "customers", "import", str(table)]) == 0  # reads back
    second = tmp_path / "second.csv"
    assert run(["--data-dir", data, "customers", "export-table", str(second)]) == 0
    assert second.read_text(encoding="utf-8-sig") == table.read_text(encoding="utf-8-sig")
    capsys.readouterr()
    assert run(["--data-dir", data, "customers", "export-table", str(tmp_path / "a.txt")]) == 1
    assert "错误：a.txt：只能导出为 .csv 或 .xlsx" in capsys.readouterr().err  # not 「a.txt: 」
