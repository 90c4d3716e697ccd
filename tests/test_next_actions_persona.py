"""Next-best-action rules (the file, when they apply, ``siyu suggest --json``), adviser
personas (CLI, {adviser_name}, the automatic welcome, the LLM draft over real HTTP), each
adviser's own numbers against a hand-computed day, and upgrading a store with data."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from openai_stub import OpenAIStub

from bot.channels.memory import MemoryChannel
from bot.cli import run
from bot.crm import next_actions
from bot.crm.next_actions import RulesSource, age_on, fill_any
from bot.errors import InputError
from bot.pipeline.newcontacts import NewContact, NewContactFlow
from bot.pipeline.runtime import Runtime
from bot.store import Database, customers, kpis, messages
from bot.store import advisers as advisers_repo
from bot.store import campaigns as campaigns_repo
from bot.store import fields as fields_repo
from bot.store.campaigns import CampaignSpec
from bot.store.fields import FieldSpec, Parsed
from bot.store.models import Customer, Event, Outcome, Suggestion, Transaction

T = lambda *a: datetime(*a, tzinfo=UTC)  # noqa: E731
SPECS = [FieldSpec("预算", "money", unit="元/年"), FieldSpec("已有保额", "money", unit="元")]
RULES = {
    "rules": [
        {
            "id": "ci-gap",
            "when": ["age>=25", "age<=50", "预算>=4000", "已有保额<300000"],
            "product": "安心保重疾险",
            "script": "INS-PRC-1",
            "reason": "{age}岁，预算{预算}，已有保额{已有保额}，缺口待补",
            "priority": 10,
        },
        {
            "id": "no-purchase",
            "when": "event!=purchase",
            "product": "百万医疗险",
            "reason": "{customer_name}还没买过：先从医疗险开始",
        },
    ]
}


def test_rules_file_problems_are_reported_with_their_lines(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "rules:\n"
        "  - {id: a, when: [预算>=1], product: x, reason: r}\n"
        "  - {id: a, when: [预算>=1], product: x, reason: r}\n"  # line 3: id twice
        "  - {id: b, when: [预算>=1], reason: r}\n"  # line 4: no product / script
        "  - {id: c, when: [爱好=钓鱼], product: x, reason: r}\n"  # line 5: unknown field
        "  - {id: d, when: [预算>=1], product: x}\n"  # line 6: no reason
        "  - {id: e, when: [预算>=1], product: x, reason: r, colour: red}\n",  # line 7
        encoding="utf-8",
    )
    with pytest.raises(InputError) as caught:
        next_actions.load_rules(path, {s.name: s for s in SPECS})
    lines = [p.split("：")[0] for p in caught.value.problems]
    assert lines == ["第 3 行", "第 4 行", "第 5 行", "第 6 行", "第 7 行"], caught.value.problems


def test_ages_and_reasons() -> None:
    assert age_on(date(1990, 6, 2), date(2026, 6, 1)) == 35
    assert age_on(date(1990, 6, 1), date(2026, 6, 1)) == 36
    assert fill_any("{age}岁，{预算}，{没有}", {"age": "36", "预算": "5000 元/年"}) == (
        "36岁，5000 元/年，【待填:没有】"
    )


def test_rules_apply_on_profile_fields_age_and_events(db: Database) -> None:
    rules = next_actions.parse_rules(RULES)
    with db.session() as s:
        fields_repo.replace_fields(session=s, specs=SPECS)
        customers.ensure_adviser(session=s, adviser_id="a1", name="a1")
        ids = {}
        for key, born, budget, held in (
            ("gap", date(1990, 1, 1), "5000", "100000"),
            ("covered", date(1990, 1, 1), "5000", "500000"),
            ("young", date(2005, 1, 1), "5000", "0"),
        ):
            c, _ = customers.find_or_create_customer(
                session=s, identity_kind="wx", identity_value=key, name=key, adviser_id="a1"
            )
            ids[key] = c
            s.get_one(Customer, c.id).birthday = born
            for field, value in (("预算", budget), ("已有保额", held)):
                fields_repo.set_value(
                    session=s,
                    customer_id=c.id,
                    field=field,
                    parsed=Parsed(value, number=float(value)),
                    source="manual",
                )
        s.add(Event(customer_id=ids["covered"].id, type="purchase"))
    today = date(2026, 6, 1)
    with db.session() as s:
        found = {
            key: [
                (a.rule, a.reason)
                for a in next_actions.applicable(
                    session=s,
                    rules=rules,
                    customer=customers.get_customer(session=s, customer_id=c.id),
                    today=today,
                )
            ]
            for key, c in ids.items()
        }
    assert found == {
        "gap": [
            ("ci-gap", "36岁，预算5000 元/年，已有保额100000 元，缺口待补"),
            ("no-purchase", "gap还没买过：先从医疗险开始"),
        ],
        "covered": [],
        "young": [("no-purchase", "young还没买过：先从医疗险开始")],
    }


def test_suggest_json_carries_next_actions_only_when_one_applies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n  - {id: r1, when: [tag=有孩子], script: INS-ICE-1, reason: 家里有孩子}\n",
        encoding="utf-8",
    )
    config = tmp_path / "siyu.toml"
    config.write_text(f'[next_actions]\nrules_file = "{rules}"\n', encoding="utf-8")
    people = tmp_path / "people.csv"
    people.write_text(
        "name,phone,tags\n有娃,13900000001,有孩子\n无娃,13900000002,\n", encoding="utf-8"
    )
    taxonomy = Path(__file__).parent / "data" / "library" / "tags.yaml"
    library = Path(__file__).parent / "data" / "library" / "scripts.csv"

    def siyu(*args: str) -> tuple[int, str]:
        capsys.readouterr()
        code = run(["--config", str(config), "--data-dir", str(data), *args])
        return code, capsys.readouterr().out

    assert siyu("scripts", "import", str(library))[0] == 0
    assert siyu("tags", "import", str(taxonomy))[0] == 0
    assert siyu("customers", "import", str(people))[0] == 0
    assert siyu("actions", "check", str(rules))[0] == 0
    code, out = siyu("suggest", "--text", "你好", "--customer", "1", "--json")
    assert code == 0
    cards = json.loads(out)["next_actions"]
    assert [(c["rule"], c["script_id"], c["reason"]) for c in cards] == [
        ("r1", "INS-ICE-1", "家里有孩子")
    ]
    assert cards[0]["script_text"].startswith("有娃，方便说说家里几口人")
    title = cards[0]["script_title"]
    assert title and title != "INS-ICE-1"
    code, out = siyu("suggest", "--text", "你好", "--customer", "1")
    # the card is headed by the script's title, not its code
    assert code == 0 and f"下一步建议 发「{title}」" in out and "下一步建议 INS" not in out, out
    code, out = siyu("suggest", "--text", "你好", "--customer", "2", "--json")
    assert "next_actions" not in json.loads(out)
    code, out = siyu("actions", "show", "1")
    assert code == 0 and "家里有孩子" in out and f"发「{title}」" in out and "INS-ICE-1" not in out
    # without a rules file configured it says so: before, 「没有适用的下一步建议」, as if
    # the team's rules had been checked and none applied
    capsys.readouterr()
    assert run(["--data-dir", str(data), "actions", "show", "1"]) == 0
    out = capsys.readouterr().out
    assert "还没有下一步建议规则" in out and "[next_actions] rules_file" in out


def test_rules_are_read_again_when_their_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n  - {id: a, when: [tag=x], product: p, reason: r}\n", encoding="utf-8")
    source = RulesSource(path)
    assert [r.id for r in source.rules()] == ["a"]
    path.write_text(
        "rules:\n  - {id: b, when: [tag=x], product: p, reason: r}\n"
        "  - {id: c, when: [tag=y], product: p, reason: r}\n",
        encoding="utf-8",
    )
    stamp = time.time() + 5
    os.utime(path, (stamp, stamp))
    assert [r.id for r in source.rules()] == ["b", "c"]
    path.write_text("rules: [{id: broken}]\n", encoding="utf-8")  # invalid: the last rules stay
    os.utime(path, (stamp + 5, stamp + 5))
    assert [r.id for r in source.rules()] == ["b", "c"]
    assert RulesSource(None).rules() == []


# --------------------------------------------------------------------------- personas
def test_persona_from_the_command_line_fills_scripts_and_welcomes(
    make_runtime: Runtime, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rt = make_runtime(wechaty={"auto_accept": True, "welcome_script_id": "INS-WEL-1"})  # type: ignore[operator]
    data = rt.settings.data_dir
    channel = MemoryChannel(rt.assistant.handle, adviser_id="adv-li", adviser_name="李顾问")
    before = channel.receive("wx-0", "你好", contact_name="老客户")
    assert before is not None
    assert "保险顾问李顾问" in next(s.text for s in before.scripts if s.id == "INS-WEL-1")
    code = run(
        [
            "--data-dir",
            str(data),
            "advisers",
            "persona",
            "adv-li",
            "--name",
            "李明",
            "--signature",
            "—— 李明｜您的保险顾问",
            "--tone",
            "亲切，不催单",
        ]
    )
    assert code == 0
    assert "李明" in capsys.readouterr().out
    after = channel.receive("wx-1", "你好", contact_name="新客户")
    assert after is not None
    welcome = next(s.text for s in after.scripts if s.id == "INS-WEL-1")
    assert "保险顾问李明" in welcome and welcome.endswith("\n—— 李明｜您的保险顾问")
    # the automatic welcome: the contact's campaign's script when it has one, signed
    with rt.db.session() as s:
        campaign = campaigns_repo.create_campaign(
            session=s,
            spec=CampaignSpec("节日", "社群", date(2026, 1, 1), welcome_script_id="INS-ICE-1"),
            actor="t",
        )
        campaigns_repo.add_code(
            session=s, campaign_id=campaign.id, adviser_id="adv-li", code="JR2026"
        )
    flow = NewContactFlow(
        assistant=rt.assistant, db=rt.db, settings=rt.settings, welcome_script_id="INS-WEL-1"
    )
    plain = flow.handle(
        NewContact("wechaty", "c-plain", "小王", hello="你好", adviser_id="adv-li"), may_send=True
    )
    assert plain.auto_script_id == "INS-WEL-1"
    assert plain.auto_text and plain.auto_text.endswith("—— 李明｜您的保险顾问")
    flow = NewContactFlow(
        assistant=rt.assistant,
        db=rt.db,
        settings=rt.settings,
        welcome_script_id="INS-WEL-1",
        limiter=None,
    )
    coded = flow.handle(
        NewContact("wechaty", "c-code", "小赵", hello="你好 JR2026", adviser_id="adv-li"),
        may_send=True,
    )
    assert coded.auto_script_id == "INS-ICE-1"
    assert coded.auto_text == (
        "小赵，方便说说家里几口人、有没有孩子吗？我好帮您看看哪些保障最要紧。"
        "\n—— 李明｜您的保险顾问"
    )
    with rt.db.session() as s:
        (record,) = advisers_repo.list_advisers(session=s, adviser_ids=("adv-li",))
    assert (record.persona_name, record.name) == ("李明", "李顾问")  # the channel's name stays


def test_the_persona_and_numbers_commands_name_the_adviser(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An adviser known only from an import (no channel account): the persona read
    「王磊（wang，账号名 ）」 and `advisers numbers` was titled by the id, 「wang 的数据」."""
    data = tmp_path / "data"
    chats = tmp_path / "chats.jsonl"
    chats.write_text(
        '{"msg_id": "h-1", "contact_id": "wm-1", "adviser_id": "wang", "direction": "in",'
        ' "text": "全包多少钱", "sent_at": "2026-11-01T10:00:00+08:00"}\n',
        encoding="utf-8",
    )
    assert run(["--data-dir", str(data), "history", "import", str(chats)]) == 0
    capsys.readouterr()
    assert run(["--data-dir", str(data), "advisers", "persona", "wang", "--name", "王磊"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "王磊（wang）"
    assert run(["--data-dir", str(data), "advisers", "numbers", "wang"]) == 0
    out = capsys.readouterr().out
    assert "王磊 的数据" in out and "wang" not in out


def test_the_llm_draft_gets_the_persona(make_runtime: Runtime, openai_stub: OpenAIStub) -> None:
    rt = make_runtime(llm={"base_url": openai_stub.base_url, "model": "stub", "timeout_s": 5.0})  # type: ignore[operator]
    channel = MemoryChannel(rt.assistant.handle, adviser_id="adv-li", adviser_name="李顾问")
    first = channel.receive("wx-1", "你好", contact_name="张丽")
    assert first is not None and first.customer_id is not None
    with rt.db.session() as s:
        advisers_repo.set_persona(
            session=s, adviser_id="adv-li", persona_name="李明", tone="说话像老朋友"
        )
    rt.assistant.suggest("理赔要什么材料？", customer_id=first.customer_id)
    prompt = "\n".join(
        m["content"] for m in json.loads(openai_stub.raw_bodies[-1].decode("utf-8"))["messages"]
    )
    assert '顾问称呼："李明"' in prompt and '顾问风格："说话像老朋友"' in prompt


# --------------------------------------------------------------------------- own numbers
def test_own_numbers_match_a_hand_computed_day(db: Database) -> None:
    """a1 on 2026-06-10 (UTC here): 3 customer messages, 2 answered later; 2 suggestions,
    1 used; customer x bought (200 + 300) and y converted by an event; the day before: 1
    message, 1 suggestion; a2's figures never count."""
    with db.session() as s:
        for adviser in ("a1", "a2"):
            customers.ensure_adviser(session=s, adviser_id=adviser, name=adviser)
        ids = {}
        for key, adviser in (("x", "a1"), ("y", "a1"), ("z", "a2")):
            c, _ = customers.find_or_create_customer(
                session=s, identity_kind="wx", identity_value=key, name=key, adviser_id=adviser
            )
            ids[key] = c.id
        n = 0

        def say(key: str, adviser: str, direction: str, at: datetime) -> int:
            nonlocal n
            n += 1
            conv = messages.get_or_create_conversation(
                session=s, channel="wx", external_id=key, customer_id=ids[key], adviser_id=adviser
            )
            row, _ = messages.log_message(
                session=s,
                msg_id=f"m{n}",
                conversation_id=conv,
                customer_id=ids[key],
                adviser_id=adviser,
                direction=direction,  # type: ignore[arg-type]
                text="…",
                sent_at=at,
            )
            return row.id

        say("x", "a1", "in", T(2026, 6, 9, 23))  # the day before
        say("x", "a1", "in", T(2026, 6, 10, 9))
        say("x", "a1", "out", T(2026, 6, 10, 10))  # answers both
        say("y", "a1", "in", T(2026, 6, 10, 11))
        say("y", "a1", "out", T(2026, 6, 11, 8))  # answered the next day
        say("y", "a1", "in", T(2026, 6, 10, 12, 30))  # answered by the reply on the 11th
        say("x", "a1", "in", T(2026, 6, 10, 20))  # not answered
        say("z", "a2", "in", T(2026, 6, 10, 9))
        for at, used in (
            (T(2026, 6, 9, 23), False),
            (T(2026, 6, 10, 9), True),
            (T(2026, 6, 10, 11), False),
        ):
            suggestion = Suggestion(
                customer_id=ids["x"], adviser_id="a1", mode="retrieval", created_at=at
            )
            s.add(suggestion)
            s.flush()
            if used:
                s.add(Outcome(suggestion_id=suggestion.id, kind="adopted"))
        s.add(
            Suggestion(
                customer_id=ids["z"],
                adviser_id="a2",
                mode="retrieval",
                created_at=T(2026, 6, 10, 9),
            )
        )
        s.add(Transaction(customer_id=ids["x"], amount=200, occurred_at=T(2026, 6, 10, 12)))
        s.add(Transaction(customer_id=ids["x"], amount=300, occurred_at=T(2026, 6, 10, 13)))
        s.add(Transaction(customer_id=ids["z"], amount=999, occurred_at=T(2026, 6, 10, 13)))
        s.add(Event(customer_id=ids["y"], type="converted", occurred_at=T(2026, 6, 10, 14)))
    with db.session() as s:
        day = kpis.own_numbers(
            session=s, adviser_id="a1", since=T(2026, 6, 10), until=T(2026, 6, 11)
        )
        month = kpis.own_numbers(
            session=s, adviser_id="a1", since=T(2026, 6, 1), until=T(2026, 7, 1)
        )
    # received on the 10th: x 09:00, y 11:00, y 12:30, x 20:00 = 4; answered (a later
    # reply in the chat): x 09:00 (10:00), y 11:00 and y 12:30 (the 11th) = 3
    assert (day.received, day.answered, day.suggestions, day.used) == (4, 3, 2, 1)
    assert (day.conversions, day.revenue, day.adoption_rate) == (2, 500.0, 0.5)
    # the month adds the 9th: x 23:00, answered at 10:00 on the 10th; one more suggestion
    assert (month.received, month.answered, month.suggestions, month.used) == (5, 4, 3, 1)


def test_today_is_the_local_day_of_the_settings_timezone(db: Database) -> None:
    """At 00:30 in Shanghai (16:30 UTC the day before), a message of 00:10 local time is
    today's and one of 23:50 local time yesterday's."""
    from bot.services import advisers as advisers_service
    from bot.services.access import cli_principal
    from bot.settings import Settings

    with db.session() as s:
        customers.ensure_adviser(session=s, adviser_id="a1", name="a1")
        c, _ = customers.find_or_create_customer(
            session=s, identity_kind="wx", identity_value="x", name="x", adviser_id="a1"
        )
        conv = messages.get_or_create_conversation(
            session=s, channel="wx", external_id="x", customer_id=c.id, adviser_id="a1"
        )
        for n, at in enumerate((T(2026, 6, 9, 15, 50), T(2026, 6, 9, 16, 10))):
            messages.log_message(
                session=s,
                msg_id=f"local-{n}",
                conversation_id=conv,
                customer_id=c.id,
                adviser_id="a1",
                direction="in",
                text="…",
                sent_at=at,
            )
    settings = Settings.model_validate({"timezone": "Asia/Shanghai"})
    with db.session() as s:
        found = advisers_service.my_numbers(
            s, cli_principal("t"), settings=settings, now=T(2026, 6, 9, 16, 30), adviser_id="a1"
        )
    assert (found.today.received, found.period.received) == (1, 2)


# --------------------------------------------------------------------------- upgrades
def test_a_store_with_data_upgrades_and_a_failed_upgrade_leaves_nothing(tmp_path: Path) -> None:
    from alembic.script import ScriptDirectory
    from sqlalchemy import create_engine, inspect

    from bot.store.migrate import alembic_config, upgrade

    url = f"sqlite:///{tmp_path / 'siyu.db'}"
    engine = create_engine(url)
    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    upgrade(engine, "0003")
    with engine.begin() as conn:  # rows pointing at customers: a recreate must not trip
        conn.exec_driver_sql(
            "INSERT INTO customers (id, name, stage, created_at)"
            " VALUES (1, '张', 'acquire', '2026-01-01')"
        )
        conn.exec_driver_sql(
            "INSERT INTO identities (customer_id, kind, value, created_at)"
            " VALUES (1, 'wx', 'w1', '2026-01-01')"
        )
    upgrade(engine)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == head
        assert conn.exec_driver_sql("SELECT count(*) FROM identities").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()
    broken = create_engine(f"sqlite:///{tmp_path / 'broken.db'}")
    upgrade(broken, "0005")
    with broken.begin() as conn:  # a table in the way of 0010: the upgrade fails half-way
        conn.exec_driver_sql("CREATE TABLE campaign_codes (id INTEGER)")
    with pytest.raises(Exception, match="campaign_codes"):
        upgrade(broken)
    tables = set(inspect(broken).get_table_names())
    assert "profile_fields" not in tables and "campaigns" not in tables  # rolled back
    with broken.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == "0005"
    broken.dispose()
