"""Campaigns, profile fields, referrals, next-best actions, personas and each adviser's
own numbers through the JSON API and the console pages (in-process, real SQLite / Chroma /
embeddings): who may do what, scope, audit, and the forms."""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from web_helpers import add_users, bearer_client, customer_message, login, web_app

from bot.crm.next_actions import RulesSource
from bot.pipeline.prompts import DraftRequest, render_draft_messages
from bot.pipeline.runtime import Runtime, open_runtime
from bot.services import fields as fields_service
from bot.services.access import cli_principal
from bot.settings import Settings
from bot.store import audit as audit_repo
from bot.store import inbox as inbox_repo
from bot.store.models import Customer, Transaction

FIELDS = """\
fields:
  - {name: 预算, type: money, unit: 元/年, keywords: [预算]}
  - {name: 职业, type: text, keywords: [职业是]}
  - {name: 收入区间, type: choice, choices: [10万以下, 10万以上]}
"""
RULES = """\
rules:
  - id: budget-medical
    when: [预算>=3000, tag!=医疗险]
    product: 百万医疗险
    script: INS-PRC-1
    reason: 预算 {预算}，还没有医疗险
"""


class World:
    def __init__(self, rt: Runtime, tmp: Path) -> None:
        self.rt = rt
        self.tokens = add_users(rt)
        self.day = local_today(rt)  # before the messages: they are of this day or later
        # alice (adv-a, team east) has 张女士; bob (adv-b, team west) has 李先生.
        customer_message(rt, "adv-a", "wx-a", "重疾险一年多少钱？", "张女士")
        customer_message(rt, "adv-b", "wx-b", "太贵了", "李先生")
        with rt.db.session() as session:
            rows = inbox_repo.conversation_list(session=session, adviser_ids=None, viewer="x")
        by_name = {r.name: r.customer_id for r in rows}
        self.cust_a, self.cust_b = by_name["张女士"], by_name["李先生"]
        (tmp / "fields.yaml").write_text(FIELDS, encoding="utf-8")
        (tmp / "rules.yaml").write_text(RULES, encoding="utf-8")
        with rt.db.session() as session:
            fields_service.import_fields(session, cli_principal("t"), path=tmp / "fields.yaml")
        rt.assistant.rules = RulesSource(tmp / "rules.yaml")
        self.app = web_app(rt)

    def client(self, user: str | None = None) -> TestClient:
        return bearer_client(self.app, self.tokens[user] if user else None)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    from conftest import load_small_library

    tmp = tmp_path_factory.mktemp("growth")
    rt = open_runtime(Settings.model_validate({"data_dir": str(tmp / "data")}))
    load_small_library(rt)
    yield World(rt, tmp)  # type: ignore[misc]
    rt.close()


def local_today(rt: Runtime) -> date:
    return datetime.now(ZoneInfo(rt.settings.timezone)).date()


def actions(world: World, actor: str) -> list[str]:
    with world.rt.db.session() as session:
        return [e.action for e in audit_repo.list_entries(session=session, actor=actor)]


CAMPAIGN = {"name": "直播一", "channel": "直播", "starts_on": "2026-01-01", "cost": 2000}


@pytest.fixture(scope="module")
def campaign(world: World) -> dict[str, object]:
    res = world.client("olivia").post(
        "/api/campaigns", json=CAMPAIGN | {"codes": {"adv-a": "LIVEAA", "adv-b": "LIVEBB"}}
    )
    assert res.status_code == 201, res.text
    body: dict[str, object] = res.json()
    return body


def test_campaigns_are_managed_by_operators_and_managers(
    world: World, campaign: dict[str, object]
) -> None:
    codes = {c["adviser_id"]: c["code"] for c in campaign["codes"]}  # type: ignore[attr-defined]
    assert codes == {"adv-a": "LIVEAA", "adv-b": "LIVEBB"}
    # advisers by the name colleagues know them by (their console name), as everywhere
    names = {c["adviser_id"]: c["adviser_name"] for c in campaign["codes"]}  # type: ignore[attr-defined]
    assert names == {"adv-a": "Alice", "adv-b": "Bob"}
    assert (
        world.client("alice").post("/api/campaigns", json=CAMPAIGN | {"name": "x"}).status_code
        == 403
    )
    again = world.client("olivia").post("/api/campaigns", json=CAMPAIGN)
    assert again.status_code == 400 and "活动名称已存在" in again.json()["detail"]
    # a manager's new campaign gives codes to their team only
    res = world.client("mia").post(
        "/api/campaigns", json=CAMPAIGN | {"name": "东区地推", "channel": "门店扫码"}
    )
    assert res.status_code == 201
    assert [c["adviser_id"] for c in res.json()["codes"]] == ["adv-a"]
    mine = world.client("mia").put(
        "/api/campaigns/直播一/targets", json={"adviser_id": "adv-a", "added": 5, "revenue": 3000}
    )
    assert mine.status_code == 200 and mine.json()["target_added"] == 5
    other = world.client("mia").put(
        "/api/campaigns/直播一/targets", json={"adviser_id": "adv-b", "added": 1}
    )
    assert other.status_code == 404
    # an adviser sees the campaign with their own code only
    seen = world.client("alice").get("/api/campaigns/直播一").json()
    assert [c["code"] for c in seen["codes"]] == ["LIVEAA"]
    assert "campaign.add" in actions(world, "olivia")


