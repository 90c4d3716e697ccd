"""Campaigns: the report against a hand-computed dataset (SQLite and PostgreSQL), entry
codes found in greetings, attribution through the pipeline, and the CLI end to end."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.channels.memory import MemoryChannel
from bot.cli import run
from bot.crm import campaigns as crm_campaigns
from bot.crm.campaigns import ReportRow, clean_code, find_code_in
from bot.errors import InputError
from bot.pipeline.runtime import Runtime
from bot.store import Database, customers, messages
from bot.store import campaigns as repo
from bot.store.campaigns import CampaignSpec
from bot.store.models import Adviser, Customer, Event, Transaction

T = lambda *a: datetime(*a, tzinfo=UTC)  # noqa: E731
TZ = "Asia/Shanghai"
MARCH = (date(2026, 3, 1), date(2026, 4, 1))

# name: (code, created UTC, inbound message at, [(amount, at)], events, referrer, merged into)
PEOPLE: dict[str, tuple[str | None, datetime, datetime | None, list[tuple[float, datetime]]]] = {
    "p1": ("LIVEA1", T(2026, 3, 2), T(2026, 3, 3), [(1000, T(2026, 3, 10)), (500, T(2026, 4, 20))]),
    "p2": ("LIVEA1", T(2026, 3, 5), None, []),
    "p3": ("LIVEA2", T(2026, 3, 6), T(2026, 3, 7), []),
    "p4": ("FEEDB1", T(2026, 3, 12), T(2026, 3, 13), [(2000, T(2026, 3, 15))]),
    "p5": ("FEEDB3", T(2026, 3, 20), None, []),
    "p6": ("LIVEA1", T(2026, 2, 20), None, []),  # before March
    "p7": (None, T(2026, 3, 7), None, []),  # unattributed, referred by p1
    "p8": ("FEEDB1", T(2026, 3, 25), None, []),  # referred by p4
    "p9": (None, T(2026, 4, 10), None, []),  # referred by p1 after the period
    "p10": ("LIVEA1", T(2026, 3, 15), T(2026, 3, 16), [(9999, T(2026, 3, 16))]),  # merged
    "p11": ("FEEDB3", T(2026, 3, 31, 17), None, []),  # Apr 1 01:00 in Shanghai
}
REFERRALS = {"p7": "p1", "p8": "p4", "p9": "p1"}
ADVISERS = {"a1": "east", "a2": "east", "a3": "west"}


def seed(db: Database) -> dict[str, int]:
    """The dataset above: three campaigns (one long over), five codes, eleven people."""
    ids: dict[str, int] = {}
    with db.session() as s:
        for adviser, team in ADVISERS.items():
            customers.ensure_adviser(session=s, adviser_id=adviser, name=f"顾问{adviser}")
            s.get_one(Adviser, adviser).team = team
        live = repo.create_campaign(
            session=s,
            spec=CampaignSpec("直播A", "直播", date(2026, 3, 1), date(2026, 3, 31), cost=3000),
            actor="t",
        )
        feed = repo.create_campaign(
            session=s,
            spec=CampaignSpec("信息流B", "信息流", date(2026, 3, 10), cost=1000),
            actor="t",
        )
        old = repo.create_campaign(
            session=s,
            spec=CampaignSpec("老活动", "门店扫码", date(2026, 1, 1), date(2026, 1, 31), cost=500),
            actor="t",
        )
        codes = {}
        for campaign, adviser, code in (
            (live, "a1", "LIVEA1"),
            (live, "a2", "LIVEA2"),
            (feed, "a1", "FEEDB1"),
            (feed, "a3", "FEEDB3"),
            (old, "a2", "OLDC2"),
        ):
            codes[code] = repo.add_code(
                session=s, campaign_id=campaign.id, adviser_id=adviser, code=code
            ).id
        repo.set_targets(session=s, code_id=codes["LIVEA1"], added=3, converted=2, revenue=5000)
        repo.set_targets(session=s, code_id=codes["FEEDB3"], added=2, converted=None, revenue=None)
        for name, (code, created, inbound, orders) in PEOPLE.items():
            adviser = repo.find_code(session=s, code=code).adviser_id if code else "a1"
            c, _ = customers.find_or_create_customer(
                session=s, identity_kind="wx", identity_value=name, name=name, adviser_id=adviser
            )
            ids[name] = c.id
            row = s.get_one(Customer, c.id)
            row.created_at = created
            row.entry_code_id = codes[code] if code else None
            if inbound:
                conv = messages.get_or_create_conversation(
                    session=s, channel="wx", external_id=name, customer_id=c.id, adviser_id=adviser
                )
                messages.log_message(
                    session=s,
                    msg_id=f"m-{name}",
                    conversation_id=conv,
                    customer_id=c.id,
                    adviser_id=adviser,
                    direction="in",
                    text="你好",
                    sent_at=inbound,
                )
            for n, (amount, at) in enumerate(orders):
                s.add(
                    Transaction(
                        customer_id=c.id, amount=amount, occurred_at=at, external_id=f"{name}-{n}"
                    )
                )
        customers.add_event(
            session=s, customer_id=ids["p2"], type="converted", occurred_at=T(2026, 3, 8)
        )
        for person, referrer in REFERRALS.items():
            s.get_one(Customer, ids[person]).referred_by_id = ids[referrer]
        s.get_one(Customer, ids["p10"]).merged_into_id = ids["p1"]
    return ids


def row(
    campaign: str,
    channel: str,
    adviser: str | None,
    added: int,
    referred: int,
    engaged: int,
    converted: int,
    revenue: float,
    cost: float,
    targets: tuple[int | None, int | None, float | None] = (None, None, None),
    total: bool = False,
) -> tuple[object, ...]:
    return (
        campaign,
        channel,
        adviser,
        added,
        referred,
        engaged,
        converted,
        revenue,
        cost,
        *targets,
        total,
    )


def shape(rows: list[ReportRow]) -> list[tuple[object, ...]]:
    return [
        (
            r.campaign,
            r.channel,
            r.adviser_id,
            r.added,
            r.referred,
            r.engaged,
            r.converted,
            r.revenue,
            r.cost,
            r.target_added,
            r.target_converted,
            r.target_revenue,
            r.total,
        )
        for r in rows
    ]


# Computed by hand from the dataset, for customers added in March 2026 (Shanghai days):
# 直播A (cost 3000): a1 has p1, p2 (p6 is February, p10 merged away); p1 referred p7 in
# March (p9 came in April); p1 wrote; p1 bought 1000 in March (500 in April is after the
# period) and p2 converted by an event. a2 has p3, who wrote. Cost by customers added:
# a1 2/3 = 2000, a2 1000.
# 信息流B (cost 1000): a1 has p4 (wrote, bought 2000, referred p8) and p8; a3 has p5
# (p11 came on April 1, local time). Cost: a1 666.67, a3 333.33.
# 老活动 ended in January and added nobody: not in the report.
MARCH_ROWS = [
    row("信息流B", "信息流", "a1", 2, 1, 1, 1, 2000.0, 666.67),
    row("信息流B", "信息流", "a3", 1, 0, 0, 0, 0.0, 333.33, (2, None, None)),
    row("信息流B", "信息流", None, 3, 1, 1, 1, 2000.0, 1000.0, (2, None, None), True),
    row("直播A", "直播", "a1", 2, 1, 1, 2, 1000.0, 2000.0, (3, 2, 5000.0)),
    row("直播A", "直播", "a2", 1, 0, 1, 0, 0.0, 1000.0),
    row("直播A", "直播", None, 3, 1, 2, 2, 1000.0, 3000.0, (3, 2, 5000.0), True),
    row("合计", "", None, 6, 2, 3, 3, 3000.0, 4000.0, (5, 2, 5000.0), True),
]


def test_campaign_report_matches_the_hand_computed_dataset(db: Database) -> None:
    seed(db)
    with db.session() as s:
        rows = crm_campaigns.report(session=s, since=MARCH[0], until=MARCH[1], timezone=TZ)
    assert shape(rows) == MARCH_ROWS
    assert [r.roi for r in rows] == [3.0, 0.0, 2.0, 0.5, 0.0, 0.33, 0.75]


def test_campaign_report_by_channel_and_all_time(db: Database) -> None:
    seed(db)
    with db.session() as s:
        by_channel = crm_campaigns.report(
            session=s, since=MARCH[0], until=MARCH[1], timezone=TZ, by="channel"
        )
        all_time = crm_campaigns.report(session=s, since=None, until=MARCH[1], timezone=TZ)
    assert [(r.channel or r.campaign, r.added, r.revenue, r.cost) for r in by_channel] == [
        ("信息流", 3, 2000.0, 1000.0),
        ("直播", 3, 1000.0, 3000.0),
        ("合计", 6, 3000.0, 4000.0),
    ]
    # All time: p6 (February) counts for 直播A / a1, so the cost split changes (3 : 1);
    # 老活动 ran before the end, so it shows, with its whole cost and nobody added.
    live_a1 = next(r for r in all_time if r.campaign == "直播A" and r.adviser_id == "a1")
    assert (live_a1.added, live_a1.cost) == (3, 2250.0)
    old = [r for r in all_time if r.campaign == "老活动"]
    assert [(r.adviser_id, r.added, r.cost, r.roi) for r in old] == [
        ("a2", 0, 500.0, 0.0),
        (None, 0, 500.0, 0.0),
    ]
    assert all_time[-1].cost == 4500.0


def test_a_scoped_report_keeps_the_costs_shared_over_every_adviser(db: Database) -> None:
    seed(db)
    with db.session() as s:
        east = crm_campaigns.report(
            session=s, since=MARCH[0], until=MARCH[1], timezone=TZ, adviser_ids=("a1", "a2")
        )
    assert shape(east) == [
        MARCH_ROWS[0],
        row("信息流B", "信息流", None, 2, 1, 1, 1, 2000.0, 666.67, total=True),
        *MARCH_ROWS[3:6],
        row("合计", "", None, 5, 2, 3, 3, 3000.0, 3666.67, (3, 2, 5000.0), True),
    ]


def test_a_customer_credited_to_another_advisers_code_counts_only_where_they_are_seen(
    db: Database,
) -> None:
    """p12 is a3's customer (west) credited to a1's code LIVEA1 (east): a scope counts and
    lists a customer by their own adviser, so east's report and a1's drill-down leave
    p12 out; the figures of everyone count p12 where credited; the cost shares count
    each code's own customers only, so they are the same for every viewer."""
    seed(db)
    with db.session() as s:
        live = repo.find_code(session=s, code="LIVEA1")
        assert live is not None
        c, _ = customers.find_or_create_customer(
            session=s, identity_kind="wx", identity_value="p12", name="p12", adviser_id="a3"
        )
        p12 = s.get_one(Customer, c.id)
        p12.created_at = T(2026, 3, 9)
        p12.entry_code_id = live.id
        s.add(Transaction(customer_id=c.id, amount=700, occurred_at=T(2026, 3, 10)))
    with db.session() as s:
        east = crm_campaigns.report(
            session=s, since=MARCH[0], until=MARCH[1], timezone=TZ, adviser_ids=("a1", "a2")
        )
        everyone = crm_campaigns.report(session=s, since=MARCH[0], until=MARCH[1], timezone=TZ)
    assert shape(east) == [
        MARCH_ROWS[0],
        row("信息流B", "信息流", None, 2, 1, 1, 1, 2000.0, 666.67, total=True),
        *MARCH_ROWS[3:6],
        row("合计", "", None, 5, 2, 3, 3, 3000.0, 3666.67, (3, 2, 5000.0), True),
    ]
    live_a1 = next(r for r in everyone if r.campaign == "直播A" and r.adviser_id == "a1")
    assert (live_a1.added, live_a1.converted, live_a1.revenue, live_a1.cost) == (
        3,
        3,
        1700.0,
        2000.0,
    )
    with db.session() as s:
        drill = {
            scope: [
                m.name
                for m in crm_campaigns.report_customers(
                    session=s,
                    code_ids=[live.id],
                    since=MARCH[0],
                    until=MARCH[1],
                    timezone=TZ,
                    adviser_ids=scope,
                )
            ]
            for scope in (("a1",), ("a3",), None)
        }
    # the codes given, the customers of the scope (the service gives a scope's codes only)
    assert drill == {("a1",): ["p1", "p2"], ("a3",): ["p12"], None: ["p1", "p2", "p12"]}


