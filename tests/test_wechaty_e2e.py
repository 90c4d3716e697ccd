"""End to end: python-wechaty over gRPC to a real Node puppet-service server on 127.0.0.1
backed by wechaty-puppet-mock (tests/wechaty_server), with a real runtime (SQLite,
Chroma, embeddings) behind the channel: in-process (what `siyu serve --with-bot` runs)
and as a real `siyu bot` process."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import func, select
from wechaty_mock import ADVISER, TOKEN, MockWeChat, SiyuBot, free_port, server_available

from bot.channels.wechaty_run import BackgroundChannel
from bot.pipeline.runtime import Runtime
from bot.services import channel_status
from bot.services.access import cli_principal
from bot.settings import Settings, WechatySettings
from bot.store import Database
from bot.store import customers as customers_repo
from bot.store import outcomes as outcomes_repo
from bot.store import suggestions as suggestions_repo
from bot.store.models import ChannelInbox, Event, Identity, Message

pytestmark = pytest.mark.skipif(server_available() is not None, reason=str(server_available()))

T = TypeVar("T")

# --------------------------------------------------------------------------- the status service
ADMIN = cli_principal("test")


def status_of(db: Database, settings: WechatySettings) -> list[channel_status.AccountStatus]:
    with db.session() as session:
        return channel_status.read_status(session, ADMIN, settings=settings)


def parked_of(db: Database, settings: WechatySettings) -> list[channel_status.ParkedMessage]:
    with db.session() as session:
        return channel_status.parked_messages(session, ADMIN, settings=settings)


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


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WECHATY_PUPPET_SERVICE_TOKEN", TOKEN)


def rows(db: Database, stmt: Any) -> list[Any]:
    with db.session() as session:
        return list(session.scalars(stmt).all())


def message(rt: Runtime, msg_id: str) -> Message | None:
    found = rows(rt.db, select(Message).where(Message.msg_id == msg_id))
    return found[0] if found else None


def customer_id_of(rt: Runtime, contact_id: str) -> int | None:
    found = rows(
        rt.db,
        select(Identity.customer_id).where(
            Identity.kind == "wechaty_contact", Identity.value == contact_id
        ),
    )
    return found[0] if found else None


def logged_ids(db: Database, prefix: str) -> list[str]:
    """msg_ids starting with ``prefix`` in the order they were logged."""
    return rows(
        db, select(Message.msg_id).where(Message.msg_id.like(f"{prefix}%")).order_by(Message.id)
    )


def assert_per_contact_order(
    ids: list[str], contacts: list[str], per_contact: int, prefix: str
) -> None:
    for c in contacts:
        ks = [int(i.rsplit("-", 1)[1]) for i in ids if i.startswith(f"{prefix}-{c}-")]
        assert ks == list(range(per_contact)), f"{c}: {ks}"


def inbox_statuses(db: Database) -> Counter[str]:
    return Counter(rows(db, select(ChannelInbox.status)))


FAST = {
    "reconnect_initial_s": 0.2,
    "reconnect_max_s": 0.8,
    "retry_initial_s": 0.1,
    "retry_interval_s": 0.2,
    "note_min_interval_s": 0,
}


# --------------------------------------------------------------------------- the scenario
@pytest.mark.slow
def test_wechaty_end_to_end(
    make_runtime: Callable[..., Runtime],
    server: MockWeChat,
) -> None:
    rt = make_runtime(
        wechaty=FAST
        | {
            "endpoint": server.endpoint,
            "notify_contact_id": "filehelper",
            "suggest_rooms": [],
            "auto_accept": True,
            "welcome_script_id": "INS-WEL-1",
            "welcome_min_interval_s": 0,
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
        assert bot.channel.state.connections == 1  # counted at login only
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
            rows(rt.db, select(Event.type).where(Event.customer_id == cid)).count("friend_request")
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
        eventually(lambda: message(rt, "m1").status == "done", what="m1 suggested")  # type: ignore[union-attr]
        assert logged.direction == "in"
        with rt.db.session() as session:
            latest = suggestions_repo.list_suggestions(session=session, customer_id=cid)[0]
        assert latest.message_id == logged.id
        top = latest.candidates["scripts"][0]
        assert top["id"] == "INS-PRC-1"

        # -- the same message delivered again: ignored
        server.command("emit", id="m1")
        time.sleep(0.3)
        assert len(rows(rt.db, select(Message).where(Message.msg_id == "m1"))) == 1

        # -- the adviser sends the suggested script: adopted; the customer replies
        server.command("say", id="a1", **{"from": "adviser"}, to="c1", text=top["text"])
        adopted = eventually(
            lambda: [o for o in outcomes_repo_list(rt, cid) if o.kind == "adopted"],
            what="adopted outcome",
        )[0]
        assert adopted.script_id == "INS-PRC-1" and adopted.suggestion_id == latest.id
        assert adopted.message_id == message(rt, "a1").id  # type: ignore[union-attr]
        server.command("say", id="m2", **{"from": "c1"}, to="adviser", text="有点贵，我再想想")
        eventually(lambda: outcomes_repo_list(rt, cid)[-1].customer_replied is True, what="reply")
        server.wait_for(lambda e: e["event"] == "sent" and e["to"] == "filehelper")

        # -- non-text messages: logged with their type, no suggestion, no crash
        before = len(suggestions_repo_list(rt, cid))
        for n, kind in enumerate(
            ["Image", "Audio", "Attachment", "Url", "MiniProgram", "Emoticon", "Recalled"]
        ):
            server.command("say", id=f"x{n}", **{"from": "c1"}, to="adviser", type=kind, text="")
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
        assert g1.id < g2.id  # the room is one lane: arrival order
        c2 = customer_id_of(rt, "c2")
        assert c2 is not None
        eventually(
            lambda: [s for s in suggestions_repo_list(rt, c2) if s.message_id == g2.id],
            what="room suggestion",
        )
        assert not [s for s in suggestions_repo_list(rt, c2) if s.message_id == g1.id]
        # the note about g2 reaches the adviser before the restart below: one still being
        # sent when the server stops dies with it, and its echo (which the new server
        # never saw) is parked, rightly; that is not what this test is about
        g2_note = server.wait_for(
            lambda e: (
                e["event"] == "sent" and e["to"] == "filehelper" and "理赔要什么材料" in e["text"]
            )
        )
        eventually(  # and its echo is in the inbox, to settle below
            lambda: rows(
                rt.db, select(ChannelInbox.id).where(ChannelInbox.event_id == g2_note["id"])
            ),
            what="the note's echo",
        )
        timings["scenario"] = time.perf_counter() - scenario

        # -- the server restarts mid-test: the channel reconnects and goes on. First the
        # inbox settles: the mock's new process knows no message of the old one, so an
        # echo of a sent message still being resolved would be parked (as it should: its
        # payload is gone), which is not what this part is about.
        eventually(lambda: set(inbox_statuses(rt.db)) <= {"done", "skipped"}, what="settled")
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
        eventually(lambda: set(inbox_statuses(rt.db)) <= {"done", "skipped"}, what="inbox done")
    finally:
        assert bot.stop(), "the bot did not stop"
    print("wechaty e2e timings (s):", {k: round(v, 2) for k, v in timings.items()})


def outcomes_repo_list(rt: Runtime, customer_id: int) -> list[outcomes_repo.OutcomeRecord]:
    with rt.db.session() as session:
        return outcomes_repo.list_outcomes(session=session, customer_id=customer_id)


def suggestions_repo_list(rt: Runtime, customer_id: int) -> list[Any]:
    with rt.db.session() as session:
        return suggestions_repo.list_suggestions(session=session, customer_id=customer_id)


# --------------------------------------------------------------------------- connection
@pytest.mark.slow
def test_backoff_with_nothing_listening_is_counted_and_reset_at_login(
    make_runtime: Callable[..., Runtime],
) -> None:
    port = free_port()
    rt = make_runtime(
        load=False,
        wechaty=FAST
        | {"endpoint": f"127.0.0.1:{port}", "reconnect_initial_s": 0.1, "reconnect_max_s": 0.4},
    )
    bot = BackgroundChannel(rt)
    server = MockWeChat(port)
    bot.start()
    try:
        eventually(lambda: len(bot.channel.state.delays) >= 5, 10, "5 attempts")
        state = bot.channel.state
        # Doubling from the first failure, capped; never reset: nothing ever logged in.
        assert state.delays[:5] == [0.1, 0.2, 0.4, 0.4, 0.4]
        assert state.connections == 0
        assert "连不上 puppet service" in (state.last_drop or "")
        assert status_of(rt.db, rt.settings.wechaty)[0].state == "reconnecting"
        server.start()
        eventually(bot.channel.logged_in.is_set, 10, "login")
        assert bot.channel.state.connections == 1
        failures = len(bot.channel.state.delays)
        server.restart()  # a drop after a login: back to the first delay
        eventually(lambda: len(bot.channel.state.delays) > failures, 10, "the drop")
        assert bot.channel.state.delays[failures] == 0.1
        eventually(lambda: bot.channel.state.connections == 2, 10, "second login")
    finally:
        assert bot.stop()
        server.stop()


@pytest.mark.slow
def test_a_stopped_server_is_detected_within_the_heartbeat_deadline(
    make_runtime: Callable[..., Runtime], server: MockWeChat
) -> None:
    interval, deadline = 0.5, 2.0
    rt = make_runtime(
        load=False,
        wechaty=FAST
        | {
            "endpoint": server.endpoint,
            "heartbeat_interval_s": interval,
            "heartbeat_timeout_s": deadline,
        },
    )
    server.start()
    bot = BackgroundChannel(rt)
    bot.start()
    try:
        eventually(bot.channel.logged_in.is_set, 10, "login")
        time.sleep(3 * interval)  # dings answered: no drop while the server lives
        assert bot.channel.state.drops == 0
        server.pause()  # SIGSTOP: the TCP connection stays open, nothing answers
        stopped = time.monotonic()
        eventually(lambda: bot.channel.state.drops >= 1, deadline + 3 * interval + 2, "drop")
        detected = time.monotonic() - stopped
        assert "心跳超时" in (bot.channel.state.last_drop or "")
        assert not bot.channel.logged_in.is_set()
        server.resume()
        eventually(lambda: bot.channel.state.connections >= 2, 20, "reconnected")
        server.command("contact", id="c1", name="张三")
        server.command("say", id="after-stop", **{"from": "c1"}, to="adviser", text="还在吗")
        eventually(lambda: message(rt, "after-stop"), 10, "a message after the stop")
        print(f"stopped server detected after {detected:.2f} s (deadline {deadline} s)")
    finally:
        server.resume()
        assert bot.stop()


def test_two_accounts_in_one_process_one_failing(
    make_runtime: Callable[..., Runtime], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOKEN_WANG", TOKEN)
    monkeypatch.setenv("TOKEN_LI", TOKEN)
    wang = MockWeChat(free_port(), adviser="wxid-wang")
    li_port = free_port()  # nothing listens there (yet)
    rt = make_runtime(
        load=False,
        wechaty=FAST
        | {
            "accounts": [
                {"adviser_id": "wang", "endpoint": wang.endpoint, "token_env": "TOKEN_WANG"},
                {"adviser_id": "li", "endpoint": f"127.0.0.1:{li_port}", "token_env": "TOKEN_LI"},
            ]
        },
    )
    wang.start()
    bot = BackgroundChannel(rt)
    accounts = bot.service.accounts
    bot.start()
    li = MockWeChat(li_port, adviser="wxid-li")
    try:
        eventually(accounts["wang"].logged_in.is_set, 10, "wang logs in")
        eventually(lambda: accounts["li"].state.drops >= 3, 10, "li keeps failing")
        wang.command("contact", id="c1", name="张三")
        wang.command("say", id="w1", **{"from": "c1"}, to="adviser", text="重疾险多少钱")
        logged = eventually(lambda: message(rt, "w1"), 10, "wang's message")
        assert logged.adviser_id == "wang"
        by_name = {s.account: s for s in status_of(rt.db, rt.settings.wechaty)}
        assert by_name["wang"].state == "logged_in" and by_name["wang"].user_id == "wxid-wang"
        assert by_name["li"].state in ("reconnecting", "connecting")
        assert "连不上" in (by_name["li"].error or "")
        # wang logs out and in again on the phone: li is not touched, and vice versa
        wang.command("logout")
        eventually(lambda: not accounts["wang"].logged_in.is_set(), 10, "wang logged out")
        wang.command("login")
        eventually(accounts["wang"].logged_in.is_set, 10, "wang back")
        li.start()
        eventually(accounts["li"].logged_in.is_set, 10, "li logs in once its server is up")
        li.command("contact", id="c9", name="王五")
        li.command("say", id="l1", **{"from": "c9"}, to="adviser", text="在吗")
        assert eventually(lambda: message(rt, "l1"), 10, "li's message").adviser_id == "li"
        assert accounts["wang"].logged_in.is_set()
    finally:
        assert bot.stop()
        wang.stop()
        li.stop()


# --------------------------------------------------------------------------- inbox
@pytest.mark.slow
def test_a_burst_is_stored_in_per_contact_arrival_order(
    make_runtime: Callable[..., Runtime], server: MockWeChat
) -> None:
    rt = make_runtime(wechaty=FAST | {"endpoint": server.endpoint})
    server.start()
    bot = BackgroundChannel(rt)
    bot.start()
    try:
        eventually(bot.channel.logged_in.is_set, 10, "login")
        old = [f"k{i}" for i in range(5)]
        for c in old:  # contacts the SDK has already loaded ...
            server.command("contact", id=c, name=f"老客户{c}")
            server.command("say", id=f"warm-{c}", **{"from": c}, to="adviser", text="你好")
        eventually(lambda: len(logged_ids(rt.db, "warm-")) == 5, 10, "warm-up")
        contacts = old + [f"n{i}" for i in range(5)]  # ... and new ones, mixed
        ack = server.command("burst", contacts=contacts, per_contact=20, prefix="b", seed=7)
        assert len(ack["ids"]) == 200
        eventually(lambda: len(logged_ids(rt.db, "b-")) == 200, 60, "200 logged")
        ids = logged_ids(rt.db, "b-")
        assert len(set(ids)) == 200
        assert_per_contact_order(ids, contacts, 20, "b")
        eventually(lambda: set(inbox_statuses(rt.db)) == {"done"}, 90, "all suggested")
        pending = rows(
            rt.db, select(func.count()).select_from(Message).where(Message.status != "done")
        )
        assert pending == [0]
    finally:
        assert bot.stop()


def test_a_late_payload_waits_its_turn_and_a_poison_message_is_parked(
    make_runtime: Callable[..., Runtime],
    server: MockWeChat,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = FAST | {
        "endpoint": server.endpoint,
        "retry_initial_s": 0.3,
        "retry_interval_s": 0.6,
        "max_attempts": 4,  # 0.3 + 0.6 + 0.6 s of tries: more than the late payload's delay
        "payload_hold_s": 5,
    }
    rt = make_runtime(load=False, wechaty=settings)
    server.start()
    bot = BackgroundChannel(rt)
    bot.start()
    try:
        eventually(bot.channel.logged_in.is_set, 10, "login")
        server.command("contact", id="c1", name="张三")
        # the event now, its payload 0.8 s later; the customer's next message right after it
        server.command("late", id="late-1", **{"from": "c1"}, text="第一句", delay_ms=800)
        server.command("say", id="late-2", **{"from": "c1"}, to="adviser", text="第二句")
        eventually(lambda: len(logged_ids(rt.db, "late-")) == 2, 15, "both logged")
        assert logged_ids(rt.db, "late-") == ["late-1", "late-2"]
        # an event whose payload never exists: parked after 4 tries, the rest goes on
        server.command("ghost", id="ghost-1")
        server.command("say", id="after-ghost", **{"from": "c1"}, to="adviser", text="第三句")
        eventually(lambda: message(rt, "after-ghost"), 15, "the message after the ghost")
        eventually(lambda: parked_of(rt.db, rt.settings.wechaty), 15, "the ghost parked")
    finally:
        assert bot.stop()
    [parked] = parked_of(rt.db, rt.settings.wechaty)
    assert (parked.event_id, parked.stage, parked.attempts) == ("ghost-1", "resolve", 4)
    assert parked.error == "服务返回错误（UNKNOWN：Error: no payload found for id ghost-1）"
    # `siyu bot --status` shows it to an operator, as a table and as JSON
    from bot.cli import run

    cfg = tmp_path / "status.toml"
    cfg.write_text(f'[wechaty]\nendpoint = "{server.endpoint}"\n', encoding="utf-8")
    base = ["--config", str(cfg), "--data-dir", str(rt.settings.data_dir), "bot"]
    assert run([*base, "--status", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["accounts"][0]["parked"] == 1 and data["accounts"][0]["state"] == "stopped"
    assert data["parked"][0]["event_id"] == "ghost-1"
    assert run([*base, "--status"]) == 0
    table = capsys.readouterr().out
    assert "ghost-1" in table and "取消息内容" in table
    assert run([*base, "--discard", str(parked.id)]) == 0
    assert "已丢弃 1 条" in capsys.readouterr().out
    assert parked_of(rt.db, rt.settings.wechaty) == []


# --------------------------------------------------------------------------- siyu bot itself
def _write_config(path: Path, endpoint: str, **extra: Any) -> Path:
    lines = ["[wechaty]", f'endpoint = "{endpoint}"']
    for key, value in (FAST | extra).items():
        lines.append(f"{key} = {json.dumps(value)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.slow
def test_siyu_bot_killed_mid_burst_loses_nothing(server: MockWeChat, tmp_path: Path) -> None:
    """The foreground `siyu bot` process, SIGKILLed while a burst of 200 messages is being
    logged: after a restart every message the server delivered is logged exactly once, in
    per-contact order, and suggested."""
    cfg = _write_config(tmp_path / "bot.toml", server.endpoint)
    data = tmp_path / "data"
    args = ["--config", str(cfg), "--data-dir", str(data), "bot"]
    env = {"WECHATY_PUPPET_SERVICE_TOKEN": TOKEN}
    server.start()
    first = SiyuBot(args, env=env, workdir=tmp_path)
    try:
        first.wait_for("已登录", 60)
        db = Database(f"sqlite:///{data / 'siyu.db'}")
        contacts = [f"k{i}" for i in range(10)]
        ack = server.command("burst", contacts=contacts, per_contact=20, prefix="b", seed=3)
        assert len(ack["ids"]) == 200
        eventually(lambda: len(logged_ids(db, "b-")) >= 20, 30, "logging under way")
        first.kill()  # SIGKILL: no clean-up of any kind
        at_kill = len(logged_ids(db, "b-"))
        assert at_kill < 200, "the kill came too late to prove anything"
    finally:
        first.kill()
    second = SiyuBot(args, env=env, workdir=tmp_path)
    try:
        eventually(lambda: len(logged_ids(db, "b-")) == 200, 90, "all 200 after the restart")
        eventually(lambda: set(inbox_statuses(db)) == {"done"}, 90, "all suggested")
        ids = logged_ids(db, "b-")
        assert sorted(ids) == sorted(ack["ids"])  # every delivered message, exactly once
        assert_per_contact_order(ids, contacts, 20, "b")
        assert second.terminate() == 0  # SIGTERM: a clean stop
        output = second.output
        # the operator reads that the restart picks up what the kill left, and what it did
        stamp = r"\d\d-\d\d \d\d:\d\d:\d\d"
        assert re.search(
            rf"^{stamp} \[默认账号\] 收件箱里有 \d+ 条消息上次没处理完，登录后接着处理$",
            output,
            re.MULTILINE,
        ), output
        summary = re.search(
            r"^\[默认账号\] 本次收到 \d+ 条，记录 (\d+) 条，建议 \d+ 条", output, re.M
        )
        assert summary and int(summary[1]) == 200 - at_kill, output
        assert output.rstrip().endswith("siyu bot：已停止")
        assert "Traceback" not in output
    finally:
        second.kill()
        db.dispose()
    print(f"killed with {at_kill}/200 logged; all 200 after the restart")


@pytest.mark.slow
def test_siyu_bot_shows_the_qr_code_records_logout_and_never_prints_the_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli.bot import qr_text

    server = MockWeChat(free_port(), autologin=False)
    server.start()
    cfg = _write_config(tmp_path / "bot.toml", server.endpoint)
    data = tmp_path / "data"
    args = ["--config", str(cfg), "--data-dir", str(data)]
    env = {"WECHATY_PUPPET_SERVICE_TOKEN": TOKEN}
    bot = SiyuBot(["--debug", *args, "bot"], env=env, workdir=tmp_path)
    settings = Settings.model_validate(
        {"data_dir": str(data), "wechaty": {"endpoint": server.endpoint}}
    )
    try:
        bot.wait_for("siyu bot：正在连接 1 个账号：默认账号；只给建议，不替顾问发消息。", 60)
        qr = "https://login.weixin.qq.com/l/siyu-test-qr"

        def scanned() -> bool:  # until the bot's event stream is up and shows it
            server.command("scan", qrcode=qr)
            time.sleep(0.3)
            return "[默认账号] 等待扫码登录：请用顾问的微信扫描下面的二维码" in bot.output

        eventually(scanned, 30, "the scan shown")
        bot.wait_for(qr_text(qr))  # the QR code itself, drawn in the terminal
        db = Database(f"sqlite:///{data / 'siyu.db'}")
        status = eventually(
            lambda: [s for s in status_of(db, settings.wechaty) if s.qr_code], 10, "QR saved"
        )[0]
        assert status.qr_code == qr and status.state == "waiting_scan"
        assert status.banner == "微信账号 默认账号 等待扫码登录"
        server.command("login")
        bot.wait_for("[默认账号] 已登录微信「顾问小王」（adviser-wxid），开始接收消息")
        server.command("logout")
        # the operator's log, loudly (an ERROR line), and what to do about it
        bot.wait_for(
            "ERROR bot.channels.wechaty: [默认账号] 微信「顾问小王」已退出登录"
            "（logged out on the phone）：收不到消息了，请让顾问重新扫码登录"
        )
        status = eventually(
            lambda: [s for s in status_of(db, settings.wechaty) if s.state == "logged_out"],
            10,
            "logout recorded",
        )[0]
        assert status.logged_out_at is not None and "已退出登录" in (status.banner or "")
        assert bot.terminate() == 0
    finally:
        bot.kill()
        server.stop()
    output = bot.output
    assert TOKEN not in output
    assert "***" in output  # the :authority header and the SDK's warnings, masked
    assert "Traceback" not in output


@pytest.mark.slow
def test_siyu_bot_check_errors_are_one_line_without_the_token(
    server: MockWeChat, tmp_path: Path
) -> None:
    server.start()
    ok = SiyuBot(
        ["--config", str(_write_config(tmp_path / "ok.toml", server.endpoint)), "bot", "--check"],
        env={"WECHATY_PUPPET_SERVICE_TOKEN": TOKEN},
        workdir=tmp_path,
    )
    assert ok.wait() == 0
    assert f"ok：默认账号的 puppet service {server.endpoint} 已应答" in ok.output

    wrong = "insecure_wrong_token_4242"
    bad_token = SiyuBot(
        ["--debug", "--config", str(tmp_path / "ok.toml"), "bot", "--check"],
        env={"WECHATY_PUPPET_SERVICE_TOKEN": wrong},
        workdir=tmp_path,
    )
    assert bad_token.wait() == 1
    assert wrong not in bad_token.output
    assert "没有应答（令牌不对" in bad_token.output

    closed = free_port()
    discovery = _write_config(
        tmp_path / "discovery.toml",
        "",
        discovery_url=f"http://127.0.0.1:{closed}/v0/hosties/{{token}}",
        check_timeout_s=2,
    )
    lookup = SiyuBot(
        ["--debug", "--config", str(discovery), "bot", "--check"],
        env={"WECHATY_PUPPET_SERVICE_TOKEN": wrong},
        workdir=tmp_path,
    )
    assert lookup.wait() == 1
    assert wrong not in lookup.output
    assert "/v0/hosties/***" in lookup.output  # the discovery URL, masked
    errors = [line for line in lookup.output.splitlines() if line.startswith("错误：")]
    assert len(errors) == 1 and "无法用令牌查到默认账号" in errors[0]

    server.stop()
    down = SiyuBot(
        ["--config", str(tmp_path / "ok.toml"), "bot", "--check"],
        env={"WECHATY_PUPPET_SERVICE_TOKEN": TOKEN},
        workdir=tmp_path,
    )
    assert down.wait() == 1
    [line] = [line for line in down.output.splitlines() if line.strip()]
    assert "连不上 puppet service" in line


# --------------------------------------------------------------------------- CLI errors
def _bot(tmp_path: Path, config: str, *extra: str) -> int:
    from bot.cli import run

    cfg = tmp_path / "bot.toml"
    cfg.write_text(config, encoding="utf-8")
    return run(["--config", str(cfg), "--data-dir", str(tmp_path / "data"), "bot", *extra])


def test_a_missing_token_is_one_line_naming_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("WECHATY_PUPPET_SERVICE_TOKEN", raising=False)
    assert _bot(tmp_path, '[wechaty]\nendpoint = ""\n', "--check") == 1
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if line.strip()] == [
        "错误：请在 [wechaty] 设置 endpoint，或在环境变量 WECHATY_PUPPET_SERVICE_TOKEN"
        " 里提供 puppet service 令牌"
    ]
    assert _bot(tmp_path, '[wechaty]\nendpoint = "127.0.0.1:1"\n', "--check") == 1
    err = capsys.readouterr().err
    assert err.count("WECHATY_PUPPET_SERVICE_TOKEN") == 1


def test_python_3_13_is_reported_as_unsupported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys

    monkeypatch.setattr(sys, "version_info", (3, 13, 0, "final", 0))
    assert _bot(tmp_path, '[wechaty]\nendpoint = "127.0.0.1:1"\n', "--check") == 1
    err = capsys.readouterr().err
    assert "需要 Python 3.11 或 3.12" in err and "siyu-copilot[wechat]" not in err


def test_requeue_names_what_it_needs_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _bot(tmp_path, '[wechaty]\nendpoint = "127.0.0.1:1"\n', "--requeue", "abc") == 1
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert lines == ["错误：--requeue 需要搁置消息的 ID（逗号分隔）或 all，而不是 'abc'"]
    assert _bot(tmp_path, '[wechaty]\nendpoint = "127.0.0.1:1"\n', "--requeue", "all") == 0
    assert "已放回 0 条搁置的消息" in capsys.readouterr().out
    # an id that is not parked is named, and nothing is done
    assert _bot(tmp_path, '[wechaty]\nendpoint = "127.0.0.1:1"\n', "--requeue", "999") == 1
    assert "没有这些搁置的消息（不存在，或已经放回或丢弃）：999" in capsys.readouterr().err
    assert _bot(tmp_path, '[wechaty]\nendpoint = "127.0.0.1:1"\n', "--discard", "all") == 1
    assert "--discard 需要搁置消息的 ID（逗号分隔），而不是 'all'" in capsys.readouterr().err
    assert _bot(tmp_path, '[wechaty]\nendpoint = "127.0.0.1:1"\n', "--discard", "7") == 1
    assert "：7" in capsys.readouterr().err


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
