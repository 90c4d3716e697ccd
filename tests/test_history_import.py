"""`siyu history import` against what a reviewer threw at it: times outside any chat's
years, a line nested a hundred thousand deep, a message longer than the API takes, a
file mixing UTF-8 and GBK, a contact renamed along the archive, and one contact id in
two advisers' chats. Each is caught in validation with its line (nothing imported), or
imported as the live channel and the API would have it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import RuntimeFactory
from sqlalchemy import select

from bot.cli import run
from bot.domain import MAX_MESSAGE_CHARS, plausible_time
from bot.errors import InputError
from bot.pipeline.history import read_history
from bot.services import history
from bot.services.access import cli_principal
from bot.store import customers as customers_repo
from bot.store import messages as messages_repo
from bot.store.industries import default_among
from bot.store.messages import api_source_id
from bot.store.models import Conversation, Customer, Identity, Message

ADMIN = cli_principal("tester")

GOOD: dict[str, Any] = {
    "msg_id": "m1",
    "contact_id": "c1",
    "direction": "in",
    "text": "在吗",
    "sent_at": "2026-03-01T09:00:00+08:00",
}


def _jsonl(path: Path, rows: list[dict[str, Any] | str], encoding: str = "utf-8") -> Path:
    text = "".join(
        (r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows
    )
    path.write_bytes(text.encode(encoding))
    return path


def _problems(path: Path) -> list[str]:
    with pytest.raises(InputError) as info:
        read_history(path)
    return list(info.value.problems)


def _count(rt: Any, model: Any) -> int:
    with rt.db.session() as session:
        return len(session.scalars(select(model)).all())


# --- 3: one time rule with the API ----------------------------------------------------------


@pytest.mark.parametrize(
    "sent_at",
    [
        "0001-01-01T00:00:00+08:00",  # overflowed converting to UTC in the real run
        "9999-12-31T23:59:59-05:00",  # overflowed too, the other way
        "9999-01-01T00:00:00+08:00",
        "1999-12-31T23:59:59+00:00",
        "0001/1/1 0:00",  # a spreadsheet's time, read in the team's zone
    ],
)
def test_a_time_outside_2000_to_tomorrow_is_a_problem_of_its_line(
    sent_at: str, make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    """Before: `--dry-run` passed such a file and the real run died with OverflowError
    (or logged a message of the year 9999)."""
    path = _jsonl(tmp_path / "h.jsonl", [GOOD, GOOD | {"msg_id": "m2", "sent_at": sent_at}])
    rt = make_runtime(load=False)
    for dry_run in (True, False):
        with pytest.raises(InputError) as info:
            history.import_file(rt, ADMIN, path=path, dry_run=dry_run)
        assert str(info.value).startswith("h.jsonl：1 处问题，未导入任何消息")
        (problem,) = info.value.problems
        assert problem.startswith("第 2 行：sent_at 应在 2000 年到明天之间，不是 ")
    with rt.db.session() as session:
        assert messages_repo.count_messages(session=session) == 0


def test_the_api_and_the_import_share_the_time_rule(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    tomorrow = now + timedelta(days=1, minutes=-1)
    assert plausible_time(tomorrow, "sent_at") == tomorrow
    for bad in (now + timedelta(days=2), datetime(1999, 12, 31, tzinfo=UTC)):
        with pytest.raises(ValueError, match=r"^sent_at 应在 2000 年到明天之间$"):
            plausible_time(bad, "sent_at")
    with pytest.raises(ValueError, match=r"^sent_at 需要带时区"):
        plausible_time(datetime(2026, 3, 1), "sent_at")
    # the import's word for a time two days ahead is the API's
    later = (now + timedelta(days=2)).isoformat()
    path = _jsonl(tmp_path / "h.csv.jsonl", [GOOD | {"sent_at": later}])
    assert _problems(path) == [f"第 1 行：sent_at 应在 2000 年到明天之间，不是 {later}"]
    # a CSV names the column as its header does
    csv = tmp_path / "h.csv"
    csv.write_text(
        "消息ID,联系人ID,方向,内容,发送时间\nm1,c1,客户,在吗,9999-01-01T00:00:00+08:00\n",
        encoding="utf-8",
    )
    assert _problems(csv) == [
        "第 2 行：发送时间 应在 2000 年到明天之间，不是 9999-01-01T00:00:00+08:00"
    ]


# --- 4: nesting ---------------------------------------------------------------------------


def test_a_line_nested_100000_deep_is_a_bad_line(tmp_path: Path) -> None:
    """Before: a RecursionError traceback."""
    deep = "[" * 100_000 + "]" * 100_000
    path = _jsonl(
        tmp_path / "h.jsonl", [GOOD, deep, '{"text": ' + deep + "}", GOOD | {"msg_id": ""}]
    )
    problems = _problems(path)
    assert problems[:2] == [
        "第 2 行：JSON 嵌套层数过多（一条消息应是一个只含文本的 JSON 对象）",
        "第 3 行：JSON 嵌套层数过多（一条消息应是一个只含文本的 JSON 对象）",
    ]
    assert problems[2].startswith("第 4 行：")  # and the lines after it are still checked
    array = tmp_path / "h.json"
    array.write_text("[\n" + json.dumps(GOOD) + ",\n" + deep + "\n]", encoding="utf-8")
    assert _problems(array) == [
        "第 3 行：JSON 嵌套层数过多（一条消息应是一个只含文本的 JSON 对象）"
    ]


# --- 7: the API's length cap --------------------------------------------------------------


def test_a_message_longer_than_the_api_takes_is_a_problem_of_its_line(tmp_path: Path) -> None:
    at_cap = GOOD | {"msg_id": "m1", "text": "长" * MAX_MESSAGE_CHARS}
    over = GOOD | {"msg_id": "m2", "text": "长" * (MAX_MESSAGE_CHARS + 1)}
    assert MAX_MESSAGE_CHARS == 100_000
    path = _jsonl(tmp_path / "h.jsonl", [at_cap, over])
    assert _problems(path) == ["第 2 行：text 超过 100000 个字符"]
    assert len(read_history(_jsonl(tmp_path / "ok.jsonl", [at_cap]))) == 1


def test_the_api_refuses_a_message_over_the_same_cap() -> None:
    from bot.web.schemas import MessageIn

    MessageIn.model_validate({"contact_id": "c", "text": "长" * MAX_MESSAGE_CHARS})
    with pytest.raises(ValueError, match="100000"):
        MessageIn.model_validate({"contact_id": "c", "text": "长" * (MAX_MESSAGE_CHARS + 1)})


# --- 2: one encoding per file -------------------------------------------------------------


def test_a_history_mixing_utf8_and_gbk_lines_is_refused(
    tmp_path: Path, make_runtime: RuntimeFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: read whole as GBK, 「你好」 imported as 「浣犲ソ」."""
    gbk = [
        GOOD | {"msg_id": f"g{n}", "contact_name": "李先生", "text": "在吗，我想问一下重疾险"}
        for n in range(3)
    ]
    utf8 = GOOD | {"msg_id": "u1", "contact_name": "王女士", "text": "你好"}
    path = tmp_path / "h.jsonl"
    path.write_bytes(
        _jsonl(tmp_path / "a", gbk[:2], "gbk").read_bytes()
        + _jsonl(tmp_path / "b", [utf8]).read_bytes()
        + _jsonl(tmp_path / "c", gbk[2:], "gbk").read_bytes()
    )
    rt = make_runtime(load=False)
    data = str(rt.settings.data_dir)
    capsys.readouterr()
    assert run(["--data-dir", data, "history", "import", str(path), "--dry-run"]) != 0
    err = capsys.readouterr().err
    said = "h.jsonl：第 3 行是 UTF-8 编码，而第 1 行是 GBK/GB18030 编码：同一个文件混用了两种编码"
    assert said.replace(" ", "") in "".join(err.split())  # (as the console wraps it)
    assert "Traceback" not in err
    with rt.db.session() as session:
        assert messages_repo.count_messages(session=session) == 0
    # each part alone imports, in its encoding
    for name, rows, encoding in (("g.jsonl", gbk, "gbk"), ("u.jsonl", [utf8], "utf-8-sig")):
        report = history.import_file(rt, ADMIN, path=_jsonl(tmp_path / name, rows, encoding))
        assert report.logged == len(rows)
    with rt.db.session() as session:
        texts = set(session.scalars(select(Message.text)))
    assert texts == {"在吗，我想问一下重疾险", "你好"}


