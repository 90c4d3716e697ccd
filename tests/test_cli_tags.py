"""The tag commands an outside evaluation drives (README, Interchange formats): the exact
JSON of ``tags list --json``, many ids in one ``tags review``, ``tags add`` by id, by
identity and from a file (all or nothing)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from conftest import LIBRARY

from bot.cli import run
from bot.domain import IncomingMessage
from bot.pipeline.runtime import open_runtime
from bot.services import messages
from bot.services.access import Principal
from bot.settings import Settings

JSON_KEYS = {"id", "customer_id", "tag", "category", "status", "evidence", "source_msg_id"}


def siyu(capsys: pytest.CaptureFixture[str], data: Path, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = run(["--data-dir", str(data), *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def listed(capsys: pytest.CaptureFixture[str], data: Path, status: str) -> list[dict[str, object]]:
    code, out, err = siyu(capsys, data, "tags", "list", "--status", status, "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert isinstance(rows, list)
    return rows


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """Three customers who wrote messages with known ids: two through a channel, one
    through the message API (whose ids are stored with the adviser's prefix)."""
    data = tmp_path / "data"
    assert run(["--data-dir", str(data), "tags", "import", str(LIBRARY / "tags.yaml")]) == 0
    rt = open_runtime(Settings.model_validate({"data_dir": str(data)}))
    try:
        for msg_id, contact, text in (
            ("wx-1", "wx-zhou", "我女儿想买医疗险"),
            ("wx-2", "wx-zhou", "你好"),
            ("wx-3", "wx-wang", "重疾险太贵了"),
        ):
            rt.assistant.receive(
                IncomingMessage(
                    msg_id=msg_id,
                    channel="wechaty",
                    contact_id=contact,
                    text=text,
                    industry="insurance",
                )
            )
        alice = Principal(username="alice", role="adviser", adviser_id="adv-a")
        messages.post(
            rt, alice, contact_id="c-9", msg_id="api-7", text="儿子的重疾险", industry="insurance"
        )
    finally:
        rt.close()
    return data


def test_list_json_has_exactly_the_documented_fields(
    capsys: pytest.CaptureFixture[str], data: Path
) -> None:
    rows = listed(capsys, data, "suggested")
    assert rows and all(set(r) == JSON_KEYS for r in rows)
    for r in rows:
        assert isinstance(r["id"], int) and isinstance(r["customer_id"], int)
        assert r["status"] == "suggested" and isinstance(r["evidence"], str) and r["evidence"]
    by_tag = {(r["tag"], r["source_msg_id"]): r for r in rows}
    assert by_tag[("有孩子", "wx-1")]["category"] == "家庭结构"
    assert ("医疗险", "wx-1") in by_tag and ("价格敏感", "wx-3") in by_tag
    assert ("重疾险", "api-7") in by_tag, "the API message's id as the integration gave it"
    assert listed(capsys, data, "confirmed") == []


def test_review_takes_many_ids_in_one_call(capsys: pytest.CaptureFixture[str], data: Path) -> None:
    ids = [int(str(r["id"])) for r in listed(capsys, data, "suggested")]
    assert len(ids) >= 5
    args = ["--confirm", *map(str, ids[:2]), "--reject", *map(str, ids[2:4])]
    code, out, err = siyu(capsys, data, "tags", "review", *args)
    assert code == 0, err
    assert "已确认 2 个，已拒绝 2 个" in out
    assert sorted(int(str(r["id"])) for r in listed(capsys, data, "confirmed")) == ids[:2]
    assert sorted(int(str(r["id"])) for r in listed(capsys, data, "rejected")) == ids[2:4]
    # the repeatable form, and --confirm=ID followed by more ids
    code, _, err = siyu(capsys, data, "tags", "review", f"--confirm={ids[4]}", "--reject", "999")
    assert code == 1 and "999" in err, "an unknown id: nothing reviewed"
    assert len(listed(capsys, data, "confirmed")) == 2
    code, _, err = siyu(capsys, data, "tags", "review", "--confirm", str(ids[4]), "--confirm")
    assert code == 2, "an option without a value is a usage error"
    code, out, err = siyu(
        capsys,
        data,
        "tags",
        "review",
        f"--confirm={ids[4]}",
        "--confirm",
        str(ids[5]) if len(ids) > 5 else str(ids[4]),
    )
    assert code == 0, err
    assert {ids[4]} <= {int(str(r["id"])) for r in listed(capsys, data, "confirmed")}
    assert "推翻" not in out
    # comma-separated, as `bot --requeue` takes them
    code, out, err = siyu(capsys, data, "tags", "review", f"--confirm={ids[2]},{ids[3]}")
    assert code == 0 and "已确认 2 个" in out and "（其中 2 个推翻了之前的决定）" in out, err
    code, out, err = siyu(capsys, data, "tags", "review", "--reject", f"{ids[2]},{ids[3]}")
    assert code == 0 and "已拒绝 2 个" in out, err
    # reversing a decision is said, not done silently
    code, out, err = siyu(capsys, data, "tags", "review", "--reject", str(ids[0]))
    assert code == 0 and "已拒绝 1 个（其中 1 个推翻了之前的决定）" in out, err


def test_add_by_id_and_by_identity(capsys: pytest.CaptureFixture[str], data: Path) -> None:
    code, out, err = siyu(
        capsys, data, "tags", "add", "--customer", "1", "--tag", "单身", "--msg-id", "wx-2"
    )
    assert code == 1 and "单身" in err, "not a tag of this taxonomy"
    for expected in ("已添加", "客户已有此标签"):  # a suggestion confirmed, then nothing new
        code, out, err = siyu(
            capsys, data, "tags", "add", "--customer", "wx-wang", "--tag", "价格敏感度/价格敏感"
        )
        assert code == 0 and expected in out, err
    code, out, err = siyu(
        capsys, data, "tags", "add", "--customer", "1", "--tag", "重疾险", "--msg-id", "wx-2"
    )
    assert code == 0 and "已添加：" in out and "客户 1" in out and "→ 险种兴趣/重疾险" in out, err
    confirmed = {(r["customer_id"], r["tag"]): r for r in listed(capsys, data, "confirmed")}
    assert confirmed[(1, "重疾险")]["source_msg_id"] == "wx-2"
    assert (2, "价格敏感") in confirmed, "a suggestion confirmed by adding it"
    code, _, err = siyu(
        capsys, data, "tags", "add", "--customer", "1", "--tag", "重疾险", "--msg-id", "x"
    )
    assert code == 1 and "没有这条消息" in err


def test_add_from_a_file_is_all_or_nothing(
    capsys: pytest.CaptureFixture[str], data: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "customer,tag,msg_id\nwx-zhou,重疾险,wx-2\nnobody,重疾险,\nwx-wang,不存在,\nwx-wang,医疗险,wx-1\n",
        encoding="utf-8",
    )
    code, _, err = siyu(capsys, data, "tags", "add", "--file", str(bad))
    assert code == 1 and "没有添加任何标签" in err
    assert "第 3 行" in err and "第 4 行" in err and "第 5 行" in err and "第 2 行" not in err
    assert listed(capsys, data, "confirmed") == []
    good = tmp_path / "labels.csv"
    good.write_text(
        "customer,tag,msg_id\nwx-zhou,重疾险,wx-2\n2,医疗险,wx-3\nwx-zhou,有孩子,wx-1\n",
        encoding="utf-8",
    )
    code, out, err = siyu(capsys, data, "tags", "add", "--file", str(good))
    assert code == 0 and "新增 3" in out, err
    confirmed = {(r["tag"], r["source_msg_id"]) for r in listed(capsys, data, "confirmed")}
    assert {("重疾险", "wx-2"), ("医疗险", "wx-3"), ("有孩子", "wx-1")} <= confirmed
    code, _, err = siyu(capsys, data, "tags", "add", "--file", str(good), "--customer", "1")
    assert code == 2


def test_a_labels_file_with_a_misspelt_column_says_which_and_what_it_takes(
    capsys: pytest.CaptureFixture[str], data: Path, tmp_path: Path
) -> None:
    """Before: 「缺少列 customer（表头：customer,tag,msg_id）」 — only the English
    header, for a file written with the Chinese one, and not the column it had instead."""
    bad = tmp_path / "labels.csv"
    bad.write_text("客护,标签,消息ID\nwx-zhou,重疾险,wx-2\n", encoding="utf-8")
    code, _, err = siyu(capsys, data, "tags", "add", "--file", str(bad))
    assert code == 1
    assert "缺少列 customer（客户）" in err and "客户,标签,消息ID" in err
    assert "文件里未知的列：客护" in err
    assert listed(capsys, data, "confirmed") == []


def test_a_labels_file_header_of_other_words_is_read_and_a_column_not_read_is_named(
    capsys: pytest.CaptureFixture[str], data: Path, tmp_path: Path
) -> None:
    """Before: 「contact_id,tag,msgid」 was refused for lacking customer, and with the
    header 「customer,tag,msgid」 the tags were added without their message, silently
    (nothing learned from it). Now the usual other names are read, and a column that is
    still not read is named."""
    labels = tmp_path / "labels.csv"
    labels.write_text("contact_id,tag,msgid,备注\nwx-zhou,重疾险,wx-2,看错了\n", encoding="utf-8")
    code, out, err = siyu(capsys, data, "tags", "add", "--file", str(labels))
    assert code == 0 and "新增 1" in out, err
    assert "没有读取未知的列 备注" in err
    (row,) = [r for r in listed(capsys, data, "confirmed") if r["tag"] == "重疾险"]
    assert row["source_msg_id"] == "wx-2"
    labels.write_text("customer,tag,msg_id\nwx-wang,医疗险,wx-3\n", encoding="utf-8")
    code, out, err = siyu(capsys, data, "tags", "add", "--file", str(labels))
    assert code == 0 and "新增 1" in out and "未知的列" not in err
    # a second name for a column the file has under its own name is not read, not a clash
    labels.write_text("customer,contact_id,tag\nwx-wang,wx-zhou,有孩子\n", encoding="utf-8")
    code, out, err = siyu(capsys, data, "tags", "add", "--file", str(labels))
    assert code == 0 and "新增 1" in out and "没有读取未知的列 contact_id" in err
    whose = {r["tag"]: r["customer_id"] for r in listed(capsys, data, "confirmed")}
    assert whose["有孩子"] == whose["医疗险"]  # wx-wang's, not wx-zhou's


def test_status_names_in_chinese_and_a_wrong_one_refused(
    capsys: pytest.CaptureFixture[str], data: Path
) -> None:
    assert listed(capsys, data, "待确认") == listed(capsys, data, "suggested")
    code, out, err = siyu(capsys, data, "tags", "list", "--status", "已经确认")
    assert code == 2 and out == "" and "--status 只能是" in err and "已确认" in err
    code, _, err = siyu(capsys, data, "scripts", "status", "INS-PRC-1", "已审核")
    assert "状态只能是" not in err
    code, _, err = siyu(capsys, data, "scripts", "status", "INS-PRC-1", "通过")
    assert code == 1 and "approved（已审核）" in err


def test_review_names_every_unknown_id_and_reviews_none(
    capsys: pytest.CaptureFixture[str], data: Path
) -> None:
    """Before: only the first unknown id was named (999998), so a harness fixing its list
    learned of 999997 one run later."""
    ids = [int(str(r["id"])) for r in listed(capsys, data, "suggested")]
    args = ["--confirm", str(ids[0]), "999998", "999997", "--reject", str(ids[1])]
    code, out, err = siyu(capsys, data, "tags", "review", *args)
    assert code == 1 and out == ""
    assert "2 个编号的标签不存在，没有审核任何标签" in err and "999998, 999997" in err
    assert listed(capsys, data, "confirmed") == [] and listed(capsys, data, "rejected") == []


def test_review_without_ids_off_a_terminal_refuses_instead_of_asking(
    capsys: pytest.CaptureFixture[str], data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: the questions were printed to stdout and the answers read from the pipe (a
    harness's open pipe: it waited for ever)."""
    monkeypatch.setattr("sys.stdin", io.StringIO("y\ny\ny\n"))
    code, out, err = siyu(capsys, data, "tags", "review")
    assert code == 2 and out == ""
    assert "逐条审核只能在终端里进行" in err and "--confirm 编号" in err
    assert listed(capsys, data, "confirmed") == []


def test_a_label_naming_a_numeric_contact_id_finds_it_by_its_message(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """An archive whose contact ids are numbers: 「1」 is also the customer id of contact
    「2」. Before, a label 「1,重疾险,h-1」 was read as customer 1 and refused — 「该客户没有
    这条消息」 — though the message is contact 1's."""
    data = tmp_path / "data"
    assert run(["--data-dir", str(data), "tags", "import", str(LIBRARY / "tags.yaml")]) == 0
    lines = [
        ("h-2", "2", "你好", "2026-03-01T09:00:00+08:00"),  # contact 2 first: customer 1
        ("h-1", "1", "想给自己配个重疾", "2026-03-01T10:00:00+08:00"),
    ]
    history = tmp_path / "h.jsonl"
    history.write_text(
        "".join(
            json.dumps(
                {"msg_id": m, "contact_id": c, "direction": "in", "text": t, "sent_at": at},
                ensure_ascii=False,
            )
            + "\n"
            for m, c, t, at in lines
        ),
        encoding="utf-8",
    )
    code, _, err = siyu(capsys, data, "history", "import", str(history), "--industry", "insurance")
    assert code == 0, err
    labels = tmp_path / "labels.csv"
    labels.write_text("customer,tag,msg_id\n1,重疾险,h-1\n", encoding="utf-8")
    code, out, err = siyu(capsys, data, "tags", "add", "--file", str(labels))
    assert code == 0 and "新增 1" in out, err
    (row,) = listed(capsys, data, "confirmed")
    assert row["tag"] == "重疾险" and row["source_msg_id"] == "h-1" and row["customer_id"] == 2
    # a message of neither reading is still refused
    labels.write_text("customer,tag,msg_id\n1,医疗险,nowhere\n", encoding="utf-8")
    code, _, err = siyu(capsys, data, "tags", "add", "--file", str(labels))
    assert code == 1 and "该客户没有这条消息" in err
    # without a message, the number is refused as ambiguous: before, customer 1 was
    # tagged, while the file may have meant contact 1 (customer 2)
    labels.write_text("customer,tag,msg_id\n1,医疗险,\n", encoding="utf-8")
    code, _, err = siyu(capsys, data, "tags", "add", "--file", str(labels))
    assert code == 1 and "既是一位客户的编号，又是另一位客户的联系人 ID" in err and "#1" in err
    assert [r["customer_id"] for r in listed(capsys, data, "confirmed")] == [2]
    # 「#1」 is the customer id; contact 2 is customer 1 and is tagged
    code, out, err = siyu(capsys, data, "tags", "add", "--customer", "#1", "--tag", "医疗险")
    assert code == 0, err
    tagged = {(r["customer_id"], r["tag"]) for r in listed(capsys, data, "confirmed")}
    assert tagged == {(2, "重疾险"), (1, "医疗险")}
    # 「2」 is customer 2 and contact 2 (customer 1): refused too
    code, _, err = siyu(capsys, data, "tags", "add", "--customer", "2", "--tag", "医疗险")
    assert code == 1 and "既是一位客户的编号" in err
    code, _, err = siyu(capsys, data, "tags", "add", "--customer", "#99", "--tag", "医疗险")
    assert code == 1 and "找不到客户“#99”" in err
    # 「#1」 follows a merge, as 「1」 does: customer 1 merged into 2 tags customer 2
    code, _, err = siyu(capsys, data, "customers", "merge", "2", "1")
    assert code == 0, err
    code, _, err = siyu(capsys, data, "tags", "add", "--customer", "#1", "--tag", "有孩子")
    assert code == 0, err
    tagged = {(r["customer_id"], r["tag"]) for r in listed(capsys, data, "confirmed")}
    assert (2, "有孩子") in tagged and (1, "有孩子") not in tagged


def test_a_tag_name_of_two_categories_asks_for_the_category(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    data = tmp_path / "data"
    taxonomy = tmp_path / "tags.yaml"
    taxonomy.write_text(
        "version: 1\ncategories:\n"
        "  - name: 装修预算\n    tags:\n      - name: 预算高\n        keywords: [不差钱]\n"
        "  - name: 软装预算\n    tags:\n      - name: 预算高\n        keywords: [进口家具]\n",
        encoding="utf-8",
    )
    assert siyu(capsys, data, "tags", "import", str(taxonomy))[0] == 0
    people = tmp_path / "people.csv"
    people.write_text("name,phone\n王芳,13800138000\n", encoding="utf-8")
    assert siyu(capsys, data, "customers", "import", str(people))[0] == 0
    code, _, err = siyu(capsys, data, "tags", "add", "--customer", "1", "--tag", "预算高")
    assert code == 1
    # a Chinese colon (before: 「…分类/标签: 预算高」)
    assert "标签名不唯一，请写成 分类/标签：预算高（" in err
    assert "装修预算/预算高" in err and "软装预算/预算高" in err
    code, out, _ = siyu(capsys, data, "tags", "add", "--customer", "1", "--tag", "软装预算/预算高")
    assert code == 0 and "→ 软装预算/预算高" in out
