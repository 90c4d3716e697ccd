"""Campaign codes never carry a customer out of their adviser's scope: two teams (alice in
east, bob in west), a customer of alice who writes bob's entry code, and a customer of
alice credited to bob's code by the administrator. Through the JSON API and the console
pages (in-process, real SQLite / Chroma / embeddings): drill-downs, report rows and 我的数据
count and list customers by their own adviser; a person credits only codes of their
scope; the referrer field cannot tell another adviser's customer from nobody."""

from __future__ import annotations

import csv
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from web_helpers import PASSWORD, add_users, bearer_client, customer_message, login, web_app

from bot.cli import run
from bot.errors import InputError, NotFoundError, PermissionDenied
from bot.pipeline.runtime import Runtime, open_runtime
from bot.services import campaigns as campaigns_service
from bot.services import conversions as conversions_service
from bot.services import customers as customers_service
from bot.services import referrals as referrals_service
from bot.services.access import (
    cli_principal,
    hash_password,
    new_api_token,
    token_digest,
    user_principal,
)
from bot.settings import Settings
from bot.store import inbox as inbox_repo
from bot.store import users as users_repo
from bot.store.models import Event


class World:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.tokens = add_users(rt)
        # wendy manages west (bob's team), as mia manages east (alice's)
        with rt.db.session() as session:
            user = users_repo.create_user(
                session=session,
                username="wendy",
                password_hash=hash_password(PASSWORD),
                role="manager",
                display_name="Wendy",
                team="west",
            )
            token = new_api_token()
            users_repo.create_api_token(
                session=session, user_id=user.id, name="test", digest=token_digest(token)
            )
        self.tokens["wendy"] = token
        self.app = web_app(rt)

    def client(self, user: str | None = None) -> TestClient:
        return bearer_client(self.app, self.tokens[user] if user else None)

    def customer(self, adviser: str, contact: str, text: str, name: str) -> int:
        """A new contact of ``adviser`` whose first message is ``text``."""
        customer_message(self.rt, adviser, contact, text, name)
        with self.rt.db.session() as session:
            rows = inbox_repo.conversation_list(session=session, adviser_ids=None, viewer="x")
        return next(r.customer_id for r in rows if r.name == name)

    def campaign(self, name: str, codes: dict[str, str], cost: float = 1000) -> int:
        res = self.client("olivia").post(
            "/api/campaigns",
            json={
                "name": name,
                "channel": "直播",
                "starts_on": "2026-01-01",
                "cost": cost,
                "codes": codes,
            },
        )
        assert res.status_code == 201, res.text
        return int(res.json()["campaign"]["id"])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    from conftest import load_small_library

    tmp = tmp_path_factory.mktemp("scope")
    rt = open_runtime(Settings.model_validate({"data_dir": str(tmp / "data")}))
    load_small_library(rt)
    yield World(rt)  # type: ignore[misc]
    rt.close()


def names(res: Any) -> list[str]:
    assert res.status_code == 200, res.text
    return [m["name"] for m in res.json()]


def report(world: World, user: str, campaign: str) -> list[dict[str, Any]]:
    res = world.client(user).get(f"/api/campaigns/report?campaign={campaign}")
    assert res.status_code == 200, res.text
    return list(res.json())


def rows(world: World, user: str, campaign: str) -> list[tuple[Any, ...]]:
    res = world.client(user).get(f"/api/campaigns/report?campaign={campaign}")
    assert res.status_code == 200, res.text
    return [(r["adviser_id"], r["added"], r["cost"]) for r in res.json()]


def target_added(world: World, user: str, campaign: str) -> int:
    body = world.client(user).get("/api/me/numbers").json()
    return int(next(t for t in body["targets"] if t["campaign"] == campaign)["added"])


