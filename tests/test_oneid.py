"""OneID: merge / unmerge round trips, merge suggestions, the customer importer."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from conftest import RuntimeFactory
from sqlalchemy import select, text

from bot.channels.memory import MemoryChannel
from bot.crm import oneid
from bot.errors import InputError
from bot.store import Database, customers, messages, suggestions, tags
from bot.store.models import (
    AuditLog,
    Base,
    Conversation,
    FollowUp,
    Message,
    Suggestion,
    Transaction,
)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'siyu.db'}")
    database.migrate()
    yield database
    database.dispose()


def dump(db: Database, *skip: str) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, ordered by primary key."""
    tables = {}
    with db.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            if table.name in skip:
                continue
            order = ", ".join(c.name for c in table.primary_key.columns)
            rows = conn.execute(text(f"SELECT * FROM {table.name} ORDER BY {order}"))
            tables[table.name] = [tuple(r) for r in rows]
    return tables


def _seed(db: Database) -> tuple[int, int]:
    """Two profiles of one person (one per channel) with a bit of everything."""
    with db.session() as s:
        customers.ensure_adviser(session=s, adviser_id="a1", name="李顾问")
        tags.replace_taxonomy(
            session=s,
            categories=[
                tags.CategorySpec(
                    name="险种兴趣",
                    industry="insurance",
                    tags=(tags.TagSpec(name="重疾险"), tags.TagSpec(name="医疗险")),
                )
            ],
        )
        tag_ids = {t.name: t.id for t in tags.list_tags(session=s)}
        a, _ = customers.find_or_create_customer(
            session=s, identity_kind="wechaty_contact", identity_value="wx-a", adviser_id="a1"
        )
        b, _ = customers.find_or_create_customer(
            session=s,
            identity_kind="wecom_external_userid",
            identity_value="wm-b",
            name="张丽",
            industry="insurance",
        )
        s.add(FollowUp(customer_id=b.id, due_at=datetime(2026, 3, 1, tzinfo=UTC), note="call"))
        s.add(Transaction(customer_id=b.id, amount=3000.0, product="重疾险"))
        customers.add_event(session=s, customer_id=b.id, type="appointment", payload={"x": 1})
        for cid, name in ((a.id, "重疾险"), (b.id, "重疾险"), (b.id, "医疗险")):
            tags.suggest_customer_tag(
                session=s,
                customer_id=cid,
                tag_id=tag_ids[name],
                evidence="e",
                score=0.5,
                message_id=None,
            )
        for cid, contact in ((a.id, "wx-a"), (b.id, "wm-b")):
            conv = messages.get_or_create_conversation(
                session=s, channel="memory", external_id=contact, customer_id=cid, adviser_id="a1"
            )
            msg, _ = messages.log_message(
                session=s,
                msg_id=f"m-{contact}",
                conversation_id=conv,
                customer_id=cid,
                adviser_id="a1",
                direction="in",
                text="你好",
                sent_at=datetime(2026, 1, 2 if cid == b.id else 1, tzinfo=UTC),
            )
            suggestions.save_suggestion(
                session=s,
                message_id=msg.id,
                customer_id=cid,
                adviser_id="a1",
                mode="retrieval",
                reply=None,
                candidates={},
                latency_ms=1.0,
            )
    return a.id, b.id


def test_merge_moves_everything_and_unmerge_restores_every_row(db: Database) -> None:
    a, b = _seed(db)
    before = dump(db, "customer_merges", "audit_log")
    with db.session() as s:
        record = oneid.merge(session=s, keep=a, merge=b, actor="boss", reason="same phone")
    with db.session() as s:
        profile = customers.customer_profile(session=s, customer_id=a)
        assert {i.value for i in profile.identities} == {"wx-a", "wm-b"}
        assert profile.customer.name == "张丽" and profile.customer.industry == "insurance"
        assert profile.message_count == 2
        assert sorted(t.tag.name for t in profile.tags) == ["医疗险", "重疾险"]
        assert [c.id for c in customers.list_customers(session=s)] == [a]
        assert len(suggestions.list_suggestions(session=s, customer_id=a)) == 2
        again, created = customers.find_or_create_customer(
            session=s, identity_kind="wecom_external_userid", identity_value="wm-b"
        )
        assert (again.id, created) == (a, False)
    assert record.moved["identities"] == 1 and record.moved["customer_tags"] == 1
    assert dump(db, "customer_merges", "audit_log") != before

    with db.session() as s:
        undone = oneid.unmerge(session=s, merge_id=record.id, actor="boss")
        actions = [r.action for r in s.scalars(select(AuditLog).order_by(AuditLog.id))]
    assert undone.undone_by == "boss"
    assert actions == ["customer.merge", "customer.unmerge"]
    assert dump(db, "customer_merges", "audit_log") == before


