"""The web console in-process (TestClient, real SQLite / Chroma / embeddings): login and
CSRF, role-based access on every customer-data endpoint, audit log, operator upload
report, manager review, and the CLI commands."""

from __future__ import annotations

import io
import re
import secrets
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from web_helpers import (
    PASSWORD,
    add_users,
    bearer_client,
    customer_message,
    finish_job,
    login,
    web_app,
)

from bot.cli import run
from bot.errors import ConfigError, InputError
from bot.pipeline.live import Broadcaster, LiveEvent
from bot.pipeline.runtime import Runtime
from bot.services.access import hash_password, verify_password
from bot.settings import WebSettings
from bot.store import audit as audit_repo
from bot.store import inbox as inbox_repo
from bot.store import messages as messages_repo
from bot.store import outcomes as outcomes_repo
from bot.store import tags as tags_repo
from bot.store.models import Customer
from bot.web.charts import bar_chart


class World:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.tokens = add_users(rt)
        # alice (adv-a, team east) has 张女士; bob (adv-b, team west) has 李先生.
        self.sid_a = customer_message(rt, "adv-a", "wx-a", "重疾险一年多少钱？我家有孩子", "张女士")
        self.sid_b = customer_message(rt, "adv-b", "wx-b", "太贵了，有没有优惠", "李先生")
        with rt.db.session() as session:
            rows = inbox_repo.conversation_list(session=session, adviser_ids=None, viewer="x")
            by_name = {r.name: r.customer_id for r in rows}
            self.cust_a, self.cust_b = by_name["张女士"], by_name["李先生"]
            tags = tags_repo.list_customer_tags(session=session, status="suggested")
        self.tag_a = next(t.id for t in tags if t.customer_id == self.cust_a)
        self.tag_b = next(t.id for t in tags if t.customer_id == self.cust_b)
        self.app = web_app(rt)

    def client(self, user: str | None = None) -> TestClient:
        return bearer_client(self.app, self.tokens[user] if user else None)


@pytest.fixture(scope="module")
def world(shared_runtime: Runtime) -> World:
    return World(shared_runtime)


def audit_actions(world: World, actor: str) -> list[str]:
    with world.rt.db.session() as session:
        return [e.action for e in audit_repo.list_entries(session=session, actor=actor)]


# ------------------------------------------------------------------ login, csrf, tokens
def test_login_sets_a_session_and_sends_each_role_home(world: World) -> None:
    for user, home in (("alice", "/sidebar"), ("olivia", "/scripts"), ("mia", "/manager")):
        with world.client() as c:
            login(c, user)
            res = c.get("/", follow_redirects=False)
            assert res.headers["location"] == home


def test_wrong_password_is_refused_and_audited(world: World) -> None:
    with world.client() as c:
        page = c.get("/login")
        csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
        res = c.post("/login", data={"username": "alice", "password": "nope", "csrf_token": csrf})
        assert res.status_code == 401
        assert "用户名或密码错误" in res.text
        assert c.get("/sidebar", follow_redirects=False).status_code == 303
    assert "login.failed" in audit_actions(world, "alice")


def test_login_without_csrf_token_is_refused(world: World) -> None:
    with world.client() as c:
        c.get("/login")
        res = c.post("/login", data={"username": "alice", "password": PASSWORD})
        assert res.status_code == 403


def test_cookie_writes_need_the_csrf_token_but_token_auth_does_not(world: World) -> None:
    body = {"kind": "adopted", "final_text": "好的"}
    with world.client() as c:
        csrf = login(c, "alice")
        url = f"/api/suggestions/{world.sid_a}/outcomes"
        assert c.post(url, json=body).status_code == 403
        assert c.post(url, json=body, headers={"X-CSRF-Token": "wrong"}).status_code == 403
        assert c.post(url, json=body, headers={"X-CSRF-Token": csrf}).status_code == 201
    with world.client("alice") as c:
        assert c.post(f"/api/suggestions/{world.sid_a}/outcomes", json=body).status_code == 201
        # the suggestion says what was used of it (the sidebar marks the card after a reload)
        assert c.get(f"/api/suggestions/{world.sid_a}").json()["used"] == {"": "adopted"}


def test_pages_redirect_to_login_and_api_answers_401(world: World) -> None:
    with world.client() as c:
        res = c.get("/sidebar", follow_redirects=False)
        assert res.status_code == 303 and res.headers["location"].startswith("/login?next=")
        assert c.get("/api/me").status_code == 401
        c.headers["Authorization"] = "Bearer siyu_not-a-token"
        assert c.get("/api/me").status_code == 401


def test_login_next_is_never_an_open_redirect(world: World) -> None:
    with world.client() as c:
        page = c.get("/login?next=//evil.example/x")
        assert 'name="next" value=""' in page.text


# ------------------------------------------------------------------ RBAC on customer data
def customer_requests(
    world: World, customer: int, tag: int, sid: int
) -> list[tuple[str, str, dict]]:
    return [
        ("GET", f"/api/customers/{customer}", {}),
        ("GET", f"/api/customers/{customer}/export", {}),
        ("GET", f"/api/customers/{customer}/suggestion", {}),
        ("GET", f"/api/suggestions/{sid}", {}),
        ("POST", f"/api/suggestions/{sid}/outcomes", {"kind": "adopted", "final_text": "x"}),
        ("POST", f"/api/customer-tags/{tag}/review", {"status": "rejected"}),
    ]