def test_a_scope_counts_as_referred_only_the_customers_it_may_see(db: Database) -> None:
    """p1 (a1, east) referred p7; once p7 is a3's (west), east's report and drill-down
    count nobody referred by p1, the figures of everyone still count p7."""
    ids = seed(db)
    with db.session() as s:
        s.get_one(Customer, ids["p7"]).adviser_id = "a3"
    with db.session() as s:
        east = crm_campaigns.report(
            session=s, since=MARCH[0], until=MARCH[1], timezone=TZ, adviser_ids=("a1", "a2")
        )
        everyone = crm_campaigns.report(session=s, since=MARCH[0], until=MARCH[1], timezone=TZ)
        live = repo.find_code(session=s, code="LIVEA1")
        assert live is not None
        drill = {
            scope: {
                m.name: m.referred
                for m in crm_campaigns.report_customers(
                    session=s,
                    code_ids=[live.id],
                    since=MARCH[0],
                    until=MARCH[1],
                    timezone=TZ,
                    adviser_ids=scope,
                )
            }
            for scope in (("a1",), None)
        }

    def referred(rows: list[ReportRow]) -> int:
        return next(r.referred for r in rows if r.campaign == "直播A" and r.adviser_id == "a1")

    assert (referred(east), referred(everyone)) == (0, 1)
    assert (east[-1].referred, everyone[-1].referred) == (1, 2)  # p8 (a1, referred by p4)
    assert drill == {("a1",): {"p1": 0, "p2": 0}, None: {"p1": 1, "p2": 0}}