def test_merge_refusals_and_undo_order(db: Database) -> None:
    a, b = _seed(db)
    with db.session() as s:
        c, _ = customers.find_or_create_customer(
            session=s, identity_kind="phone", identity_value="13800138000"
        )
    with db.session() as s, pytest.raises(InputError, match="合并到自己"):
        oneid.merge(session=s, keep=a, merge=a, actor="x")
    with db.session() as s:
        first = oneid.merge(session=s, keep=a, merge=b, actor="x")
        second = oneid.merge(session=s, keep=a, merge=c.id, actor="x")
    with db.session() as s, pytest.raises(InputError, match="已合并到"):
        oneid.merge(session=s, keep=b, merge=c.id, actor="x")
    with db.session() as s, pytest.raises(InputError, match=f"合并记录 {second.id}"):
        oneid.unmerge(session=s, merge_id=first.id, actor="x")
    with db.session() as s:
        oneid.unmerge(session=s, merge_id=second.id, actor="x")
        oneid.unmerge(session=s, merge_id=first.id, actor="x")
    with db.session() as s, pytest.raises(InputError, match="已经撤销"):
        oneid.unmerge(session=s, merge_id=first.id, actor="x")


def test_deleting_a_kept_customer_deletes_the_merged_profile_too(db: Database) -> None:
    a, b = _seed(db)
    with db.session() as s:
        oneid.merge(session=s, keep=a, merge=b, actor="x")
    with db.session() as s:
        assert customers.delete_customer(session=s, customer_id=a)
    with db.session() as s:
        assert customers.list_customers(session=s) == []
    assert dump(db)["customers"] == []


def test_merge_suggestions_need_a_strong_identifier_not_a_name(db: Database) -> None:
    with db.session() as s:
        ids = []
        for kind, value, name in [
            ("phone", "13800138000", "张丽"),
            ("phone", "+86 138-0013-8000", "丽丽"),  # same number, other format
            ("unionid", "u-1", "王"),
            ("unionid", "u-1 ", "王"),  # an identity value with a stray space
            ("wechaty_contact", "w-1", "同名"),
            ("wechaty_contact", "w-2", "同名"),  # same name only: never suggested
        ]:
            c, _ = customers.find_or_create_customer(
                session=s, identity_kind=kind, identity_value=value, name=name
            )
            ids.append(c.id)
        found = oneid.merge_suggestions(session=s)
    assert [(x.keep_id, x.merge_id, x.evidence) for x in found] == [
        (ids[0], ids[1], ("手机号 13800138000",)),
        (ids[2], ids[3], ("UnionID u-1",)),
    ]


def test_normalize_identity() -> None:
    assert oneid.normalize_identity("phone", "+86 138 0013 8000") == "13800138000"
    assert oneid.normalize_identity("phone", "0086-13800138000") == "13800138000"
    assert oneid.normalize_identity("phone", "１３８００１３８０００") == "13800138000"
    assert oneid.normalize_identity("unionid", " oX1 ") == "oX1"


# --------------------------------------------------------------------------- import
HEADER = "name,phone,unionid,wechat,adviser,industry,birthday,source,tags,added_at\n"


