"""The console's adviser and manager tools through the API and the pages (TestClient,
real SQLite / Chroma / embeddings): blanks (【待填:城市】) are never recorded as adopted,
the library search with favourites, more suggestions on demand, private notes, the
profile's own fields, tags added by hand, the manager's home, merge undo on the page, the
tag review filters with adviser names, and a funnel whose bar and table agree."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from web_helpers import add_users, bearer_client, customer_message, login, web_app

from bot.pipeline.runtime import Runtime
from bot.services import privacy
from bot.services.access import cli_principal
from bot.store import audit as audit_repo
from bot.store import inbox as inbox_repo
from bot.store import notes as notes_repo
from bot.store import outcomes as outcomes_repo
from bot.web.charts import funnel_chart, share

#: A script with a city and a product, and one of another industry.
EXTRA_SCRIPTS = (
    "id,title,category,stage,industry,tags,body\n"
    "INS-CITY-1,同城理赔服务,after_sales,retain,insurance,理赔;同城,"
    "我们在{city}有理赔服务点，{product}的理赔材料可以当面交。\n"
)


class World:
    def __init__(self, rt: Runtime, tmp: Path) -> None:
        self.rt = rt
        csv = tmp / "extra.csv"
        csv.write_text(EXTRA_SCRIPTS, encoding="utf-8")
        rt.library.import_file(csv)
        self.tokens = add_users(rt)
        self.sid_a = customer_message(
            rt, "adv-a", "wx-a", "孩子的理赔要去哪里办？要什么材料", "张女士"
        )
        self.sid_b = customer_message(rt, "adv-b", "wx-b", "太贵了，有没有优惠", "李先生")
        with rt.db.session() as session:
            rows = inbox_repo.conversation_list(session=session, adviser_ids=None, viewer="x")
            by_name = {r.name: r.customer_id for r in rows}
        self.cust_a, self.cust_b = by_name["张女士"], by_name["李先生"]
        self.app = web_app(rt)

    def client(self, user: str | None = None) -> TestClient:
        return bearer_client(self.app, self.tokens[user] if user else None)


@pytest.fixture(scope="module")
def world(shared_runtime: Runtime, tmp_path_factory: pytest.TempPathFactory) -> World:
    return World(shared_runtime, tmp_path_factory.mktemp("tools"))


def actions_of(world: World, actor: str) -> list[str]:
    with world.rt.db.session() as session:
        return [e.action for e in audit_repo.list_entries(session=session, actor=actor)]


def outcomes_of(world: World, suggestion_id: int) -> list[str]:
    with world.rt.db.session() as session:
        rows = outcomes_repo.list_outcomes(session=session, customer_id=world.cust_a)
    return [o.final_text or "" for o in rows if o.suggestion_id == suggestion_id]


# ------------------------------------------------------------------ blanks
def test_a_text_with_a_blank_is_never_recorded_as_adopted(world: World) -> None:
    with world.client("alice") as c:
        shown = c.get(f"/api/suggestions/{world.sid_a}").json()["candidates"]["scripts"]
        script = shown[0]
        for text in ("我们在【待填:城市】有服务点。", "您好【待填:客户称呼】"):
            res = c.post(
                f"/api/suggestions/{world.sid_a}/outcomes",
                json={"kind": "adopted", "final_text": text, "script_id": script["id"]},
            )
            assert res.status_code == 422, res.text
            assert "还有未填写的内容" in res.json()["detail"]
        assert "待填" not in "".join(outcomes_of(world, world.sid_a))
        res = c.post(
            f"/api/suggestions/{world.sid_a}/outcomes",
            json={
                "kind": "adopted",
                "final_text": "我们在杭州有服务点。",
                "script_id": script["id"],
            },
        )
        assert res.status_code == 201, res.text
    assert "我们在杭州有服务点。" in outcomes_of(world, world.sid_a)


def test_the_sidebar_tells_the_page_which_blanks_fill_the_profile(world: World) -> None:
    """And what the profile holds for them already (a card drawn before shows it)."""

    def blanks(c: TestClient) -> dict[str, dict[str, str]]:
        page = c.get(f"/sidebar?customer_id={world.cust_a}").text
        found = re.search(r"data-blanks='([^']*)'", page)
        assert found
        return dict(json.loads(html.unescape(found.group(1))))

    with world.client() as c:
        login(c, "alice")
        before = blanks(c)
        assert before["城市"] == {"name": "city", "store": "basic", "value": ""}
        assert before["产品"] == {"name": "product", "store": "basic", "value": ""}
    with world.client("alice") as api:
        api.put(f"/api/customers/{world.cust_a}/basics", json={"city": "杭州"})
    with world.client() as c:
        login(c, "alice")
        assert blanks(c)["城市"]["value"] == "杭州"


# ------------------------------------------------------------------ profile basics
def test_city_product_and_birthday_are_edited_and_fill_the_scripts(world: World) -> None:
    with world.client("alice") as c:
        res = c.put(
            f"/api/customers/{world.cust_a}/basics",
            json={"city": "杭州", "product": "安心保重疾险", "birthday": "1990-05-03"},
        )
        assert res.status_code == 200, res.text
        assert res.json() == {
            "customer_id": world.cust_a,
            "city": "杭州",
            "product": "安心保重疾险",
            "birthday": "1990-05-03",
        }
        bad = c.put(
            f"/api/customers/{world.cust_a}/basics", json={"city": "宁波", "birthday": "5月3日"}
        )
        assert bad.status_code == 400 and "生日" in bad.json()["problems"][0]
        # a birthday no living customer has is refused, saying why (2099 was saved)
        for typo, why in (("2099-05-03", "还没到"), ("1900-01-01", "早于")):
            bad = c.put(f"/api/customers/{world.cust_a}/basics", json={"birthday": typo})
            assert bad.status_code == 400 and why in bad.json()["problems"][0], bad.text
        assert c.get(f"/api/customers/{world.cust_a}").json()["customer"]["city"] == "杭州"
        found = c.get(
            "/api/library", params={"q": "理赔服务点", "customer_id": world.cust_a}
        ).json()
        assert found[0]["text"] == "我们在杭州有理赔服务点，安心保重疾险的理赔材料可以当面交。"
        assert c.put(f"/api/customers/{world.cust_b}/basics", json={"city": "x"}).status_code == 404
        cleared = c.put(f"/api/customers/{world.cust_a}/basics", json={"birthday": ""}).json()
        assert cleared["birthday"] is None and cleared["city"] == "杭州"
    with world.client("olivia") as c:
        assert c.put(f"/api/customers/{world.cust_a}/basics", json={"city": "x"}).status_code == 403
    assert "customer.basics.set" in actions_of(world, "alice")


def test_the_basics_form_on_the_sidebar(world: World) -> None:
    with world.client() as c:
        csrf = login(c, "alice")
        form = {"csrf_token": csrf, "city": "宁波", "product": "", "birthday": "1991-01-02"}
        res = c.post(f"/sidebar/customers/{world.cust_a}/basics", data=form, follow_redirects=False)
        assert res.status_code == 303
        page = c.get(res.headers["location"]).text
    assert 'value="宁波"' in page and 'value="1991-01-02"' in page
    with world.client("alice") as c:
        customer = c.get(f"/api/customers/{world.cust_a}").json()["customer"]
        c.put(
            f"/api/customers/{world.cust_a}/basics",
            json={"city": "杭州", "product": "安心保重疾险"},
        )
    assert customer["product"] is None


# ------------------------------------------------------------------ library
def test_the_whole_library_is_searched_by_keyword_and_category(world: World) -> None:
    with world.client("alice") as c:
        everything = c.get("/api/library").json()
        ids = [s["id"] for s in everything]
        assert "KY-PRC-1" in ids and "INS-PRC-1" in ids  # every industry
        assert "INS-DRAFT-1" not in ids  # approved only
        priced = c.get("/api/library", params={"q": "元", "category": "pricing"}).json()
        assert {s["id"] for s in priced} == {"INS-PRC-1", "KY-PRC-1"}
        both = c.get("/api/library", params={"q": "分期 12800"}).json()
        assert [s["id"] for s in both] == ["KY-PRC-1"]
        # the customer's own industry first
        mine = c.get("/api/library", params={"category": "pricing", "customer_id": world.cust_a})
        assert next(s["id"] for s in mine.json()) == "INS-PRC-1"
        assert c.get("/api/library", params={"customer_id": world.cust_b}).status_code == 404
    with world.client("olivia") as c:
        assert c.get("/api/library").status_code == 403


def test_favourites_are_each_advisers_own(world: World) -> None:
    with world.client("alice") as c:
        assert c.put("/api/favourites/KY-OBJ-1").json() == {
            "script_id": "KY-OBJ-1",
            "favourite": True,
        }
        assert c.put("/api/favourites/KY-OBJ-1").status_code == 200  # twice: still one
        assert c.put("/api/favourites/INS-DRAFT-1").status_code == 404
        assert c.put("/api/favourites/NOPE").status_code == 404
        first = c.get("/api/library").json()[0]
        assert (first["id"], first["favourite"]) == ("KY-OBJ-1", True)
        starred = c.get("/api/library", params={"favourites": "true"}).json()
        assert [s["id"] for s in starred] == ["KY-OBJ-1"]
    with world.client("mia") as c:
        assert c.get("/api/library", params={"favourites": "true"}).json() == []
    with world.client("alice") as c:
        assert c.delete("/api/favourites/KY-OBJ-1").json()["favourite"] is False
        assert c.get("/api/library", params={"favourites": "true"}).json() == []
    assert "script.favourite" in actions_of(world, "alice")


# ------------------------------------------------------------------ more suggestions
def test_more_suggestions_add_new_scripts_that_can_be_used(world: World) -> None:
    with world.client("alice") as c:
        before = c.get(f"/api/suggestions/{world.sid_a}").json()["candidates"]["scripts"]
        res = c.post(f"/api/suggestions/{world.sid_a}/more", params={"limit": 3})
        assert res.status_code == 200, res.text
        extra = res.json()["scripts"]
        assert 1 <= len(extra) <= 3
        shown = {s["id"] for s in before}
        assert not shown & {s["id"] for s in extra}
        assert all(s["more"] for s in extra)
        after = c.get(f"/api/suggestions/{world.sid_a}").json()["candidates"]["scripts"]
        assert [s["id"] for s in after] == [*(s["id"] for s in before), *(s["id"] for s in extra)]
        again = c.post(f"/api/suggestions/{world.sid_a}/more", params={"limit": 3}).json()[
            "scripts"
        ]
        assert not {s["id"] for s in again} & {s["id"] for s in after}
        pick = next(s for s in extra if "待填" not in s["text"])
        res = c.post(
            f"/api/suggestions/{world.sid_a}/outcomes",
            json={"kind": "adopted", "final_text": pick["text"], "script_id": pick["id"]},
        )
        assert res.status_code == 201, res.text
    with world.client("bob") as c:
        assert c.post(f"/api/suggestions/{world.sid_a}/more").status_code == 404


# ------------------------------------------------------------------ notes
def test_notes_are_seen_by_the_adviser_and_their_manager_only(world: World) -> None:
    with world.client("alice") as c:
        res = c.post(
            f"/api/customers/{world.cust_a}/notes", json={"text": "  怕打扰，周末再联系  "}
        )
        assert res.status_code == 201, res.text
        note = res.json()
        assert (note["text"], note["author"], note["author_name"]) == (
            "怕打扰，周末再联系",
            "alice",
            "Alice",
        )
        assert (
            c.post(f"/api/customers/{world.cust_a}/notes", json={"text": "   "}).status_code == 422
        )
        assert c.post(f"/api/customers/{world.cust_b}/notes", json={"text": "x"}).status_code == 404
    with world.client("mia") as c:  # alice's manager
        assert [n["id"] for n in c.get(f"/api/customers/{world.cust_a}/notes").json()] == [
            note["id"]
        ]
        own = c.post(
            f"/api/customers/{world.cust_a}/notes", json={"text": "主管：下周一起拜访"}
        ).json()
    with world.client("bob") as c:
        assert c.get(f"/api/customers/{world.cust_a}/notes").status_code == 404
        assert c.delete(f"/api/notes/{note['id']}").status_code == 404
    with world.client("olivia") as c:
        assert c.get(f"/api/customers/{world.cust_a}/notes").status_code == 403
    with world.client("alice") as c:
        listed = c.get(f"/api/customers/{world.cust_a}/notes").json()
        assert [n["id"] for n in listed] == [own["id"], note["id"]]  # newest first
        assert c.delete(f"/api/notes/{own['id']}").status_code == 403  # the manager's
    with world.client("mia") as c:
        assert c.delete(f"/api/notes/{own['id']}").status_code == 204
    assert {"note.add", "notes.view"} <= set(actions_of(world, "alice"))


def test_the_note_form_and_forget_erases_notes(world: World) -> None:
    with world.client() as c:
        csrf = login(c, "alice")
        res = c.post(
            f"/sidebar/customers/{world.cust_b}/notes", data={"csrf_token": csrf, "text": "x"}
        )
        assert res.status_code == 404  # bob's customer
        res = c.post(
            f"/sidebar/customers/{world.cust_a}/notes",
            data={"csrf_token": csrf, "text": "孩子 3 岁"},
            follow_redirects=False,
        )
        assert res.status_code == 303
        assert "孩子 3 岁" in c.get(res.headers["location"]).text
    customer = customer_message(world.rt, "adv-a", "wx-forget", "你好", "将被遗忘")
    with world.rt.db.session() as session:
        (row,) = [
            r
            for r in inbox_repo.conversation_list(session=session, adviser_ids=None, viewer="x")
            if r.name == "将被遗忘"
        ]
    with world.client("alice") as c:
        c.post(f"/api/customers/{row.customer_id}/notes", json={"text": "住在滨江，电话常打不通"})
    del customer
    forgotten = privacy.forget(world.rt.db, cli_principal("t"), row.customer_id)
    assert forgotten.counts["notes"] == 1
    with world.rt.db.session() as session:
        assert notes_repo.list_notes(session=session, customer_id=row.customer_id) == []


# ------------------------------------------------------------------ tags by hand
def test_an_adviser_adds_a_tag_by_hand_on_the_sidebar(world: World) -> None:
    with world.client() as c:
        csrf = login(c, "alice")
        page = c.get(f"/sidebar?customer_id={world.cust_a}").text
        assert '<option value="价格敏感度/价格敏感">' in page
        res = c.post(
            f"/sidebar/customers/{world.cust_a}/tags",
            data={"csrf_token": csrf, "tag": "价格敏感度/价格敏感"},
            follow_redirects=False,
        )
        assert res.status_code == 303
        tags = c.get(f"/api/customers/{world.cust_a}").json()["tags"]
    assert {(t["tag"], t["status"], t["source"]) for t in tags} >= {
        ("价格敏感", "confirmed", "manual")
    }
    # the note names her as colleagues know her, not by her login
    assert any(t["evidence"].startswith("Alice 手动添加") for t in tags if t["tag"] == "价格敏感")


# ------------------------------------------------------------------ manager
def test_the_manager_has_a_home_with_todays_queues(world: World) -> None:
    with world.client() as c:
        login(c, "mia")
        home = c.get("/manager")
        assert home.status_code == 200 and home.headers["content-type"].startswith("text/html")
        assert "主管首页" in home.text and 'href="/manager/tags"' in home.text
        for label in ("待审核标签", "客户合并建议", "待回复会话", "今日跟进", "今日新增客户"):
            assert label in home.text
        waiting = len(c.get("/api/tags/review-queue").json())
        found = re.search(r'待审核标签</span><b class="count">(\d+)</b>', home.text)
        assert found and int(found.group(1)) == waiting
        res = c.get("/", follow_redirects=False)
    assert res.headers["location"] == "/manager"
    with world.client() as c:
        login(c, "alice")
        assert c.get("/manager", follow_redirects=False).status_code == 403


def test_the_review_queue_filters_and_names_the_adviser(world: World) -> None:
    with world.client("max") as c:  # sees both teams
        everything = c.get("/api/tags/review-queue").json()
        assert {i["adviser_id"] for i in everything} == {"adv-a", "adv-b"}
        assert {i["adviser_name"] for i in everything} == {"Alice", "Bob"}
        only_b = c.get("/api/tags/review-queue", params={"adviser": "adv-b"}).json()
        assert only_b and {i["adviser_id"] for i in only_b} == {"adv-b"}
        price = c.get("/api/tags/review-queue", params={"category": "价格敏感度"}).json()
        assert price and {i["tag"]["category"] for i in price} == {"价格敏感度"}
        named = c.get("/api/tags/review-queue", params={"tag": "价格敏感"}).json()
        assert [i["tag"]["id"] for i in named] == [i["tag"]["id"] for i in price]
    with world.client("mia") as c:  # team east: bob's customers are not there
        assert c.get("/api/tags/review-queue", params={"adviser": "adv-b"}).json() == []
    with world.client() as c:
        login(c, "max")
        page = c.get("/manager/tags", params={"adviser": "adv-b"}).text
    assert "顾问 Bob" in page and "顾问 Alice" not in page and "adv-b</" not in page
    assert '<option value="adv-b" selected>Bob</option>' in page


def test_a_merge_is_confirmed_and_undone_on_the_page(world: World) -> None:
    from bot.store import customers as customers_repo

    with world.rt.db.session() as session:
        keep, _ = customers_repo.find_or_create_customer(
            session=session,
            identity_kind="phone",
            identity_value="13900139000",
            name="合并甲",
            adviser_id="adv-a",
        )
        dup, _ = customers_repo.find_or_create_customer(
            session=session,
            identity_kind="phone",
            identity_value="+86 139-0013-9000",
            name="合并乙",
            adviser_id="adv-a",
        )
    with world.client() as c:
        csrf = login(c, "mia")
        page = c.get("/manager/merges").text
        assert 'data-confirm="确定把「合并乙」并入「合并甲」吗？"' in page
        assert "手机号 13900139000" in page and "phone " not in page
        form = {"csrf_token": csrf, "keep_id": str(keep.id), "merge_id": str(dup.id)}
        res = c.post("/manager/merges", data=form, follow_redirects=False)
        merge_id = int(res.headers["location"].split("merged=")[1])
        page = c.get(res.headers["location"]).text
        assert f'action="/manager/merges/{merge_id}/undo"' in page and "撤销这次合并" in page
        assert "<b>合并乙</b> 并入 <b>合并甲</b>" in page
        res = c.post(
            f"/manager/merges/{merge_id}/undo", data={"csrf_token": csrf}, follow_redirects=False
        )
        assert res.headers["location"] == f"/manager/merges?undone={merge_id}"
        page = c.get(res.headers["location"]).text
        assert "已撤销合并" in page and "已于" in page
    with world.client("mia") as c:
        assert c.get(f"/api/customers/{dup.id}").json()["customer"]["merged_into_id"] is None
    assert "customer.unmerge" in actions_of(world, "mia")


def test_the_funnel_bar_and_table_use_one_rate(world: World) -> None:
    chart = str(funnel_chart([("新增", 8), ("互动", 6), ("成交", 3)], title="漏斗"))
    assert "成交 3 · 38%" in chart and "互动 6 · 75%" in chart  # of 新增, not of the step before
    assert share(3, 8) == "38%" and share(1, 0) == "-"
    with world.client() as c:
        login(c, "max")
        page = c.get("/manager/kpis").text
    table = page[page.index('id="funnel-table"') :]
    cells = r"<td>(\d+)</td><td>(\d+)</td><td>([^<]+)</td><td>(\d+)</td><td>([^<]+)</td>"
    total = re.search(r'<tr class="total"><td>合计</td>' + cells, table)
    assert total, table[:800]
    new, engaged, engaged_rate, converted, rate = total.groups()
    assert rate == share(int(converted), int(new)) and engaged_rate == share(int(engaged), int(new))
    assert f"互动 {engaged} · {engaged_rate}" in page
    assert f"成交 {converted} · {rate}" in page
    assert "成交率 = 成交 ÷ 新增" in page
    assert "合计 total" not in page


# ------------------------------------------------------------------ names, not codes
def test_industries_read_in_chinese_on_the_operator_pages(world: World) -> None:
    with world.client() as c:
        csrf = login(c, "olivia")
        listing = c.get("/scripts").text
        assert ">保险</td>" in listing and ">insurance</td>" not in listing
        assert '<option value="insurance" >保险</option>' in listing
        editor = c.get("/scripts/INS-CITY-1/edit").text
        assert 'name="industry" value="保险"' in editor
        # a filter nobody matches says so, not 「共 0 条」 over an empty table
        none = c.get("/scripts", params={"q": "没有这样的话术xyz"}).text
        assert "没有符合筛选条件的话术" in none and "共 0 条" not in none
        assert '<table class="list">' not in none
        form = {
            "csrf_token": csrf,
            "id": "INS-CITY-1",
            "title": "同城理赔服务",
            "category": "after_sales",
            "stage": "retain",
            "industry": "保险",
            "tags": "理赔;同城",
            "body": "我们在{city}有理赔服务点，{product}的理赔材料可以当面交。",
        }
        assert c.post("/scripts/save", data=form, follow_redirects=False).status_code == 303
    assert world.rt.library.get(["INS-CITY-1"])["INS-CITY-1"].industry == "insurance"