def test_an_adviser_cannot_read_tag_or_export_another_advisers_customer(world: World) -> None:
    with world.client("alice") as c:
        for method, url, body in customer_requests(world, world.cust_b, world.tag_b, world.sid_b):
            res = c.request(method, url, json=body or None)
            assert res.status_code == 404, (method, url, res.text)
        names = [r["name"] for r in c.get("/api/customers").json()]
        assert names == ["张女士"]
    with world.client() as c:  # the HTML pages too
        csrf = login(c, "alice")
        assert c.get(f"/sidebar?customer_id={world.cust_b}").status_code == 404
        res = c.post(
            f"/sidebar/tags/{world.tag_b}",
            data={"status": "confirmed", "customer_id": world.cust_b, "csrf_token": csrf},
        )
        assert res.status_code == 404


def test_reviewing_a_tag_on_the_profile_card_returns_to_that_tags_customer(world: World) -> None:
    """The redirect after 确认 / 拒绝 names the tag's own customer: a form field cannot send
    the adviser to an id of its choosing (nor an id too large for any page)."""
    customer_message(world.rt, "adv-a", "wx-a9", "太贵了，有没有优惠", "周女士")
    with world.rt.db.session() as session:
        rows = inbox_repo.conversation_list(session=session, adviser_ids=None, viewer="x")
        customer = next(r.customer_id for r in rows if r.name == "周女士")
        waiting = tags_repo.list_customer_tags(
            session=session, status="suggested", customer_id=customer
        )
    first, second = waiting[0].id, waiting[-1].id
    with world.client() as c:
        csrf = login(c, "alice")
        for tag_id, extra in ((first, {"customer_id": str(10**30)}), (second, {})):
            res = c.post(
                f"/sidebar/tags/{tag_id}",
                data={"status": "rejected", "csrf_token": csrf, **extra},
                follow_redirects=False,
            )
            assert res.status_code == 303, res.text
            assert res.headers["location"] == f"/sidebar?customer_id={customer}#tags"


def test_denied_reads_are_audited_without_telling_the_caller(world: World) -> None:
    """A 404 for another adviser's customer is logged (who, which customer, that it
    exists); the caller sees exactly what a customer that does not exist looks like."""

    def denied(after: int = 0) -> list[tuple[str, str, dict[str, object]]]:
        with world.rt.db.session() as session:
            entries = audit_repo.list_entries(session=session, actor="alice")
        return [
            (e.target_id, e.action, e.detail)
            for e in entries
            if e.action.endswith("denied") and e.id > after
        ]

    with world.rt.db.session() as session:
        before = max((e.id for e in audit_repo.list_entries(session=session)), default=0)
    with world.client("alice") as c:
        for method, url, body in customer_requests(world, world.cust_b, world.tag_b, world.sid_b):
            c.request(method, url, json=body or None)
        theirs = c.get(f"/api/customers/{world.cust_b}")
        missing = c.get("/api/customers/987654")
        assert (theirs.status_code, theirs.json()) == (missing.status_code, missing.json())
        assert c.get("/api/funnel/adv-b/customers").status_code == 404
    found = denied(after=before)
    assert (str(world.cust_b), "customer.denied", {"exists": True}) in found
    assert ("987654", "customer.denied", {"exists": False}) in found
    assert ("adv-b", "adviser.denied", {}) in found
    # every refused request of the list is on record (export, suggestion, outcome, tag …)
    assert sum(1 for t, a, _ in found if t == str(world.cust_b)) >= 7


def test_an_adviser_can_use_their_own_customer(world: World) -> None:
    with world.client("alice") as c:
        for method, url, body in customer_requests(world, world.cust_a, world.tag_a, world.sid_a):
            if url.endswith("/review"):
                continue  # reviewed in the manager test
            res = c.request(method, url, json=body or None)
            assert res.status_code in (200, 201), (method, url, res.text)


def test_a_manager_sees_their_team_only_and_a_teamless_manager_sees_all(world: World) -> None:
    with world.client("mia") as c:  # team east = alice
        assert c.get(f"/api/customers/{world.cust_a}").status_code == 200
        assert c.get(f"/api/customers/{world.cust_b}").status_code == 404
        assert c.get(f"/api/customers/{world.cust_b}/export").status_code == 404
    with world.client("max") as c:
        assert c.get(f"/api/customers/{world.cust_b}").status_code == 200


def test_operators_see_no_customer_data_and_advisers_no_operator_pages(world: World) -> None:
    with world.client("olivia") as c:
        for method, url, body in customer_requests(world, world.cust_a, world.tag_a, world.sid_a):
            assert c.request(method, url, json=body or None).status_code == 403
        assert c.get("/api/customers").status_code == 403
    with world.client("alice") as c:
        assert c.get("/api/scripts").status_code == 403
        assert c.get("/api/tags/review-queue").status_code == 403
        assert c.get("/api/kpis").status_code == 403


def test_views_and_exports_are_audited(world: World) -> None:
    with world.client("max") as c:
        c.get(f"/api/customers/{world.cust_a}")
        c.get(f"/api/customers/{world.cust_a}/export")
        c.get("/api/customers")
    with world.rt.db.session() as session:
        entries = audit_repo.list_entries(session=session, actor="max", limit=10)
    found = {(e.action, e.target_id) for e in entries}
    assert ("customer.view", str(world.cust_a)) in found
    assert ("customer.export", str(world.cust_a)) in found
    assert ("inbox.view", "") in found


def test_export_holds_profile_and_suggestions(world: World) -> None:
    with world.client("alice") as c:
        data = c.get(f"/api/customers/{world.cust_a}/export").json()
    assert data["profile"]["customer"]["name"] == "张女士"
    assert data["profile"]["identities"][0]["value"] == "wx-a"
    assert data["suggestions"][0]["candidates"]["scripts"]


