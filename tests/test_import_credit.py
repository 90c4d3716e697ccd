"""The ``campaign_code`` column of ``siyu customers import`` credits a customer only to
their own adviser's entry code, as a code in a greeting does: another adviser's code (of
another team, or a teammate's) is a problem of its line, naming the code and both
advisers, and the file imports nothing (``--dry-run`` says the same). Real SQLite and
PostgreSQL (when ``SIYU_TEST_POSTGRES_URL`` is set) through the services; the command
line on SQLite."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.cli import run
from bot.errors import InputError
from bot.services import campaigns as campaigns_service
from bot.services import customers as customers_service
from bot.services.access import Principal, cli_principal
from bot.store import Database, customers
from bot.store import campaigns as repo
from bot.store.campaigns import CampaignSpec
from bot.store.models import Adviser, Customer, Event, Identity

TZ = "Asia/Shanghai"
ADMIN = cli_principal("oscar")
#: id: (name colleagues know, team). 李娜 and 周敏 are east, 王芳 is west.
ADVISERS = {"li": ("李娜", "east"), "zhou": ("周敏", "east"), "fang": ("王芳", "west")}
CODES = {"li": "ZB2611", "zhou": "ZB2613", "fang": "ZB2612"}
RULE = "只能归到客户自己顾问的渠道码"
HEADER = "name,adviser_id,phone,added_at,campaign_code\n"


def seed(db: Database) -> None:
    """Three advisers in two teams, and one campaign giving each of them a code."""
    with db.session() as s:
        for adviser, (name, team) in ADVISERS.items():
            customers.ensure_adviser(session=s, adviser_id=adviser, name=name)
            s.get_one(Adviser, adviser).team = team
        live = repo.create_campaign(
            session=s,
            spec=CampaignSpec("双十二直播", "直播", date(2026, 12, 1), date(2026, 12, 31), 3000),
            actor="t",
        )
        for adviser, code in CODES.items():
            repo.add_code(session=s, campaign_id=live.id, adviser_id=adviser, code=code)


def import_file(
    db: Database, path: Path, *, dry_run: bool = False
) -> customers_service.ImportStats:
    trial = {"dry_run": True} if dry_run else {}
    with db.session() as s:
        return customers_service.import_file(s, ADMIN, path=path, timezone=TZ, **trial)


def problems(db: Database, path: Path, *, dry_run: bool = False) -> list[str]:
    with pytest.raises(InputError) as caught:
        import_file(db, path, dry_run=dry_run)
    assert "没有导入任何内容" in str(caught.value)
    return caught.value.problems


def counts(db: Database) -> tuple[int, int, int]:
    """Customers, identities and attributions in the store."""
    with db.session() as s:
        return (
            s.scalar(select(func.count(Customer.id))) or 0,
            s.scalar(select(func.count(Identity.id))) or 0,
            s.scalar(select(func.count(Event.id)).where(Event.type == "attributed")) or 0,
        )


def credited(db: Database) -> dict[str, tuple[str | None, str | None]]:
    """Customer name -> (their adviser, the code they are credited to)."""
    with db.session() as s:
        found = {}
        for c in s.scalars(select(Customer)):
            record = repo.attribution_of(session=s, customer_id=c.id)
            found[c.name] = (c.adviser_id, record.code.code if record else None)
        return found


def manager_rows(db: Database, team: str) -> list[tuple[str | None, int]]:
    """(adviser, added) of the campaign report's adviser rows as the team's manager sees it."""
    manager = Principal(username=f"m-{team}", role="manager", team=team)
    with db.session() as s:
        rows = campaigns_service.report(
            s, manager, since=None, until=date(2027, 1, 1), timezone=TZ, campaign="双十二直播"
        )
    return [(r.adviser_id, r.added) for r in rows if not r.total]


def test_a_line_crediting_another_advisers_code_is_refused_and_nothing_is_imported(
    db: Database, tmp_path: Path
) -> None:
    seed(db)
    people = tmp_path / "people.csv"
    people.write_text(
        HEADER + "甲,li,13900000001,2026-12-02,ZB2611\n"  # her own code
        "乙,li,13900000002,2026-12-03,ZB2612\n"  # 王芳's, of the other team
        "丙,李娜,13900000003,2026-12-04,zb-2613\n"  # 周敏's, her teammate's
        "丁,li,13900000004,2026-12-05,NOPE99\n",
        encoding="utf-8",
    )
    expected = [
        f"第 3 行：渠道码 ZB2612 属于顾问 王芳，这位客户的顾问是 李娜：{RULE}",
        f"第 4 行：渠道码 ZB2613 属于顾问 周敏，这位客户的顾问是 李娜：{RULE}",
        "第 5 行：未知的渠道码 NOPE99",
    ]
    assert problems(db, people) == expected
    assert problems(db, people, dry_run=True) == expected  # a dry run says the same
    assert counts(db) == (0, 0, 0)  # not even the good line
    # the lines fixed, the file imports: her own code credits her, and her manager's
    # campaign report counts her in her row (the other team's manager sees nobody)
    people.write_text(
        HEADER + "甲,li,13900000001,2026-12-02,ZB2611\n"
        "乙,li,13900000002,2026-12-03,\n"
        "丙,周敏,13900000003,2026-12-04,zb-2613\n",
        encoding="utf-8",
    )
    before = counts(db)
    assert import_file(db, people, dry_run=True).attributed == 2  # counted, not written
    assert counts(db) == before
    assert import_file(db, people).attributed == 2
    assert credited(db) == {
        "甲": ("li", "ZB2611"),
        "乙": ("li", None),
        "丙": ("zhou", "ZB2613"),
    }
    assert manager_rows(db, "east") == [("li", 1), ("zhou", 1)]
    assert manager_rows(db, "west") == [("fang", 0)]


def test_the_customers_own_adviser_is_the_lines_or_else_the_stored_one(
    db: Database, tmp_path: Path
) -> None:
    """A line updating a customer without ``adviser_id`` is checked against the adviser
    the customer has; a line that gives one, against that one (the customer's after the
    import). A code the customer is credited to already changes nothing (a file exported
    and read back, a line that only moves the customer), whoever's it is."""
    seed(db)
    first = tmp_path / "first.csv"
    first.write_text(
        HEADER + "甲,fang,13900000001,2026-12-02,\n"
        "乙,li,13900000002,2026-12-02,ZB2611\n"
        "丙,li,13900000003,2026-12-02,\n",
        encoding="utf-8",
    )
    import_file(db, first)
    update = tmp_path / "update.csv"
    update.write_text(
        "phone,adviser_id,campaign_code\n"
        "13900000001,,ZB2611\n"  # 甲 stays 王芳's
        "13900000003,fang,ZB2611\n"  # 丙 moves to 王芳 with 李娜's code
        "13900000002,fang,ZB2611\n"  # 乙 moves, keeping the code she came by: no credit
        "13900000004,,ZB2612\n",  # a new customer without an adviser
        encoding="utf-8",
    )
    assert problems(db, update) == [
        f"第 2 行：渠道码 ZB2611 属于顾问 李娜，这位客户的顾问是 王芳：{RULE}",
        f"第 3 行：渠道码 ZB2611 属于顾问 李娜，这位客户的顾问是 王芳：{RULE}",
        f"第 5 行：渠道码 ZB2612 属于顾问 王芳，这位客户还没有顾问（请填顾问列 adviser_id）"
        f"：{RULE}",
    ]
    assert credited(db) == {"甲": ("fang", None), "乙": ("li", "ZB2611"), "丙": ("li", None)}
    # moved to 李娜 by the same line, 甲 may be credited to 李娜's code
    update.write_text("phone,adviser_id,campaign_code\n13900000001,li,ZB2611\n", encoding="utf-8")
    assert import_file(db, update).attributed == 1
    assert credited(db)["甲"] == ("li", "ZB2611")
    # the administrator credits 丙 by hand to 王芳's code (the command line may); the
    # export read back keeps it without a word, and credits nobody again
    with db.session() as s:
        cid = s.scalar(select(Customer.id).where(Customer.name == "丙"))
        assert cid is not None
        campaigns_service.attribute(s, ADMIN, customer_id=cid, code="ZB2612")
    table = tmp_path / "table.csv"
    with db.session() as s:
        customers_service.export_table(s, ADMIN, path=table)
    before = counts(db)
    assert import_file(db, table).attributed == 0
    assert counts(db) == before
    assert credited(db) == {"甲": ("li", "ZB2611"), "乙": ("li", "ZB2611"), "丙": ("li", "ZB2612")}


