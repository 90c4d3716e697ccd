"""Tag review in the web console: adding a missed tag (page and API, in scope only), each
tag's precision from review on the manager page, and the live tagger learning from a
review made in the console, without a restart."""

from __future__ import annotations

import pytest
from conftest import RuntimeFactory
from web_helpers import add_users, bearer_client, login, web_app

from bot.domain import IncomingMessage
from bot.pipeline.runtime import Runtime


def say(rt: Runtime, msg_id: str, contact: str, text: str, adviser: str = "adv-a") -> None:
    rt.assistant.receive(
        IncomingMessage(
            msg_id=msg_id,
            channel="wechaty",
            contact_id=contact,
            contact_name=contact,
            text=text,
            adviser_id=adviser,
            industry="insurance",
        )
    )


def tags_of(rt: Runtime, text: str) -> set[str]:
    return {t.name for t in rt.tagger.suggest(text, industry="insurance")}


@pytest.fixture
def world(make_runtime: RuntimeFactory) -> tuple[Runtime, dict[str, str]]:
    """alice (adv-a, team east; manager mia) has wx-a and wx-a2, bob (adv-b) has wx-b."""
    rt = make_runtime()
    tokens = add_users(rt)
    say(rt, "m-a1", "wx-a", "我家闺女今年三岁了")
    say(rt, "m-a2", "wx-a2", "我女儿想买医疗险")
    say(rt, "m-b1", "wx-b", "儿子上小学了", adviser="adv-b")
    return rt, tokens


def waiting(rt: Runtime, contact: str, name: str) -> int:
    from bot.store import tags as tags_repo
    from bot.store.conversions import resolve_customer

    with rt.db.session() as session:
        customer = resolve_customer(session=session, ref=contact)
        rows = tags_repo.list_customer_tags(
            session=session, status="suggested", customer_id=customer
        )
    (found,) = [r.id for r in rows if r.tag.name == name]
    return found


def test_adding_a_tag_on_the_manager_page_teaches_the_live_tagger(
    world: tuple[Runtime, dict[str, str]],
) -> None:
    rt, _ = world
    assert "有孩子" not in tags_of(rt, "闺女明年就上小学了")
    with bearer_client(web_app(rt)) as c:
        csrf = login(c, "mia")
        res = c.post(
            "/manager/tags/add",
            data={"customer": "wx-a", "tag": "有孩子", "msg_id": "m-a1", "csrf_token": csrf},
        )
        assert res.status_code == 200 and "wx-a</a> 添加标签“有孩子”" in res.text  # not an id
        other = c.get("/manager/tags?added=999999")  # an id not theirs: nothing said
        assert other.status_code == 200 and "添加标签" not in other.text.split("<form")[0]
        # another team's customer is out of reach, and so is a message not theirs
        res = c.post(
            "/manager/tags/add",
            data={"customer": "wx-b", "tag": "有孩子", "msg_id": "", "csrf_token": csrf},
        )
        assert res.status_code == 404
    assert "有孩子" in tags_of(rt, "闺女明年就上小学了"), "no restart needed"


def test_api_add_is_scoped_and_returns_the_tag(world: tuple[Runtime, dict[str, str]]) -> None:
    rt, tokens = world
    with bearer_client(web_app(rt), tokens["alice"]) as c:
        res = c.post("/api/customer-tags", json={"customer": "wx-a", "tag": "重疾险"})
        assert res.status_code == 201, res.text
        body = res.json()
        assert body["tag"] == "重疾险" and body["status"] == "confirmed"
        assert body["source"] == "manual" and body["source_msg_id"] is None
        assert (
            c.post("/api/customer-tags", json={"customer": "wx-b", "tag": "重疾险"}).status_code
            == 404
        )
        res = c.post(
            "/api/customer-tags", json={"customer": "wx-a", "tag": "重疾险", "msg_id": "m-b1"}
        )
        assert res.status_code == 404, "another customer's message"
        assert (
            c.post("/api/customer-tags", json={"customer": "wx-a", "tag": "无此标签"}).status_code
            == 404
        )


def test_a_review_through_the_api_reaches_the_tagger(world: tuple[Runtime, dict[str, str]]) -> None:
    rt, tokens = world
    assert "有孩子" in tags_of(rt, "我女儿想买医疗险呀"), "keyword 女儿"
    tag_id = waiting(rt, "wx-a2", "有孩子")
    with bearer_client(web_app(rt), tokens["alice"]) as c:
        res = c.post(f"/api/customer-tags/{tag_id}/review", json={"status": "rejected"})
        assert res.status_code == 200 and res.json()["source_msg_id"] == "m-a2"
    assert "有孩子" not in tags_of(rt, "我女儿想买医疗险呀"), "the rejection is learned at once"