def test_attribution_by_hand_and_the_scoped_report(
    world: World, campaign: dict[str, object]
) -> None:
    alice, bob = world.client("alice"), world.client("bob")
    assert alice.get(f"/api/customers/{world.cust_a}/attribution").json() is None
    res = alice.put(
        f"/api/customers/{world.cust_a}/attribution", json={"code": "liveaa", "note": "直播间留言"}
    )
    assert res.status_code == 200, res.text
    assert res.json()["code"]["campaign"] == "直播一" and res.json()["evidence"] == "直播间留言"
    assert (
        alice.put(f"/api/customers/{world.cust_b}/attribution", json={"code": "LIVEAA"}).status_code
        == 404
    )
    assert (
        bob.put(f"/api/customers/{world.cust_b}/attribution", json={"campaign": "直播一"}).json()[
            "code"
        ]["code"]
        == "LIVEBB"
    )
    with world.rt.db.session() as session:
        session.add(Transaction(customer_id=world.cust_a, amount=4000))
    everyone = world.client("olivia").get("/api/campaigns/report?campaign=直播一").json()
    assert [
        (r["adviser_id"], r["added"], r["converted"], r["revenue"], r["cost"], r["roi"])
        for r in everyone
    ] == [
        ("adv-a", 1, 1, 4000.0, 1000.0, 4.0),
        ("adv-b", 1, 0, 0.0, 1000.0, 0.0),
        (None, 2, 1, 4000.0, 2000.0, 2.0),
        (None, 2, 1, 4000.0, 2000.0, 2.0),
    ]
    team = world.client("mia").get("/api/campaigns/report?campaign=直播一").json()
    assert [r["adviser_id"] for r in team if not r["total"]] == ["adv-a"]
    own = bob.get("/api/campaigns/report?campaign=直播一").json()
    assert [r["adviser_id"] for r in own if not r["total"]] == ["adv-b"]
    # drill-down: customers, for those who see customers
    assert world.client("olivia").get("/api/campaigns/直播一/customers").status_code == 403
    assert (
        world.client("mia").get("/api/campaigns/直播一/customers?adviser=adv-b").status_code == 404
    )
    names = [m["name"] for m in world.client("mia").get("/api/campaigns/直播一/customers").json()]
    assert names == ["张女士"]
    assert "campaign.customers.view" in actions(world, "mia")


def test_unattributed_contacts_are_listed_within_scope(world: World) -> None:
    customer_message(world.rt, "adv-a", "wx-new-a", "你好", "新客A")
    found = [c["name"] for c in world.client("alice").get("/api/campaigns/unattributed").json()]
    assert "新客A" in found and "李先生" not in found


def test_profile_fields_through_the_api(world: World) -> None:
    alice = world.client("alice")
    assert [f["name"] for f in alice.get("/api/profile-fields").json()] == [
        "预算",
        "职业",
        "收入区间",
    ]
    bad = alice.put(
        f"/api/customers/{world.cust_a}/fields", json={"values": {"预算": "很多", "爱好": "x"}}
    )
    assert bad.status_code == 400 and len(bad.json()["problems"]) == 2
    res = alice.put(
        f"/api/customers/{world.cust_a}/fields",
        json={"values": {"预算": "6千", "收入区间": "10万以上"}},
    )
    assert res.status_code == 200, res.text
    shown = {v["field"]: v["shown"] for v in res.json()}
    assert shown == {"预算": "6000 元/年", "职业": "", "收入区间": "10万以上"}
    assert (
        alice.put(
            f"/api/customers/{world.cust_b}/fields", json={"values": {"预算": "1"}}
        ).status_code
        == 404
    )
    # a value stated in a message: suggested, then confirmed through the API
    customer_message(world.rt, "adv-a", "wx-a", "我职业是护士，预算八千", "张女士")
    pending = alice.get(f"/api/profile-suggestions?customer_id={world.cust_a}").json()
    assert sorted((p["field"], p["value"]) for p in pending) == [("职业", "护士"), ("预算", "8000")]
    assert (
        world.client("bob")
        .post(f"/api/profile-suggestions/{pending[0]['id']}/review", json={"status": "confirmed"})
        .status_code
        == 404
    )
    for p in pending:
        assert (
            alice.post(
                f"/api/profile-suggestions/{p['id']}/review", json={"status": "confirmed"}
            ).status_code
            == 200
        )
    values = {
        v["field"]: v["value"] for v in alice.get(f"/api/customers/{world.cust_a}/fields").json()
    }
    assert values == {"预算": "8000", "职业": "护士", "收入区间": "10万以上"}


