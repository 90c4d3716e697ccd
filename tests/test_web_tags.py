"""Tag review in the web console: adding a missed tag (page and API, in scope only; the
page's form finds the customer by name too and offers their latest messages), each tag's
precision from review on the manager page, and the live tagger learning from a review
made in the console, without a restart."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import RuntimeFactory
from web_helpers import add_users, bearer_client, login, web_app

from bot.domain import IncomingMessage
from bot.pipeline.runtime import Runtime
from bot.services import customers as customers_service
from bot.services.access import cli_principal
from bot.store import audit as audit_repo
from bot.store import tags as tags_repo


def say(
    rt: Runtime,
    msg_id: str,
    contact: str,
    text: str,
    adviser: str = "adv-a",
    name: str | None = None,
) -> None:
    rt.assistant.receive(
        IncomingMessage(
            msg_id=msg_id,
            channel="wechaty",
            contact_id=contact,
            contact_name=name or contact,
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
    box takes (a name, phone, WeChat id or number), escaped like any input, in the same
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
        assert "请填客户的姓名、手机号、微信号或客户编号" in page.text
        assert "不能填姓名" not in page.text
        sent = c.post("/manager/tags/add", data=form, headers={"X-Siyu-Form": "1"})  # app.js
        assert sent.status_code == 404
        assert sent.json()["detail"] == (
            f"找不到客户“{typed}”：请填客户的姓名、手机号、微信号或客户编号"
        )
        other_team = c.post("/manager/tags/add", data=form | {"customer": "wx-b"})
        assert other_team.status_code == 404 and "找不到客户“wx-b”：请填" in other_team.text
        long = c.post("/manager/tags/add", data=form | {"customer": "长" * 200})
        assert f"找不到客户“{'长' * 39}…”：" in long.text
        hidden = c.post("/manager/tags/add", data=form | {"customer": "张\u202e三\x07丰"})
        assert "找不到客户“张三丰”：" in hidden.text  # no control or format characters back


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


FORM = {"X-Siyu-Form": "1"}  # sent by the page's script (bot/web/inline_forms.py)


def customer_id_of(rt: Runtime, contact: str) -> int:
    from bot.store.conversions import resolve_customer

    with rt.db.session() as session:
        return resolve_customer(session=session, ref=contact)


def manual_tags(rt: Runtime, customer_id: int) -> dict[str, str | None]:
    """The customer's confirmed tags -> the message each was added with."""
    with rt.db.session() as session:
        rows = tags_repo.list_customer_tags(
            session=session, status="confirmed", customer_id=customer_id
        )
    return {r.tag.name: r.source_msg_id for r in rows}


def picking_page(res_location: str) -> tuple[int, str]:
    """The customer and the tag the form's second step is about, from its address."""
    query = parse_qs(urlsplit(res_location).query)
    return int(query["add_for"][0]), query["add_tag"][0]