# ------------------------------------------------------------------ sidebar data
def test_inbox_counts_unread_until_the_customer_is_opened(world: World) -> None:
    customer_message(world.rt, "adv-b", "wx-b2", "理赔需要什么材料", "王先生")
    with world.client("max") as c:
        rows = {r["name"]: r for r in c.get("/api/customers").json()}
        assert rows["王先生"]["unread"] == 1
        assert rows["王先生"]["waiting_since"] is not None
        c.get(f"/api/customers/{rows['王先生']['customer_id']}")
        rows = {r["name"]: r for r in c.get("/api/customers").json()}
        assert rows["王先生"]["unread"] == 0


def test_outcome_must_name_a_script_of_that_suggestion(world: World) -> None:
    with world.client("alice") as c:
        url = f"/api/suggestions/{world.sid_a}/outcomes"
        bad = c.post(url, json={"kind": "adopted", "final_text": "x", "script_id": "KY-PRC-1"})
        assert bad.status_code == 422
        shown = c.get(f"/api/suggestions/{world.sid_a}").json()["candidates"]["scripts"][0]
        ok = c.post(url, json={"kind": "edited", "final_text": "改过的", "script_id": shown["id"]})
        assert ok.status_code == 201
    assert "suggestion.edited" in audit_actions(world, "alice")


def test_using_a_script_again_is_one_use_with_the_latest_text(world: World) -> None:
    """「使用」 clicked again after a reload updates the use: the effectiveness page said
    采用率 400% after four clicks on one suggestion."""
    with world.client("alice") as c:
        url = f"/api/suggestions/{world.sid_a}/outcomes"
        shown = c.get(f"/api/suggestions/{world.sid_a}").json()["candidates"]["scripts"]
        first, second = shown[0]["id"], shown[1]["id"]
        body = {"script_id": first}
        ids = [
            c.post(url, json=body | {"kind": kind, "final_text": text}).json()["outcome_id"]
            for kind, text in [("adopted", "原文"), ("adopted", "原文"), ("edited", "改过")]
        ]
        body = {"kind": "adopted", "final_text": "另一条", "script_id": second}
        other = c.post(url, json=body).json()["outcome_id"]
        draft = c.post(url, json={"kind": "adopted", "final_text": "草稿"}).json()["outcome_id"]
    assert len(set(ids)) == 1 and len({ids[0], other, draft}) == 3
    with world.rt.db.session() as session:
        rows = outcomes_repo.list_outcomes(session=session, customer_id=world.cust_a)
    used = sorted((o.script_id or "", o.kind, o.final_text) for o in rows)
    assert used == sorted(
        [(first, "edited", "改过"), (second, "adopted", "另一条"), ("", "adopted", "草稿")]
    )


def test_live_events_carry_the_suggestion(world: World) -> None:
    seen: list[LiveEvent] = []
    unsubscribe = world.rt.events.subscribe(seen.append)
    try:
        sid = customer_message(world.rt, "adv-a", "wx-a", "医疗险能报销住院吗")
    finally:
        unsubscribe()
    assert seen[-1].customer_id == world.cust_a
    assert seen[-1].adviser_id == "adv-a"
    assert seen[-1].data["suggestion_id"] == sid


def test_an_adviser_posts_chat_messages_and_gets_suggestions(world: World) -> None:
    seen: list[LiveEvent] = []
    unsubscribe = world.rt.events.subscribe(seen.append)
    body = {
        "msg_id": "src-1",
        "contact_id": "ext-9",
        "contact_name": "周女士",
        "text": "重疾险一年多少钱？",
    }
    try:
        with world.client("alice") as c:
            first = c.post("/api/messages", json=body)
            again = c.post("/api/messages", json=body)
            inbox = c.get("/api/customers").json()
    finally:
        unsubscribe()
    assert first.status_code == 201, first.text
    made = first.json()
    assert made["duplicate"] is False and made["suggestion"]["scripts"]
    assert made["suggestion"]["customer_id"] == made["customer_id"]
    assert again.status_code == 200
    assert again.json() | {"suggestion": None} == made | {"duplicate": True, "suggestion": None}
    assert made["customer_id"] in {row["customer_id"] for row in inbox}
    assert [e.customer_id for e in seen] == [made["customer_id"]]  # the console updates live
    with world.rt.db.session() as session:
        logged = messages_repo.get_message(session=session, msg_id="5:adv-a:src-1")
        assert logged is not None and logged.adviser_id == "adv-a"
        assert messages_repo.count_messages(session=session, customer_id=made["customer_id"]) == 1
    # the adviser's own reply with the suggested script is matched to the suggestion
    script = made["suggestion"]["scripts"][0]["text"]
    with world.client("alice") as c:
        reply = c.post(
            "/api/messages",
            json={"contact_id": "ext-9", "text": script, "direction": "out"},
        )
    assert reply.status_code == 201 and reply.json()["suggestion"] is None
    with world.rt.db.session() as session:
        (outcome,) = outcomes_repo.list_outcomes(session=session, customer_id=made["customer_id"])
    assert outcome.kind == "adopted"
    assert outcome.suggestion_id == made["suggestion"]["suggestion_id"]


def test_posted_messages_stay_in_the_posting_advisers_scope(world: World) -> None:
    body = {"msg_id": "same-id", "contact_id": "same-contact", "text": "你好，想了解一下"}
    with world.client("alice") as a, world.client("bob") as b:
        mine = a.post("/api/messages", json=body).json()
        theirs = b.post("/api/messages", json=body)
        assert theirs.status_code == 201  # not a duplicate of alice's: ids are per adviser
        assert theirs.json()["customer_id"] != mine["customer_id"]
        assert b.get(f"/api/customers/{mine['customer_id']}").status_code == 404
        assert mine["customer_id"] not in {r["customer_id"] for r in b.get("/api/customers").json()}
    for user in ("olivia", "mia"):
        with world.client(user) as c:
            assert c.post("/api/messages", json=body).status_code == 403
    with world.client() as anonymous:
        assert anonymous.post("/api/messages", json=body).status_code == 401