def test_referrers_set_by_hand_stay_within_scope(world: World) -> None:
    res = world.client("alice").put(
        f"/api/customers/{world.cust_a}/referrer", json={"referrer": str(world.cust_b)}
    )
    assert res.status_code == 404  # 李先生 is bob's
    res = world.client("max").put(
        f"/api/customers/{world.cust_a}/referrer", json={"referrer": str(world.cust_b)}
    )
    assert res.status_code == 200 and res.json()["up"] == [{"id": world.cust_b, "name": "李先生"}]
    # alice sees that someone referred her customer, not who
    assert world.client("alice").get(f"/api/customers/{world.cust_a}/referrals").json()["up"] == [
        {"id": None, "name": "（其他顾问的客户）"}
    ]
    shares = world.client("max").get("/api/referrals/report").json()
    assert shares["total"]["referred"] >= 1
    # the page names advisers as colleagues know them (Alice), not by id
    page = world.client("max").get("/campaigns/referrals").text
    assert "<td>Alice</td>" in page and "<td>adv-a</td>" not in page
    assert "· adv-a ·" not in world.client("max").get("/campaigns/unattributed").text
    assert world.client("olivia").get("/api/referrals/report").status_code == 403
    cleared = world.client("max").put(
        f"/api/customers/{world.cust_a}/referrer", json={"referrer": None}
    )
    assert cleared.json()["up"] == []


def test_next_best_actions_on_the_api_and_in_suggestions(world: World) -> None:
    customer_message(world.rt, "adv-b", "wx-b", "我预算五千", "李先生")
    with world.rt.db.session() as session:
        for s in fields_service.suggestions(session, cli_principal("t"), customer_id=world.cust_b):
            fields_service.review(
                session, cli_principal("t"), suggestion_id=s.id, status="confirmed"
            )
    cards = world.client("bob").get(f"/api/customers/{world.cust_b}/next-actions").json()
    assert cards == [
        {
            "rule": "budget-medical",
            "product": "百万医疗险",
            "script_id": "INS-PRC-1",
            "script_text": "安心保重疾险50万保额，30岁女性每年4680元，折合每天不到13元。",
            "reason": "预算 5000 元/年，还没有医疗险",
            "script_title": "重疾险保费多少钱",
        }
    ]
    res = world.client("bob").post("/api/messages", json={"contact_id": "wx-b2", "text": "在吗"})
    assert "next_actions" not in res.json()["suggestion"]  # a new contact has no budget
    assert (
        world.client("alice").get(f"/api/customers/{world.cust_b}/next-actions").status_code == 404
    )


def test_personas_are_set_by_the_adviser_or_their_manager(world: World) -> None:
    alice = world.client("alice")
    res = alice.put(
        "/api/advisers/adv-a/persona",
        json={"persona_name": "安娜", "signature": "—— 安娜｜家庭保障顾问", "tone": "温和，不催单"},
    )
    assert res.status_code == 200 and res.json()["shown_name"] == "安娜"
    assert alice.put("/api/advisers/adv-b/persona", json={"persona_name": "x"}).status_code == 404
    assert world.client("mia").get("/api/advisers/adv-a/persona").json()["tone"] == "温和，不催单"
    assert world.client("mia").get("/api/advisers/adv-b/persona").status_code == 404
    assert world.client("olivia").get("/api/advisers/adv-a/persona").status_code == 403
    # {adviser_name} and the signature of a welcome for alice's next new contact
    result = world.rt.assistant.suggest(
        "你好，想了解一下保险", customer_id=new_contact(world, "adv-a")
    )
    welcome = next(s for s in result.scripts if s.id == "INS-WEL-1")
    assert "保险顾问安娜" in welcome.text and welcome.text.endswith("—— 安娜｜家庭保障顾问")
    # the LLM draft is told the persona's name and tone
    prompt = render_draft_messages(
        DraftRequest(
            customer_text="在吗", passages=[], adviser_name="安娜", adviser_tone="温和，不催单"
        )
    )[1]["content"]
    assert "安娜" in prompt and "温和，不催单" in prompt
    assert "adviser.persona" in actions(world, "alice")


