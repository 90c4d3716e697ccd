"""The manager home's queues lead to the conversation list filtered to what they count
(``/sidebar?queue=waiting | followups | stated``): each link used to open the whole
list. The filter keeps every scope check: an adviser's filtered list holds their own
customers only, a manager's their team's. A value not in the list is refused with a
Chinese error page."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from conftest import RuntimeFactory
from web_helpers import add_users, bearer_client, customer_message, login, web_app

from bot.channels.memory import MemoryChannel
from bot.pipeline.runtime import Runtime
from bot.store import fields as fields_repo
from bot.store import followups as followups_repo
from bot.store import inbox as inbox_repo

#: Who is in which queue: alice (adv-a, team east: manager mia) and bob (adv-b, west).
WAITING = {"adv-a": "甲等回复", "adv-b": "乙等回复"}
FOLLOWUP = {"adv-a": "甲要跟进", "adv-b": "乙要跟进"}
STATED = {"adv-a": "甲说了城市", "adv-b": "乙说了城市"}


def _answered(rt: Runtime, adviser: str, contact: str, name: str) -> None:
    """The customer wrote and the adviser replied: not waiting."""
    customer_message(rt, adviser, contact, "好的，谢谢", name)
    channel = MemoryChannel(rt.assistant.handle, adviser_id=adviser, adviser_name=adviser)
    channel.receive(contact, "不客气，有问题随时找我", contact_name=name, direction="out")


@pytest.fixture
def rt(make_runtime: RuntimeFactory) -> Runtime:
    rt = make_runtime()
    add_users(rt)
    now = datetime.now(UTC)
    for adviser in ("adv-a", "adv-b"):
        customer_message(rt, adviser, f"wx-wait-{adviser}", "在吗？想问下价格", WAITING[adviser])
        _answered(rt, adviser, f"wx-due-{adviser}", FOLLOWUP[adviser])
        _answered(rt, adviser, f"wx-city-{adviser}", STATED[adviser])
    with rt.db.session() as session:
        rows = inbox_repo.conversation_list(session=session, adviser_ids=None, viewer="-")
        ids = {r.name: r.customer_id for r in rows}
        for adviser in ("adv-a", "adv-b"):
            followups_repo.record_occurrence(
                session=session,
                rule="care",
                customer_id=ids[FOLLOWUP[adviser]],
                occurs_on=now.date(),
                action="remind",
                due_at=now - timedelta(hours=1),
                adviser_id=adviser,
                note="回访",
                script_id=None,
            )
            fields_repo.suggest(
                session=session,
                customer_id=ids[STATED[adviser]],
                field="城市",
                value="杭州",
                evidence="我在杭州上班",
                message_id=None,
            )
    return rt


def listed(html: str) -> list[str]:
    """The names in the conversation list of a page (not the reminders above it)."""
    found = re.search(r'<ul class="inbox" id="inbox">(.*?)</ul>', html, re.S)
    assert found, html[:300]
    return re.findall(r'<span class="name">([^<]*)</span>', found.group(1))


def test_the_home_links_each_queue_to_the_list_it_counts(rt: Runtime) -> None:
    with bearer_client(web_app(rt)) as c:
        login(c, "mia")
        home = c.get("/manager").text
        cards = dict(
            re.findall(
                r'<a href="([^"]+)"><span class="label">[^<]*</span><b class="count">(\d+)</b>',
                home,
            )
        )
        assert cards["/sidebar?queue=waiting"] == "1"
        assert cards["/sidebar?queue=followups"] == "1"
        assert cards["/sidebar?queue=stated"] == "1"
        for queue, who in (("waiting", WAITING), ("followups", FOLLOWUP), ("stated", STATED)):
            page = c.get(f"/sidebar?queue={queue}")
            assert page.status_code == 200
            assert listed(page.text) == [who["adv-a"]], queue  # mia's team: alice's only
            assert 'id="queue-filter"' in page.text and "清除筛选" in page.text
            fragment = c.get(f"/sidebar/inbox?queue={queue}")  # the live refresh
            assert listed(fragment.text) == [who["adv-a"]]
            assert f"&amp;queue={queue}" in fragment.text  # a chosen customer keeps the filter
        page = c.get("/sidebar?queue=waiting").text
        assert "只看 <b>待回复会话</b>" in page
        assert '<a href="/sidebar">清除筛选</a>' in page
        everyone = listed(c.get("/sidebar").text)
        assert sorted(everyone) == sorted([WAITING["adv-a"], FOLLOWUP["adv-a"], STATED["adv-a"]]), (
            "the plain list is unchanged"
        )
        assert 'id="queue-filter"' not in c.get("/sidebar?queue=").text  # empty: no filter
        chosen = c.get(f"/sidebar?queue=waiting&customer_id={_id(rt, WAITING['adv-a'])}").text
        assert '<a class="back" href="/sidebar?queue=waiting">' in chosen


def _id(rt: Runtime, name: str) -> int:
    with rt.db.session() as session:
        rows = inbox_repo.conversation_list(session=session, adviser_ids=None, viewer="-")
    return next(r.customer_id for r in rows if r.name == name)


@pytest.mark.parametrize(("user", "adviser"), [("alice", "adv-a"), ("bob", "adv-b")])
def test_an_advisers_filtered_list_holds_only_their_own_customers(
    rt: Runtime, user: str, adviser: str
) -> None:
    other = "adv-b" if adviser == "adv-a" else "adv-a"
    with bearer_client(web_app(rt)) as c:
        login(c, user)
        for queue, who in (("waiting", WAITING), ("followups", FOLLOWUP), ("stated", STATED)):
            for path in (f"/sidebar?queue={queue}", f"/sidebar/inbox?queue={queue}"):
                text = c.get(path).text
                assert listed(text) == [who[adviser]], path
                assert who[other] not in text, path


def test_a_manager_of_every_team_sees_both_advisers_in_a_queue(rt: Runtime) -> None:
    with bearer_client(web_app(rt)) as c:
        login(c, "max")
        assert sorted(listed(c.get("/sidebar?queue=waiting").text)) == sorted(WAITING.values())


@pytest.mark.parametrize("bad", ["nonsense", "WAITING", "<b>x</b>"])
def test_a_queue_not_in_the_list_is_refused_in_chinese(rt: Runtime, bad: str) -> None:
    with bearer_client(web_app(rt)) as c:
        login(c, "alice")
        page = c.get("/sidebar", params={"queue": bad})
        assert page.status_code == 422
        assert "筛选：不是可选的值（收到「" in page.text
        assert "<b>x</b>" not in page.text
        assert 'href="/sidebar"' in page.text  # the page again, without the filter
        assert c.get("/sidebar/inbox", params={"queue": bad}).status_code == 422


def test_an_empty_queue_says_so(make_runtime: RuntimeFactory) -> None:
    rt = make_runtime()
    add_users(rt)
    _answered(rt, "adv-a", "wx-1", "丙")
    with bearer_client(web_app(rt)) as c:
        login(c, "alice")
        page = c.get("/sidebar?queue=waiting").text
        assert listed(page) == [] and "没有符合筛选条件的会话" in page
        assert "（0 个会话）" in page