# --------------------------------------------------------------------------- the CLI
def siyu(capsys: pytest.CaptureFixture[str], data: Path, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = run(["--data-dir", str(data), "--actor", "oscar", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_the_command_line_and_its_dry_run_name_the_line_the_code_and_both_advisers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    db = Database(f"sqlite:///{data / 'siyu.db'}")
    db.migrate()
    seed(db)
    people = tmp_path / "people.csv"
    people.write_text(
        HEADER + "甲,li,13900000001,2026-12-02,ZB2611\n乙,li,13900000002,2026-12-03,ZB2612\n",
        encoding="utf-8",
    )
    for dry_run in ([], ["--dry-run"]):
        code, out, err = siyu(capsys, data, "customers", "import", *dry_run, str(people))
        said = " ".join(err.split())
        assert code == 1, (out, err)
        assert "people.csv：1 处问题，没有导入任何内容" in said
        assert f"第 3 行：渠道码 ZB2612 属于顾问 王芳，这位客户的顾问是 李娜：{RULE}" in said
        assert "第 2 行" not in said
        assert counts(db) == (0, 0, 0)
    people.write_text(HEADER + "甲,li,13900000001,2026-12-02,ZB2611\n", encoding="utf-8")
    code, out, err = siyu(capsys, data, "customers", "import", "--dry-run", str(people))
    assert code == 0, err
    assert "将新建 1" in out and "渠道归因 1" in out and "试运行，未写入" in out
    assert counts(db) == (0, 0, 0)
    code, out, err = siyu(capsys, data, "customers", "import", str(people))
    assert code == 0, err
    assert "新建 1" in out and "渠道归因 1" in out and "试运行" not in out
    assert credited(db) == {"甲": ("li", "ZB2611")}
    db.dispose()
