"""Follow-up rules on a frozen clock: ``now`` is passed in, never patched."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from bot.crm import followups
from bot.errors import InputError
from bot.store import Database, customers, messages, scripts
from scripts_lib.model import ScriptRecord

RULES = {
    "rules": [
        {
            "id": "birthday-care",
            "anchor": "birthday",
            "offset_days": -15,
            "match": {"industry": "insurance"},
            "script": "CARE-1",
            "note": "{customer_name} 生日 {date}",
        },
        {
            "id": "no-show-day2",
            "anchor": "event:appointment",
            "event_payload": {"status": "no_show"},
            "offset_days": 2,
        },
        {"id": "silent-30", "anchor": "last_message", "offset_days": 30, "action": "mark_silent"},
        {"id": "added-3", "anchor": "added", "offset_days": 3, "match": {"source": "抖音"}},
    ]
}
RULES_LIST = followups.parse_rules(RULES)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(f"sqlite:///{tmp_path / 'siyu.db'}")
    database.migrate()
    yield database
    database.dispose()


def _customer(db: Database, key: str, **fields: object) -> int:
    with db.session() as s:
        customers.ensure_adviser(session=s, adviser_id="a1", name="李顾问")
        c, _ = customers.find_or_create_customer(
            session=s,
            identity_kind="wx",
            identity_value=key,
            name=key,
            adviser_id="a1",
            industry="insurance",
        )
        from bot.store.models import Customer

        row = s.get_one(Customer, c.id)
        for k, v in fields.items():
            setattr(row, k, v)
    return c.id


def _run(
    db: Database, now: datetime, rules: list[followups.Rule] = RULES_LIST, tz: str = "Asia/Shanghai"
) -> followups.RunStats:
    with db.session() as s:
        return followups.run_rules(session=s, rules=rules, now=now, timezone=tz)


def _due(db: Database, now: datetime, tz: str = "Asia/Shanghai") -> list[followups.DueReminder]:
    with db.session() as s:
        return followups.due_reminders(session=s, now=now, timezone=tz, adviser_id="a1")


def test_birthday_reminder_fires_once_with_the_script_filled(db: Database) -> None:
    old = datetime(2025, 1, 1, tzinfo=UTC)
    _customer(db, "王芳", birthday=date(1990, 3, 20), created_at=old, last_message_at=None)
    _customer(db, "其他行业", birthday=date(1990, 3, 20), industry="kaoyan", created_at=old)
    with db.session() as s:
        scripts.upsert_scripts(
            session=s,
            records=[
                ScriptRecord(
                    id="CARE-1",
                    title="生日",
                    category="care",
                    stage="retain",
                    industry="insurance",
                    body="{customer_name}，生日快乐！{adviser_name}",
                )
            ],
        )
    rules = [RULES_LIST[0]]
    assert _run(db, datetime(2026, 3, 4, 15, 59, tzinfo=UTC), rules).reminders == 0  # 23:59 local
    now = datetime(2026, 3, 4, 16, 0, tzinfo=UTC)  # 00:00 on Mar 5 in Shanghai
    assert _run(db, now, rules).reminders == 1
    assert _run(db, now, rules) == followups.RunStats(already_done=1)
    (due,) = _due(db, now)
    assert due.note == "王芳 生日 3月20日"
    assert due.script is not None and due.script.startswith("王芳，生日快乐！")
    assert due.follow_up.due_at == datetime(2026, 3, 4, 16, tzinfo=UTC)
    assert _due(db, datetime(2026, 3, 4, 15, tzinfo=UTC)) == []  # not yet due on Mar 4


@pytest.mark.parametrize(
    "today, fires_on",
    [
        (date(2027, 2, 13), None),  # 2027 is a common year: Feb 29 -> Feb 28, due Feb 13
        (date(2027, 2, 14), date(2027, 2, 28)),
        (date(2028, 2, 15), date(2028, 2, 29)),  # leap year: the real day, due Feb 15
    ],
)
def test_feb_29_birthdays(db: Database, today: date, fires_on: date | None) -> None:
    rule = followups.parse_rules({"rules": [{"id": "b", "anchor": "birthday", "offset_days": -14}]})
    _customer(db, "闰", birthday=date(1996, 2, 29))
    now = datetime(today.year, today.month, today.day, 4, tzinfo=UTC)
    stats = _run(db, now, rule)
    from bot.store.models import FollowUpOccurrence

    with db.session() as s:
        days = [o.occurs_on for o in s.query(FollowUpOccurrence)]  # test-only inspection
    if fires_on is None:
        assert stats.reminders == 0 and days == []
    else:
        assert stats.reminders == 1 and days == [fires_on]


def test_birthday_early_january_looks_at_the_new_year_and_month_ends(db: Database) -> None:
    _customer(db, "元旦", birthday=date(1980, 1, 5))
    # 15 days before Jan 5 2027 is Dec 21 2026 (across the year end)
    assert _run(db, datetime(2026, 12, 21, 1, tzinfo=UTC), [RULES_LIST[0]]).reminders == 1
    assert _run(db, datetime(2026, 12, 22, 1, tzinfo=UTC), [RULES_LIST[0]]).already_done == 1


def test_no_show_day_two_counts_days_in_the_configured_time_zone(db: Database) -> None:
    cid = _customer(db, "爽约")
    with db.session() as s:
        # 17:30 UTC on Jan 31 = 01:30 on Feb 1 in Shanghai
        customers.add_event(
            session=s,
            customer_id=cid,
            type="appointment",
            payload={"status": "no_show"},
            occurred_at=datetime(2026, 1, 31, 17, 30, tzinfo=UTC),
        )
        customers.add_event(
            session=s,
            customer_id=cid,
            type="appointment",
            payload={"status": "done"},
            occurred_at=datetime(2026, 1, 20, 3, tzinfo=UTC),
        )
    rule = [RULES_LIST[1]]
    # UTC: due Feb 2; Shanghai: due Feb 3
    assert _run(db, datetime(2026, 2, 2, 12, tzinfo=UTC), rule, tz="UTC").reminders == 1
    assert _run(db, datetime(2026, 2, 2, 12, tzinfo=UTC), rule).reminders == 0  # Feb 2 20:00
    assert _run(db, datetime(2026, 2, 2, 16, tzinfo=UTC), rule).reminders == 1  # Feb 3 00:00


def test_silence_marks_once_per_silent_spell_and_catch_up_is_bounded(db: Database) -> None:
    cid = _customer(db, "沉默", created_at=datetime(2026, 1, 1, tzinfo=UTC))
    fresh = _customer(db, "新", created_at=datetime(2026, 1, 28, tzinfo=UTC), source="抖音")
    with db.session() as s:
        conv = messages.get_or_create_conversation(
            session=s, channel="m", external_id="c", customer_id=cid, adviser_id="a1"
        )
        messages.log_message(
            session=s,
            msg_id="m1",
            conversation_id=conv,
            customer_id=cid,
            adviser_id="a1",
            direction="in",
            text="hi",
            sent_at=datetime(2026, 1, 10, 2, tzinfo=UTC),
        )
    stats = _run(db, datetime(2026, 2, 9, 2, tzinfo=UTC))  # Jan 10 + 30 = Feb 9
    assert (stats.marked_silent, stats.reminders) == (1, 0)  # "added-3" was due Jan 31: too late
    with db.session() as s:
        assert customers.get_customer(session=s, customer_id=cid).lifecycle == "silent"
        assert customers.get_customer(session=s, customer_id=fresh).lifecycle is None
    assert _run(db, datetime(2026, 2, 26, 2, tzinfo=UTC)).marked_silent == 0
    assert _run(db, datetime(2026, 2, 27, 2, tzinfo=UTC)).marked_silent == 1  # "新": Jan 28 + 30
    assert _run(db, datetime(2026, 2, 28, 2, tzinfo=UTC)).marked_silent == 0


def test_added_rule_catches_up_a_missed_day(db: Database) -> None:
    _customer(db, "抖音客", created_at=datetime(2026, 1, 31, 20, tzinfo=UTC), source="抖音")
    # added Feb 1 (Shanghai) -> due Feb 4; the run on Feb 6 still creates it, due Feb 4
    assert _run(db, datetime(2026, 2, 6, 1, tzinfo=UTC), [RULES_LIST[3]]).reminders == 1
    (due,) = _due(db, datetime(2026, 2, 6, 1, tzinfo=UTC))
    assert due.follow_up.due_at == datetime(2026, 2, 3, 16, tzinfo=UTC)
    assert due.note == "added-3" and due.script is None


def test_bad_rules_are_reported_together(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(
        "rules:\n  - id: a\n    anchor: moon\n  - id: a\n    anchor: birthday\n"
        "    offset_days: x\n    action: shout\n    match: {colour: red}\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError) as info:
        followups.load_rules(path)
    text = str(info.value)
    for needle in (
        "第 3 行：规则 1（a）：anchor",
        "第 4 行：规则 2（a）：id 用了两次",
        "offset_days",
        "action",
        "第 8 行：规则 2（a）：match：未知字段 colour",
    ):
        assert needle in text
    with pytest.raises(InputError, match="找不到"):
        followups.load_rules(tmp_path / "absent.yaml")


def test_run_needs_an_aware_now(db: Database) -> None:
    with pytest.raises(ValueError), db.session() as s:
        followups.run_rules(session=s, rules=[], now=datetime(2026, 1, 1), timezone="UTC")


def test_scheduler_runs_the_rules_in_the_background_and_survives_a_bad_file(
    db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import time

    import yaml

    from bot.crm.scheduler import FollowupScheduler
    from bot.settings import Settings

    _customer(db, "新客", source="抖音", created_at=datetime(2026, 5, 1, 2, tzinfo=UTC))
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({"rules": [RULES["rules"][3]]}), encoding="utf-8")
    settings = Settings.model_validate(
        {"followups": {"rules_file": str(rules), "interval_minutes": 0.001}}
    )
    clock = lambda: datetime(2026, 5, 4, 3, tzinfo=UTC)  # noqa: E731 - day 3 after adding
    scheduler = FollowupScheduler(db=db, settings=settings, clock=clock)
    scheduler.start()
    deadline = time.monotonic() + 10
    while scheduler.runs < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    rules.write_text("rules: [{id: broken", encoding="utf-8")  # a bad edit while running
    attempts = scheduler.attempts
    while scheduler.attempts < attempts + 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    scheduler.stop()
    assert scheduler.runs >= 3
    assert len(_due(db, clock())) == 1, "several runs, one reminder"
    assert any("follow-up rules failed" in r.getMessage() for r in caplog.records)
    assert not FollowupScheduler(db=db, settings=Settings(), clock=clock).enabled