def test_a_cost_shared_three_ways_adds_up_to_the_cost(db: Database) -> None:
    """50 among three advisers who added nobody: 16.67 + 16.67 + 16.66, so the campaign's
    合计 is 50.00 and the grand total 7,050.00 (before: 16.67 each, 50.01 and 7,050.01)."""
    with db.session() as s:
        for adviser in ("a1", "a2", "a3"):
            customers.ensure_adviser(session=s, adviser_id=adviser, name=f"顾问{adviser}")
        for name, cost in (("表单测试活动12", 50.0), ("表单测试活动123", 7000.0)):
            campaign = repo.create_campaign(
                session=s,
                spec=CampaignSpec(name, "信息流", date(2026, 3, 1), cost=cost),
                actor="t",
            )
            for adviser in ("a1", "a2", "a3"):
                repo.add_code(
                    session=s,
                    campaign_id=campaign.id,
                    adviser_id=adviser,
                    code=f"C{campaign.id}{adviser}".upper(),
                )
        rows = crm_campaigns.report(session=s, since=MARCH[0], until=MARCH[1], timezone=TZ)
    small = [r.cost for r in rows if r.campaign == "表单测试活动12"]
    assert small == [16.67, 16.67, 16.66, 50.0]
    big = [r.cost for r in rows if r.campaign == "表单测试活动123"]
    assert big == [2333.34, 2333.33, 2333.33, 7000.0]
    assert rows[-1].cost == 7050.0