def test_posted_times_are_stored_in_utc(world: World) -> None:
    with world.client("alice") as c:
        made = c.post(
            "/api/messages",
            json={"contact_id": "tz-1", "text": "在吗", "sent_at": "2026-11-23T10:00:00+08:00"},
        ).json()
    with world.rt.db.session() as session:
        (logged,) = messages_repo.recent_messages(session=session, customer_id=made["customer_id"])
    assert logged.sent_at.isoformat() == "2026-11-23T02:00:00+00:00"


def test_ids_cannot_pose_as_another_advisers_and_handed_over_contacts_are_refused(
    world: World,
) -> None:
    with world.client("bob") as b, world.client("alice") as a:
        bobs = b.post("/api/messages", json={"msg_id": "m1", "contact_id": "c", "text": "你好"})
        # alice's ids that spell bob's namespace land in hers, as distinct ids
        forged = a.post(
            "/api/messages", json={"msg_id": "adv-b:m1", "contact_id": "adv-b:c", "text": "x"}
        )
        assert forged.status_code == 201 and forged.json()["duplicate"] is False
        assert forged.json()["customer_id"] != bobs.json()["customer_id"]
        # a customer alice's integration created, later handed over to bob
        mine = a.post("/api/messages", json={"contact_id": "handover", "text": "你好"}).json()
        with world.rt.db.session() as session:
            session.get_one(Customer, mine["customer_id"]).adviser_id = "adv-b"
        refused = a.post("/api/messages", json={"contact_id": "handover", "text": "还在吗"})
        assert refused.status_code == 409
        assert "customer_id" not in refused.text
    with world.rt.db.session() as session:
        assert messages_repo.count_messages(session=session, customer_id=mine["customer_id"]) == 1


@pytest.mark.parametrize(
    "bad",
    [
        {"text": "no contact"},
        {"contact_id": "c\u0000", "text": "NUL in an id"},
        '{"contact_id": "c", "msg_id": "m\\ud800", "text": "a lone surrogate in an id"}',
        {"contact_id": "x" * 129, "text": "an id too long"},
        {"contact_id": "c", "text": "x", "sent_at": "1970-01-01T00:00:00+00:00"},
        {"contact_id": "c", "text": "x", "sent_at": "9999-12-31T23:59:59-08:00"},
        {"contact_id": "", "text": "empty contact"},
        {"contact_id": "c", "text": "x", "type": "hologram"},
        {"contact_id": "c", "text": "x", "direction": "sideways"},
        {"contact_id": "c", "text": "x", "sent_at": "2026-11-23T10:00:00"},
        {"contact_id": "c", "text": "x" * 100_001},
    ],
)
def test_bad_message_posts_are_refused_and_log_nothing(
    world: World, bad: dict[str, object]
) -> None:
    with world.rt.db.session() as session:
        before = messages_repo.count_messages(session=session)
    with world.client("alice") as c:
        if isinstance(bad, str):  # raw JSON: the client cannot encode a lone surrogate
            res = c.post("/api/messages", content=bad, headers={"content-type": "application/json"})
        else:
            res = c.post("/api/messages", json=bad)
    assert res.status_code == 422
    with world.rt.db.session() as session:
        assert messages_repo.count_messages(session=session) == before


def test_broadcaster_survives_a_failing_subscriber() -> None:
    b = Broadcaster()
    got: list[LiveEvent] = []

    def boom(_e: LiveEvent) -> None:
        raise RuntimeError("x")

    b.subscribe(boom)
    off = b.subscribe(got.append)
    b.publish(LiveEvent(kind="message", adviser_id="a", customer_id=1))
    off()
    b.publish(LiveEvent(kind="message", adviser_id="a", customer_id=1))
    assert len(got) == 1 and b.subscriber_count == 1


# ------------------------------------------------------------------ operator
BAD_CSV = (
    "id,title,category,stage,industry,tags,body\n"
    "W-1,欢迎,welcome,acquire,general,,{customer_name}您好，欢迎！\n"
    "W-2,坏行,nonsense,acquire,general,,您好{unknown_var}\n"
)


def test_upload_reports_problems_and_writes_nothing(world: World) -> None:
    with world.client() as c:
        csrf = login(c, "olivia")
        res = c.post(
            "/scripts/upload",
            data={"csrf_token": csrf},
            files={"file": ("bad.csv", io.BytesIO(BAD_CSV.encode()), "text/csv")},
        )
        job = finish_job(c, res)
        assert job["state"] == "done" and "错误" in job["message"]
        res = c.get(job["next_url"])
        assert res.status_code == 400
        assert "校验报告" in res.text and "nonsense" in res.text and "未写入任何内容" in res.text
        assert '<td class="id">W-2</td>' in res.text, "an id is not cut at its hyphen"
    assert not world.rt.library.get(["W-1"])