def test_manager_page_shows_each_tags_precision_with_n(
    world: tuple[Runtime, dict[str, str]],
) -> None:
    rt, tokens = world
    with bearer_client(web_app(rt), tokens["mia"]) as c:
        queue = c.get("/api/tags/review-queue").json()
        child = [i["tag"]["id"] for i in queue if i["tag"]["tag"] == "有孩子"]
        other = [i["tag"]["id"] for i in queue if i["tag"]["tag"] != "有孩子"]
        assert child and other
        assert (
            c.post("/api/tags/review", json={"ids": child, "status": "confirmed"}).status_code
            == 200
        )
        assert (
            c.post("/api/tags/review", json={"ids": other, "status": "rejected"}).status_code == 200
        )
        rows = {r["tag"]: r for r in c.get("/api/tags/precision").json()}
        assert rows["有孩子"]["precision"] == 1.0 and rows["有孩子"]["reviewed"] == len(child)
        assert all(rows[name]["precision"] == 0.0 for name in rows if name != "有孩子")
    with bearer_client(web_app(rt)) as c:
        login(c, "mia")
        page = c.get("/manager/tags").text
    assert "审核准确率" in page and "100%" in page and "补充漏掉的标签" in page
    assert bearer_client(web_app(rt), tokens["alice"]).get("/api/tags/precision").status_code == 403


def test_a_customer_not_found_is_named_as_typed_and_escaped(
    world: tuple[Runtime, dict[str, str]],
) -> None:
    """The add form said only 「客户不存在」: now it repeats what was typed and what the
    box takes (an id or an identifier, not a name), escaped like any input, in the same
    words for a customer of another team (whose existence it does not give away)."""
    rt, _ = world
    typed = '张三丰<b>"&</b>'
    with bearer_client(web_app(rt)) as c:
        csrf = login(c, "mia")
        form = {"customer": typed, "tag": "有孩子", "msg_id": "", "csrf_token": csrf}
        page = c.post("/manager/tags/add", data=form)
        assert page.status_code == 404
        assert "找不到客户“张三丰&lt;b&gt;&#34;&amp;&lt;/b&gt;”" in page.text
        assert "<b>" not in page.text
        assert "请填客户编号、微信号、手机号或联系人 ID（不能填姓名）" in page.text
        sent = c.post("/manager/tags/add", data=form, headers={"X-Siyu-Form": "1"})  # app.js
        assert sent.status_code == 404
        assert sent.json()["detail"] == (
            f"找不到客户“{typed}”：请填客户编号、微信号、手机号或联系人 ID（不能填姓名）"
        )
        other_team = c.post("/manager/tags/add", data=form | {"customer": "wx-b"})
        assert other_team.status_code == 404 and "找不到客户“wx-b”：请填" in other_team.text
        long = c.post("/manager/tags/add", data=form | {"customer": "长" * 200})
        assert f"找不到客户“{'长' * 40}…”" in long.text


def test_an_integration_names_its_customer_by_the_contact_id_it_posted(
    world: tuple[Runtime, dict[str, str]],
) -> None:
    """``POST /api/messages`` stores a contact id under its adviser; the tag and event
    endpoints find the customer by the same contact id the integration posted — for that
    adviser only."""
    rt, tokens = world
    with bearer_client(web_app(rt), tokens["alice"]) as c:
        posted = c.post(
            "/api/messages",
            json={
                "contact_id": "crm-77",
                "msg_id": "p-1",
                "text": "我女儿明年上小学",
                "industry": "insurance",
            },
        )
        assert posted.status_code in (200, 201), posted.text
        customer_id = posted.json()["customer_id"]
        res = c.post(
            "/api/customer-tags", json={"customer": "crm-77", "tag": "重疾险", "msg_id": "p-1"}
        )
        assert res.status_code == 201, res.text
        assert res.json()["customer_id"] == customer_id
        assert res.json()["source_msg_id"] == "p-1"
        res = c.post("/api/events", json={"customer": "crm-77", "type": "purchase", "amount": 99})
        assert res.status_code in (200, 201), res.text
        assert res.json()["customer_id"] == customer_id
    with bearer_client(web_app(rt), tokens["bob"]) as c:  # bob never posted crm-77
        res = c.post("/api/customer-tags", json={"customer": "crm-77", "tag": "重疾险"})
        assert res.status_code == 404
        res = c.post("/api/events", json={"customer": "crm-77", "type": "purchase"})
        assert res.status_code == 404