@pytest.mark.parametrize(
    ("cost", "weights", "parts"),
    [
        (50.0, [1, 1, 1], [16.67, 16.67, 16.66]),
        (1000.0, [2, 1], [666.67, 333.33]),
        (100.0, [1, 0, 2], [33.33, 0.0, 66.67]),
        (0.05, [1, 1, 1, 1, 1, 1], [0.01, 0.01, 0.01, 0.01, 0.01, 0.0]),
        (9880.0, [3], [9880.0]),
        (0.0, [1, 2], [0.0, 0.0]),
    ],
)
def test_split_cost_gives_whole_cents_that_add_up(
    cost: float, weights: list[int], parts: list[float]
) -> None:
    split = crm_campaigns.split_cost(cost, weights)
    assert split == parts
    assert round(sum(split) * 100) == round(cost * 100)


def test_drill_down_and_unattributed_contacts(db: Database) -> None:
    ids = seed(db)
    with db.session() as s:
        code = repo.find_code(session=s, code="LIVEA1")
        assert code is not None
        members = crm_campaigns.report_customers(
            session=s, code_ids=[code.id], since=MARCH[0], until=MARCH[1], timezone=TZ
        )
        missing = repo.unattributed(session=s, since=T(2026, 3, 1))
    assert [(m.name, m.stage, m.referred, m.revenue) for m in members] == [
        ("p1", "converted", 1, 1000.0),
        ("p2", "converted", 0, 0.0),
    ]
    assert [c.id for c in missing] == [ids["p9"], ids["p7"]]