def test_a_greeting_with_a_colleagues_code_leaves_the_contact_unattributed(
    world: World,
) -> None:
    world.campaign("验证语活动", {"adv-a": "GREETA", "adv-b": "GREETB"})
    cid = world.customer("adv-a", "wx-cross", "你好，看直播加的你 GREETB", "串码客户")
    own = world.customer("adv-b", "wx-own", "你好 greetb", "自家客户")
    # bob's own contact with bob's code is attributed as before
    mine = world.client("bob").get(f"/api/customers/{own}/attribution").json()
    assert mine is not None and mine["code"]["code"] == "GREETB" and mine["method"] == "greeting"
    # alice's contact who wrote bob's code is not bob's: unattributed, the code kept
    assert world.client("alice").get(f"/api/customers/{cid}/attribution").json() is None
    with world.rt.db.session() as session:
        events = session.scalars(select(Event).where(Event.customer_id == cid)).all()
    kept = [e.payload for e in events if e.type == "code_not_attributed"]
    assert len(kept) == 1
    assert (kept[0]["code"], kept[0]["code_adviser_id"], kept[0]["adviser_id"]) == (
        "GREETB",
        "adv-b",
        "adv-a",
    )
    assert "GREETB" in kept[0]["evidence"] and not any(e.type == "attributed" for e in events)
    # bob, his manager and his numbers know nothing of her
    assert names(world.client("bob").get("/api/campaigns/验证语活动/customers")) == ["自家客户"]
    assert names(world.client("wendy").get("/api/campaigns/验证语活动/customers")) == ["自家客户"]
    assert ("adv-b", 1, 1000.0) in rows(world, "bob", "验证语活动")
    assert target_added(world, "bob", "验证语活动") == 1
    # alice's manager finds her among the unattributed contacts, to fix by hand
    waiting = names(world.client("mia").get("/api/campaigns/unattributed"))
    assert "串码客户" in waiting
    assert "串码客户" not in names(world.client("wendy").get("/api/campaigns/unattributed"))
    # the timeline and the unattributed page say what happened
    with world.client() as c:
        login(c, "alice")
        page = c.get(f"/sidebar?customer_id={cid}")
        assert page.status_code == 200 and "渠道码未归因" in page.text
        assert "未归因（验证语里的渠道码 GREETB 是其他顾问的）" in page.text  # the 来源 line
        page = c.get("/campaigns/unattributed")
        assert page.status_code == 200 and "验证语里的渠道码 GREETB 是其他顾问的" in page.text


def test_a_customer_credited_to_a_code_outside_their_advisers_scope_stays_hidden(
    world: World,
) -> None:
    """Credited before the rule, by the administrator, or moved since: the customer counts
    for those who may see them, never for the code's adviser of another team."""
    cid = world.campaign("跨组活动", {"adv-a": "CROSSA", "adv-b": "CROSSB"})
    east = world.customer("adv-a", "wx-east", "你好", "东区客户")
    cross = world.customer("adv-a", "wx-cross2", "你好", "跨组客户")
    admin = cli_principal("root")
    with world.rt.db.session() as session:
        campaigns_service.attribute(session, admin, customer_id=east, code="CROSSA")
        campaigns_service.attribute(session, admin, customer_id=cross, code="CROSSB")
    # drill-downs: bob and his manager see nobody; alice's manager sees alice's
    assert names(world.client("bob").get("/api/campaigns/跨组活动/customers")) == []
    assert names(world.client("wendy").get("/api/campaigns/跨组活动/customers")) == []
    assert names(world.client("mia").get("/api/campaigns/跨组活动/customers")) == ["东区客户"]
    # a manager of everyone lists her under bob's code, where she was credited
    assert names(world.client("max").get("/api/campaigns/跨组活动/customers?adviser=adv-b")) == [
        "跨组客户"
    ]
    with world.client() as c:
        login(c, "bob")
        page = c.get(f"/campaigns/{cid}/customers")
        assert page.status_code == 200 and "跨组客户" not in page.text
        # 我的数据 on the sidebar: nobody added by bob's code
        sidebar = c.get("/sidebar").text
        assert re.search(r"CROSSB</span><br>\s*新增 0\b", sidebar), sidebar
    # report rows: bob's row counts nobody, and its cost share does not give her away (the
    # cost is shared by each code's adviser's own customers: all of it to alice's code)
    assert rows(world, "bob", "跨组活动") == [
        ("adv-b", 0, 0.0),
        (None, 0, 0.0),
        (None, 0, 0.0),
    ]
    assert rows(world, "wendy", "跨组活动")[0] == ("adv-b", 0, 0.0)
    assert rows(world, "alice", "跨组活动")[0] == ("adv-a", 1, 1000.0)
    assert rows(world, "mia", "跨组活动")[0] == ("adv-a", 1, 1000.0)
    # an operator sees every adviser's figures: she counts where she was credited
    assert rows(world, "olivia", "跨组活动") == [
        ("adv-a", 1, 1000.0),
        ("adv-b", 1, 0.0),
        (None, 2, 1000.0),
        (None, 2, 1000.0),
    ]
    assert target_added(world, "bob", "跨组活动") == 0
    assert target_added(world, "alice", "跨组活动") == 1


