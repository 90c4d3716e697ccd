"""End to end: python-wechaty over gRPC to a real Node puppet-service server on 127.0.0.1
backed by wechaty-puppet-mock (tests/wechaty_server), with a real runtime (SQLite,
Chroma, embeddings) behind the channel."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
from sqlalchemy import select
from wechaty_mock import ADVISER, TOKEN, MockWeChat, free_port, server_available

from bot.channels.wechaty_run import BackgroundChannel
from bot.pipeline.runtime import Runtime
from bot.store import customers as customers_repo
from bot.store import outcomes as outcomes_repo
from bot.store import suggestions as suggestions_repo
from bot.store.models import Event, Identity, Message

pytestmark = pytest.mark.skipif(server_available() is not None, reason=str(server_available()))

T = TypeVar("T")


def eventually(fn: Callable[[], T | None], timeout: float = 10, what: str = "") -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or fn}")
        time.sleep(0.05)


@pytest.fixture
def server() -> Iterator[MockWeChat]:
    mock = MockWeChat(free_port())
    yield mock
    mock.stop()


def rows(rt: Runtime, stmt: Any) -> list[Any]:
    with rt.db.session() as session:
        return list(session.scalars(stmt).all())


def message(rt: Runtime, msg_id: str) -> Message | None:
    found = rows(rt, select(Message).where(Message.msg_id == msg_id))
    return found[0] if found else None


def customer_id_of(rt: Runtime, contact_id: str) -> int | None:
    found = rows(
        rt,
        select(Identity.customer_id).where(
            Identity.kind == "wechaty_contact", Identity.value == contact_id
        ),
    )
    return found[0] if found else None


def test_wechaty_end_to_end(
    make_runtime: Callable[..., Runtime],
    server: MockWeChat,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WECHATY_PUPPET_SERVICE_TOKEN", TOKEN)
    rt = make_runtime(
        wechaty={
            "endpoint": server.endpoint,
            "notify_contact_id": "filehelper",
            "suggest_rooms": [],
            "auto_accept": True,
            "welcome_script_id": "INS-WEL-1",
            "welcome_min_interval_s": 0,
            "reconnect_initial_s": 0.2,
            "reconnect_max_s": 0.5,
            "retry_interval_s": 0.5,
        },
    )
    bot = BackgroundChannel(rt)  # what `siyu serve --with-bot` runs
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    bot.start()  # before the server is up: the channel must retry until it is
    try:
        time.sleep(0.5)
        server.start()
        timings["server_start"] = server.started_in
        eventually(bot.channel.logged_in.is_set, 15, "login")
        timings["login_after_start"] = time.perf_counter() - t0
        assert bot.channel.state.user_id == ADVISER
        assert bot.channel.state.drops >= 1  # the first attempt found no server
        scenario = time.perf_counter()

        server.command("contact", id="filehelper", name="文件传输助手")
        server.command("contact", id="c1", name="zhangsan", alias="张姐", friend=False)
        server.command("contact", id="c2", name="李四")

        # -- friend request: customer + identity, ice-breakers, accept, welcome, note
        server.command("friendship", id="f1", contact="c1", hello="你好，我想了解一下重疾险")
        assert server.wait_for(lambda e: e["event"] == "accepted")["contact"] == "c1"
        welcome = server.wait_for(lambda e: e["event"] == "sent" and e["to"] == "c1")
        assert welcome["text"].startswith("张姐您好")
        note = server.wait_for(lambda e: e["event"] == "sent" and e["to"] == "filehelper")
        assert note["text"].startswith("【思语】新好友 张姐")
        cid = eventually(lambda: customer_id_of(rt, "c1"), what="customer c1")
        with rt.db.session() as session:
            profile = customers_repo.customer_profile(session=session, customer_id=cid)
            suggestions = suggestions_repo.list_suggestions(session=session, customer_id=cid)
        assert profile.customer.name == "张姐"
        assert ("wechaty_contact", "c1") in {(i.kind, i.value) for i in profile.identities}
        assert suggestions and suggestions[0].candidates["scripts"][0]["category"] in (
            "welcome",
            "icebreaker",
        )
        assert (
            rows(rt, select(Event.type).where(Event.customer_id == cid)).count("friend_request")
            == 1
        )
        # The welcome's echo is logged as the adviser's (automatic) message, not an outcome.
        echo = eventually(lambda: message(rt, welcome["id"]), what="welcome echo")
        assert echo.direction == "out"

        # -- a customer question: logged, suggested, tagged, pushed to the note target
        server.command("say", id="m1", **{"from": "c1"}, to="adviser", text="重疾险一年多少钱？")
        note = server.wait_for(lambda e: e["event"] == "sent" and e["to"] == "filehelper")
        assert "重疾险一年多少钱" in note["text"]
        logged = eventually(lambda: message(rt, "m1"), what="m1")
        assert logged.direction == "in" and logged.status == "done"
        with rt.db.session() as session:
            latest = suggestions_repo.list_suggestions(session=session, customer_id=cid)[0]
        assert latest.message_id == logged.id
        top = latest.candidates["scripts"][0]
        assert top["id"] == "INS-PRC-1"

        # -- the same message delivered again: ignored
        server.command("emit", id="m1")
        time.sleep(0.3)
        assert len(rows(rt, select(Message).where(Message.msg_id == "m1"))) == 1

        # -- the adviser sends the suggested script: adopted; the customer replies
        server.command("say", id="a1", **{"from": "adviser"}, to="c1", text=top["text"])
        adopted = eventually(
            lambda: [o for o in outcomes_repo_list(rt, cid) if o.kind == "adopted"],
            what="adopted outcome",
        )[0]
        assert adopted.script_id == "INS-PRC-1" and adopted.suggestion_id == latest.id
        assert adopted.message_id == message(rt, "a1").id
        server.command("say", id="m2", **{"from": "c1"}, to="adviser", text="有点贵，我再想想")
        eventually(lambda: outcomes_repo_list(rt, cid)[-1].customer_replied is True, what="reply")
        server.wait_for(lambda e: e["event"] == "sent" and e["to"] == "filehelper")

        # -- ... then an edited version of the next suggestion
        with rt.db.session() as session:
            latest = suggestions_repo.list_suggestions(session=session, customer_id=cid)[0]
        script = latest.candidates["scripts"][0]
        edited_text = script["text"][:-4] + "，您看呢？"
        server.command("say", id="a2", **{"from": "adviser"}, to="c1", text=edited_text)
        edited = eventually(
            lambda: [o for o in outcomes_repo_list(rt, cid) if o.kind == "edited"],
            what="edited outcome",
        )[0]
        assert edited.final_text == edited_text and edited.edit_distance
        assert edited.script_id == script["id"]

        # -- non-text messages: logged with their type, no suggestion, no crash
        before = len(suggestions_repo_list(rt, cid))
        for n, kind in enumerate(
            ["Image", "Audio", "Attachment", "Url", "MiniProgram", "Emoticon", "Recalled"]
        ):
            server.command("say", id=f"x{n}", **{"from": "c1"}, to="adviser", type=kind, text="")
        types = eventually(
            lambda: [m.type for m in [message(rt, f"x{n}") for n in range(7)] if m] or None,
            what="non-text messages",
        )
        eventually(lambda: all(message(rt, f"x{n}") for n in range(7)), what="all 7")
        types = [message(rt, f"x{n}").type for n in range(7)]  # type: ignore[union-attr]
        assert types == ["image", "voice", "file", "link", "mini_program", "emoticon", "recalled"]
        assert len(suggestions_repo_list(rt, cid)) == before

        # -- a group: logged to the room; suggestions only when the adviser is @mentioned
        server.command("room", id="r1@chatroom", topic="重疾险交流群", members=["c2"])
        server.command("say", id="g1", **{"from": "c2"}, room="r1@chatroom", text="大家好")
        server.command(
            "say",
            id="g2",
            **{"from": "c2"},
            room="r1@chatroom",
            text="@顾问小王 理赔要什么材料",
            mentions=["adviser"],
        )
        g2 = eventually(lambda: message(rt, "g2"), what="g2")
        g1 = message(rt, "g1")
        assert g1 is not None and g1.conversation_id == g2.conversation_id
        c2 = customer_id_of(rt, "c2")
        assert c2 is not None
        eventually(
            lambda: [s for s in suggestions_repo_list(rt, c2) if s.message_id == g2.id],
            what="room suggestion",
        )
        assert not [s for s in suggestions_repo_list(rt, c2) if s.message_id == g1.id]
        timings["scenario"] = time.perf_counter() - scenario

        # -- the server restarts mid-test: the channel reconnects and goes on
        restart = time.perf_counter()
        drops = bot.channel.state.drops
        server.restart()
        eventually(lambda: bot.channel.state.drops > drops, 10, "drop noticed")
        eventually(lambda: bot.channel.state.connections >= 2, 15, "reconnected")
        eventually(bot.channel.logged_in.is_set, 15, "login again")
        server.command("contact", id="filehelper", name="文件传输助手")
        server.command("contact", id="c1", name="zhangsan", alias="张姐")
        server.command("say", id="m3", **{"from": "c1"}, to="adviser", text="理赔要多久？")
        eventually(lambda: message(rt, "m3"), 10, "m3 after restart")
        note = server.wait_for(lambda e: e["event"] == "sent" and e["to"] == "filehelper")
        assert "理赔要多久" in note["text"]  # sending works on the new connection too
        timings["recovery"] = time.perf_counter() - restart
        assert customer_id_of(rt, "c1") == cid
    finally:
        assert bot.stop(), "the bot did not stop"
    print("wechaty e2e timings (s):", {k: round(v, 2) for k, v in timings.items()})


def outcomes_repo_list(rt: Runtime, customer_id: int) -> list[outcomes_repo.OutcomeRecord]:
    with rt.db.session() as session:
        return outcomes_repo.list_outcomes(session=session, customer_id=customer_id)


def suggestions_repo_list(rt: Runtime, customer_id: int) -> list[Any]:
    with rt.db.session() as session:
        return suggestions_repo.list_suggestions(session=session, customer_id=customer_id)


def _check(tmp_path: Any, endpoint: str, *extra: str) -> int:
    from bot.cli import run

    cfg = tmp_path / "bot.toml"
    cfg.write_text(f'[wechaty]\nendpoint = "{endpoint}"\n', encoding="utf-8")
    return run(
        ["--config", str(cfg), "--data-dir", str(tmp_path / "data"), "bot", "--check", *extra]
    )


def test_bot_check_verifies_config_and_connectivity(
    server: MockWeChat,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("WECHATY_PUPPET_SERVICE_TOKEN", TOKEN)
    server.start()
    assert _check(tmp_path, server.endpoint) == 0
    assert f"ok: puppet service {server.endpoint} answered" in capsys.readouterr().out
    server.stop()
    assert _check(tmp_path, server.endpoint) == 1
    assert "cannot reach the puppet service" in capsys.readouterr().err


def test_bot_check_rejects_a_missing_token(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("WECHATY_PUPPET_SERVICE_TOKEN", raising=False)
    assert _check(tmp_path, "127.0.0.1:1") == 1
    assert "WECHATY_PUPPET_SERVICE_TOKEN" in capsys.readouterr().err


def test_a_friend_request_with_an_entry_code_is_attributed(
    make_runtime: Callable[..., Runtime],
    server: MockWeChat,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Through the real puppet service: the greeting of a friend request carries a campaign
    entry code; the new customer is attributed to the campaign, its channel and the
    adviser, the evidence kept, and greeted with the campaign's welcome script signed with
    the adviser's persona. A request without a code stays unattributed."""
    from datetime import date

    from bot.store import advisers as advisers_repo
    from bot.store import campaigns as campaigns_repo
    from bot.store.campaigns import CampaignSpec

    monkeypatch.setenv("WECHATY_PUPPET_SERVICE_TOKEN", TOKEN)
    rt = make_runtime(
        wechaty={
            "endpoint": server.endpoint,
            "auto_accept": True,
            "welcome_script_id": "INS-WEL-1",
            "welcome_min_interval_s": 0,
            "reconnect_initial_s": 0.2,
            "reconnect_max_s": 0.5,
        },
    )
    with rt.db.session() as session:
        campaign = campaigns_repo.create_campaign(
            session=session,
            spec=CampaignSpec("直播课", "直播", date(2026, 1, 1), welcome_script_id="INS-ICE-1"),
            actor="t",
        )
        campaigns_repo.add_code(
            session=session, campaign_id=campaign.id, adviser_id=ADVISER, code="ZB2611"
        )
        advisers_repo.set_persona(
            session=session, adviser_id=ADVISER, persona_name="王老师", signature="—— 王老师"
        )
    server.start()
    bot = BackgroundChannel(rt)
    bot.start()
    try:
        eventually(bot.channel.logged_in.is_set, 15, "login")
        server.command("contact", id="c9", name="zhou", alias="周先生", friend=False)
        server.command("contact", id="c10", name="wu", friend=False)
        server.command("friendship", id="f9", contact="c9", hello="你好，看了直播来的 zb-2611")
        welcome = server.wait_for(lambda e: e["event"] == "sent" and e["to"] == "c9")
        assert "方便说说家里几口人" in welcome["text"]  # INS-ICE-1, the campaign's
        assert welcome["text"].endswith("\n—— 王老师")
        cid = eventually(lambda: customer_id_of(rt, "c9"), what="customer c9")
        with rt.db.session() as session:
            found = campaigns_repo.attribution_of(session=session, customer_id=cid)
        assert found is not None
        assert (found.code.code, found.code.campaign, found.code.channel) == (
            "ZB2611",
            "直播课",
            "直播",
        )
        assert found.code.adviser_id == ADVISER and found.method == "greeting"
        assert "你好，看了直播来的 zb-2611" in found.evidence
        server.command("friendship", id="f10", contact="c10", hello="你好")
        plain = server.wait_for(lambda e: e["event"] == "sent" and e["to"] == "c10")
        assert "保险顾问王老师" in plain["text"]  # INS-WEL-1, the configured welcome
        other = eventually(lambda: customer_id_of(rt, "c10"), what="customer c10")
        with rt.db.session() as session:
            assert campaigns_repo.attribution_of(session=session, customer_id=other) is None
    finally:
        assert bot.stop(), "the bot did not stop"