def test_the_add_form_takes_a_name_and_offers_the_customers_latest_messages(
    world: tuple[Runtime, dict[str, str]],
) -> None:
    """A manager knows customers by name: the form's first step (customer, tag) finds
    the customer by name among those the manager may see, and its second step offers the
    customer's latest messages (newest first, radio buttons, no script needed) to pick
    the one that shows the tag; the tag is added only then, with that message."""
    rt, tokens = world
    say(rt, "m-w1", "wx-wang", "我家闺女今年三岁了", name="王小丫")
    say(rt, "m-w2", "wx-wang", "最近在看重疾险", name="王小丫")
    say(rt, "m-zb", "wx-wang-b", "在吗", adviser="adv-b", name="王小丫")  # west's namesake
    wang = customer_id_of(rt, "wx-wang")
    with bearer_client(web_app(rt)) as c:
        csrf = login(c, "mia")
        step1 = {"customer": " 王小丫 ", "tag": "有孩子", "pick_message": "1", "csrf_token": csrf}
        res = c.post("/manager/tags/add", data=step1, follow_redirects=False)
        assert res.status_code == 303, res.text
        assert picking_page(res.headers["location"]) == (wang, "家庭结构/有孩子")
        assert "有孩子" not in manual_tags(rt, wang), "nothing added before the message"
        page = c.get(res.headers["location"])
        assert page.status_code == 200
        form = page.text.split('id="add-form"')[1].split("</form>")[0]
        assert f'href="/sidebar?customer_id={wang}">王小丫</a>' in form
        assert "添加标签“有孩子”（家庭结构）" in form
        offered = re.findall(r'type="radio" name="msg_id" value="([^"]*)"', form)
        assert offered == ["m-w2", "m-w1", ""], "newest first, then 「都不是」"
        assert "「我家闺女今年三岁了」" in form and "都不是，只添加标签" in form
        assert f'name="customer" value="#{wang}"' in form  # this customer, not a contact id
        with rt.db.session() as session:  # the messages shown are a read of the customer's
            seen = audit_repo.list_entries(session=session, actor="mia")
        assert any(e.action == "customer.messages.view" and e.target_id == str(wang) for e in seen)
        # the second step: the message chosen
        step2 = {"customer": f"#{wang}", "tag": "家庭结构/有孩子", "msg_id": "m-w1"}
        res = c.post("/manager/tags/add", data=step2 | {"csrf_token": csrf})
        assert res.status_code == 200 and "王小丫</a> 添加标签“有孩子”" in res.text
        assert manual_tags(rt, wang)["有孩子"] == "m-w1"
        # 「都不是」: the tag alone
        step2 = {"customer": f"#{wang}", "tag": "医疗险", "msg_id": ""}
        assert c.post("/manager/tags/add", data=step2 | {"csrf_token": csrf}).status_code == 200
        assert manual_tags(rt, wang)["医疗险"] is None
        # a WeChat id still finds the customer
        res = c.post(
            "/manager/tags/add", data=step1 | {"customer": "wx-wang"}, follow_redirects=False
        )
        assert picking_page(res.headers["location"]) == (wang, "家庭结构/有孩子")
        # the choice step of another team's customer is as absent as a nonexistent one
        west = customer_id_of(rt, "wx-wang-b")
        for other in (west, 999_999):
            res = c.get(f"/manager/tags?add_for={other}&add_tag=有孩子")
            assert res.status_code == 404
            assert (
                c.post(
                    "/manager/tags/add",
                    data={
                        "customer": str(other),
                        "tag": "有孩子",
                        "msg_id": "",
                        "csrf_token": csrf,
                    },
                ).status_code
                == 404
            )
    # the API keeps taking an id or an identity only (as does siyu tags add)
    with bearer_client(web_app(rt), tokens["alice"]) as c:
        res = c.post("/api/customer-tags", json={"customer": "王小丫", "tag": "医疗险"})
        assert res.status_code == 404


def test_the_console_tags_the_customer_on_screen_when_a_contact_is_numbered_like_it(
    world: tuple[Runtime, dict[str, str]],
) -> None:
    """A contact whose WeChat id is 「<another customer's id>」 (an archive numbering its
    contacts 1, 2, 3 …): the sidebar's 「添加标签」 and the manager form's 「都不是，只添加
    标签」 tag the customer on screen. The bare number is ambiguous and was refused there
    once the command line refused it; typed by a manager, the form says how to choose."""
    rt, _ = world
    first = customer_id_of(rt, "wx-a")
    say(rt, "m-n1", str(first), "你好", name="编号客户")
    with bearer_client(web_app(rt)) as c:
        csrf = login(c, "alice")
        res = c.post(
            f"/sidebar/customers/{first}/tags",
            data={"csrf_token": csrf, "tag": "医疗险"},
            follow_redirects=False,
        )
        assert res.status_code == 303, res.text
    assert "医疗险" in manual_tags(rt, first)
    with bearer_client(web_app(rt)) as c:
        csrf = login(c, "mia")
        form = {"customer": f"#{first}", "tag": "重疾险", "msg_id": "", "csrf_token": csrf}
        assert c.post("/manager/tags/add", data=form).status_code == 200
        assert "重疾险" in manual_tags(rt, first)
        typed = form | {"customer": str(first), "pick_message": "1"}
        res = c.post("/manager/tags/add", data=typed, headers={"X-Siyu-Form": "1"})
        assert res.status_code == 400
        assert f"请写“#{first}”表示客户编号" in res.text and "msg_id" not in res.text