def test_good_upload_is_imported_only_after_confirmation(world: World) -> None:
    good = BAD_CSV.splitlines()[:2]
    with world.client() as c:
        csrf = login(c, "olivia")
        res = c.post(
            "/scripts/upload",
            data={"csrf_token": csrf},
            files={"file": ("good.csv", io.BytesIO("\n".join(good).encode()), "text/csv")},
        )
        res = c.get(finish_job(c, res)["next_url"])
        assert res.status_code == 200 and "确认导入 1 条" in res.text
        assert not world.rt.library.get(["W-1"])
        token = res.text.split("/scripts/upload/")[1].split("/confirm")[0]
        started = c.post(f"/scripts/upload/{token}/confirm", data={"csrf_token": csrf})
        job = finish_job(c, started)
        assert job["state"] == "done" and "导入完成" in job["message"]
        assert "导入完成：新增 1" in c.get(job["next_url"]).text
        # a confirmed upload is used up
        again = c.post(f"/scripts/upload/{token}/confirm", data={"csrf_token": csrf})
        assert again.status_code == 404
    assert world.rt.library.get(["W-1"])


def test_operator_edits_previews_approves_and_exports(world: World) -> None:
    with world.client() as c:
        csrf = login(c, "olivia")
        preview = c.post(
            "/api/scripts/preview",
            json={
                "id": "N-1",
                "title": "问候",
                "category": "care",
                "stage": "retain",
                "industry": "general",
                "body": "{customer_name}，{date}好！{bogus}",
            },
            headers={"X-CSRF-Token": csrf},
        ).json()
        assert preview["text"].startswith("王女士，")
        assert any("bogus" in i["message"] for i in preview["issues"])
        form = {
            "id": "N-1",
            "title": "问候",
            "category": "care",
            "stage": "retain",
            "industry": "general",
            "tags": "节日",
            "body": "{customer_name}，节日快乐！",
            "is_new": "true",
            "csrf_token": csrf,
        }
        assert c.post("/scripts/save", data=form).status_code == 200
        assert world.rt.library.get(["N-1"])["N-1"].status == "draft"
        c.post("/scripts/N-1/status", data={"status": "approved", "csrf_token": csrf})
        assert world.rt.library.get(["N-1"])["N-1"].status == "approved"
        listed = c.get("/scripts?q=节日快乐").text
        assert "N-1" in listed
        exported = c.get("/scripts/export?format=csv")
        assert exported.status_code == 200 and "N-1" in exported.text
    assert "script.export" in audit_actions(world, "olivia")


def test_knowledge_upload_shows_chunks_and_rebuilds(world: World) -> None:
    doc = "# 退保\n犹豫期15天内退保全额退还保费。\n\n# 续保\n到期前30天提醒续保。\n"
    with world.client() as c:
        csrf = login(c, "olivia")
        res = c.post(
            "/knowledge/upload",
            data={"csrf_token": csrf, "industry": "insurance"},
            files={"file": ("policy.md", io.BytesIO(doc.encode()), "text/markdown")},
        )
        job = finish_job(c, res)
        assert job["state"] == "done", job
        res = c.get(job["next_url"])
        assert res.status_code == 200 and "已导入 policy.md" in res.text
        doc_id = re.search(r'document=(\d+)#chunks">policy\.md<', res.text).group(1)  # type: ignore[union-attr]
        assert "犹豫期15天" in c.get(f"/knowledge?document={doc_id}").text
        rebuilt = finish_job(c, c.post("/knowledge/rebuild", data={"csrf_token": csrf}))
        assert "索引已重建" in c.get(rebuilt["next_url"]).text


# ------------------------------------------------------------------ manager
def test_manager_reviews_tags_in_bulk_with_evidence(world: World) -> None:
    customer_message(world.rt, "adv-a", "wx-a3", "孩子的重疾险怎么买", "赵女士")
    with world.client() as c:
        csrf = login(c, "mia")
        page = c.get("/manager/tags").text
        assert "依据" in page and "孩子" in page
        queue = c.get("/api/tags/review-queue").json()
        assert queue and all(i["adviser_id"] == "adv-a" for i in queue)
        ids = [i["tag"]["id"] for i in queue]
        res = c.post("/manager/tags", data={"status": "confirmed", "ids": ids, "csrf_token": csrf})
        assert f"已处理 {len(ids)} 个标签" in res.text
        assert c.get("/api/tags/review-queue").json() == []
        # a tag of another team's customer cannot be reviewed in bulk
        res = c.post(
            "/api/tags/review",
            json={"ids": [world.tag_b], "status": "confirmed"},
            headers={"X-CSRF-Token": csrf},
        )
        assert res.status_code == 404


def test_kpis_and_svg_chart(world: World) -> None:
    with world.client("max") as c:
        rows = {k["adviser_id"]: k for k in c.get("/api/kpis").json()}
        assert rows["adv-a"]["suggestions"] >= 2 and rows["adv-a"]["adopted"] >= 1
        page = c.get("/manager/kpis")
    assert "<svg" in page.text and "建议采用率" in page.text
    svg = bar_chart(["<x>"], [50.0], unit="%", title="t")
    assert "&lt;x&gt;" in svg and "<x>" not in svg


def test_docs_are_served_without_a_cdn(world: World) -> None:
    with world.client("olivia") as c:
        docs = c.get("/docs").text
        assert "/assets/swagger/swagger-ui-bundle.js" in docs and "cdn" not in docs.lower()
        assert c.get("/assets/swagger/swagger-ui-bundle.js").status_code == 200
        assert c.get("/openapi.json").json()["info"]["title"] == "思语 Siyu Copilot"


# ------------------------------------------------------------------ settings, passwords, CLI
def test_web_secret_rejects_placeholders(monkeypatch: pytest.MonkeyPatch) -> None:
    web = WebSettings(secret_env="T_WEB_SECRET")
    for bad in ("", "changeme", "short"):
        monkeypatch.setenv("T_WEB_SECRET", bad)
        with pytest.raises(ConfigError):
            web.secret()
    good = secrets.token_hex(32)
    monkeypatch.setenv("T_WEB_SECRET", good)
    assert web.secret() == good