def _write(tmp_path: Path, body: str, encoding: str = "utf-8", name: str = "c.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(body.encode(encoding))
    return path


def test_import_creates_and_updates_customers(db: Database, tmp_path: Path) -> None:
    _seed(db)
    path = _write(
        tmp_path,
        HEADER
        + "王芳,138 0013 9000,u-9,,a2,insurance,1992/2/29,抖音,重疾险,2026-01-05\n"
        + "\n"
        + "张丽新,,,wx-a,,,1985-07-01,,医疗险,\n",
        "utf-8-sig",
    )
    with db.session() as s:
        stats = oneid.import_customer_file(session=s, path=path, actor="op")
    assert (stats.created, stats.updated, stats.identities_added, stats.tags_added) == (1, 1, 2, 2)
    with db.session() as s:
        wang, created = customers.find_or_create_customer(
            session=s, identity_kind="phone", identity_value="13800139000"
        )
        zhang, _ = customers.find_or_create_customer(
            session=s, identity_kind="wechaty_contact", identity_value="wx-a"
        )
        profile = customers.customer_profile(session=s, customer_id=wang.id)
    assert not created
    assert (wang.name, wang.adviser_id, wang.source) == ("王芳", "a2", "抖音")
    assert wang.birthday == date(1992, 2, 29)
    assert wang.created_at == datetime(2026, 1, 4, 16, tzinfo=UTC)  # midnight in Shanghai
    assert {(i.kind, i.value) for i in profile.identities} == {
        ("phone", "13800139000"),
        ("unionid", "u-9"),
    }
    assert [t.tag.name for t in profile.tags] == ["重疾险"]
    assert (zhang.name, zhang.birthday) == ("张丽新", date(1985, 7, 1))


def test_import_reads_gbk_and_xlsx(db: Database, tmp_path: Path) -> None:
    gbk = _write(tmp_path, "姓名,手机号,渠道\n李雷,13900000001,线下\n", "gbk")
    with db.session() as s:
        assert oneid.import_customer_file(session=s, path=gbk, actor="op").created == 1
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["name", "phone", "birthday"])
    sheet.append(["韩梅梅", 13900000002, datetime(1992, 3, 4)])
    xlsx = tmp_path / "c.xlsx"
    book.save(xlsx)
    with db.session() as s:
        assert oneid.import_customer_file(session=s, path=xlsx, actor="op").created == 1
        c, _ = customers.find_or_create_customer(
            session=s, identity_kind="phone", identity_value="13900000002"
        )
    assert (c.name, c.birthday) == ("韩梅梅", date(1992, 3, 4))


@pytest.mark.parametrize(
    "body, needles",
    [
        (
            HEADER + "a,123,,,,,,,,\nb,,,,,,not-a-date,,,\nc,13800000001,,,,,,,,\n"
            "d,13800000001,,,,,,,,\n",
            [
                "第 2 行：手机号 '123' 不是手机号码",
                "第 3 行：生日 'not-a-date'",
                "第 3 行：需要 customer_id 或至少一个身份列",
                "第 5 行：phone 13800000001 在第 4 行也出现了",
            ],
        ),
        (
            "name,phone\na,1390000000x\nb,139 0000 000一\nc,+86 (139) 0000-0003\n"
            "d,１３９００００００４\n",
            [  # +86, brackets, dashes and full-width digits are how phones are written
                "：2 处问题，没有导入任何内容",
                "第 2 行：手机号 '1390000000x' 里有不是数字的字符：「x」",
                "第 3 行：手机号 '139 0000 000一' 里有不是数字的字符：「一」",
            ],
        ),
        ("name,phone,colour\nx,13800000001,red\n", ["未知的列 colour"]),
        (  # a misspelt Chinese header: the columns it may be, by their Chinese names too
            "姓名,手机好\nx,13800000001\n",
            ["未知的列 手机好；", "phone（手机号）", "name（姓名）", "customer_id（客户编号）"],
        ),
        ('name,phone\n"x,13800000001\n', ["不是有效的 CSV"]),
        ("", ["文件是空的"]),
    ],
)
def test_bad_import_files_are_rejected_with_line_numbers(
    db: Database, tmp_path: Path, body: str, needles: list[str]
) -> None:
    path = _write(tmp_path, body)
    with pytest.raises(InputError) as info, db.session() as s:
        oneid.import_customer_file(session=s, path=path, actor="op")
    for needle in needles:
        assert needle in str(info.value)
    assert dump(db)["customers"] == []


def test_import_is_all_or_nothing_on_conflicts_with_the_database(
    db: Database, tmp_path: Path
) -> None:
    a, b = _seed(db)
    before = dump(db)
    path = _write(
        tmp_path, "name,wechat,wecom,tags\n新人,new-1,,\n冲突,wx-a,wm-b,\n某,new-2,,不存在的标签\n"
    )
    with pytest.raises(InputError) as info, db.session() as s:
        oneid.import_customer_file(session=s, path=path, actor="op")
    message = str(info.value)
    assert f"第 3 行：wechaty_contact wx-a 属于客户 {a}" in message
    assert f"siyu customers merge {a} {b}" in message
    assert "第 4 行：未知的标签 '不存在的标签'" in message
    assert dump(db) == before