def test_attributing_keeps_the_evidence_and_sets_the_source(db: Database) -> None:
    ids = seed(db)
    with db.session() as s:
        code = repo.find_code(session=s, code="FEEDB3")
        assert code is not None
        repo.attribute(
            session=s,
            customer_id=ids["p7"],
            code_id=code.id,
            method="manual",
            evidence="电话回访确认",
            actor="mia",
        )
    with db.session() as s:
        found = repo.attribution_of(session=s, customer_id=ids["p7"])
        source = s.get_one(Customer, ids["p7"]).source
        events = s.scalars(select(Event).where(Event.customer_id == ids["p7"])).all()
    assert found is not None and found.code.code == "FEEDB3" and found.code.adviser_id == "a3"
    assert (found.method, found.evidence, found.by) == ("manual", "电话回访确认", "mia")
    assert source == "信息流"
    assert [e.payload["campaign"] for e in events if e.type == "attributed"] == ["信息流B"]


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("你好，我是看直播来的 LIVEA1", "LIVEA1"),
        ("渠道码live-a1，谢谢", "LIVEA1"),  # case and a hyphen as typed
        ("ＬＩＶＥＡ１", "LIVEA1"),  # full-width
        ("XLIVEA1 你好", None),  # inside a longer word
        ("LIVEA12", None),
        ("你好", None),
    ],
)
def test_an_entry_code_is_found_as_a_word_of_its_own(text: str, found: str | None) -> None:
    assert find_code_in(text, ["LIVEA1", "FEEDB1"]) == found


def test_codes_typed_by_hand_are_cleaned_or_refused() -> None:
    assert clean_code(" zb-2611 ") == "ZB2611"
    for bad in ("ab", "有中文的码", "A" * 33, "A B!"):
        with pytest.raises(InputError):
            clean_code(bad)


# --------------------------------------------------------------------------- the pipeline
def add_campaign(rt: Runtime, code: str = "ZB2611", welcome: str | None = "GEN-CARE-1") -> None:
    with rt.db.session() as s:
        campaign = repo.create_campaign(
            session=s,
            spec=CampaignSpec("直播课", "直播", date(2026, 11, 1), welcome_script_id=welcome),
            actor="t",
        )
        repo.add_code(session=s, campaign_id=campaign.id, adviser_id="adv-li", code=code)


def test_a_new_contacts_first_question_is_answered_second_not_third(
    make_runtime: Runtime,
) -> None:
    """A new friend who opens with a question (「重疾险一年大概多少钱」) gets a greeting
    first and the answer right after it; the two openings came first and the answer
    third, below what the adviser sees at a glance."""
    rt = make_runtime()  # type: ignore[operator]
    channel = MemoryChannel(rt.assistant.handle, adviser_id="adv-li", adviser_name="李顾问")
    first = channel.receive(
        "wx-q", "你好，重疾险一年大概多少钱", contact_name="钱钱", industry="insurance"
    )
    assert first is not None
    ids = [s.id for s in first.scripts]
    assert ids[1] == "INS-PRC-1", ids
    assert {ids[0], ids[2]} == {"INS-WEL-1", "INS-ICE-1"}, "an opening before and after it"
    later = channel.receive("wx-q", "重疾险一年大概多少钱", contact_name="钱钱")
    assert later is not None and later.scripts[0].id == "INS-PRC-1", "no longer new"
    # a bare greeting has nothing to answer: both openings first
    hello = channel.receive("wx-h", "在吗", contact_name="孙孙", industry="insurance")
    assert hello is not None
    assert {s.id for s in hello.scripts[:2]} == {"INS-WEL-1", "INS-ICE-1"}, hello.scripts