def test_passwords_are_argon2_hashed() -> None:
    h = hash_password(PASSWORD)
    assert h.startswith("$argon2") and verify_password(h, PASSWORD)
    assert not verify_password(h, "wrong one") and not verify_password("garbage", "x")
    with pytest.raises(InputError):
        hash_password("short")


def test_cli_users_add_token_and_serve_needs_a_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base = ["--data-dir", str(tmp_path)]
    assert (
        run(
            [
                *base,
                "users",
                "add",
                "ann",
                "--role",
                "adviser",
                "--adviser-id",
                "a1",
                "--password",
                PASSWORD,
            ]
        )
        == 0
    )
    assert (
        run(
            [
                *base,
                "users",
                "add",
                "ann",
                "--role",
                "adviser",
                "--adviser-id",
                "a1",
                "--password",
                PASSWORD,
            ]
        )
        == 1
    )
    assert run([*base, "users", "add", "x", "--role", "boss", "--password", PASSWORD]) == 1
    assert run([*base, "users", "token", "ann"]) == 0
    assert run([*base, "users", "list"]) == 0
    monkeypatch.setenv("SIYU_WEB_SECRET", "changeme")
    assert run([*base, "serve"]) == 1


# ------------------------------------------------------------------ OneID and funnel API
def _same_phone_pair(world: World, adviser_id: str, phone: str) -> tuple[int, int]:
    """Two customers of ``adviser_id`` sharing one phone number (in two formats)."""
    from bot.store import customers as customers_repo

    with world.rt.db.session() as session:
        keep, _ = customers_repo.find_or_create_customer(
            session=session,
            identity_kind="phone",
            identity_value=phone,
            name="合并甲",
            adviser_id=adviser_id,
        )
        dup, _ = customers_repo.find_or_create_customer(
            session=session,
            identity_kind="phone",
            identity_value=f"+86 {phone[:3]}-{phone[3:7]}-{phone[7:]}",
            name="合并乙",
            adviser_id=adviser_id,
        )
    return keep.id, dup.id


def test_merge_suggestions_merge_and_undo_through_the_api(world: World) -> None:
    keep, dup = _same_phone_pair(world, "adv-a", "13700137000")
    west_keep, west_dup = _same_phone_pair(world, "adv-b", "13700137001")
    pair = {"keep_id": keep, "merge_id": dup}
    with world.client("mia") as c:
        found = c.get("/api/merge-suggestions").json()
        assert {"keep_id": keep, "merge_id": dup} in [
            {"keep_id": s["keep_id"], "merge_id": s["merge_id"]} for s in found
        ]
        assert all(west_dup != s["merge_id"] for s in found)  # another team's pair
        before = {i: c.get(f"/api/customers/{i}").json() for i in (keep, dup)}
        # another team's customers are invisible, as if they did not exist
        west = {"keep_id": west_keep, "merge_id": west_dup}
        assert c.post("/api/customers/merge", json=west).status_code == 404
        assert (
            c.post("/api/customers/merge", json={"keep_id": keep, "merge_id": west_dup}).status_code
            == 404
        )
        res = c.post("/api/customers/merge", json=pair | {"reason": "同号"})
        assert res.status_code == 201, res.text
        merge = res.json()
        assert (merge["kept_id"], merge["merged_id"], merge["actor"]) == (keep, dup, "mia")
        assert merge["moved"]["identities"] == 1
        merged = c.get(f"/api/customers/{keep}").json()
        assert len(merged["identities"]) == 2
        assert all(s["merge_id"] != dup for s in c.get("/api/merge-suggestions").json())
        assert c.post("/api/customers/merge", json=pair).status_code == 400  # already merged
    with world.client("alice") as c:  # an adviser may not merge or undo, even their own
        assert c.post("/api/customers/merge", json=pair).status_code == 403
        assert c.post(f"/api/merges/{merge['id']}/undo").status_code == 403
        assert c.get("/api/merge-suggestions").status_code == 403
    with world.client("max") as c:  # a teamless manager sees the other team's pair
        assert any(s["merge_id"] == west_dup for s in c.get("/api/merge-suggestions").json())
    with world.client("mia") as c:
        assert c.post("/api/merges/999999/undo").status_code == 404
        res = c.post(f"/api/merges/{merge['id']}/undo")
        assert res.status_code == 200 and res.json()["undone_by"] == "mia"
        assert c.post(f"/api/merges/{merge['id']}/undo").status_code == 400
        after = {i: c.get(f"/api/customers/{i}").json() for i in (keep, dup)}
    for i in (keep, dup):
        assert after[i]["customer"] == before[i]["customer"]
        assert after[i]["identities"] == before[i]["identities"]
    actions = audit_actions(world, "mia")
    assert actions.count("customer.merge") == 1 and actions.count("customer.unmerge") == 1
    assert "merge_suggestions.view" in actions


def test_merge_suggestions_pair_only_customers_in_scope(world: World) -> None:
    """Scope is applied to the identities before pairing (in SQL): three profiles share a
    phone, the oldest in another team: the team's two are suggested, the other is never
    named."""
    from bot.store import customers as customers_repo

    with world.rt.db.session() as session:
        ids = []
        for adviser, value, name in (
            ("adv-b", "13600136000", "西队"),
            ("adv-a", "136-0013-6000", "东队甲"),
            ("adv-a", "+86 136 0013 6000", "东队乙"),
        ):
            customer, _ = customers_repo.find_or_create_customer(
                session=session,
                identity_kind="phone",
                identity_value=value,
                name=name,
                adviser_id=adviser,
            )
            ids.append(customer.id)
    west, east_keep, east_dup = ids
    with world.client("mia") as c:
        found = [
            s
            for s in c.get("/api/merge-suggestions").json()
            if "手机号 13600136000" in s["evidence"]
        ]
    assert [(s["keep_id"], s["merge_id"]) for s in found] == [(east_keep, east_dup)]
    with world.client("max") as c:  # no team: every pair, the oldest profile kept
        found = [
            s
            for s in c.get("/api/merge-suggestions").json()
            if "手机号 13600136000" in s["evidence"]
        ]
    assert [(s["keep_id"], s["merge_id"]) for s in found] == [(west, east_keep), (west, east_dup)]