def test_a_customer_id_of_another_person_is_refused(db: Database, tmp_path: Path) -> None:
    """A table exported from another store numbers its own customers: before, its line
    「customer_id 1, 陈先生, wecom …」 renamed this store's customer 1 and gave them his
    WeCom id."""
    _, b = _seed(db)  # 张丽, WeCom wm-b
    before = dump(db)
    path = _write(tmp_path, f"customer_id,name,wecom\n{b},陈先生,wm-x\n")
    with pytest.raises(InputError) as info, db.session() as s:
        oneid.import_customer_file(session=s, path=path, actor="op")
    assert f"第 2 行：客户编号 {b} 的姓名和手机号等身份都与这一行不同" in str(info.value)
    assert dump(db) == before
    # a new name with an identity of a kind the customer has none of yet: an update
    path = _write(tmp_path, f"customer_id,name,phone\n{b},张丽华,13911112222\n")
    with db.session() as s:
        assert oneid.import_customer_file(session=s, path=path, actor="op").updated == 1
    # and the same name with another WeCom id too
    path = _write(tmp_path, f"customer_id,name,wecom\n{b},张丽华,wm-y\n")
    with db.session() as s:
        assert oneid.import_customer_file(session=s, path=path, actor="op").updated == 1


def test_a_message_that_came_while_merged_goes_back_with_its_conversation(
    make_runtime: RuntimeFactory,
) -> None:
    """Merged, then undone: a message the merged profile's contact sent meanwhile was
    logged on the kept customer, in the merged one's conversation; the undo moved back
    only the rows recorded at merge time, so it stayed on the wrong timeline."""
    rt = make_runtime()
    channel = MemoryChannel(rt.assistant.handle, adviser_id="li", adviser_name="李顾问")
    a = channel.receive("wx-a", "你好", contact_name="张丽")
    b = channel.receive("wx-b", "在吗", contact_name="张丽丽")
    assert a is not None and b is not None and a.customer_id and b.customer_id
    with rt.db.session() as s:
        record = oneid.merge(session=s, keep=a.customer_id, merge=b.customer_id, actor="boss")
    meanwhile = channel.receive("wx-b", "重疾险一年多少钱", industry="insurance")
    assert meanwhile is not None and meanwhile.customer_id == a.customer_id
    with rt.db.session() as s:
        oneid.unmerge(session=s, merge_id=record.id, actor="boss")
    with rt.db.session() as s:
        row = s.scalars(select(Message).where(Message.text == "重疾险一年多少钱")).one()
        conversation = s.get_one(Conversation, row.conversation_id)
        shown = s.scalars(select(Suggestion).where(Suggestion.message_id == row.id)).all()
        b_texts = [m.text for m in messages.recent_messages(session=s, customer_id=b.customer_id)]
    assert row.customer_id == conversation.customer_id == b.customer_id
    assert shown and {x.customer_id for x in shown} == {b.customer_id}
    assert "重疾险一年多少钱" in b_texts


def test_one_run_reports_every_problem_in_line_order_naming_new_customers_by_line(
    db: Database, tmp_path: Path
) -> None:
    """A file with a bad date (found reading it), an unknown tag (found against the store)
    and two new customers naming each other as referrer: one run lists all three, by
    line, and the customers the file would create are named by their lines, not by ids
    that will never exist."""
    path = _write(
        tmp_path,
        "name,phone,birthday,tags,referred_by\n"
        "甲,13800000011,not-a-date,,\n"
        "乙,13800000012,,不存在的标签,\n"
        "丙,13800000013,,,13800000014\n"
        "丁,13800000014,,,13800000013\n",
    )
    with pytest.raises(InputError) as info, db.session() as s:
        oneid.import_customer_file(session=s, path=path, actor="op")
    problems = info.value.problems
    assert [p.split("：")[0] for p in problems] == ["第 2 行", "第 3 行", "第 5 行"], problems
    assert "生日 'not-a-date'" in problems[0]
    assert "未知的标签 '不存在的标签'" in problems[1]
    assert problems[2] == (
        "第 5 行：介绍人 13800000013：第 5 行的客户已是第 4 行的客户的上级介绍人，不能形成循环"
    )
    assert str(info.value).startswith("c.csv：3 处问题，没有导入任何内容")
    assert dump(db)["customers"] == []