def test_a_code_in_a_new_contacts_first_message_attributes_it(make_runtime: Runtime) -> None:
    rt = make_runtime()  # type: ignore[operator]
    add_campaign(rt)
    channel = MemoryChannel(rt.assistant.handle, adviser_id="adv-li", adviser_name="李顾问")
    first = channel.receive("wx-new", "你好 看了直播加的你 zb2611", contact_name="周周")
    assert first is not None and first.customer_id is not None
    # the campaign's welcome script (here a care script, never first otherwise) leads
    assert first.scripts[0].id == "GEN-CARE-1"
    assert first.scripts[0].reason == "客户所在活动的欢迎语"
    later = channel.receive("wx-old", "你好", contact_name="吴吴")
    assert later is not None and later.customer_id is not None
    # an opening found for a new friend's greeting says so (no words shared with 「你好」)
    assert "新好友的开场白" in {s.reason for s in later.scripts}
    channel.receive("wx-old", "对了渠道码是 ZB2611", contact_name="吴吴")  # not a first message
    with rt.db.session() as s:
        found = repo.attribution_of(session=s, customer_id=first.customer_id)
        none = repo.attribution_of(session=s, customer_id=later.customer_id)
    assert found is not None and found.method == "greeting" and found.by == "system"
    assert "zb2611" in found.evidence and found.code.code == "ZB2611"
    assert none is None


def test_a_code_written_to_another_advisers_account_is_kept_not_credited(
    make_runtime: Runtime,
) -> None:
    """ZB2611 is adv-li's code; a new friend of adv-wang writes it: crediting it would
    show adv-wang's customer to adv-li. The contact stays unattributed (no campaign
    welcome either), and a ``code_not_attributed`` event keeps what was written."""
    rt = make_runtime()  # type: ignore[operator]
    add_campaign(rt)
    wang = MemoryChannel(rt.assistant.handle, adviser_id="adv-wang", adviser_name="王顾问")
    first = wang.receive("wx-stray", "你好 看了直播加的你 zb2611", contact_name="郑郑")
    assert first is not None and first.customer_id is not None
    assert first.scripts[0].reason != "客户所在活动的欢迎语"
    with rt.db.session() as s:
        found = repo.attribution_of(session=s, customer_id=first.customer_id)
        events = s.scalars(select(Event).where(Event.customer_id == first.customer_id)).all()
        missing = repo.unattributed(session=s, since=T(2000, 1, 1), adviser_ids=("adv-wang",))
    assert found is None
    kept = [e.payload for e in events if e.type == "code_not_attributed"]
    assert [(p["code"], p["code_adviser_id"], p["adviser_id"]) for p in kept] == [
        ("ZB2611", "adv-li", "adv-wang")
    ]
    assert [c.id for c in missing] == [first.customer_id]