def test_a_name_shared_or_out_of_scope_is_refused_as_the_referrer_field_does(
    world: tuple[Runtime, dict[str, str]], tmp_path: Path
) -> None:
    """The same resolution as the profile's 介绍人: a name several customers in scope
    share asks for their phone or WeChat id (400); a name only another team's customer
    has is answered exactly as a name nobody has (404). A customer without messages has
    nothing to choose from: the tag is added at once."""
    rt, _ = world
    say(rt, "m-t1", "wx-twin-1", "在吗", name="同名李雷")
    say(rt, "m-t2", "wx-twin-2", "在吗", name="同名李雷")
    say(rt, "m-z1", "wx-zhao", "在吗", adviser="adv-b", name="别组赵六")
    path = tmp_path / "customers.csv"
    path.write_text("姓名,手机号,顾问\n周无言,13700000001,adv-a\n", encoding="utf-8")
    with rt.db.session() as session:
        customers_service.import_file(
            session, cli_principal("t"), path=path, timezone="Asia/Shanghai"
        )
    quiet = customer_id_of(rt, "13700000001")
    with bearer_client(web_app(rt)) as c:
        csrf = login(c, "mia")

        def step1(customer: str, **headers: str) -> object:
            form = {"customer": customer, "tag": "有孩子", "pick_message": "1", "csrf_token": csrf}
            return c.post("/manager/tags/add", data=form, headers=headers)

        both = step1("同名李雷", **FORM)
        assert both.status_code == 400
        assert both.json()["detail"] == "有 2 位客户叫「同名李雷」：请填客户的手机号或微信号"
        page = step1("同名李雷")  # no script: a page saying the same
        assert page.status_code == 400 and "有 2 位客户叫「同名李雷」" in page.text
        answers = {}
        for name in ("别组赵六", "没有这个人"):
            res = step1(name, **FORM)
            assert res.status_code == 404
            answers[name] = res.json()["detail"].replace(name, "…")
        assert (
            answers["别组赵六"]
            == answers["没有这个人"]
            == ("找不到客户“…”：请填客户的姓名、手机号、微信号或客户编号")
        )
        res = step1("周无言")
        assert res.status_code == 200 and "周无言</a> 添加标签“有孩子”" in res.text
        assert manual_tags(rt, quiet) == {"有孩子": None}


def test_an_unknown_tag_is_named_with_what_to_write_and_the_form_offers_the_taxonomy(
    world: tuple[Runtime, dict[str, str]],
) -> None:
    """The add form said only 「标签不存在」 and its tag box offered nothing to choose
    from: now the refusal repeats what was typed and what to write instead, and the box
    lists the taxonomy's tags (分类/标签, as the sidebar's does)."""
    rt, _ = world
    with bearer_client(web_app(rt)) as c:
        csrf = login(c, "mia")
        page = c.get("/manager/tags").text
        assert 'list="add-tag-choices"' in page
        choices = re.search(r'<datalist id="add-tag-choices">(.*?)</datalist>', page)
        assert choices and '<option value="家庭结构/有孩子">' in choices.group(1)
        form = {"customer": "wx-a", "tag": "有娃<b>", "pick_message": "1", "csrf_token": csrf}
        sent = c.post("/manager/tags/add", data=form, headers={"X-Siyu-Form": "1"})  # app.js
        assert sent.status_code == 404
        assert sent.json()["detail"] == (
            "标签不存在：“有娃<b>”不在标签体系里，请写体系里已有的标签（重名时写成 分类/标签）"
        )
