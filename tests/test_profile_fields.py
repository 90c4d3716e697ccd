"""Profile fields as data: the fields file, typed values, values stated in messages,
import / export, segments and follow-up rules on them, and the customer's rights (merge,
export, forget) — on SQLite and PostgreSQL where the store is involved."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from bot.channels.memory import MemoryChannel
from bot.cli import run
from bot.crm import fields as crm_fields
from bot.crm import followups, oneid, segments
from bot.errors import InputError
from bot.pipeline.runtime import Runtime
from bot.store import Database, customers, erasure, merges
from bot.store import fields as repo
from bot.store.fields import FieldSpec, Parsed
from bot.store.models import Customer

FIELDS_YAML = """\
version: 1
fields:
  - name: 预算
    type: money
    unit: 元/年
    industry: insurance
    keywords: [预算]
  - name: 职业
    type: text
    keywords: [职业是, 我是做]
  - name: 收入区间
    type: choice
    choices: [10万以下, 10-30万, 30万以上]
  - name: 消费倾向
    type: choice
    choices:
      - {value: 价格敏感, keywords: [太贵, 便宜点]}
      - 品质优先
  - name: 保单到期
    type: date
    keywords: [到期]
  - name: 家庭人数
    type: number
    keywords: [家里]
"""


@pytest.fixture
def specs(tmp_path: Path) -> list[FieldSpec]:
    path = tmp_path / "fields.yaml"
    path.write_text(FIELDS_YAML, encoding="utf-8")
    return crm_fields.load_fields(path)


def test_the_fields_file_is_read_into_typed_fields(specs: list[FieldSpec]) -> None:
    by = {s.name: s for s in specs}
    assert list(by) == ["预算", "职业", "收入区间", "消费倾向", "保单到期", "家庭人数"]
    assert (by["预算"].type, by["预算"].unit, by["预算"].industry) == (
        "money",
        "元/年",
        "insurance",
    )
    assert by["职业"].industry == "general"
    assert by["消费倾向"].choices == ("价格敏感", "品质优先")
    assert by["消费倾向"].choice_keywords == {"价格敏感": ("太贵", "便宜点")}


def test_every_problem_of_a_fields_file_is_reported_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "fields:\n"
        "  - {name: 预算, type: money}\n"
        "  - {name: 预算, type: text}\n"  # line 3: twice
        "  - {name: 收入, type: choice}\n"  # line 4: no choices
        "  - {name: 职业, type: text, choices: [a]}\n"  # line 5: choices on text
        "  - {name: tag, type: text}\n"  # line 6: reserved
        "  - {name: 年 龄, type: number}\n"  # line 7: a space
        "  - {name: 兴趣, type: text, patterns: ['(无值组']}\n"  # line 8: bad regex
        "  - {name: 城市2, type: colour}\n"  # line 9: unknown type
        "  - {name: 姓名2, type: text, colour: red}\n",  # line 10: unknown key
        encoding="utf-8",
    )
    with pytest.raises(InputError) as caught:
        crm_fields.load_fields(path, columns=oneid.IMPORT_COLUMN_NAMES)
    lines = [p.split("：")[0] for p in caught.value.problems]
    assert lines == [f"第 {n} 行" for n in (3, 4, 5, 6, 7, 8, 9, 10)], caught.value.problems
    assert "用了两次" in caught.value.problems[0]
    path.write_text("fields:\n  - {name: 手机, type: text}\n", encoding="utf-8")
    with pytest.raises(InputError, match="客户导入文件的列"):
        crm_fields.load_fields(path, columns=oneid.IMPORT_COLUMN_NAMES)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("5000", 5000),
        ("5,000元", 5000),
        ("5千", 5000),
        ("1.5万", 15000),
        ("3w", 30000),
        ("五千", 5000),
        ("一万二", 12000),
        ("三千五", 3500),
        ("一百零五", 105),
        ("５０００", 5000),
    ],
)
def test_amounts_as_people_write_them(text: str, value: float) -> None:
    assert crm_fields.parse_amount(text) == value


def test_values_typed_by_a_person_are_checked_against_their_field(
    specs: list[FieldSpec],
) -> None:
    by = {s.name: s for s in specs}
    assert crm_fields.parse_value(by["预算"], "5千") == Parsed("5000", number=5000.0)
    assert crm_fields.parse_value(by["预算"], "6000元/年").number == 6000.0
    assert crm_fields.parse_value(by["保单到期"], "2027年3月1日").day == date(2027, 3, 1)
    assert crm_fields.parse_value(by["收入区间"], "10-30万").value == "10-30万"
    for spec, bad in ((by["预算"], "很多"), (by["保单到期"], "明年"), (by["收入区间"], "百万")):
        with pytest.raises(InputError, match=spec.name):
            crm_fields.parse_value(spec, bad)


@pytest.mark.parametrize(
    ("message", "stated"),
    [
        ("医疗险一年大概多少钱？我们家一年保险预算五千左右", {"预算": "5000"}),
        ("预算3年5万吧", {"预算": "50000"}),  # 3 counts years
        ("我们没有预算", {}),  # negated
        ("我是做财务的，家里4口人", {"职业": "财务", "家庭人数": "4"}),
        ("这个太贵了", {"消费倾向": "价格敏感"}),
        ("想要品质优先的", {"消费倾向": "品质优先"}),
        ("我的保单2027-03-01到期", {}),  # the date comes before the cue word
        ("保单到期是2027-03-01", {"保单到期": "2027-03-01"}),
        ("在吗", {}),
    ],
)
def test_values_stated_in_a_message(
    specs: list[FieldSpec], message: str, stated: dict[str, str]
) -> None:
    found = crm_fields.extract(message, specs)
    assert {s.field: s.value.value for s in found} == stated
    assert all(s.evidence.startswith("「") for s in found)


# --------------------------------------------------------------------------- the store
def customer(db: Database, key: str, adviser: str = "a1", **fields: object) -> int:
    with db.session() as s:
        customers.ensure_adviser(session=s, adviser_id=adviser, name=adviser)
        c, _ = customers.find_or_create_customer(
            session=s,
            identity_kind="wx",
            identity_value=key,
            name=key,
            adviser_id=adviser,
            industry="insurance",
        )
        row = s.get_one(Customer, c.id)
        for name, value in fields.items():
            setattr(row, name, value)
    return c.id


def set_values(db: Database, customer_id: int, specs: list[FieldSpec], **values: str) -> None:
    by = {s.name: s for s in specs}
    with db.session() as s:
        for name, text in values.items():
            repo.set_value(
                session=s,
                customer_id=customer_id,
                field=name,
                parsed=crm_fields.parse_value(by[name], text),
                source="manual",
            )


def test_segments_filter_on_profile_fields_and_age(db: Database, specs: list[FieldSpec]) -> None:
    with db.session() as s:
        repo.replace_fields(session=s, specs=specs)
    rich = customer(db, "rich", birthday=date(1980, 6, 1))
    poor = customer(db, "poor", birthday=date(2000, 6, 1))
    blank = customer(db, "blank")
    set_values(db, rich, specs, 预算="8000", 职业="教师", 保单到期="2027-01-31")
    set_values(db, poor, specs, 预算="3千", 职业="学生")
    today = date(2026, 6, 1)

    def members(*filters: str) -> list[int]:
        with db.session() as s:
            return segments.matching(session=s, filters=filters, today=today)

    assert members("预算>=5000") == [rich]
    assert members("预算<5000") == [poor]
    assert members("职业=教师") == [rich]
    assert members("职业!=教师") == [poor, blank]  # no value meets only !=
    assert members("保单到期<2027-06-01") == [rich]
    assert members("age>=46") == [rich]  # 46 on 2026-06-01
    assert members("age>46") == []
    assert members("age<=26", "预算>=1000") == [poor]
    assert members("age=26") == [poor]
    with pytest.raises(InputError, match="只能用 = 或 != 比较"):
        members("职业>=教师")
    with pytest.raises(InputError, match="未知字段"):
        members("爱好=钓鱼")


def test_follow_up_rules_match_on_profile_fields(db: Database, specs: list[FieldSpec]) -> None:
    with db.session() as s:
        repo.replace_fields(session=s, specs=specs)
    rich = customer(db, "rich", created_at=datetime(2026, 5, 29, tzinfo=UTC))
    poor = customer(db, "poor", created_at=datetime(2026, 5, 29, tzinfo=UTC))
    set_values(db, rich, specs, 预算="8000", 职业="教师")
    set_values(db, poor, specs, 预算="3000", 职业="医生")
    rules = followups.parse_rules(
        {
            "rules": [
                {
                    "id": "rich-day3",
                    "anchor": "added",
                    "offset_days": 3,
                    "match": {"fields": {"预算": ">=5000", "职业": ["教师", "医生"]}},
                },
                {
                    "id": "doctors",
                    "anchor": "added",
                    "offset_days": 3,
                    "match": {"fields": {"职业": "医生"}},
                },
            ]
        }
    )
    with db.session() as s:
        stats = followups.run_rules(
            session=s,
            rules=rules,
            now=datetime(2026, 6, 1, 4, tzinfo=UTC),
            timezone="Asia/Shanghai",
        )
        due = followups.due_reminders(
            session=s, now=datetime(2026, 6, 1, 4, tzinfo=UTC), timezone="Asia/Shanghai"
        )
    assert stats.reminders == 2
    assert sorted((r.follow_up.rule, r.follow_up.customer_id) for r in due) == [
        ("doctors", poor),
        ("rich-day3", rich),
    ]


def test_profile_values_follow_the_customer(db: Database, specs: list[FieldSpec]) -> None:
    """Merge (the kept customer's value wins, undo restores), export, forget."""
    with db.session() as s:
        repo.replace_fields(session=s, specs=specs)
    kept = customer(db, "kept")
    merged = customer(db, "merged")
    set_values(db, kept, specs, 预算="8000")
    set_values(db, merged, specs, 预算="3000", 职业="教师")
    with db.session() as s:
        repo.suggest(
            session=s,
            customer_id=merged,
            field="收入区间",
            value="10万以下",
            evidence="「…」",
            message_id=None,
        )
        merge = merges.merge_customers(session=s, kept_id=kept, merged_id=merged, actor="t")
    with db.session() as s:
        values = {v.field: v.value for v in repo.field_values(session=s, customer_id=kept)}
        assert values == {"预算": "8000", "职业": "教师"}
        assert [x.customer_id for x in repo.list_suggestions(session=s)] == [kept]
        merges.unmerge(session=s, merge_id=merge.id, actor="t")
    with db.session() as s:
        values = {v.field: v.value for v in repo.field_values(session=s, customer_id=merged)}
        assert values == {"预算": "3000", "职业": "教师"}
        exported = erasure.export_customer(session=s, customer_id=merged, actor="dpo")
        assert {v["field"] for v in exported["profile_fields"]} == {"预算", "职业"}
        assert exported["profile_suggestions"][0]["value"] == "10万以下"
        counts = erasure.erase_customer(session=s, customer_id=merged, actor="dpo")
    assert counts["profile_fields"] == 2 and counts["profile_suggestions"] == 1
    with db.session() as s:
        assert repo.field_values(session=s, customer_id=merged) == []
        assert [v.field for v in repo.field_values(session=s, customer_id=kept)] == ["预算"]


# --------------------------------------------------------------------------- pipeline
def test_a_value_stated_in_a_message_is_suggested_then_confirmed(
    make_runtime: Runtime, specs: list[FieldSpec]
) -> None:
    rt = make_runtime()  # type: ignore[operator]
    with rt.db.session() as s:
        repo.replace_fields(session=s, specs=specs)
    channel = MemoryChannel(rt.assistant.handle, adviser_id="adv-li", adviser_name="李顾问")
    result = channel.receive(
        "wx-1", "我们家一年保险预算五千左右，我是做财务的", contact_name="张丽"
    )
    assert result is not None and result.customer_id is not None
    cid = result.customer_id
    channel.receive("wx-1", "预算五千", contact_name="张丽")  # the same value again: one suggestion
    with rt.db.session() as s:
        found = repo.list_suggestions(session=s, customer_id=cid)
    assert sorted((x.field, x.value) for x in found) == [("职业", "财务"), ("预算", "5000")]
    budget = next(x for x in found if x.field == "预算")
    assert "预算五千左右" in budget.evidence and budget.source_msg_id is not None
    from bot.services import fields as fields_service
    from bot.services.access import cli_principal

    with rt.db.session() as s:
        fields_service.review(s, cli_principal("t"), suggestion_id=budget.id, status="confirmed")
    with rt.db.session() as s:
        (value,) = repo.field_values(session=s, customer_id=cid)
    assert (value.field, value.value, value.number, value.source) == (
        "预算",
        "5000",
        5000.0,
        "message",
    )
    channel.receive("wx-1", "预算5000没问题", contact_name="张丽")  # what it already holds
    with rt.db.session() as s:
        assert len(repo.list_suggestions(session=s, customer_id=cid, status=None)) == 2


# --------------------------------------------------------------------------- the CLI
def siyu(capsys: pytest.CaptureFixture[str], data: Path, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = run(["--data-dir", str(data), "--actor", "t", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_fields_import_set_and_the_customer_table_round_trip(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    fields_file = tmp_path / "fields.yaml"
    fields_file.write_text(FIELDS_YAML, encoding="utf-8")
    assert siyu(capsys, data, "fields", "import", str(fields_file))[0] == 0
    people = tmp_path / "people.csv"
    people.write_text(
        "name,adviser_id,industry,phone,预算,职业,收入区间\n"
        "甲,a1,insurance,13900000001,8千,教师,10-30万\n"
        "乙,a1,insurance,13900000002,,,\n",
        encoding="utf-8",
    )
    code, out, err = siyu(capsys, data, "customers", "import", str(people))
    assert code == 0, err
    assert "资料字段 3" in out
    bad = tmp_path / "bad.csv"
    bad.write_text("name,phone,预算,收入区间\n丙,139,很多,百万\n", encoding="utf-8")
    code, _, err = siyu(capsys, data, "customers", "import", str(bad))
    assert code == 1 and "第 2 行" in err and "预算" in err and "收入区间" in err
    code, _, err = siyu(capsys, data, "fields", "set", "2", "预算=五千", "职业=医生")
    assert code == 0, err
    code, _, err = siyu(capsys, data, "fields", "set", "2", "收入区间=百万")
    assert code == 1 and "只能是" in err
    code, out, _ = siyu(capsys, data, "fields", "show", "2")
    assert code == 0 and "5000 元/年" in out and "医生" in out
    table = tmp_path / "out.csv"
    assert siyu(capsys, data, "customers", "export-table", str(table))[0] == 0
    with table.open(encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["name"], r["预算"], r["职业"], r["收入区间"], r["phone"]) for r in rows] == [
        ("甲", "8000", "教师", "10-30万", "13900000001"),
        ("乙", "5000", "医生", "", "13900000002"),
    ]
    # the exported table imports again into a fresh store, values and all
    other = tmp_path / "other"
    assert siyu(capsys, other, "fields", "import", str(fields_file))[0] == 0
    plain = tmp_path / "plain.csv"
    with plain.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=[k for k in rows[0] if k != "customer_id"])
        writer.writeheader()
        writer.writerows({k: v for k, v in r.items() if k != "customer_id"} for r in rows)
    code, _, err = siyu(capsys, other, "customers", "import", str(plain))
    assert code == 0, err
    code, out, _ = siyu(capsys, other, "fields", "show", "2")
    assert "5000 元/年" in out and "医生" in out
    code, out, _ = siyu(capsys, data, "segments", "add", "高预算", "-f", "预算>=6000")
    assert code == 0 and "1 位客户" in out