def test_a_manager_cannot_undo_another_teams_merge(world: World) -> None:
    keep, dup = _same_phone_pair(world, "adv-b", "13700137002")
    with world.client("max") as c:
        res = c.post("/api/customers/merge", json={"keep_id": keep, "merge_id": dup})
        assert res.status_code == 201
        merge_id = res.json()["id"]
    with world.client("mia") as c:
        assert c.post(f"/api/merges/{merge_id}/undo").status_code == 404
    with world.client("max") as c:
        assert c.post(f"/api/merges/{merge_id}/undo").status_code == 200


def test_funnel_and_its_drill_down_match_and_are_scoped(world: World) -> None:
    with world.client("mia") as c:
        rows = c.get("/api/funnel?days=30").json()
        assert [r["group"] for r in rows][:-1] == ["adv-a"]  # team east only
        (row, total) = rows
        assert (total["new"], total["engaged"], total["converted"]) == (
            row["new"],
            row["engaged"],
            row["converted"],
        )
        people = c.get("/api/funnel/adv-a/customers?days=30").json()
        assert len(people) == row["new"] and row["new"] >= 1
        assert sum(p["engaged"] for p in people) == row["engaged"]
        assert sum(p["stage"] == "converted" for p in people) == row["converted"]
        assert world.cust_a in {p["customer_id"] for p in people}
        assert c.get("/api/funnel/adv-b/customers").status_code == 404  # other team
        assert c.get("/api/funnel?days=0").status_code == 422
    with world.client("alice") as c:  # an adviser: only their own row and customers
        assert [r["group"] for r in c.get("/api/funnel").json()][:-1] == ["adv-a"]
        assert c.get("/api/funnel/adv-a/customers").status_code == 200
        assert c.get("/api/funnel/adv-b/customers").status_code == 404
    with world.client("max") as c:
        groups = {r["group"] for r in c.get("/api/funnel").json()}
        assert {"adv-a", "adv-b"} <= groups
        assert c.get("/api/funnel/adv-b/customers").status_code == 200
    with world.client("olivia") as c:
        assert c.get("/api/funnel").status_code == 403
        assert c.get("/api/funnel/adv-a/customers").status_code == 403
    assert "funnel.customers.view" in audit_actions(world, "alice")


def test_manager_merges_a_suggested_pair_on_the_page(world: World) -> None:
    keep, dup = _same_phone_pair(world, "adv-a", "13700137003")
    with world.client() as c:
        csrf = login(c, "mia")
        page = c.get("/manager/merges")
        assert page.status_code == 200 and f'name="merge_id" value="{dup}"' in page.text
        form = {"keep_id": str(keep), "merge_id": str(dup)}
        assert c.post("/manager/merges", data=form).status_code == 403  # no CSRF token
        res = c.post("/manager/merges", data=form | {"csrf_token": csrf}, follow_redirects=False)
        assert res.status_code == 303 and "merged=" in res.headers["location"]
        merge_id = int(res.headers["location"].split("merged=")[1])
        assert f'value="{dup}"' not in c.get("/manager/merges").text
    with world.client("alice") as c:
        assert c.get("/manager/merges", follow_redirects=False).status_code == 403
    with world.client("mia") as c:
        assert c.post(f"/api/merges/{merge_id}/undo").status_code == 200


def test_token_use_is_recorded_at_minute_precision(world: World) -> None:
    from datetime import timedelta

    from sqlalchemy import select

    from bot.services.access import token_digest
    from bot.store import users as users_repo
    from bot.store.models import ApiToken

    digest = token_digest(world.tokens["olivia"])

    def last_used() -> object:
        with world.rt.db.session() as session:
            return session.scalar(
                select(ApiToken.last_used_at).where(ApiToken.token_hash == digest)
            )

    with world.client("olivia") as c:
        assert c.get("/api/me").status_code == 200
        first = last_used()
        assert first is not None
        assert c.get("/api/me").status_code == 200
        assert last_used() == first  # no write per request
    with world.rt.db.session() as session:
        row = session.scalar(select(ApiToken).where(ApiToken.token_hash == digest))
        assert row is not None
        row.last_used_at = row.last_used_at - timedelta(minutes=2)  # type: ignore[operator]
        moved = row.last_used_at
    with world.rt.db.session() as session:
        assert users_repo.user_for_token(session=session, digest=digest) is not None
    assert last_used() != moved


def test_racing_posts_of_one_message_log_it_once(world: World) -> None:
    from concurrent.futures import ThreadPoolExecutor

    body = {"msg_id": "race-1", "contact_id": "racer", "text": "重疾险等待期多久"}

    def post(_: int) -> tuple[int, dict[str, object]]:
        with world.client("alice") as c:
            res = c.post("/api/messages", json=body)
            return res.status_code, res.json()

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(post, range(4)))
    assert sorted(code for code, _ in answers) == [200, 200, 200, 201]
    assert len({a["message_id"] for _, a in answers}) == 1
    assert [a["duplicate"] for _, a in answers].count(False) == 1