def new_contact(world: World, adviser: str) -> int:
    from bot.store import customers

    with world.rt.db.session() as session:
        c, _ = customers.find_or_create_customer(
            session=session,
            identity_kind="memory_contact",
            identity_value=f"new-{adviser}",
            name="新朋友",
            adviser_id=adviser,
        )
    return c.id


def test_an_advisers_own_numbers_are_theirs_alone(world: World) -> None:
    before = local_today(world.rt)
    mine = world.client("alice").get("/api/me/numbers")
    after = local_today(world.rt)
    assert mine.status_code == 200, mine.text
    body = mine.json()
    assert body["adviser_id"] == "adv-a" and body["period_label"] == "本月"
    if before == after == world.day:  # no local midnight since the messages were logged
        assert body["today"]["received"] >= 2 and body["today"]["suggestions"] >= 2
    assert body["period"]["received"] >= body["today"]["received"]
    live = next(t for t in body["targets"] if t["campaign"] == "直播一")
    assert (live["code"], live["target_added"], live["added"]) == ("LIVEAA", 5, 1)
    assert world.client("mia").get("/api/me/numbers").status_code == 403
    assert world.client("olivia").get("/api/me/numbers").status_code == 403


# --------------------------------------------------------------------------- pages
def test_campaign_pages_and_forms(world: World, campaign: dict[str, object]) -> None:
    with world.client() as c:
        csrf = login(c, "olivia")
        page = c.get("/campaigns")
        assert page.status_code == 200 and "直播一" in page.text and "新建活动" in page.text
        res = c.post(
            "/campaigns",
            data={
                "name": "信息流三月",
                "channel": "信息流",
                "starts_on": "2026-03-01",
                "cost": "12800",
                "welcome_script_id": "INS-ICE-1",
                "csrf_token": csrf,
            },
            follow_redirects=False,
        )
        assert res.status_code == 303, res.text
        title = world.rt.library.get(["INS-ICE-1"])["INS-ICE-1"].title
        assert f'<td class="text">{title}</td>' in c.get("/campaigns").text  # title, not id
        detail = c.get(res.headers["location"])
        assert "活动已创建" in detail.text and "信息流三月" in detail.text
        assert "<dd>12,800.00 元</dd>" in detail.text  # amounts written as the CLI writes them
        assert f"<dd>{title}</dd>" in detail.text  # the welcome script by title, not INS-ICE-1
        cid = int(re.search(r"/campaigns/(\d+)", res.headers["location"]).group(1))  # type: ignore[union-attr]
        res = c.post(
            f"/campaigns/{cid}/targets",
            data={
                "adviser_id": "adv-a",
                "added": "7",
                "converted": "",
                "revenue": "50000",
                "csrf_token": csrf,
            },
            follow_redirects=False,
        )
        assert res.status_code == 303
        assert ">7<" in c.get(f"/campaigns/{cid}").text
        # sent by the page's script: a refusal as JSON, success as the next page by name
        script = {"X-Siyu-Form": "1"}
        res = c.post(
            f"/campaigns/{cid}/codes",
            data={"adviser_id": "adv-b", "csrf_token": csrf},
            headers=script,
        )
        assert res.status_code == 400 and "已有渠道码" in res.json()["detail"]
        typo = {"adviser_id": "nobody_here", "csrf_token": csrf}
        res = c.post(f"/campaigns/{cid}/codes", data=typo, headers=script)
        assert res.status_code == 404 and res.json()["detail"] == "顾问不存在"
        # the name colleagues know an adviser by works as well as the id
        by_name = {"adviser_id": "Bob", "csrf_token": csrf}
        res = c.post(f"/campaigns/{cid}/codes", data=by_name, headers=script)
        assert res.status_code == 400 and "已有渠道码" in res.json()["detail"]
        target = {"adviser_id": "adv-b", "added": "3", "csrf_token": csrf}
        res = c.post(f"/campaigns/{cid}/targets", data=target, headers=script)
        assert res.status_code == 200 and res.json()["location"].startswith(f"/campaigns/{cid}")
        assert "<td>50,000</td>" in c.get(f"/campaigns/{cid}").text  # the revenue target
        report = c.get("/campaigns/report?since=2026-01-01")
        assert report.status_code == 200 and "<svg" in report.text and "ROI" in report.text
        assert "信息流三月 · " in report.text  # a target bar names its campaign and adviser
        assert "<th>目标新增</th>" in report.text and "<th>目标成交金额</th>" in report.text
        # the funnel says why 成交 may be more than 互动 (the KPI page's caption says it too)
        assert "成交的客户不一定发过消息" in report.text
        everything = c.get("/campaigns/report")  # no start date: up to today
        assert "截至 " in everything.text and "开始" not in everything.text.split("</h1>")[0]
        assert "adv-a</" not in c.get(f"/campaigns/{cid}").text  # advisers by name, never id
        assert c.get("/campaigns/unattributed").status_code == 403  # operators see no customers
    with world.client() as c:
        login(c, "alice")
        assert c.get("/campaigns").status_code == 403