def test_a_person_credits_only_codes_of_their_scope(world: World) -> None:
    """A colleague's code is refused as one that does not exist (the next test)."""
    world.campaign("归因活动", {"adv-a": "HANDA", "adv-b": "HANDB"})
    cid = world.customer("adv-a", "wx-hand", "你好", "手动归因客户")
    alice, mia = world.client("alice"), world.client("mia")
    url = f"/api/customers/{cid}/attribution"
    res = alice.put(url, json={"code": "handb"})
    assert res.status_code == 404 and "HANDB" in res.json()["detail"], res.text
    assert "只能归到自己的渠道码" in res.json()["detail"]
    res = mia.put(url, json={"code": "HANDB", "note": "电话确认"})
    assert res.status_code == 404 and "HANDB" in res.json()["detail"], res.text
    assert "本团队" in res.json()["detail"]
    # by campaign and adviser: a colleague outside the scope is refused alike whether
    # they have a code in the campaign or not (nothing told about their codes)
    other = alice.put(url, json={"campaign": "归因活动", "adviser_id": "adv-b"})
    nobody = alice.put(url, json={"campaign": "归因活动", "adviser_id": "adv-nobody"})
    assert other.status_code == nobody.status_code == 403, (other.text, nobody.text)
    # the sidebar's 来源 form and the unattributed page say the same
    with world.client() as c:
        csrf = login(c, "alice")
        form = {"code": "HANDB", "csrf_token": csrf}
        res = c.post(f"/sidebar/customers/{cid}/attribution", data=form, follow_redirects=False)
        assert res.status_code == 404 and "HANDB" in res.text
    with world.client() as c:
        csrf = login(c, "mia")
        form = {"customer_id": str(cid), "code": "HANDB", "csrf_token": csrf}
        res = c.post("/campaigns/unattributed", data=form, follow_redirects=False)
        assert res.status_code == 404
    assert alice.get(url).json() is None  # nothing changed
    # one's own code (a manager: the team's) is fine
    res = mia.put(url, json={"code": "HANDA"})
    assert res.status_code == 200 and res.json()["code"]["adviser_id"] == "adv-a"


def test_the_referrer_field_cannot_tell_another_advisers_customer_from_nobody(
    world: World,
) -> None:
    mine = world.customer("adv-a", "wx-ref-a", "你好", "被介绍人")
    theirs = world.customer("adv-b", "wx-ref-b", "你好", "别组老客户")
    alice = world.client("alice")
    url = f"/api/customers/{mine}/referrer"
    elsewhere = alice.put(url, json={"referrer": str(theirs)})
    missing = alice.put(url, json={"referrer": "99999"})
    assert (elsewhere.status_code, elsewhere.json()) == (missing.status_code, missing.json())
    assert elsewhere.status_code == 404 and elsewhere.json()["detail"] == "介绍人不存在"
    # the sidebar's form too
    with world.client() as c:
        csrf = login(c, "alice")
        pages = [
            c.post(
                f"/sidebar/customers/{mine}/referrer",
                data={"referrer": ref, "csrf_token": csrf},
                headers={"X-Siyu-Form": "1"},
            )
            for ref in (str(theirs), "99999")
        ]
    assert pages[0].status_code == pages[1].status_code == 404
    assert pages[0].json() == pages[1].json() and pages[0].json()["detail"] == "介绍人不存在"
    # a manager of everyone may link the two
    ok = world.client("max").put(url, json={"referrer": str(theirs)})
    assert ok.status_code == 200