# --------------------------------------------------------------------------- the CLI
def siyu(capsys: pytest.CaptureFixture[str], data: Path, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = run(["--data-dir", str(data), "--actor", "oscar", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_campaigns_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    people = tmp_path / "people.csv"
    people.write_text(
        "name,adviser_id,phone,added_at,campaign_code\n"
        "甲,a1,13900000001,2026-03-02,LIVEA1\n"
        "乙,a2,13900000002,2026-03-03,live-a2\n"
        "丙,a1,13900000003,2026-03-04,\n",
        encoding="utf-8",
    )
    orders = tmp_path / "orders.csv"
    orders.write_text(
        "customer,amount,time,order_id,product\n13900000001,3000,2026-03-20,O-1,重疾险\n",
        encoding="utf-8",
    )
    code, out, err = siyu(
        capsys,
        data,
        "campaigns",
        "add",
        "三月直播",
        "--channel",
        "直播",
        "--start",
        "2026-03-01",
        "--end",
        "2026-03-31",
        "--cost",
        "1500",
        "--code",
        "a1=LIVEA1",
        "--code",
        "a2=LIVEA2",
    )
    assert code == 0, err
    assert "LIVEA1" in out and "LIVEA2" in out
    code, _, err = siyu(
        capsys, data, "campaigns", "target", "三月直播", "--adviser", "a1", "--added", "4"
    )
    assert code == 0, err
    assert siyu(capsys, data, "customers", "import", str(people))[0] == 0
    assert siyu(capsys, data, "events", "import-orders", str(orders))[0] == 0
    code, out, _ = siyu(capsys, data, "campaigns", "unattributed", "--days", "36500")
    assert code == 0 and "丙" in out and "甲" not in out
    # set by hand: 丙 by the campaign and its adviser (the customer's)
    assert siyu(capsys, data, "campaigns", "attribute", "3", "--campaign", "三月直播")[0] == 0
    csv_path, png_path = tmp_path / "c.csv", tmp_path / "c.png"
    code, out, err = siyu(
        capsys,
        data,
        "campaigns",
        "report",
        "--since",
        "2026-03-01",
        "--until",
        "2026-03-31",
        "--csv",
        str(csv_path),
        "--png",
        str(png_path),
    )
    assert code == 0, err
    # one word for the amount of the orders, as on the console (never 「收入」)
    assert "成交金额" in out and "收入" not in out
    with csv_path.open(encoding="utf-8-sig") as fh:
        table = list(csv.DictReader(fh))
    assert [
        (r["活动"], r["顾问"], r["新增"], r["成交"], r["成交金额"], r["成本"], r["ROI"])
        for r in table
    ] == [
        ("三月直播", "a1", "2", "1", "3000.0", "1000.0", "3.0"),
        ("三月直播", "a2", "1", "0", "0.0", "500.0", "0.0"),
        ("三月直播", "合计", "3", "1", "3000.0", "1500.0", "2.0"),
        ("合计", "合计", "3", "1", "3000.0", "1500.0", "2.0"),
    ]
    assert table[0]["目标新增"] == "4"
    assert png_path.read_bytes().startswith(b"\x89PNG")
    code, out, _ = siyu(
        capsys,
        data,
        "campaigns",
        "report",
        "--campaign",
        "三月直播",
        "--customers",
        "--adviser",
        "a1",
    )
    assert code == 0 and "甲" in out and "丙" in out and "乙" not in out
    code, out, _ = siyu(capsys, data, "campaigns", "report", "--campaign", "1", "--customers")
    assert code == 0 and "「三月直播」的客户" in out and "编号" in out  # its name, not 「1」
    code, out, _ = siyu(capsys, data, "campaigns", "show", "三月直播")
    assert code == 0 and "LIVEA1" in out and "1,500.00" in out
    # errors are one line, in Chinese
    code, _, err = siyu(
        capsys, data, "campaigns", "add", "三月直播", "--channel", "直播", "--start", "2026-03-01"
    )
    assert code == 1 and "活动名称已存在" in err
    code, _, err = siyu(capsys, data, "campaigns", "attribute", "1", "--code", "NOPE99")
    assert code == 1 and "渠道码不存在" in err


def test_a_campaigns_welcome_script_is_shown_by_its_title(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from conftest import LIBRARY

    data = tmp_path / "data"
    assert siyu(capsys, data, "scripts", "import", str(LIBRARY / "scripts.csv"))[0] == 0
    added = ("campaigns", "add", "五月直播", "--channel", "直播", "--start", "2026-05-01")
    assert siyu(capsys, data, *added, "--welcome", "INS-WEL-1")[0] == 0
    code, out, _ = siyu(capsys, data, "campaigns", "list")
    assert code == 0 and "新好友欢迎" in out and "INS-WEL-1" not in out
    code, out, _ = siyu(capsys, data, "campaigns", "show", "五月直播")
    assert code == 0 and "欢迎语话术：新好友欢迎（INS-WEL-1）" in out


def test_messages_without_an_adviser_wait_under_unassigned_and_get_no_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A history line without ``adviser_id`` logs its customer under 「未指定顾问」, which
    is a bucket, not a colleague: a campaign for every adviser leaves it out, and it
    cannot be given a code by id or by that name."""
    data = tmp_path / "data"
    history = tmp_path / "history.jsonl"
    history.write_text(
        '{"msg_id":"h1","contact_id":"wx-a","direction":"in","text":"你好",'
        '"sent_at":"2026-03-02T10:00:00+08:00","adviser_id":"a1"}\n'
        '{"msg_id":"h2","contact_id":"wx-b","direction":"in","text":"在吗",'
        '"sent_at":"2026-03-02T11:00:00+08:00"}\n',
        encoding="utf-8",
    )
    assert siyu(capsys, data, "history", "import", str(history))[0] == 0
    code, out, err = siyu(capsys, data, "customers", "list")
    assert code == 0, err
    assert "未指定顾问" in out
    code, out, err = siyu(
        capsys, data, "campaigns", "add", "四月直播", "--channel", "直播", "--start", "2026-04-01"
    )
    assert code == 0, err
    code, out, err = siyu(capsys, data, "campaigns", "show", "四月直播")
    assert code == 0, err
    assert "a1" in out and "未指定顾问" not in out and "adviser" not in out
    for who in ("adviser", "未指定顾问"):
        code, _, err = siyu(capsys, data, "campaigns", "code", "四月直播", "--adviser", who)
        assert code == 1 and "“未指定顾问”不是一位顾问" in err


def test_a_customer_file_naming_an_adviser_nobody_knows_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A mistyped adviser id (ins_lni for ins_lin) made a new adviser without a team:
    the customer was nobody's to see, and the import said nothing. An adviser written by
    the name only they go by is read as them."""
    data = tmp_path / "data"
    first = tmp_path / "first.csv"
    first.write_text("name,adviser_id,phone\n甲,ins_lin,13900000001\n", encoding="utf-8")
    assert siyu(capsys, data, "customers", "import", str(first))[0] == 0
    with Database(f"sqlite:///{data / 'siyu.db'}").session() as s:
        customers.ensure_adviser(session=s, adviser_id="ins_lin", name="林晓")
    people = tmp_path / "people.csv"
    people.write_text(
        "name,adviser_id,phone\n乙,ins_lni,13900000002\n丙,林晓,13900000003\n",
        encoding="utf-8",
    )
    code, out, err = siyu(capsys, data, "customers", "import", str(people))
    assert code == 0, err
    said = " ".join((out + err).split())
    assert "1 个系统里还没有的顾问（ins_lni）" in said
    with Database(f"sqlite:///{data / 'siyu.db'}").session() as s:
        owners = {n: a for n, a in s.execute(select(Customer.name, Customer.adviser_id))}
    assert owners == {"甲": "ins_lin", "乙": "ins_lni", "丙": "ins_lin"}


def test_many_new_advisers_are_named_five_then_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Seven advisers nobody knows: the warning names five and says there are more
    (「7 个…（n1、…、n5等）」), where it named five of 「7 个」 as if that were all."""
    data = tmp_path / "data"
    first = tmp_path / "first.csv"
    first.write_text("name,adviser_id,phone\n甲,ins_lin,13900000001\n", encoding="utf-8")
    assert siyu(capsys, data, "customers", "import", str(first))[0] == 0
    people = tmp_path / "people.csv"
    lines = [f"客户{i},n{i},1390000002{i}" for i in range(1, 8)]
    people.write_text("name,adviser_id,phone\n" + "\n".join(lines) + "\n", encoding="utf-8")
    code, out, err = siyu(capsys, data, "customers", "import", str(people))
    assert code == 0, err
    said = "".join((out + err).split())
    assert "7个系统里还没有的顾问（n1、n2、n3、n4、n5等）" in said


def test_unattributed_contacts_name_their_adviser(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The 顾问 column showed the id (「wang」) where every other table shows the name."""
    data = tmp_path / "data"
    people = tmp_path / "people.csv"
    people.write_text("name,adviser_id,phone\n陈先生,wang,13800138000\n", encoding="utf-8")
    assert siyu(capsys, data, "customers", "import", str(people))[0] == 0
    assert siyu(capsys, data, "advisers", "persona", "wang", "--name", "王磊")[0] == 0
    code, out, _ = siyu(capsys, data, "campaigns", "unattributed", "--days", "36500")
    assert code == 0 and "陈先生" in out
    assert "王磊" in out and "wang" not in out
    # the codes' table writes the id as the bot's lines do (before: 「王磊 (wang)」)
    args = ("campaigns", "add", "双十二", "--channel", "直播", "--start", "2026-12-01")
    code, out, _ = siyu(capsys, data, *args)
    assert code == 0 and "王磊（wang）" in out