def test_the_sidebar_shows_fields_origin_next_actions_and_own_numbers(world: World) -> None:
    with world.client() as c:
        csrf = login(c, "alice")
        page = c.get(f"/sidebar?customer_id={world.cust_a}")
        assert page.status_code == 200
        for text in ("我的数据", "资料", "来源", "直播一", "LIVEAA", "保存介绍人"):
            assert text in page.text, text
        assert "（目标 5）" in page.text  # alice's target of 5 new contacts, not 「1/5」
        assert 'href="/campaigns/unattributed"' in page.text  # her way to the page
        assert '<span class="k"></span><span class="h">今日</span><span class="h">' in page.text
        res = c.post(
            f"/sidebar/customers/{world.cust_a}/fields",
            data={
                "field:预算": "9000",
                "field:职业": "",
                "field:收入区间": "10万以下",
                "csrf_token": csrf,
            },
            follow_redirects=False,
        )
        assert res.status_code == 303
        with world.rt.db.session() as session:
            from bot.store import fields as fields_repo

            values = {
                v.field: v.value
                for v in fields_repo.field_values(session=session, customer_id=world.cust_a)
            }
        assert values == {"预算": "9000", "收入区间": "10万以下"}
        bad = c.post(
            f"/sidebar/customers/{world.cust_a}/fields",
            data={"field:预算": "很多", "csrf_token": csrf},
        )
        assert bad.status_code == 400 and "需要一个数字" in bad.text
    with world.client() as c:
        login(c, "mia")
        page = c.get(f"/sidebar?customer_id={world.cust_a}")
        assert page.status_code == 200 and "我的数据" not in page.text
    with world.rt.db.session() as session:
        assert session.get(Customer, world.cust_a) is not None


def test_the_amount_of_orders_has_one_name_on_every_page(
    world: World, campaign: dict[str, object]
) -> None:
    """The console said 「成交金额」 on 我的数据 and the 数据 page but 「收入」 on the
    campaign and referral pages for the same figure (and 「收入区间」 is a customer's income):
    it is 「成交金额」 everywhere."""
    cid = campaign["campaign"]["id"]  # type: ignore[index]
    pages = {
        "alice": ["/sidebar"],
        "mia": [
            f"/campaigns/{cid}",
            f"/campaigns/{cid}/customers",
            "/campaigns/report",
            "/campaigns/referrals",
            "/manager",
            "/manager/kpis",
        ],
    }
    for user, paths in pages.items():
        with world.client() as c:
            login(c, user)
            for path in paths:
                page = c.get(path)
                assert page.status_code == 200, path
                assert "成交金额" in page.text, path
                assert "收入" not in page.text.replace("收入区间", ""), path