def test_a_name_typed_as_referrer_cannot_tell_whether_it_is_another_teams_identity(
    world: World,
) -> None:
    """A name is looked up when the id / identity lookup finds nobody; an identity of
    another adviser's customer must lead to the same name lookup, or a customer of one's
    own named like a phone number tells whether another team has that phone."""
    world.customer("adv-b", "wx-probe-target", "你好", "西区客户")
    named_target = world.customer("adv-a", "wx-probe-1", "你好", "wx-probe-target")
    named_nobody = world.customer("adv-a", "wx-probe-2", "你好", "wx-probe-nobody")
    mine = world.customer("adv-a", "wx-probe-3", "你好", "被介绍的客户")
    alice = world.client("alice")
    url = f"/api/customers/{mine}/referrer"
    for name, expected in (("wx-probe-target", named_target), ("wx-probe-nobody", named_nobody)):
        res = alice.put(url, json={"referrer": name})
        assert res.status_code == 200, (name, res.text)
        assert res.json()["up"][0]["id"] == expected


def test_the_referred_count_covers_only_customers_the_viewer_may_see(world: World) -> None:
    """裂变 (customers referred directly by a campaign's customers) counts, for each viewer,
    only the referred customers they may see, judged by the referred customer's own
    adviser; so do the referral report's referrer rows and the referral chain."""
    cid = world.campaign("裂变活动", {"adv-a": "FISSA", "adv-b": "FISSB"})
    seed = world.customer("adv-a", "wx-seed", "你好", "老客户甲")
    own = world.customer("adv-a", "wx-seed-own", "你好", "甲介绍的东区客户")
    theirs = world.customer("adv-b", "wx-seed-theirs", "你好", "甲介绍的西区客户")
    below = world.customer("adv-a", "wx-seed-below", "你好", "西区客户介绍的东区客户")
    admin = cli_principal("root")
    with world.rt.db.session() as session:
        campaigns_service.attribute(session, admin, customer_id=seed, code="FISSA")
        for referee, referrer in ((own, seed), (theirs, seed), (below, theirs)):
            referrals_service.set_referrer(
                session, admin, customer_id=referee, referrer=str(referrer)
            )
        conversions_service.record(
            session,
            admin,
            customer=str(theirs),
            type="purchase",
            occurred_at=datetime.now(UTC),
            amount=5000,
        )

    def referred(user: str) -> int:
        return int(
            next(r for r in report(world, user, "裂变活动") if r["adviser_id"] == "adv-a")[
                "referred"
            ]
        )

    # the report row (JSON): alice and her manager count her own referred customer only
    assert referred("alice") == referred("mia") == 1
    # a manager of everyone, and an operator's figures, count both
    assert referred("max") == referred("olivia") == 2
    totals = [r["referred"] for r in report(world, "alice", "裂变活动") if r["total"]]
    assert totals == [1, 1]  # the campaign's total, the grand total
    # the drill-down (JSON and page)
    members = world.client("alice").get("/api/campaigns/裂变活动/customers").json()
    assert [(m["name"], m["referred"]) for m in members] == [("老客户甲", 1)]
    members = world.client("max").get("/api/campaigns/裂变活动/customers").json()
    assert [(m["name"], m["referred"]) for m in members] == [("老客户甲", 2)]
    with world.client() as c:
        login(c, "alice")
        page = c.get(f"/campaigns/{cid}/customers").text
        assert re.search(r"老客户甲</a></td><td>[^<]*</td><td>[^<]*</td><td>1</td>", page), page
    # the campaign page and the report page (a manager's)
    with world.client() as c:
        login(c, "mia")
        for url in (f"/campaigns/{cid}", "/campaigns/report"):
            page = c.get(url).text
            found = re.search(
                r"<td>裂变活动</td><td>直播</td><td>Alice</td>\s*<td>1</td><td>[^<]*</td>\s*"
                r"<td>(\d+)</td>",
                page,
            )
            assert found and found.group(1) == "1", (url, page)
    # the referral report: alice's referrer row counts and sums her own customers only
    shares = world.client("alice").get("/api/referrals/report").json()
    row = next(r for r in shares["referrers"] if r["referrer_id"] == seed)
    assert (row["direct"], row["chain"], row["direct_revenue"], row["chain_revenue"]) == (
        1,
        1,
        0.0,
        0.0,
    )
    shares = world.client("max").get("/api/referrals/report").json()
    row = next(r for r in shares["referrers"] if r["referrer_id"] == seed)
    assert (row["direct"], row["chain"], row["direct_revenue"]) == (2, 3, 5000.0)
    # the referral chain: down, bob's customer is left out with whom she referred
    chain = world.client("alice").get(f"/api/customers/{seed}/referrals").json()
    assert chain["down"] == [{"person": {"id": own, "name": "甲介绍的东区客户"}, "children": []}]
    chain = world.client("max").get(f"/api/customers/{seed}/referrals").json()
    assert len(chain["down"]) == 2
    # up: the referrer outside the scope shows once, and the chain stops there
    chain = world.client("alice").get(f"/api/customers/{below}/referrals").json()
    assert chain["up"] == [{"id": None, "name": "（其他顾问的客户）"}]
    chain = world.client("max").get(f"/api/customers/{below}/referrals").json()
    assert [p["id"] for p in chain["up"]] == [theirs, seed]
    with world.client() as c:
        login(c, "alice")
        sidebar = c.get(f"/sidebar?customer_id={seed}").text
        assert "甲介绍的东区客户" in sidebar and "其他顾问的客户" not in sidebar


