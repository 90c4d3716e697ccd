"""The channel's WeChat accounts in the console (bot/web/channel.py): an adviser sees their
own account with its login QR code and a banner on every page when it needs them; a manager
sees the team's accounts (no QR code) and puts parked messages back; an operator sees none."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from web_helpers import add_users, login, web_app

from bot.pipeline.runtime import Runtime
from bot.store import channel_accounts as accounts_repo
from bot.store import channel_inbox as inbox_repo

ACCOUNTS = {
    "accounts": [
        {"adviser_id": "adv-a", "endpoint": "h:1", "token_env": "T_A"},
        {"adviser_id": "adv-b", "endpoint": "h:2", "token_env": "T_B"},
    ]
}
QR = "https://login.weixin.qq.com/l/IbQwEz9tXw=="


@pytest.fixture
def rt(make_runtime: Callable[..., Runtime]) -> Iterator[Runtime]:
    runtime = make_runtime(load=False, wechaty=ACCOUNTS)
    add_users(runtime)
    now = datetime.now(UTC)
    with runtime.db.session() as s:
        accounts_repo.save_state(
            session=s, account="adv-a", now=now, state="waiting_scan", qr_code=QR
        )
        accounts_repo.save_state(
            session=s, account="adv-b", now=now, state="logged_in", user_name="小白"
        )
        ids = inbox_repo.add_events(
            session=s,
            events=[
                inbox_repo.NewEvent("adv-a", "message", "a1", now),
                inbox_repo.NewEvent("adv-b", "message", "b1", now),
            ],
        )
        for row_id, account in zip(ids, ("adv-a", "adv-b"), strict=True):
            contact = f"c-{account}"
            body = {"message": {"adviser_id": account, "contact_id": contact, "text": "在吗"}}
            inbox_repo.mark_ready(session=s, rows=[(row_id, contact, body)], now=now)
            inbox_repo.record_failure(
                session=s, item_id=row_id, stage="log", error="boom", park=True, now=now
            )
    yield runtime


def client_for(rt: Runtime, username: str) -> tuple[TestClient, str]:
    client = TestClient(web_app(rt))
    return client, login(client, username)


def test_an_adviser_sees_their_qr_code_and_a_banner_on_every_page(rt: Runtime) -> None:
    alice, _ = client_for(rt, "alice")
    page = alice.get("/channel")
    assert page.status_code == 200
    assert '<svg role="img" aria-label="微信登录二维码"' in page.text
    assert 'http-equiv="refresh"' in page.text  # a new code is shown without a click
    assert "adv-b" not in page.text  # another adviser's account
    sidebar = alice.get("/sidebar")
    assert "微信账号 Alice（adv-a） 等待扫码登录" in sidebar.text  # the name colleagues know
    bob, _ = client_for(rt, "bob")
    assert "<svg" not in bob.get("/channel").text
    assert "等待扫码登录" not in bob.get("/sidebar").text


def test_a_manager_sees_the_team_without_qr_and_requeues_parked_messages(rt: Runtime) -> None:
    boss, csrf = client_for(rt, "max")  # a manager without a team: every account
    page = boss.get("/channel")
    assert "<svg" not in page.text  # whoever scans logs in to that WeChat: the adviser only
    assert "adv-a" in page.text and "小白" in page.text
    assert page.text.count("boom") == 2
    res = boss.post("/channel/requeue", data={"ids": "", "csrf_token": csrf})
    assert res.status_code == 200 and "已放回 2 条搁置的消息" in res.text
    with rt.db.session() as s:
        assert inbox_repo.parked(session=s) == []


def test_the_api_shape_and_roles(rt: Runtime) -> None:
    alice, alice_csrf = client_for(rt, "alice")
    data = alice.get("/api/channel/status").json()
    assert [a["account"] for a in data["accounts"]] == ["adv-a"]
    mine = data["accounts"][0]
    assert (mine["state"], mine["label"], mine["qr_code"]) == ("waiting_scan", "等待扫码", QR)
    assert [p["text"] for p in data["parked"]] == ["在吗"]
    denied = alice.post("/api/channel/requeue", json={}, headers={"X-CSRF-Token": alice_csrf})
    assert denied.status_code == 403 and "CSRF" not in denied.text
    olivia, _ = client_for(rt, "olivia")
    assert olivia.get("/api/channel/status").status_code == 403
    assert "微信账号" not in olivia.get("/scripts").text.split("<main")[0]
    boss, csrf = client_for(rt, "max")
    boss.headers["X-CSRF-Token"] = csrf
    first = boss.get("/api/channel/status").json()["parked"][0]["id"]
    assert boss.post("/api/channel/requeue", json={"ids": [first]}).json() == {"requeued": 1}
    assert boss.post("/api/channel/requeue", json={"ids": [0]}).status_code == 422
    again = boss.post("/api/channel/requeue", json={"ids": [first]})  # put back already
    assert again.status_code == 404 and "已经放回" in again.json()["detail"]
    assert len(boss.get("/api/channel/status").json()["parked"]) == 1
    other = boss.get("/api/channel/status").json()["parked"][0]["id"]
    assert boss.post("/api/channel/discard", json={"ids": []}).status_code == 422  # name them
    assert boss.post("/api/channel/discard", json={"ids": [other]}).json() == {"discarded": 1}
    assert boss.get("/api/channel/status").json()["parked"] == []


def test_a_manager_discards_from_the_page(rt: Runtime) -> None:
    boss, csrf = client_for(rt, "max")
    page = boss.get("/channel")
    assert 'id="discard-form"' in page.text and "丢弃后不再处理" in page.text
    with rt.db.session() as s:
        first = inbox_repo.parked(session=s)[0].id
    res = boss.post("/channel/discard", data={"ids": str(first), "csrf_token": csrf})
    assert res.status_code == 200 and "已丢弃 1 条搁置的消息" in res.text
    assert page.text.count("boom") == 2 and res.text.count("boom") == 1
    alice, alice_csrf = client_for(rt, "alice")
    assert 'id="discard-form"' not in alice.get("/channel").text
    denied = alice.post("/channel/discard", data={"ids": str(first), "csrf_token": alice_csrf})
    assert denied.status_code == 403


def test_a_parked_friend_request_says_what_it_is_and_where_it_stopped(rt: Runtime) -> None:
    now = datetime.now(UTC)
    with rt.db.session() as s:
        (row_id,) = inbox_repo.add_events(
            session=s, events=[inbox_repo.NewEvent("adv-a", "friendship", "f1", now)]
        )
        contact = {
            "adviser_id": "adv-a",
            "contact_id": "c-new",
            "alias": "新客户",
            "hello": "我是小王",
        }
        inbox_repo.mark_ready(session=s, rows=[(row_id, "c-new", {"contact": contact})], now=now)
        inbox_repo.record_failure(
            session=s, item_id=row_id, stage="greet", error="通过好友请求失败", park=True, now=now
        )
    alice, _ = client_for(rt, "alice")
    table = alice.get("/channel").text.split('id="parked-table"')[1].split("</table>")[0]
    rows = table.split("<tr>")[2:]  # after the header
    assert len(rows) == 2
    assert "好友请求" not in rows[0] and "记录" in rows[0]  # the message, parked at logging
    assert "好友请求" in rows[1] and "我是小王" in rows[1] and "通过好友并发欢迎语" in rows[1]


def test_pages_tell_an_adviser_whom_to_ask_not_which_command_to_run(
    make_runtime: Callable[..., Runtime],
) -> None:
    """Advisers run no command and edit no config file."""
    runtime = make_runtime(load=False)
    add_users(runtime)
    alice, _ = client_for(runtime, "alice")
    channel, tokens = alice.get("/channel").text, alice.get("/account/tokens").text
    assert "请联系管理员接入" in channel and "siyu bot" not in channel
    assert "请联系管理员" in tokens and "siyu users token" not in tokens
    mia, _ = client_for(runtime, "mia")
    assert "siyu bot" in mia.get("/channel").text  # who can, is told how