def test_forms_and_lists_name_things_rather_than_numbering_them(
    world: World, campaign: dict[str, object]
) -> None:
    """The walk at 360 and 1280 px: 未归因客户 showed each customer's number (「#7」) and
    said 「客户 7 已归因」; a new campaign's welcome script was typed as an id (「欢迎语话术
    ID」); the code form asked for 「顾问（姓名或 ID）」; the script editor listed bare
    {customer_name}-style variables. Each now says what it is by name."""
    customer_message(world.rt, "adv-a", "wx-walk", "你好", "走查客户")
    walk = _customer_named(world, "走查客户")
    cid = campaign["campaign"]["id"]  # type: ignore[index]
    with world.client() as c:
        csrf = login(c, "mia")
        page = c.get("/campaigns/unattributed").text
        row = page.split("<b>走查客户</b>", 1)[1].split("</div>", 1)[0]
        assert f"#{walk}" not in row and "Alice" in row
        res = c.post(
            "/campaigns/unattributed",
            data={"customer_id": str(walk), "code": "LIVEAA", "csrf_token": csrf},
        )
        assert "走查客户 已归因" in res.text and f"客户 {walk} 已归因" not in res.text
        detail = c.get(f"/campaigns/{cid}").text
        assert "姓名或 ID" not in detail and "<label>顾问 <input" in detail
    with world.client() as c:
        login(c, "olivia")
        page = c.get("/campaigns").text
        title = world.rt.library.get(["INS-WEL-1"])["INS-WEL-1"].title
        picker = re.search(r'<select name="welcome_script_id">(.*?)</select>', page, re.S)
        assert picker, "the welcome script is picked from a list"
        assert f'<option value="INS-WEL-1">{title} · 保险</option>' in picker.group(1)
        assert "话术 ID" not in page
        editor = c.get("/scripts/new").text
        assert "{customer_name} 客户称呼" in editor and "{adviser_name} 顾问称呼" in editor


def _customer_named(world: World, name: str) -> int:
    with world.rt.db.session() as session:
        rows = inbox_repo.conversation_list(session=session, adviser_ids=None, viewer="x")
    return next(r.customer_id for r in rows if r.name == name)


def _referrer_input(page: str) -> str:
    found = re.search(r'<input name="referrer"[^>]*value="([^"]*)"', page)
    assert found, "no referrer input"
    return found.group(1)


def test_the_referrer_is_shown_and_set_by_name_on_the_profile(world: World) -> None:
    """The 介绍人 input shows the referrer's name (it showed their customer number), and
    a name typed there is resolved among the customers one may see; without JavaScript,
    a form sent back unchanged keeps the referrer."""
    customer_message(world.rt, "adv-a", "wx-ref-old", "你好", "老客户赵敏")
    customer_message(world.rt, "adv-a", "wx-ref-new", "朋友介绍来的", "新客户钱多")
    customer_message(world.rt, "adv-a", "wx-twin-1", "在吗", "同名周婷")
    customer_message(world.rt, "adv-a", "wx-twin-2", "在吗", "同名周婷")
    customer_message(world.rt, "adv-b", "wx-ref-bob", "你好", "别组老客户")
    old, new = _customer_named(world, "老客户赵敏"), _customer_named(world, "新客户钱多")
    twin = _customer_named(world, "同名周婷")
    url = f"/sidebar/customers/{new}/referrer"
    with world.client() as c:
        csrf = login(c, "alice")
        res = c.post(url, data={"referrer": "老客户赵敏", "csrf_token": csrf})
        assert res.status_code == 200
        page = c.get(f"/sidebar?customer_id={new}").text
        assert _referrer_input(page) == "老客户赵敏"  # the name, not 「{old}」
        assert f'href="/sidebar?customer_id={old}">老客户赵敏</a>' in page
        # sent back as shown (no JavaScript): nothing changes
        same = {"referrer": "老客户赵敏", "referrer_shown": "老客户赵敏", "csrf_token": csrf}
        assert c.post(url, data=same).status_code == 200
        assert _referrer_input(c.get(f"/sidebar?customer_id={new}").text) == "老客户赵敏"
        # a name two customers share asks for something that tells them apart
        script = {"X-Siyu-Form": "1"}
        both = c.post(url, data={"referrer": "同名周婷", "csrf_token": csrf}, headers=script)
        assert both.status_code == 400
        assert both.json()["detail"] == "有 2 位客户叫「同名周婷」：请填介绍人的手机号或微信号"
        # another adviser's customer's name is as unknown as nobody's
        for name in ("别组老客户", "没有这个人"):
            res = c.post(url, data={"referrer": name, "csrf_token": csrf}, headers=script)
            assert res.status_code == 404 and res.json()["detail"] == "介绍人不存在"
        # a WeChat id still works; the page shows the name again
        res = c.post(url, data={"referrer": "wx-twin-2", "csrf_token": csrf})
        page = c.get(f"/sidebar?customer_id={new}").text
        assert _referrer_input(page) == "同名周婷" and twin != old
        # emptied: cleared
        res = c.post(url, data={"referrer": "", "referrer_shown": "同名周婷", "csrf_token": csrf})
        assert _referrer_input(c.get(f"/sidebar?customer_id={new}").text) == ""