#: The one answer, to an adviser and to a manager, for a code that does not exist and a
#: code of someone outside their scope.
NO_CODE_FOR = {
    "alice": "渠道码 {} 不存在，或不是你的渠道码：顾问只能归到自己的渠道码",
    "mia": "渠道码 {} 不存在，或不是本团队的渠道码：主管只能归到本团队顾问的渠道码",
}


def test_a_colleagues_code_cannot_be_told_from_a_code_that_does_not_exist(
    world: World,
) -> None:
    """Codes are printed on posters: crediting one by hand must not tell an adviser or a
    manager whether a code of another team exists. Same status, same words, on the API,
    the sidebar's 来源 form (page and script) and the unattributed page; the
    administrator keeps the plain answer."""
    world.campaign("探码活动", {"adv-a": "PROBEA", "adv-b": "PROBEB"})
    cid = world.customer("adv-a", "wx-probe", "你好", "探码客户")
    url = f"/api/customers/{cid}/attribution"
    for user, words in NO_CODE_FOR.items():
        api = world.client(user)
        colleague, missing = (api.put(url, json={"code": c}) for c in ("probe-b", "NOSUCH9"))
        assert colleague.status_code == missing.status_code == 404, (colleague.text, missing.text)
        assert colleague.json() == {"detail": words.format("PROBEB")}
        assert missing.json() == {"detail": words.format("NOSUCH9")}
        with world.client() as c:
            csrf = login(c, user)
            for code in ("PROBEB", "NOSUCH9"):
                form = {"code": code, "csrf_token": csrf}
                page = c.post(f"/sidebar/customers/{cid}/attribution", data=form)
                assert page.status_code == 404 and words.format(code) in page.text, page.text
                shown = c.post(
                    f"/sidebar/customers/{cid}/attribution",
                    data=form,
                    headers={"X-Siyu-Form": "1"},
                )
                assert (shown.status_code, shown.json()) == (404, {"detail": words.format(code)})
                form = {"customer_id": str(cid), "code": code, "csrf_token": csrf}
                page = c.post("/campaigns/unattributed", data=form)
                assert page.status_code == 404 and words.format(code) in page.text, page.text
    assert world.client("alice").get(url).json() is None  # nothing changed
    # nothing is hidden from the administrator, or a manager of everyone: the plain answer
    with world.rt.db.session() as session, pytest.raises(NotFoundError) as refused:
        campaigns_service.attribute(session, cli_principal("root"), customer_id=cid, code="NOSUCH9")
    assert (str(refused.value), refused.value.ref) == ("渠道码不存在", "NOSUCH9")
    res = world.client("max").put(url, json={"code": "NOSUCH9"})
    assert (res.status_code, res.json()) == (404, {"detail": "渠道码不存在"})
    assert world.client("max").put(url, json={"code": "PROBEB"}).status_code == 200


#: A name typed 10,000 characters long: no answer may give it back whole.
LONG = "张" * 10_000