# --- 5: the latest name -------------------------------------------------------------------


def test_a_renamed_contact_gets_the_name_of_its_latest_line(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    """Before: the name of the earliest line stayed. The file's order does not matter."""
    rows = [
        GOOD
        | {
            "msg_id": "m2",
            "contact_name": "王女士（已购）",
            "sent_at": "2026-03-03T09:00:00+08:00",
        },
        GOOD | {"msg_id": "m1", "contact_name": "王女士", "sent_at": "2026-03-01T09:00:00+08:00"},
        GOOD | {"msg_id": "m3", "contact_name": "", "sent_at": "2026-03-04T09:00:00+08:00"},
        GOOD | {"msg_id": "m0", "contact_name": "小王", "sent_at": "2026-02-01T09:00:00+08:00"},
    ]
    rt = make_runtime(load=False)
    history.import_file(rt, ADMIN, path=_jsonl(tmp_path / "h.jsonl", rows))
    with rt.db.session() as session:
        (customer,) = session.scalars(select(Customer)).all()
        (identity,) = session.scalars(select(Identity)).all()
    assert customer.name == "王女士（已购）"
    assert identity.display_name == "王女士（已购）"


# --- 6: one contact id, two advisers ------------------------------------------------------


def test_one_contact_id_in_two_advisers_chats_makes_two_customers(
    make_runtime: RuntimeFactory, tmp_path: Path
) -> None:
    """Before: wu's chat with 「c1」 landed in li's customer and conversation. Now the id
    stays with the adviser of its earliest line, and wu's chat gets a customer of its
    own under the id namespaced as POST /api/messages namespaces it, with a warning."""
    rows = [
        GOOD
        | {
            "msg_id": "w1",
            "adviser_id": "wu",
            "contact_name": "吴的客户",
            "sent_at": "2026-03-02T09:00:00+08:00",
        },
        GOOD | {"msg_id": "l1", "adviser_id": "li", "contact_name": "李的客户"},
        GOOD | {"msg_id": "l2", "adviser_id": "li", "direction": "out", "text": "在的"},
        GOOD | {"msg_id": "n1", "sent_at": "2026-03-03T09:00:00+08:00"},  # no adviser: li's
        GOOD
        | {
            "msg_id": "w2",
            "adviser_id": "wu",
            "direction": "out",
            "text": "您好",
            "sent_at": "2026-03-02T09:01:00+08:00",
        },
    ]
    path = _jsonl(tmp_path / "h.jsonl", rows)
    rt = make_runtime(load=False)
    dry = history.import_file(rt, ADMIN, path=path, dry_run=True)
    assert dry.contacts == 2
    (warning,) = [w for w in dry.warnings if "多位顾问" in w]
    assert warning.startswith("1 个联系人 ID 出现在多位顾问的聊天里（如 c1：li、wu）")
    assert "wu 的聊天各成一位新客户" in warning
    report = history.import_file(rt, ADMIN, path=path)
    assert report.logged == 5 and warning in report.warnings
    own = api_source_id("wu", "c1")
    with rt.db.session() as session:
        li = customers_repo.find_or_create_customer(
            session=session, identity_kind="history_contact", identity_value="c1"
        )[0]
        wu = customers_repo.find_or_create_customer(
            session=session, identity_kind="history_contact", identity_value=own
        )[0]
        by_customer = {
            c: sorted(session.scalars(select(Message.msg_id).where(Message.customer_id == c)))
            for c in (li.id, wu.id)
        }
        conversations = {
            (c.external_id, c.adviser_id, c.customer_id)
            for c in session.scalars(select(Conversation))
        }
    assert (li.adviser_id, li.name) == ("li", "李的客户")
    assert (wu.adviser_id, wu.name) == ("wu", "吴的客户")
    assert by_customer == {li.id: ["l1", "l2", "n1"], wu.id: ["w1", "w2"]}
    assert conversations == {("c1", "li", li.id), (own, "wu", wu.id)}
    assert _count(rt, Customer) == 2

    # again: nothing twice; a later file of wu's alone still goes to wu's own customer
    # (the id is li's in the store now), and a file of li's to li's
    again = history.import_file(rt, ADMIN, path=path)
    assert (again.logged, again.skipped) == (0, 5)
    later = [
        GOOD | {"msg_id": "w3", "adviser_id": "wu", "sent_at": "2026-03-05T09:00:00+08:00"},
        GOOD | {"msg_id": "l3", "adviser_id": "li", "sent_at": "2026-03-05T09:00:00+08:00"},
    ]
    for row in later:
        history.import_file(rt, ADMIN, path=_jsonl(tmp_path / f"{row['msg_id']}.jsonl", [row]))
    with rt.db.session() as session:
        owner = dict(session.execute(select(Message.msg_id, Message.customer_id)).all())
    assert (owner["w3"], owner["l3"]) == (wu.id, li.id)
    assert _count(rt, Customer) == 2


# --- 7: rows without an industry, the default one unused --------------------------------

FITNESS_TAXONOMY = """version: 1
categories:
  - name: 训练目标
    industry: 健身
    description: 会员想通过健身达成什么
    tags:
      - name: 减脂
        description: 想减肥、降体脂
        keywords: [减脂, 减肥]
"""
FITNESS_SCRIPTS = """id,title,category,stage,industry,tags,body
FIT-PRC-1,私教课价格,pricing,convert,健身,价格,私教课 12 节 3600 元，减脂训练可以分期。
"""


def test_rows_without_an_industry_fall_on_the_librarys_own_industry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A library of its own industry (健身 only) with [assistant] default_industry left at
    the demo's insurance: a history or a suggestion without `industry` went under
    insurance, and got not one tag or script of the library. Now such a message falls on
    the library's one industry (several industries, none of them the default: every
    industry)."""
    data = str(tmp_path / "data")
    taxonomy = tmp_path / "tags.yaml"
    taxonomy.write_text(FITNESS_TAXONOMY, encoding="utf-8")
    scripts = tmp_path / "scripts.csv"
    scripts.write_text(FITNESS_SCRIPTS, encoding="utf-8")
    assert run(["--data-dir", data, "tags", "import", str(taxonomy)]) == 0
    assert run(["--data-dir", data, "scripts", "import", str(scripts)]) == 0
    path = _jsonl(tmp_path / "h.jsonl", [GOOD | {"text": "我想减肥"}])
    assert run(["--data-dir", data, "history", "import", str(path)]) == 0
    capsys.readouterr()
    assert run(["--data-dir", data, "tags", "list", "--status", "suggested", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(t["tag"], t["source_msg_id"]) for t in listed] == [("减脂", "m1")]
    assert run(["--data-dir", data, "suggest", "--text", "减肥的私教课多少钱", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [t["name"] for t in shown["tags"]] == ["减脂"]
    assert [s["id"] for s in shown["scripts"]] == ["FIT-PRC-1"]


def test_the_default_industry_is_the_setting_while_the_library_uses_it() -> None:
    """The setting when the library uses it (or nothing yet); the library's one
    industry; every industry ("") when it holds several and not the setting."""
    assert default_among(set(), "insurance") == "insurance"
    assert default_among({"insurance", "kaoyan"}, "insurance") == "insurance"
    assert default_among({"insurance", "kaoyan"}, "保险") == "保险", "its Chinese name is it"
    assert default_among({"健身"}, "insurance") == "健身"
    assert default_among({"健身", "家装"}, "insurance") == ""
    assert default_among({"健身", "家装"}, "general") == "general"


@pytest.mark.parametrize(
    "sent_at", ["2026-03-01T01:30:00Z", "2026-03-01T01:30:00z", "2026-03-01T01:30:00.250z"]
)
def test_a_utc_time_may_end_in_a_lower_case_z(sent_at: str, tmp_path: Path) -> None:
    """RFC 3339 allows 「z」 as well as 「Z」; before, the lower case was no time."""
    (line,) = read_history(_jsonl(tmp_path / "h.jsonl", [GOOD | {"sent_at": sent_at}]))
    assert line.row.sent_at.astimezone(UTC).replace(microsecond=0) == datetime(
        2026, 3, 1, 1, 30, tzinfo=UTC
    )
    assert not line.zoned


def test_a_line_repeated_in_the_file_is_not_said_to_be_imported_before(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A first import of a file holding one line twice said 「跳过已导入 1 条」, as if an
    earlier run had imported it; it is counted as the file's own repeat."""
    data = str(tmp_path / "data")
    path = _jsonl(tmp_path / "h.jsonl", [GOOD, GOOD, GOOD | {"msg_id": "m2", "text": "好的"}])
    capsys.readouterr()
    assert run(["--data-dir", data, "history", "import", str(path), "--dry-run"]) == 0
    said = "".join(capsys.readouterr().out.split())
    assert "将导入2条" in said and "已导入过0条·文件内重复1行" in said, said
    assert run(["--data-dir", data, "history", "import", str(path)]) == 0
    said = "".join(capsys.readouterr().out.split())
    assert "导入2条·跳过已导入0条·文件内重复1行" in said, said
    assert run(["--data-dir", data, "history", "import", str(path)]) == 0
    said = "".join(capsys.readouterr().out.split())
    assert "导入0条·跳过已导入2条·文件内重复1行" in said, said


def test_a_profile_names_the_imported_identity_in_chinese(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The identity a history import gives (`history_contact`, the default channel the
    README documents) read 「身份：history 联系人 c1」 on `siyu customers show`."""
    data = tmp_path / "data"
    path = _jsonl(tmp_path / "h.jsonl", [GOOD | {"contact_name": "王女士"}])
    assert run(["--data-dir", str(data), "history", "import", str(path)]) == 0
    capsys.readouterr()
    assert run(["--data-dir", str(data), "customers", "show", "1"]) == 0
    out = capsys.readouterr().out
    assert "身份：聊天记录导入 c1" in out
    assert "history" not in out