def test_unattributed_contacts_are_fixed_on_the_page(world: World) -> None:
    customer_message(world.rt, "adv-a", "wx-fix", "你好", "待归因")
    with world.client() as c:
        csrf = login(c, "mia")
        page = c.get("/campaigns/unattributed")
        assert "待归因" in page.text
        with world.rt.db.session() as session:
            rows = inbox_repo.conversation_list(session=session, adviser_ids=None, viewer="x")
        cid = next(r.customer_id for r in rows if r.name == "待归因")
        res = c.post(
            "/campaigns/unattributed",
            data={"customer_id": str(cid), "code": "LIVEAA", "csrf_token": csrf},
            follow_redirects=False,
        )
        assert res.status_code == 303
        after = c.get("/campaigns/unattributed?fixed=1").text
        assert "待归因" not in after and "已归因" in after


def test_a_new_campaigns_segment_is_chosen_among_the_saved_ones(world: World) -> None:
    """目标人群 was a bare box and a name not saved was refused with 「分群 'x' 不存在」
    alone: the box now lists the saved segments, and the refusal names them."""
    from bot.services import segments as segments_service

    with world.rt.db.session() as session:
        segments_service.save(
            session, cli_principal("t"), name="有孩子的客户", filters=["tag=有孩子"]
        )
    with world.client() as c:
        csrf = login(c, "olivia")
        page = c.get("/campaigns").text
        box = re.search(r'<input name="segment"[^>]*>', page)
        assert box and 'list="segments"' in box.group(0)
        assert re.search(r'<datalist id="segments"><option value="有孩子的客户">', page)
        form = {"name": "门店三月", "channel": "门店扫码", "starts_on": "2026-03-01"}
        res = c.post(
            "/campaigns",
            data=form | {"segment": "有娃客户", "csrf_token": csrf},
            headers={"X-Siyu-Form": "1"},
        )
        assert res.status_code == 404
        assert res.json()["detail"] == (
            "分群“有娃客户”不存在：已保存的分群：有孩子的客户；不限人群请留空"
        )


def _visible(world: World, *advisers: str) -> int:
    """How many customers (not merged away) the advisers have; all advisers' if none."""
    from sqlalchemy import func, select

    with world.rt.db.session() as session:
        stmt = select(func.count()).select_from(Customer).where(Customer.merged_into_id.is_(None))
        if advisers:
            stmt = stmt.where(Customer.adviser_id.in_(advisers))
        return int(session.scalar(stmt) or 0)


def test_segments_are_kept_by_managers_and_counted_in_their_scope(world: World) -> None:
    """The segment service admitted the command line's administrator alone, so no console
    user could keep a segment. Managers now save, count, list and delete them, each size
    counted among the customers they see (their team's; all for a manager without a
    team, as for the administrator); operators and advisers are refused. Saving without
    replacing refuses a name taken; every change is audited."""
    from bot.errors import Conflict, PermissionDenied
    from bot.services import segments as segments_service
    from bot.services.access import user_principal
    from bot.store import users as users_repo

    with world.rt.db.session() as s:
        mia, max_, alice, olivia = (
            user_principal(users_repo.get_user_by_username(session=s, username=name))  # type: ignore[arg-type]
            for name in ("mia", "max", "alice", "olivia")
        )
        for refused in (alice, olivia):
            with pytest.raises(PermissionDenied):
                segments_service.save(s, refused, name="不行", filters=["tag=有孩子"])
            with pytest.raises(PermissionDenied):
                segments_service.list_segments(s, refused)
        everybody = ["name!=没有这个人"]
        assert segments_service.save(s, mia, name="谁都算", filters=everybody) == _visible(
            world, "adv-a"
        )
        assert segments_service.size(s, max_, name="谁都算") == _visible(world)
        assert segments_service.size(s, cli_principal("t"), name="谁都算") == _visible(world)
        sizes = {r.name: n for r, n in segments_service.list_segments(s, mia)}
        assert sizes["谁都算"] == _visible(world, "adv-a")
        with pytest.raises(Conflict, match="分群“谁都算”已经有了"):
            segments_service.save(s, max_, name="谁都算", filters=["tag=有孩子"], replace=False)
        segments_service.delete(s, max_, name="谁都算")
        assert "谁都算" not in [r.name for r, _ in segments_service.list_segments(s, mia)]
    assert "segment.save" in actions(world, "mia") and "segment.delete" in actions(world, "max")


def _conditions(page: str, name: str) -> list[str]:
    """The filters in words of the segment ``name`` on 客户分群."""
    card = re.search(
        rf'<b class="segment-name">{re.escape(name)}</b>.*?<ul class="conditions"[^>]*>(.*?)</ul>',
        page,
        re.S,
    )
    assert card, name
    return re.findall(r"<li>(.*?)</li>", card.group(1))


