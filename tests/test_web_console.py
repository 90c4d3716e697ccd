"""The console's history, manager reports, reminders and token pages in-process
(TestClient, real SQLite): script version diff, first-response KPIs, the funnel and
weekly tags for a manager's team only, an adviser's own follow-ups, own API tokens."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from web_helpers import add_users, bearer_client, customer_message, login, web_app

from bot.pipeline.runtime import Runtime
from bot.store import customers as customers_repo
from bot.store import followups as followups_repo
from bot.store import inbox as inbox_repo
from bot.store import kpis as kpis_repo
from bot.store import messages as messages_repo
from bot.store import scripts as scripts_repo
from bot.store import tags as tags_repo
from bot.web.diffs import html_diff


class World:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.tokens = add_users(rt)
        customer_message(rt, "adv-a", "wx-a", "重疾险一年多少钱？我家有孩子", "张女士")
        customer_message(rt, "adv-b", "wx-b", "太贵了，有没有优惠", "李先生")
        with rt.db.session() as session:
            rows = inbox_repo.conversation_list(session=session, adviser_ids=None, viewer="x")
            by_name = {r.name: r.customer_id for r in rows}
            self.cust_a, self.cust_b = by_name["张女士"], by_name["李先生"]
            now = datetime.now(UTC)
            for customer_id, adviser_id, note in (
                (self.cust_a, "adv-a", "张女士 生日关怀"),
                (self.cust_b, "adv-b", "李先生 回访"),
            ):
                followups_repo.record_occurrence(
                    session=session,
                    rule="care",
                    customer_id=customer_id,
                    occurs_on=now.date(),
                    action="remind",
                    due_at=now - timedelta(hours=1),
                    adviser_id=adviser_id,
                    note=note,
                    script_id="INS-WEL-1",
                )
        self.app = web_app(rt)

    def client(self, user: str | None = None) -> TestClient:
        return bearer_client(self.app, self.tokens[user] if user else None)


@pytest.fixture(scope="module")
def world(shared_runtime: Runtime) -> World:
    return World(shared_runtime)


# ------------------------------------------------------------------ script history
def test_html_diff_marks_changes_and_escapes() -> None:
    out = str(html_diff("您好<b>，王女士", "您好<b>，李先生！"))
    assert "&lt;b&gt;" in out and "<b>" not in out
    assert "<del>王女士</del>" in out and "<ins>李先生！</ins>" in out
    assert str(html_diff("同样", "同样")) == "同样"


def test_script_history_lists_versions_and_diffs_them(world: World) -> None:
    c = world.client("olivia")
    original = world.rt.library.get(["INS-ICE-1"])["INS-ICE-1"]
    form = {
        "id": original.id,
        "title": original.title,
        "category": original.category,
        "stage": original.stage,
        "industry": original.industry,
        "tags": ";".join(original.tags),
        "body": original.body + "我们还有家庭保障方案。",
    }
    assert c.post("/scripts/save", data=form, follow_redirects=False).status_code == 303
    with world.rt.db.session() as session:
        versions = scripts_repo.list_versions(session=session, script_id="INS-ICE-1")
        assert scripts_repo.list_versions(session=session, script_id="nope") == []
    assert [v.version for v in versions] == sorted((v.version for v in versions), reverse=True)
    newest, previous = versions[0], versions[1]
    assert newest.body.endswith("我们还有家庭保障方案。")

    page = c.get("/scripts/INS-ICE-1/edit")
    assert page.status_code == 200
    assert f"v{previous.version} → v{newest.version}" in page.text
    assert "<ins>我们还有家庭保障方案。</ins>" in page.text
    # Any two versions, in either order; an unknown version is a 404.
    back = c.get(f"/scripts/INS-ICE-1/edit?old={newest.version}&new={previous.version}")
    assert "<del>我们还有家庭保障方案。</del>" in back.text
    assert c.get("/scripts/INS-ICE-1/edit?old=99").status_code == 404
    # Advisers have no access to the library.
    assert world.client("alice").get("/scripts/INS-ICE-1/edit").status_code == 403


def test_the_editor_sets_a_deadline_and_names_fields_in_chinese(world: World) -> None:
    c = world.client("olivia")
    page = c.get("/scripts/new")
    assert "{today}" in page.text and "{deadline}" in page.text and "{date}" not in page.text
    form = {
        "is_new": "true",
        "id": "INS-DDL-1",
        "title": "限时优惠",
        "category": "pricing",
        "stage": "convert",
        "industry": "保险",
        "tags": "",
        "body": "优惠到{deadline}截止",
        "has_deadline": "true",
        "deadline": "2026-12-31",
    }
    assert c.post("/scripts/save", data=form, follow_redirects=False).status_code == 303
    assert world.rt.library.get(["INS-DDL-1"])["INS-DDL-1"].deadline == date(2026, 12, 31)
    page = c.get("/scripts/INS-DDL-1/edit")
    assert 'name="deadline" value="2026-12-31"' in page.text
    # a client that does not send the field keeps it; an empty field clears it
    edit = {k: v for k, v in form.items() if k not in ("is_new", "deadline", "has_deadline")}
    assert c.post("/scripts/save", data=edit, follow_redirects=False).status_code == 303
    assert world.rt.library.get(["INS-DDL-1"])["INS-DDL-1"].deadline == date(2026, 12, 31)
    # the live preview follows the same rule: a date not sent is the stored one
    csrf = c.get("/scripts/new").text.split('name="csrf_token" value="')[1].split('"')[0]
    draft = {k: form[k] for k in ("id", "title", "category", "stage", "industry", "body")}

    def previewed(extra: dict[str, str]) -> str:
        res = c.post("/api/scripts/preview", json=draft | extra, headers={"X-CSRF-Token": csrf})
        return str(res.json()["text"])

    assert "12月31日" in previewed({}) and "12月31日" not in previewed({"deadline": ""})
    cleared = edit | {"has_deadline": "true", "deadline": ""}
    assert c.post("/scripts/save", data=cleared, follow_redirects=False).status_code == 303
    assert world.rt.library.get(["INS-DDL-1"])["INS-DDL-1"].deadline is None
    # the check names the fields as the form does
    csrf = c.get("/scripts/new").text.split('name="csrf_token" value="')[1].split('"')[0]
    shown = c.post(
        "/api/scripts/preview",
        json={"id": "", "title": "", "body": "你好", "category": "pricing", "stage": "convert"},
        headers={"X-CSRF-Token": csrf},
    ).json()
    assert {i["field_label"] for i in shown["issues"]} >= {"编号", "标题"}
    bad = c.post("/scripts/save", data=form | {"body": "你好{baby_name}"})
    assert bad.status_code == 400 and "内容：" in bad.text and "body：" not in bad.text
    assert c.post("/scripts/save", data=form | {"deadline": "31/12/2026"}).status_code == 422


# ------------------------------------------------------------------ manager
def test_first_response_is_the_median_wait_and_conversations_count_per_day(
    world: World,
) -> None:
    t0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # 10:00 Shanghai
    with world.rt.db.session() as session:
        customers_repo.ensure_adviser(session=session, adviser_id="adv-x", name="小徐")
        conv = messages_repo.get_or_create_conversation(
            session=session,
            channel="memory",
            external_id="kpi-x",
            customer_id=None,
            adviser_id="adv-x",
        )
        ids = []
        for name in ("甲", "乙"):
            found, _ = customers_repo.find_or_create_customer(
                session=session,
                identity_kind="memory_contact",
                identity_value=f"kpi-{name}",
                name=name,
                adviser_id="adv-x",
            )
            ids.append(found.id)
        script = [  # customer, direction, minutes after t0
            (ids[0], "in", 0),
            (ids[0], "in", 2),  # still the same wait
            (ids[0], "out", 5),  # 5 min
            (ids[0], "in", 60),
            (ids[0], "out", 80),  # 20 min
            (ids[1], "in", 24 * 60),  # next day
            (ids[1], "out", 24 * 60 + 30),  # 30 min
            (ids[1], "out", 24 * 60 + 31),  # not a response: nothing was waiting
        ]
        for n, (cid, direction, minutes) in enumerate(script):
            messages_repo.log_message(
                session=session,
                msg_id=f"kpi-x-{n}",
                conversation_id=conv,
                customer_id=cid,
                adviser_id="adv-x",
                direction=direction,
                text="…",
                sent_at=t0 + timedelta(minutes=minutes),
                status="done",
            )
        [kpi] = kpis_repo.adviser_kpis(
            session=session, adviser_ids=("adv-x",), timezone="Asia/Shanghai"
        )
    assert kpi.first_response_min == 20.0  # median of 5, 20, 30
    assert kpi.conversations_per_day == 1.0  # one customer on each of two days


def test_a_manager_sees_only_their_teams_kpis_funnel_and_tags(world: World) -> None:
    with world.rt.db.session() as session:
        tag_a = next(
            t
            for t in tags_repo.list_customer_tags(session=session, status="suggested")
            if t.customer_id == world.cust_a
        )
    assert (
        world.client("mia")
        .post(f"/api/customer-tags/{tag_a.id}/review", json={"status": "confirmed"})
        .status_code
        == 200
    )

    mia = world.client("mia")
    kpis = mia.get("/api/kpis").json()
    assert [k["adviser_id"] for k in kpis] == ["adv-a"]
    assert {"first_response_min", "conversations_per_day"} <= set(kpis[0])
    everyone = {k["adviser_id"] for k in world.client("max").get("/api/kpis").json()}
    assert {"adv-a", "adv-b"} <= everyone

    page = mia.get("/manager/kpis")
    assert page.status_code == 200
    assert page.text.count("<svg") == 7  # 4 KPI charts, the funnel, 2 tag charts
    funnel = re.search(r'<table [^>]*id="funnel-table">(.*?)</table>', page.text, re.S)
    # advisers by name (their console accounts'), never by id
    assert funnel and "Alice" in funnel.group(1) and "adv-a" not in funnel.group(1)
    assert "Bob" not in funnel.group(1)
    # new, engaged, its share of new, converted, its share of new
    assert "<td>1</td><td>1</td><td>100%</td><td>0</td><td>0%</td>" in funnel.group(1)
    tags = re.search(r'<table [^>]*id="tag-table">(.*?)</table>', page.text, re.S)
    assert tags and f"<td>{tag_a.tag.category}</td><td>1</td>" in tags.group(1)
    assert "adv-b" not in page.text and "李先生" not in page.text

    # Only the team's customers' tags count.
    with world.rt.db.session() as session:
        since = datetime.combine(date.today() - timedelta(days=14), datetime.min.time(), UTC)
        team = kpis_repo.tag_weeks(session=session, adviser_ids=("adv-a",), since=since)
        org = kpis_repo.tag_weeks(session=session, adviser_ids=None, since=since)
    assert sum(w.confirmed for w in team) == 1
    assert sum(w.confirmed + w.suggested for w in org) > sum(
        w.confirmed + w.suggested for w in team
    )
    assert world.client("alice").get("/manager/kpis").status_code == 403


# ------------------------------------------------------------------ reminders
def test_an_adviser_sees_their_own_reminders_with_the_script(world: World) -> None:
    alice = world.client("alice").get("/api/reminders").json()
    assert [r["customer_id"] for r in alice] == [world.cust_a]
    assert alice[0]["note"] == "张女士 生日关怀"
    assert alice[0]["script"].startswith("张女士您好") and "Alice" in alice[0]["script"]
    bob = world.client("bob").get("/api/reminders").json()
    assert [r["customer_id"] for r in bob] == [world.cust_b]
    team = world.client("mia").get("/api/reminders").json()
    assert [r["customer_id"] for r in team] == [world.cust_a]
    assert world.client("olivia").get("/api/reminders").status_code == 403

    page = world.client("alice").get("/sidebar")
    assert 'id="reminders"' in page.text and "张女士 生日关怀" in page.text
    assert "李先生 回访" not in page.text
    assert (
        "李先生 回访" not in world.client("alice").get(f"/sidebar?customer_id={world.cust_a}").text
    )


# ------------------------------------------------------------------ tokens
def test_users_list_and_revoke_their_own_tokens(world: World) -> None:
    from bot.services.access import new_api_token, token_digest
    from bot.store import users as users_repo

    spare = new_api_token()
    with world.rt.db.session() as session:
        bob = users_repo.get_user_by_username(session=session, username="bob")
        assert bob
        record = users_repo.create_api_token(
            session=session, user_id=bob.id, name="spare", digest=token_digest(spare)
        )
    c = world.client("bob")
    listed = c.get("/api/tokens").json()
    assert [t["name"] for t in listed] == ["spare", "test"]
    assert "token_hash" not in listed[0]
    others = world.client("alice").get("/api/tokens").json()
    assert record.id not in [t["id"] for t in others]
    # Someone else's token is not theirs to revoke.
    assert world.client("alice").delete(f"/api/tokens/{record.id}").status_code == 404

    spare_client = TestClient(world.app, headers={"Authorization": f"Bearer {spare}"})
    assert spare_client.get("/api/me").status_code == 200
    assert c.delete(f"/api/tokens/{record.id}").status_code == 204
    assert spare_client.get("/api/me").status_code == 401
    assert c.get("/api/me").status_code == 200  # the other token still works
    assert [t["revoked"] for t in c.get("/api/tokens").json()] == [True, False]

    # The page: a cookie session revokes with its CSRF token.
    with world.client() as browser:
        csrf = login(browser, "olivia")
        page = browser.get("/account/tokens")
        assert page.status_code == 200 and "撤销" in page.text
        own = int(re.search(r"/account/tokens/(\d+)/revoke", page.text).group(1))  # type: ignore[union-attr]
        assert browser.post(f"/account/tokens/{own}/revoke").status_code == 403  # no CSRF
        done = browser.post(f"/account/tokens/{own}/revoke", data={"csrf_token": csrf})
        assert done.status_code == 200 and "已撤销" in done.text
    assert world.client("olivia").get("/api/me").status_code == 401


# ------------------------------------------------------------------ identities
def test_the_profile_names_every_identity_as_the_command_line_does(
    make_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    """The sidebar had its own labels: a history import's contact (the README's first
    step) and a member id read 「其他」, a phone 「手机」 where the profile on the command
    line says 手机号."""
    from bot.services import history
    from bot.services.access import cli_principal

    rt = make_runtime(load=False)
    users = add_users(rt)
    path = tmp_path / "h.jsonl"
    path.write_text(
        '{"msg_id": "m1", "contact_id": "c1", "contact_name": "王女士", "adviser_id": "adv-a",'
        ' "direction": "in", "text": "在吗", "sent_at": "2026-03-01T09:00:00+08:00"}\n',
        encoding="utf-8",
    )
    history.import_file(rt, cli_principal("tester"), path=path)
    with rt.db.session() as session:
        (customer,) = customers_repo.list_customers(session=session)
    page = bearer_client(web_app(rt), users["alice"]).get(f"/sidebar?customer_id={customer.id}")
    assert page.status_code == 200
    assert '<span class="pill">聊天记录导入</span> 王女士' in page.text
    assert '<span class="pill">其他</span>' not in page.text


def test_the_knowledge_upload_offers_the_industries_by_their_chinese_names(world: World) -> None:
    """The upload's 适用行业 box was empty with nothing to choose from (a code? a name?):
    it now lists the industries by their Chinese names, as the script editor's does, and
    says what a value looks like."""
    with world.client() as c:
        login(c, "olivia")
        page = c.get("/knowledge").text
    box = re.search(r'<input name="industry"[^>]*>', page)
    assert box and 'list="industry-choices"' in box.group(0) and "如：保险" in box.group(0)
    choices = re.search(r'<datalist id="industry-choices">(.*?)</datalist>', page, re.S)
    assert choices and '<option value="保险">' in choices.group(1)
    assert '<option value="考研">' in choices.group(1)


def test_a_customer_without_messages_says_so_in_the_conversation_list(world: World) -> None:
    """An imported customer who never wrote was listed with a bare 「-」 under the name:
    the list now says 「还没有消息」."""
    with world.rt.db.session() as session:
        customers_repo.find_or_create_customer(
            session=session,
            identity_kind="phone",
            identity_value="13900001111",
            name="冯女士",
            adviser_id="adv-a",
        )
    with world.client() as c:
        login(c, "alice")
        page = c.get("/sidebar").text
    row = re.search(r'<li[^>]*>\s*<a [^>]*>\s*<span class="name">冯女士</span>.*?</li>', page, re.S)
    assert row, "冯女士 is not in alice's conversation list"
    assert '<span class="meta">还没有消息</span>' in row.group(0)