def test_a_manager_sees_whose_conversation_each_is(world: World) -> None:
    with world.client("mia") as c:
        inbox = c.get("/sidebar/inbox").text
    assert '<span class="meta">Alice · ' in inbox  # adv-a's customer, by her name
    with world.client("alice") as c:
        assert '<span class="meta">Alice · ' not in c.get("/sidebar/inbox").text


def test_a_refused_form_offers_the_way_back_to_it(world: World) -> None:
    """An invalid birthday used to end on a bare error page with only 返回首页."""
    with world.client() as c:
        csrf = login(c, "alice")
        form_page = f"/sidebar?customer_id={world.cust_a}"
        res = c.post(
            f"/sidebar/customers/{world.cust_a}/basics",
            data={"csrf_token": csrf, "birthday": "1990-13-45"},
            headers={"Referer": f"http://testserver{form_page}"},
        )
        assert res.status_code == 400
        assert f'<a href="{form_page}" data-back>返回修改' in res.text
        # a referer of another site is no way back
        res = c.post(
            f"/sidebar/customers/{world.cust_a}/basics",
            data={"csrf_token": csrf, "birthday": "1990-13-45"},
            headers={"Referer": "http://evil.example/x"},
        )
        assert res.status_code == 400 and "data-back" not in res.text


def test_a_form_sent_by_the_page_script_is_answered_for_the_script(world: World) -> None:
    """app.js sends console forms with X-Siyu-Form: a refusal comes back as JSON for it to
    show beside the form, and success names the next page (with its #) instead of
    redirecting, which a script cannot follow to the fragment."""
    with world.client() as c:
        csrf = login(c, "alice")
        url = f"/sidebar/customers/{world.cust_a}/basics"
        script = {"X-Siyu-Form": "1"}
        res = c.post(url, data={"csrf_token": csrf, "birthday": "1990-13-45"}, headers=script)
        assert res.status_code == 400
        assert res.headers["content-type"] == "application/json"
        assert "生日" in res.json()["detail"] or "日期" in res.json()["detail"]
        res = c.post(url, data={"csrf_token": "forged", "birthday": "1990-01-02"}, headers=script)
        assert res.status_code == 403 and "detail" in res.json()
        res = c.post(url, data={"csrf_token": csrf, "birthday": "1990-01-02"}, headers=script)
        assert res.status_code == 200
        assert res.json() == {"location": f"/sidebar?customer_id={world.cust_a}#basics"}
        assert "1990-01-02" in c.get(f"/sidebar?customer_id={world.cust_a}").text
        plain = c.post(url, data={"csrf_token": csrf, "birthday": "1990-01-03"})
        assert plain.status_code == 200 and plain.history[0].status_code == 303
        # written the Chinese way, as the box's pattern lets it through (11 characters)
        res = c.post(url, data={"csrf_token": csrf, "birthday": "1990年01月04日"}, headers=script)
        assert res.status_code == 200
        assert "1990-01-04" in c.get(f"/sidebar?customer_id={world.cust_a}").text
        # the session's cookie still goes out with the answer: logging out ends it
        res = c.post("/logout", data={"csrf_token": csrf}, headers=script)
        assert res.status_code == 200 and "set-cookie" in res.headers
        assert c.get("/sidebar", follow_redirects=False).headers["location"].startswith("/login")
        # sent after the session ended: the form stays (the script says why) …
        res = c.post(url, data={"csrf_token": csrf, "birthday": "1990-01-04"}, headers=script)
        assert res.status_code == 401 and "登录已过期" in res.json()["detail"]
        # … and without the script, the login leads back to the form's page, not to the
        # form's address (a GET there was a bare 405 in English)
        form_page = f"/sidebar?customer_id={world.cust_a}"
        res = c.post(
            url,
            data={"csrf_token": csrf, "birthday": "1990-01-04"},
            headers={"Referer": f"http://testserver{form_page}"},
            follow_redirects=False,
        )
        assert res.headers["location"] == f"/login?next={quote(form_page)}"
        csrf = login(c, "alice")
        res = c.get(url)
        assert res.status_code == 405 and "这个地址不能直接打开" in res.text
        assert "页面不存在" in c.get("/no/such/page").text


def test_the_script_editor_refusal_lists_its_problems_for_the_script(world: World) -> None:
    with world.client() as c:
        csrf = login(c, "olivia")
        draft = {
            "csrf_token": csrf,
            "id": "GEN-NEW-1",
            "title": "新话术",
            "category": "pricing",
            "stage": "convert",
            "industry": "general",
            "body": "您好{不存在的变量}",
            "is_new": "true",
        }
        res = c.post("/scripts/save", data=draft, headers={"X-Siyu-Form": "1"})
        assert res.status_code == 400
        body = res.json()
        assert body["detail"] == "没有保存，请先改正："
        assert body["problems"] and all(p.startswith("内容：") for p in body["problems"])
        assert "不存在的变量" in body["problems"][0]
        page = c.post("/scripts/save", data=draft)  # without the script: the editor again
        assert page.status_code == 400 and 'id="script-form"' in page.text
        # an approved script's refused edit keeps its status in the editor's status bar
        # (before: 「草稿」 and a 审核通过 button for a script already approved)
        approved = next(s for s in world.rt.library.list_scripts() if s.status == "approved")
        edit = draft | {"id": approved.id, "is_new": "false"}
        page = c.post("/scripts/save", data=edit)
        assert page.status_code == 400
        bar = page.text.split('id="status-form"')[1].split("</form>")[0]
        assert '当前状态 <span class="pill approved">已审核</span>' in bar and "审核通过" not in bar