def test_managers_keep_segments_on_a_page_counted_in_their_own_scope(world: World) -> None:
    """A segment could be saved on the command line only (the service admitted its
    administrator alone). A manager now saves, sees and deletes them on 客户分群
    (/campaigns/segments): the filters of `siyu segments add` with the same checks and
    words, each segment's filters read in Chinese, and how many customers it holds among
    the manager's own (the team's; every customer for a manager without a team).
    Operators, who see no customers, and advisers may not."""
    east, everyone = _visible(world, "adv-a"), _visible(world)
    assert 0 < east < everyone  # bob's 李先生 is west
    for user in ("alice", "olivia"):
        with world.client() as c:
            csrf = login(c, user)
            assert c.get("/campaigns/segments").status_code == 403
            sent = {"segment_name": "x", "filters": "tag=有孩子", "csrf_token": csrf}
            assert c.post("/campaigns/segments", data=sent).status_code == 403
    assert "客户分群" not in world.client("olivia").get("/campaigns").text

    with world.client() as c:
        csrf = login(c, "mia")
        assert 'href="/campaigns/segments">客户分群</a>' in c.get("/campaigns").text

        def send(**fields: str) -> object:
            return c.post(
                "/campaigns/segments",
                data=fields | {"csrf_token": csrf},
                headers={"X-Siyu-Form": "1"},
            )

        bad = send(segment_name="坏分群", filters="colour=red\nspent>=x")
        assert bad.status_code == 400  # type: ignore[attr-defined]
        lines = bad.json()["detail"].splitlines()  # type: ignore[attr-defined]
        assert lines[0] == "2 个筛选条件有错"  # the words of `siyu segments add`
        assert lines[1].startswith(
            "  - 筛选条件“colour=red”：未知字段“colour”；可用：行业（industry）"
        )
        assert lines[2] == "  - 筛选条件“spent>=x”：累计消费需要一个数字"
        empty = send(segment_name="空分群", filters=" \n ")
        assert empty.json()["detail"] == "分群至少需要一个筛选条件"  # type: ignore[attr-defined]

        saved = send(segment_name="全部客户", filters="name!=没有这个人\n", description="试试")
        assert saved.status_code == 200, saved.text  # type: ignore[attr-defined]
        where = saved.json()["location"]  # type: ignore[attr-defined]
        page = c.get(where).text
        assert f"已保存分群「全部客户」：现在有 {east} 位客户符合条件" in page
        assert "人数按你团队顾问的客户现算" in page
        taken = send(segment_name="全部客户", filters="tag=有孩子")
        assert taken.status_code == 409  # type: ignore[attr-defined]
        assert taken.json()["detail"] == "分群“全部客户”已经有了：请换一个名称，或先删除原来的"  # type: ignore[attr-defined]

        words = "\n".join(
            [
                "adviser=adv-a",
                "spent>=5000",
                "tag!=已投保",
                "lifecycle=churn_risk",
                "预算>=3000",
                "industry=insurance",
            ]
        )
        assert send(segment_name="读得懂", filters=words).status_code == 200  # type: ignore[attr-defined]
        page = c.get("/campaigns/segments").text
        assert _conditions(page, "读得懂") == [
            "顾问 = Alice",
            "累计消费 ≥ 5000 元",
            "没有标签「已投保」",
            "生命周期 = 流失风险",
            "预算 ≥ 3000 元/年",
            "行业 = 保险",
        ]
        assert "adv-a" not in "".join(_conditions(page, "读得懂"))

    with world.client() as c:
        login(c, "max")  # no team: every customer
        page = c.get("/campaigns/segments").text
        card = re.search(r'<b class="segment-name">全部客户</b>\s*<span[^>]*>(\d+) 位客户', page)
        assert card and int(card.group(1)) == everyone

    with world.client() as c:
        csrf = login(c, "mia")
        gone = c.post(
            "/campaigns/segments/delete",
            data={"segment_name": "全部客户", "csrf_token": csrf},
            follow_redirects=False,
        )
        assert gone.status_code == 303
        page = c.get(gone.headers["location"]).text
        assert "分群已删除" in page and '<b class="segment-name">全部客户</b>' not in page
        again = c.post(
            "/campaigns/segments/delete",
            data={"segment_name": "全部客户", "csrf_token": csrf},
            headers={"X-Siyu-Form": "1"},
        )
        assert again.status_code == 404
        assert again.json()["detail"] == "分群 '全部客户' 不存在"
    done = actions(world, "mia")
    assert "segment.save" in done and "segment.delete" in done