def test_what_was_typed_comes_back_cut_short_and_clean(
    world: World, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """A refusal that names what the person typed (an adviser, a code) shows at most a
    short, visible piece of it: in the service's words (any front), the API's JSON, a
    form's JSON, a page and the command line's plain text."""
    world.campaign("回显活动", {"adv-a": "ECHOA"})
    cid = world.customer("adv-a", "wx-echo", "你好", "回显客户")
    with world.rt.db.session() as session:
        user = users_repo.get_user_by_username(session=session, username="alice")
        assert user is not None
        alice = user_principal(user)
        with pytest.raises(PermissionDenied) as refused:
            campaigns_service.attribute(
                session, alice, customer_id=cid, campaign="回显活动", adviser_id=LONG
            )
        with pytest.raises(InputError) as bad:
            campaigns_service.attribute(session, alice, customer_id=cid, code="!" * 10_000)
    assert len(str(refused.value)) < 120 and "张" * 41 not in str(refused.value)
    assert str(refused.value).startswith("不能把客户归到顾问 " + "张" * 39 + "…")
    assert len(str(bad.value)) < 80 and "!" * 41 not in str(bad.value)
    # the API: a field too long is refused (422) without the whole of it
    url = f"/api/customers/{cid}/attribution"
    api = world.client("alice")
    for body in (
        {"campaign": "回显活动", "adviser_id": LONG},
        {"code": LONG},
        {LONG: "x"},  # a field it does not take, named by a long key
        {"note": LONG},  # and the whole body echoed with a missing code
    ):
        res = api.put(url, json=body)
        assert res.status_code in (400, 422), res.text
        assert len(res.text) < 2000 and "张" * 100 not in res.text, res.text[:300]
    codes = {"adv-a": LONG}
    res = world.client("olivia").post(
        "/api/campaigns",
        json={"name": "长码", "channel": "直播", "starts_on": "2026-01-01", "codes": codes},
    )
    assert res.status_code == 422 and "张" * 100 not in res.text
    # invisible characters (a right-to-left override, a bell) are left out
    res = api.put(url, json={"campaign": "回显活动", "adviser_id": "\u202eadv-x\u0007"})
    assert res.status_code == 403, res.text
    assert res.json()["detail"].startswith("不能把客户归到顾问 adv-x 在活动「回显活动」")
    # a form sent by the page's script (JSON) and a page
    with world.client() as c:
        csrf = login(c, "alice")
        form = {"code": LONG, "csrf_token": csrf}
        shown = c.post(
            f"/sidebar/customers/{cid}/attribution", data=form, headers={"X-Siyu-Form": "1"}
        )
        assert shown.status_code == 422 and "张" * 100 not in shown.text
    with world.client() as c:
        login(c, "max")
        page = c.get(f"/campaigns/1/customers?adviser={LONG[:2000]}")  # as long as URLs go
        assert page.status_code == 422 and "张" * 100 not in page.text
    # the command line (plain text)
    assert run(["--data-dir", str(tmp_path / "data"), "campaigns", "show", LONG]) == 1
    err = capsys.readouterr().err
    assert "活动不存在" in err and "张" * 81 not in err and len(err) < 400, err[:300]


def test_a_table_export_names_no_referrer_outside_the_scope(world: World, tmp_path: Any) -> None:
    """The import-format export of one's customers leaves the referrer blank when it is
    another adviser's customer (the chain shows it without id; the file does not name it
    either); a referrer of the scope, and the administrator's export, keep the id."""
    elsewhere = world.customer("adv-b", "wx-exp-ref", "你好", "别组介绍人")
    mine = world.customer("adv-a", "wx-exp-ref-a", "你好", "本组介绍人")
    by_them = world.customer("adv-a", "wx-exp-1", "你好", "别组介绍的客户")
    by_mine = world.customer("adv-a", "wx-exp-2", "你好", "本组介绍的客户")
    admin = cli_principal("root")
    with world.rt.db.session() as session:
        for referee, referrer in ((by_them, elsewhere), (by_mine, mine)):
            referrals_service.set_referrer(
                session, admin, customer_id=referee, referrer=str(referrer)
            )
        user = users_repo.get_user_by_username(session=session, username="alice")
        assert user is not None
        for who, name in ((user_principal(user), "alice.csv"), (admin, "admin.csv")):
            customers_service.export_table(session, who, path=tmp_path / name)

    def referrers(name: str) -> dict[str, str]:
        with (tmp_path / name).open(encoding="utf-8-sig", newline="") as f:
            return {r["name"]: r["referred_by"] for r in csv.DictReader(f)}

    theirs = referrers("alice.csv")
    assert (theirs["别组介绍的客户"], theirs["本组介绍的客户"]) == ("", str(mine))
    assert "别组介绍人" not in theirs
    everyone = referrers("admin.csv")
    assert (everyone["别组介绍的客户"], everyone["本组介绍的客户"]) == (str(elsewhere), str(mine))
