"""The Wechaty adapter and the durable inbox in-process: the real python-wechaty
``Wechaty`` over a fake puppet that subclasses the SDK's ``Puppet`` interface (no network,
no Node), a real SQLite database, and a fake pipeline subclassing ``InboxPipeline``."""

from __future__ import annotations

import asyncio
import logging
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pyee import AsyncIOEventEmitter  # type: ignore[import-untyped]
from wechaty_grpc.wechaty.puppet import (  # type: ignore[import-untyped]
    ContactPayloadResponse,
    FriendshipPayloadResponse,
    FriendshipType,
    MessagePayloadResponse,
    MessageType,
    RoomPayloadResponse,
)
from wechaty_puppet import (  # type: ignore[import-untyped]
    EventDongPayload,
    EventFriendshipPayload,
    EventLoginPayload,
    EventLogoutPayload,
    EventMessagePayload,
    Puppet,
)

from bot.channels import inbox as inbox_module
from bot.channels.base import reason
from bot.channels.inbox import (
    Inbox,
    InboxPipeline,
    contact_payload,
    message_payload,
)
from bot.channels.wechaty import AccountEvent, WechatyAccountChannel, mask_secrets, secret_mask
from bot.domain import IncomingMessage, SuggestionResult
from bot.errors import ChannelError
from bot.pipeline.assistant import Received
from bot.pipeline.newcontacts import NewContact, Welcome
from bot.services import channel_status
from bot.services.access import cli_principal
from bot.settings import AccountConfig, WechatySettings
from bot.store import Database
from bot.store import channel_inbox as inbox_repo
from bot.store import customers as customers_repo

USER = "me"

# --------------------------------------------------------------------------- the status service
ADMIN = cli_principal("test")


def status_of(db: Database, settings: WechatySettings) -> list[channel_status.AccountStatus]:
    with db.session() as session:
        return channel_status.read_status(session, ADMIN, settings=settings)


def parked_of(db: Database, settings: WechatySettings) -> list[channel_status.ParkedMessage]:
    with db.session() as session:
        return channel_status.parked_messages(session, ADMIN, settings=settings)


def local(msg_id: str) -> str:
    return msg_id.split(":", 1)[-1]


class FakePuppet(Puppet):  # type: ignore[misc]
    """The SDK's puppet interface, answered from dicts; records what the bot sends."""

    def __init__(self, world: World) -> None:
        super().__init__(None, "fake")
        self.world = world
        self._events = AsyncIOEventEmitter()
        self._closed = asyncio.Event()
        self.login_user_id: str | None = None

    def on(self, event_name: str, caller: Any) -> None:
        self._events.on(event_name, caller)

    def listener_count(self, event_name: str) -> int:
        return len(self._events.listeners(event_name))

    def emit(self, event: str, payload: Any) -> None:
        self._events.emit(event, payload)

    async def start(self) -> None:
        self.world.puppets.append(self)
        self.login_user_id = USER
        self.emit("login", EventLoginPayload(contact_id=USER))
        await self._closed.wait()  # the event stream; returns when the service "drops"

    async def stop(self) -> None:
        self._closed.set()

    async def ding(self, data: str | None = "") -> None:
        if self.world.silent:
            await asyncio.sleep(3600)  # a stopped server: the call hangs
        self.emit("dong", EventDongPayload(data=data))

    def drop(self) -> None:
        self._closed.set()

    def self_id(self) -> str:
        return USER

    async def message_payload(self, message_id: str) -> MessagePayloadResponse:
        self.world.loaded.append(local(message_id))
        if message_id not in self.world.messages:
            raise RuntimeError(f"no payload for {local(message_id)} yet")
        return self.world.messages[message_id]

    async def contact_payload(self, contact_id: str) -> ContactPayloadResponse:
        return self.world.contacts[contact_id]

    async def contact_alias(self, contact_id: str, alias: str | None = None) -> str:
        return self.world.contacts[contact_id].alias

    async def room_payload(self, room_id: str) -> RoomPayloadResponse:
        return self.world.rooms[room_id]

    async def room_members(self, room_id: str) -> list[str]:
        return list(self.world.rooms[room_id].member_ids)

    async def friendship_payload(self, friendship_id: str, payload: Any = None) -> Any:
        return self.world.friendships[friendship_id]

    async def friendship_accept(self, friendship_id: str) -> None:
        self.world.fail("accept")
        self.world.accepted.append(friendship_id)

    async def message_send_text(
        self, conversation_id: str, message: str, mention_ids: Any = None
    ) -> str:
        self.world.fail("send")
        self.world.sent.append((conversation_id, message))
        mid = f"{self.world.prefix}:sent-{len(self.world.sent)}"
        self.world.messages[mid] = MessagePayloadResponse(
            id=mid,
            text=message,
            timestamp=int(time.time()),
            type=MessageType.MESSAGE_TYPE_TEXT,
            from_id=USER,
            to_id=conversation_id,
        )
        return mid


class World:
    def __init__(self) -> None:
        self.contacts = {
            USER: ContactPayloadResponse(id=USER, name="顾问", friend=True),
            "c1": ContactPayloadResponse(id="c1", name="zhang", alias="张姐", friend=True),
            "c2": ContactPayloadResponse(id="c2", name="李四", friend=True),
            "note": ContactPayloadResponse(id="note", name="文件传输助手"),
        }
        self.rooms = {"r1": RoomPayloadResponse(id="r1", topic="群", member_ids=[USER, "c1"])}
        self.messages: dict[str, MessagePayloadResponse] = {}
        self.friendships: dict[str, FriendshipPayloadResponse] = {}
        self.puppets: list[FakePuppet] = []
        self.loaded: list[str] = []
        self.sent: list[tuple[str, str]] = []
        self.accepted: list[str] = []
        self.silent = False
        self.prefix = uuid.uuid4().hex
        #: Calls of the puppet that fail: "accept" / "send" -> failures left (-1: always).
        self.failing: dict[str, int] = {}

    def fail(self, call: str) -> None:
        left = self.failing.get(call, 0)
        if left:
            self.failing[call] = left - 1 if left > 0 else -1
            raise RuntimeError(f"{call} failed")

    @property
    def puppet(self) -> FakePuppet:
        return self.puppets[-1]

    def payload(
        self,
        mid: str,
        *,
        frm: str,
        to: str = USER,
        text: str = "",
        room: str = "",
        type: MessageType = MessageType.MESSAGE_TYPE_TEXT,
        mentions: tuple[str, ...] = (),
    ) -> str:
        full = f"{self.prefix}:{mid}"
        self.messages[full] = MessagePayloadResponse(
            id=full,
            text=text,
            timestamp=int(time.time()),
            type=type,
            from_id=frm,
            to_id="" if room else to,
            room_id=room,
            mention_ids=list(mentions),
        )
        return full

    def emit(self, mid: str) -> None:
        self.puppet.emit("message", EventMessagePayload(message_id=f"{self.prefix}:{mid}"))

    def say(self, mid: str, **kwargs: Any) -> None:
        self.payload(mid, **kwargs)
        self.emit(mid)


class Recorder(InboxPipeline):
    """The pipeline's interface; records calls, can fail or block on demand. Customers
    are real rows (the inbox points at them)."""

    def __init__(self) -> None:
        self.db: Database | None = None
        self.logged: list[IncomingMessage] = []
        self.suggested: list[str] = []
        self.fail_log: dict[str, int] = {}  # local id -> failures left (-1: always)
        self.fail_suggest: dict[str, int] = {}
        self.fail_contact: dict[str, int] = {}  # contact id -> failures left (-1: always)
        self.block_suggest: threading.Event | None = None
        self.contacts: list[tuple[NewContact, bool]] = []
        self._next = 0
        self._lock = threading.Lock()

    @staticmethod
    def _maybe_fail(table: dict[str, int], key: str) -> None:
        left = table.get(key, 0)
        if left:
            table[key] = left - 1 if left > 0 else -1
            raise RuntimeError("database is locked")

    def log(self, message: IncomingMessage) -> Received:
        self._maybe_fail(self.fail_log, local(message.msg_id))
        with self._lock:
            self._next += 1
            self.logged.append(message)
            number = self._next
        pending = message.direction == "in" and message.type == "text"
        return Received(number, self.customer(message.contact_id), True, None, pending=pending)

    def customer(self, contact_id: str) -> int:
        assert self.db is not None
        with self.db.session() as session:
            customers_repo.ensure_adviser(session=session, adviser_id="a", name="顾问")
            found, _ = customers_repo.find_or_create_customer(
                session=session,
                identity_kind="wechaty_contact",
                identity_value=contact_id,
                adviser_id="a",
            )
        return found.id

    def suggest(self, message: IncomingMessage, *, message_id: int) -> SuggestionResult | None:
        if self.block_suggest is not None:
            self.block_suggest.wait(10)
        self._maybe_fail(self.fail_suggest, local(message.msg_id))
        self.suggested.append(local(message.msg_id))
        return SuggestionResult(
            scripts=(), knowledge=(), tags=(), reply="好的", mode="retrieval", latency_ms=1.0
        )

    def new_contact(self, contact: NewContact, may_send: bool) -> Welcome:
        self._maybe_fail(self.fail_contact, contact.contact_id)
        created = all(c.contact_id != contact.contact_id for c, _ in self.contacts)
        self.contacts.append((contact, may_send))
        return Welcome(
            created=created,
            customer_id=self.customer(contact.contact_id),
            result=None,
            auto_text="欢迎张姐" if created else None,
            auto_script_id="W1" if created else None,
        )

    def ids(self) -> list[str]:
        return [local(m.msg_id) for m in self.logged]


async def until(cond: Callable[[], Any], timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.01)


FAST = {
    "endpoint": "fake:1",
    "reconnect_initial_s": 0.05,
    "reconnect_max_s": 0.4,
    "retry_initial_s": 0.02,
    "retry_interval_s": 0.05,
    "max_attempts": 3,
    "payload_hold_s": 0.3,
    "note_min_interval_s": 0,
}


@pytest.fixture
def db(tmp_path: Path) -> Any:
    database = Database(f"sqlite:///{tmp_path / 'inbox.db'}")
    database.migrate()
    yield database
    database.dispose()


Scenario = Callable[[WechatyAccountChannel, World, Recorder], Awaitable[None]]


def run_channel(
    db: Database,
    scenario: Scenario,
    *,
    world: World | None = None,
    recorder: Recorder | None = None,
    wait_login: bool = True,
    journal_dir: Path | None = None,
    shown: str = "",
    on_event: Callable[[AccountEvent], None] | None = None,
    **settings: Any,
) -> tuple[World, Recorder]:
    world, recorder = world or World(), recorder or Recorder()
    recorder.db = db
    ws = WechatySettings.model_validate(FAST | settings)
    inbox = Inbox(db=db, pipeline=recorder, settings=ws, journal_dir=journal_dir)
    channel = WechatyAccountChannel(
        ws.account_configs()[0],
        settings=ws,
        inbox=inbox,
        puppet_factory=lambda _account: FakePuppet(world),
        shown=shown,
        on_event=on_event,
    )

    async def main() -> None:
        stop, inbox_stop = asyncio.Event(), asyncio.Event()
        inbox_task = asyncio.create_task(inbox.run(inbox_stop))
        task = asyncio.create_task(channel.run(stop))
        if wait_login:
            await until(channel.logged_in.is_set)
        try:
            await scenario(channel, world, recorder)
        finally:
            stop.set()
            await asyncio.wait_for(task, 5)
            inbox_stop.set()
            await asyncio.wait_for(inbox_task, 5)

    asyncio.run(main())
    return world, recorder


def rows(db: Database) -> list[inbox_repo.InboxItem]:
    with db.session() as session:
        found: list[inbox_repo.InboxItem] = []
        for status in ("received", "ready", "logged", "done", "skipped", "parked"):
            found += inbox_repo.unfinished(
                session=session, account="default", status=status, limit=10_000
            )
    return sorted(found, key=lambda r: r.id)


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WECHATY_PUPPET_SERVICE_TOKEN", "insecure_unit")


# --------------------------------------------------------------------------- conversion
def test_messages_are_converted_at_the_edge(db: Database) -> None:
    async def scenario(channel: WechatyAccountChannel, world: World, rec: Recorder) -> None:
        world.say("m1", frm="c1", text="多少钱")
        world.say("m2", frm=USER, to="c1", text="4680元一年")
        world.say("m3", frm="c1", type=MessageType.MESSAGE_TYPE_IMAGE)
        world.say("m4", frm=USER, to="note", text="a note to myself")
        world.say("g1", frm="c1", room="r1", text="大家好")
        world.say("g2", frm="c1", room="r1", text="@顾问 在吗", mentions=(USER,))
        await until(lambda: len(rec.logged) == 5)
        by_id = {local(m.msg_id): m for m in rec.logged}
        assert "m4" not in by_id  # the adviser's note target is never logged
        m1, m2, m3 = by_id["m1"], by_id["m2"], by_id["m3"]
        assert (m1.direction, m1.contact_id, m1.contact_name, m1.adviser_id) == (
            "in",
            "c1",
            "张姐",
            USER,
        )
        assert (m2.direction, m2.contact_id, m2.text) == ("out", "c1", "4680元一年")
        assert m3.type == "image"
        assert by_id["g1"].room_id == "r1" and not by_id["g1"].mentions_adviser
        assert by_id["g2"].mentions_adviser and by_id["g2"].room_topic == "群"
        # 1:1 messages of c1 keep their order in c1's lane
        assert [i for i in rec.ids() if i.startswith("m")] == ["m1", "m2", "m3"]
        await until(lambda: {r.status for r in rows(db)} <= {"done", "skipped"})
        statuses = {local(r.event_id): r.status for r in rows(db)}
        assert statuses["m4"] == "skipped"
        assert all(r.payload is None for r in rows(db))  # customer text cleared when done

    run_channel(db, scenario, notify_contact_id="note")


def test_an_account_of_the_list_logs_as_its_adviser(db: Database) -> None:
    async def scenario(channel: WechatyAccountChannel, world: World, rec: Recorder) -> None:
        world.say("m1", frm="c1", text="在吗")
        await until(lambda: rec.logged)
        assert rec.logged[0].adviser_id == "wang"
        assert channel.account == "wang"

    run_channel(
        db,
        scenario,
        accounts=[{"adviser_id": "wang", "endpoint": "fake:2", "token_env": "TOKEN_WANG"}],
    )


# --------------------------------------------------------------------------- order, retries
def test_per_contact_order_holds_behind_a_late_payload(db: Database) -> None:
    async def scenario(channel: WechatyAccountChannel, world: World, rec: Recorder) -> None:
        world.emit("m1")  # the event before its payload exists
        world.say("m2", frm="c1", text="二")
        world.say("x1", frm="c2", text="别人")
        await until(lambda: "m1" in world.loaded)
        await asyncio.sleep(0.1)
        assert rec.ids() == []  # m1 holds the rows behind it (payload_hold_s)
        world.payload("m1", frm="c1", text="一")
        await until(lambda: len(rec.logged) == 3)
        assert [i for i in rec.ids() if i.startswith("m")] == ["m1", "m2"]

    run_channel(
        db, scenario, payload_hold_s=5, retry_initial_s=0.1, retry_interval_s=0.2, max_attempts=20
    )


def test_a_payload_that_never_comes_is_parked_and_the_rest_go_on(db: Database) -> None:
    async def scenario(channel: WechatyAccountChannel, world: World, rec: Recorder) -> None:
        world.emit("ghost")
        world.say("m2", frm="c1", text="二")
        await until(lambda: rec.ids() == ["m2"])  # after payload_hold_s
        await until(lambda: any(r.status == "parked" for r in rows(db)))
        parked = [r for r in rows(db) if r.status == "parked"]
        assert [local(r.event_id) for r in parked] == ["ghost"]
        assert parked[0].attempts == 3 and parked[0].stage == "resolve"
        assert "no payload for ghost" in (parked[0].error or "")

    run_channel(db, scenario)


def test_a_failed_log_is_retried_in_order(db: Database) -> None:
    async def scenario(channel: WechatyAccountChannel, world: World, rec: Recorder) -> None:
        rec.fail_log["m1"] = 1
        world.say("m1", frm="c1", text="第一条")
        world.say("m2", frm="c1", text="第二条")
        await until(lambda: rec.ids() == ["m1", "m2"])
        await until(lambda: len(world.sent) >= 1)  # the retried message gets its note too

    run_channel(db, scenario, notify_contact_id="note")


def test_a_poison_message_is_parked_visible_and_requeued(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)

    async def scenario(channel: WechatyAccountChannel, world: World, rec: Recorder) -> None:
        rec.fail_log["m1"] = -1
        world.say("m1", frm="c1", text="毒消息")
        world.say("m2", frm="c1", text="后面的消息")
        await until(lambda: rec.suggested == ["m2"])
        await until(lambda: status_of(db, channel._settings)[0].backlog == 0)
        status = status_of(db, channel._settings)[0]
        assert status.parked == 1 and status.state == "logged_in"
        assert status.banner and "1 条消息处理失败" in status.banner
        assert status.last_message_at is not None
        parked = parked_of(db, channel._settings)
        assert [(p.text, p.stage, p.attempts) for p in parked] == [("毒消息", "log", 3)]
        # the operator fixes the cause and puts it back
        rec.fail_log["m1"] = 0
        with db.session() as session:
            assert (
                channel_status.requeue(
                    session, ADMIN, ids=[parked[0].id], settings=channel._settings
                )
                == 1
            )
        channel._inbox._flows["default"].sweep()
        await until(lambda: rec.ids() == ["m2", "m1"])
        assert parked_of(db, channel._settings) == []

    world, _ = run_channel(db, scenario)
    tracebacks = [r for r in caplog.records if r.exc_info and r.levelno >= logging.WARNING]
    assert tracebacks == []  # one line per failed try, no traceback
    m1 = f"{world.prefix}:m1"
    lines = [r.getMessage() for r in caplog.records if m1 in r.getMessage()]
    assert lines == [  # two failed tries, then the park line: what, where, what next
        f"[默认账号] 消息 {m1} 在「记录」这一步失败（第 1 次，共 3 次；0.02 秒后重试）："
        "RuntimeError: database is locked",
        f"[默认账号] 消息 {m1} 在「记录」这一步失败（第 2 次，共 3 次；0.04 秒后重试）："
        "RuntimeError: database is locked",
        f"[默认账号] 消息 {m1} 在「记录」这一步试了 3 次仍失败，已搁置：RuntimeError: database"
        " is locked；排除原因后用 siyu bot --requeue 重试（siyu bot --status 查看）",
    ]
    assert [r.levelname for r in caplog.records if m1 in r.getMessage()] == [
        "WARNING",
        "WARNING",
        "ERROR",
    ]
    assert not any("毒消息" in r.getMessage() for r in caplog.records)  # no customer text


def test_logging_never_waits_for_suggesting(db: Database) -> None:
    async def scenario(channel: WechatyAccountChannel, world: World, rec: Recorder) -> None:
        rec.block_suggest = threading.Event()
        for n in range(6):
            world.say(f"m{n}", frm="c1" if n % 2 else "c2", text=f"消息{n}")
        await until(lambda: len(rec.logged) == 6)  # all logged ...
        assert rec.suggested == []  # ... while suggestions are stuck
        rec.block_suggest.set()
        await until(lambda: len(rec.suggested) == 6)
        c1 = [i for i in rec.suggested if int(i[1:]) % 2]
        assert c1 == ["m1", "m3", "m5"]  # suggestions too, per contact, in order

    run_channel(db, scenario, suggest_workers=2)


def test_memory_is_bounded_and_the_overflow_waits_in_order_in_the_database(db: Database) -> None:
    async def scenario(channel: WechatyAccountChannel, world: World, rec: Recorder) -> None:
        flow = channel._inbox._flows["default"]
        peaks = {"resolve": 0, "log": 0, "suggest": 0}
        rec.block_suggest = threading.Event()
        for n in range(60):
            world.say(f"m{n:02d}", frm=("c1", "c2")[n % 2], text=f"消息{n}")
        while len(rec.logged) < 60:
            peaks["resolve"] = max(peaks["resolve"], len(flow.resolve.window))
            peaks["log"] = max(peaks["log"], flow.log.count)
            peaks["suggest"] = max(peaks["suggest"], flow.suggest.count)
            await asyncio.sleep(0.005)
        assert max(peaks.values()) <= 10  # [wechaty] inbox_window
        assert rec.suggested == []  # everything logged while suggestions were stuck
        rec.block_suggest.set()
        await until(lambda: len(rec.suggested) == 60, timeout=10)
        for who in (0, 1):
            mine = [f"m{n:02d}" for n in range(who, 60, 2)]
            assert [i for i in rec.ids() if i in mine] == mine
            assert [i for i in rec.suggested if i in mine] == mine

    run_channel(db, scenario, inbox_window=10)


def test_rows_left_by_a_previous_run_are_processed_at_start(db: Database) -> None:
    world = World()
    ready = IncomingMessage(
        msg_id=f"{world.prefix}:r1", channel="wechaty", contact_id="c1", text="没处理完"
    )
    world.payload("late-c1", frm="c1", text="只记下了 id")
    with db.session() as session:
        ids = inbox_repo.add_events(
            session=session,
            events=[
                inbox_repo.NewEvent("default", "message", ready.msg_id, ready.sent_at),
                inbox_repo.NewEvent("default", "message", f"{world.prefix}:late-c1", ready.sent_at),
            ],
        )
        inbox_repo.mark_ready(
            session=session, rows=[(ids[0], "c1", message_payload(ready))], now=ready.sent_at
        )

    async def scenario(channel: WechatyAccountChannel, w: World, rec: Recorder) -> None:
        await until(lambda: rec.ids() == ["r1", "late-c1"])

    run_channel(db, scenario, world=world)


def test_events_a_killed_process_had_only_in_its_journal_are_recovered(
    db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A process captures two events and is SIGKILLed after writing only the first to
    the database: the next start finds the second in its capture journal (and says how
    many were missing, not how many the journal held)."""
    caplog.set_level(logging.WARNING)
    world = World()
    world.payload("j1", frm="c1", text="被杀之前收到的")
    world.payload("j2", frm="c1", text="第二条")
    journal = tmp_path / "journal"
    script = (
        "import os, signal, sys\n"
        "from datetime import UTC, datetime\n"
        "from pathlib import Path\n"
        "from bot.channels.journal import CaptureJournal\n"
        "from bot.store.channel_inbox import NewEvent\n"
        "j = CaptureJournal(Path(sys.argv[1]))\n"
        "for mid in sys.argv[2:]:\n"
        "    j.append(NewEvent('default', 'message', mid, datetime.now(UTC)))\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    ids = [f"{world.prefix}:j1", f"{world.prefix}:j2"]
    killed = subprocess.run([sys.executable, "-c", script, str(journal), *ids], check=False)
    assert killed.returncode == -signal.SIGKILL
    assert len(list(journal.glob("capture-*.jsonl"))) == 1
    with db.session() as session:
        first = inbox_repo.NewEvent("default", "message", ids[0], datetime.now(UTC))
        inbox_repo.add_events(session=session, events=[first])

    async def scenario(channel: WechatyAccountChannel, w: World, rec: Recorder) -> None:
        await until(lambda: rec.ids() == ["j1", "j2"])

    run_channel(db, scenario, world=world, journal_dir=journal)
    assert list(journal.glob("capture-*.jsonl")) == []  # stored, then deleted (ours too)
    recovered = [r.getMessage() for r in caplog.records if "日志文件" in r.getMessage()]
    assert recovered == [
        "收件箱：上次被强行结束的进程有 1 条收到的消息还没写入数据库（其日志文件共 2 条），"
        "现已补上，会照常处理"
    ]


# --------------------------------------------------------------------------- connection
def test_reconnects_with_backoff_reset_on_login(db: Database) -> None:
    async def scenario(channel: WechatyAccountChannel, world: World, rec: Recorder) -> None:
        first = world.puppet
        assert channel.state.connections == 1
        first.drop()
        await until(lambda: channel.state.connections == 2 and world.puppet is not first)
        world.puppet.drop()
        await until(lambda: channel.state.connections == 3)
        # each drop came after a login: the first delay every time, never doubled
        assert channel.state.delays == [0.05, 0.05]
        world.say("m1", frm="c1", text="还在吗")
        await until(lambda: rec.ids() == ["m1"])

    run_channel(db, scenario)


def test_what_the_operator_reads_is_chinese_names_the_adviser_and_holds_no_customer_text(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    """The lines `siyu bot` prints as an account logs in, accepts and welcomes a new friend,
    loses its connection, logs in again and is logged out: one line each, in Chinese, the
    account named as 「林晓（ins_lin）」; the front gets the same text with each event."""
    caplog.set_level(logging.INFO, logger="bot.channels")
    events: list[AccountEvent] = []

    async def scenario(channel: WechatyAccountChannel, world: World, rec: Recorder) -> None:
        _request(world)
        world.say("m1", frm="c1", text="我的手机号13812345678")
        await until(lambda: world.sent and rec.ids() == ["m1"])
        await until(lambda: any("欢迎语" in r.getMessage() for r in caplog.records))
        first = world.puppet
        first.drop()
        await until(lambda: channel.state.connections == 2 and world.puppet is not first)
        world.puppet.emit("logout", EventLogoutPayload(contact_id=USER, data="手机上退出了"))
        await until(lambda: not channel.logged_in.is_set())

    run_channel(
        db,
        scenario,
        shown="林晓（ins_lin）",
        on_event=events.append,
        auto_accept=True,
        welcome_script_id="W1",
    )
    lines = [
        (r.levelname, r.getMessage())
        for r in caplog.records
        if r.name.startswith("bot.channels") and r.levelno >= logging.INFO
    ]
    login = "[林晓（ins_lin）] 已登录微信「顾问」（me），开始接收消息"
    assert lines == [
        ("INFO", login),
        ("INFO", "[林晓（ins_lin）] 已通过「张姐」（c1）的好友请求"),
        ("INFO", "[林晓（ins_lin）] 已给「张姐」（c1）发欢迎语（话术 W1）"),
        (
            "WARNING",
            "[林晓（ins_lin）] 与 puppet service 的连接断开：puppet service 关闭了事件流；"
            "0.05 秒后重连",
        ),
        ("INFO", login),
        (
            "ERROR",
            "[林晓（ins_lin）] 微信「顾问」已退出登录（手机上退出了）：收不到消息了，"
            "请让顾问重新扫码登录",
        ),
    ]
    assert not any("13812345678" in text or "我是张三" in text for _, text in lines)
    assert [(e.account, e.kind, e.shown) for e in events] == [
        ("default", "login", "林晓（ins_lin）"),
        ("default", "drop", "林晓（ins_lin）"),
        ("default", "login", "林晓（ins_lin）"),
        ("default", "logout", "林晓（ins_lin）"),
    ]
    assert [f"[{e.shown}] {e.text}" for e in events] == [
        text for _, text in lines if "好友请求" not in text and "欢迎语" not in text
    ]


def test_a_silent_service_is_dropped_after_the_heartbeat_deadline(db: Database) -> None:
    async def scenario(channel: WechatyAccountChannel, world: World, rec: Recorder) -> None:
        first = world.puppet
        world.silent = True  # no more dong, no events: a stopped server
        await until(lambda: channel.state.drops >= 1, timeout=5)
        world.silent = False
        await until(lambda: world.puppet is not first and channel.logged_in.is_set())
        assert "心跳超时" in (channel.state.last_drop or "")

    run_channel(db, scenario, heartbeat_interval_s=0.1, heartbeat_timeout_s=0.5)


def test_friend_request_accept_and_welcome(db: Database) -> None:
    async def scenario(channel: WechatyAccountChannel, world: World, rec: Recorder) -> None:
        world.friendships["f1"] = FriendshipPayloadResponse(
            id="f1", contact_id="c1", hello="我是张三", type=FriendshipType.FRIENDSHIP_TYPE_RECEIVE
        )
        world.puppet.emit("friendship", EventFriendshipPayload(friendship_id="f1"))
        await until(lambda: world.sent)
        assert world.accepted == ["f1"]
        assert world.sent == [("c1", "欢迎张姐")]
        contact, may_send = rec.contacts[0]
        assert (contact.contact_id, contact.alias, contact.hello, may_send) == (
            "c1",
            "张姐",
            "我是张三",
            True,
        )
        # The welcome's echo is the adviser's message, flagged as automatic.
        world.say("e1", frm=USER, to="c1", text="欢迎张姐")
        await until(lambda: rec.ids() == ["e1"])
        assert rec.logged[0].automated and rec.logged[0].direction == "out"

    run_channel(db, scenario, auto_accept=True, welcome_script_id="W1")


def _request(world: World, fid: str = "f1", contact: str = "c1") -> None:
    world.friendships[fid] = FriendshipPayloadResponse(
        id=fid, contact_id=contact, hello="我是张三", type=FriendshipType.FRIENDSHIP_TYPE_RECEIVE
    )
    world.puppet.emit("friendship", EventFriendshipPayload(friendship_id=fid))


def test_a_failed_acceptance_is_retried_and_never_repeated(db: Database) -> None:
    """The acceptance fails once, then the welcome fails once: each is tried again, the
    request is accepted once and the welcome sent once."""

    async def scenario(channel: WechatyAccountChannel, world: World, rec: Recorder) -> None:
        world.failing = {"accept": 1, "send": 1}
        _request(world)
        await until(lambda: world.sent)
        assert world.accepted == ["f1"]
        assert world.sent == [("c1", "欢迎张姐")]
        await until(lambda: [r.status for r in rows(db)] == ["done"])
        assert len(rec.contacts) == 1

    run_channel(db, scenario, auto_accept=True, welcome_script_id="W1")


def test_an_acceptance_that_keeps_failing_is_parked_and_requeued(db: Database) -> None:
    async def scenario(channel: WechatyAccountChannel, world: World, rec: Recorder) -> None:
        world.failing = {"accept": -1}
        _request(world)
        await until(lambda: parked_of(db, channel._settings) != [])
        parked = parked_of(db, channel._settings)
        assert [(p.kind, p.stage, p.attempts, p.contact_id, p.text) for p in parked] == [
            ("friendship", "greet", 3, "c1", "我是张三")
        ]
        assert channel_status.STAGE_LABELS[parked[0].stage or ""] == "通过好友并发欢迎语"
        assert world.accepted == [] and world.sent == []
        world.failing = {}
        with db.session() as session:
            channel_status.requeue(session, ADMIN, ids=[parked[0].id], settings=channel._settings)
        channel._inbox._flows["default"].sweep()
        await until(lambda: world.sent)
        assert (world.accepted, world.sent) == (["f1"], [("c1", "欢迎张姐")])
        assert len(rec.contacts) == 1  # recorded once, greeted after the requeue

    run_channel(db, scenario, auto_accept=True, welcome_script_id="W1")


def test_a_welcome_sent_is_never_sent_again(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """The welcome went out, then recording that the row is done failed: the retry does
    not send it again (nor accept again)."""
    real = inbox_repo.mark_done
    failures = [1]

    def flaky(**kwargs: Any) -> None:
        if failures[0]:
            failures[0] -= 1
            raise RuntimeError("database is locked")
        real(**kwargs)

    monkeypatch.setattr(inbox_module.inbox_repo, "mark_done", flaky)

    async def scenario(channel: WechatyAccountChannel, world: World, rec: Recorder) -> None:
        _request(world)
        await until(lambda: [r.status for r in rows(db)] == ["done"])
        assert failures == [0]  # the first try failed after sending
        assert (world.accepted, world.sent) == (["f1"], [("c1", "欢迎张姐")])

    run_channel(db, scenario, auto_accept=True, welcome_script_id="W1")


def test_a_request_that_fails_to_be_recorded_goes_back_to_recording(db: Database) -> None:
    async def scenario(channel: WechatyAccountChannel, world: World, rec: Recorder) -> None:
        rec.fail_contact["c1"] = -1
        _request(world)
        await until(lambda: parked_of(db, channel._settings) != [])
        (parked,) = parked_of(db, channel._settings)
        assert (parked.stage, world.accepted) == ("log", [])
        rec.fail_contact.clear()
        with db.session() as session:
            channel_status.requeue(session, ADMIN, ids=[parked.id], settings=channel._settings)
        channel._inbox._flows["default"].sweep()
        await until(lambda: world.sent)
        assert (world.accepted, world.sent) == (["f1"], [("c1", "欢迎张姐")])
        assert len(rec.contacts) == 1

    run_channel(db, scenario, auto_accept=True, welcome_script_id="W1")


def test_a_repeated_request_is_accepted_and_welcomed_once(db: Database) -> None:
    """The customer asks again (a new request id): accepted again, no second welcome."""

    async def scenario(channel: WechatyAccountChannel, world: World, rec: Recorder) -> None:
        _request(world, "f1")
        await until(lambda: world.sent)
        _request(world, "f2")
        await until(lambda: world.accepted == ["f1", "f2"])
        await until(lambda: [r.status for r in rows(db)] == ["done", "done"])
        assert world.sent == [("c1", "欢迎张姐")]

    run_channel(db, scenario, auto_accept=True, welcome_script_id="W1")


def test_a_greeting_a_stopped_process_left_is_done_at_start(db: Database) -> None:
    """Two requests recorded by a process that stopped before greeting them: one not yet
    accepted, one accepted whose welcome was not sent. The next run accepts the first
    (only) and sends both welcomes."""
    world = World()
    for fid, contact in (("f1", "c1"), ("f2", "c2")):
        world.friendships[fid] = FriendshipPayloadResponse(
            id=fid, contact_id=contact, type=FriendshipType.FRIENDSHIP_TYPE_RECEIVE
        )
    now = datetime.now(UTC)
    with db.session() as session:
        ids = inbox_repo.add_events(
            session=session,
            events=[inbox_repo.NewEvent("default", "friendship", f, now) for f in ("f1", "f2")],
        )
        for row_id, contact, accepted in ((ids[0], "c1", False), (ids[1], "c2", True)):
            new = NewContact(
                channel="wechaty", contact_id=contact, name=contact, request_id=f"f{contact[1]}"
            )
            payload = contact_payload(new, receive=True, may_send=True) | {
                "welcome": {"text": f"欢迎{contact}", "script_id": "W1"}
            }
            if accepted:
                payload["accepted"] = True
            inbox_repo.mark_ready(session=session, rows=[(row_id, contact, payload)], now=now)
            inbox_repo.mark_logged(
                session=session,
                item_id=row_id,
                message_id=None,
                customer_id=None,
                done=False,
                now=now,
            )

    async def scenario(channel: WechatyAccountChannel, w: World, rec: Recorder) -> None:
        await until(lambda: len(w.sent) == 2)
        assert w.accepted == ["f1"]
        assert sorted(w.sent) == [("c1", "欢迎c1"), ("c2", "欢迎c2")]
        assert rec.contacts == []  # recorded by the previous run, not again

    run_channel(db, scenario, world=world, auto_accept=True, welcome_script_id="W1")


def test_a_database_failure_logs_no_customer_text(
    db: Database, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLAlchemy's error text carries the statement's parameters (the message's text):
    the warning gives the driver's first line only, and the message still goes through."""
    from sqlalchemy.exc import OperationalError

    caplog.set_level(logging.WARNING)
    real = inbox_repo.mark_ready
    failures = [1]

    def locked(**kwargs: Any) -> None:
        if failures.pop() if failures else 0:
            params = [str(row[2]) for row in kwargs["rows"]]
            raise OperationalError(
                "UPDATE channel_inbox SET payload=?", params, Exception("database is locked")
            )
        real(**kwargs)

    monkeypatch.setattr(inbox_repo, "mark_ready", locked)

    async def scenario(channel: WechatyAccountChannel, world: World, rec: Recorder) -> None:
        world.say("m1", frm="c1", text="我的手机号13812345678")
        await until(lambda: rec.suggested == ["m1"])
        stats = channel._inbox.stats("default")  # the stop summary's counts
        await until(lambda: (stats.captured, stats.logged, stats.suggested) == (1, 1, 1))

    run_channel(db, scenario)
    warned = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("database is locked" in w for w in warned)
    assert not any("13812345678" in w or "UPDATE" in w for w in warned)


def test_a_failed_try_is_stored_as_a_sentence() -> None:
    """What the 微信账号 page and `siyu bot --status` show for a failed try."""
    assert reason(ChannelError("通过好友请求失败：UNAVAILABLE")) == "通过好友请求失败：UNAVAILABLE"
    assert reason(TimeoutError()) == "超时：没有在限定时间内完成（[wechaty] check_timeout_s）"
    assert reason(RuntimeError("database is locked")) == "RuntimeError: database is locked"


def test_a_dropped_connection_is_described_in_chinese() -> None:
    """What `siyu bot` prints when the puppet service goes away mid-stream."""
    from grpclib.exceptions import StreamTerminatedError

    from bot.channels.wechaty import describe

    lost = describe(StreamTerminatedError("Connection lost"))
    assert lost == "连接中断（服务停止了，或网络断开）"
    assert describe(ConnectionRefusedError(111, "refused")).startswith("对方拒绝连接")
    from grpclib.const import Status
    from grpclib.exceptions import GRPCError

    refused = GRPCError(Status.UNAUTHENTICATED, "token invalid\n    at Server.js:1")
    assert describe(refused) == "令牌不对或已失效（UNAUTHENTICATED：token invalid）"


def test_a_greeting_waits_for_the_connection_without_using_its_tries(db: Database) -> None:
    async def scenario(channel: WechatyAccountChannel, world: World, rec: Recorder) -> None:
        world.friendships["f1"] = FriendshipPayloadResponse(
            id="f1", contact_id="c1", type=FriendshipType.FRIENDSHIP_TYPE_RECEIVE
        )
        channel.logged_in.clear()  # the account is offline when the request is greeted
        flow = channel._inbox._flows["default"]
        contact = NewContact(channel="wechaty", contact_id="c1", name="c1", request_id="f1")
        item = inbox_repo.InboxItem(
            id=0,
            account="default",
            kind="friendship",
            event_id="f1",
            status="logged",
            stage=None,
            contact_key="c1",
            payload=contact_payload(contact, receive=True, may_send=True),
            attempts=0,
            error=None,
            message_id=None,
            customer_id=None,
            received_at=datetime.now(UTC),
            logged_at=None,
        )
        greeting = asyncio.create_task(flow._greet(item))
        await asyncio.sleep(0.3)
        assert not greeting.done() and world.accepted == []
        channel.logged_in.set()
        await asyncio.wait_for(greeting, 5)
        assert world.accepted == ["f1"]

    run_channel(db, scenario, auto_accept=True)


def test_an_accounts_industry_goes_with_its_messages_and_new_friends(db: Database) -> None:
    """A team with several lines of business: each account's customers are of its
    industry (the customer's profile takes it on first contact)."""

    async def scenario(channel: WechatyAccountChannel, world: World, rec: Recorder) -> None:
        world.say("m1", frm="c2", text="二段奶粉多少钱")
        world.say("g1", frm="c1", room="r1", text="大家好")
        _request(world)
        await until(lambda: len(rec.logged) == 2 and rec.contacts)
        assert {m.industry for m in rec.logged} == {"muying"}
        assert rec.contacts[0][0].industry == "muying"

    run_channel(db, scenario, industry="muying")


# --------------------------------------------------------------------------- settings, secrets
def test_single_account_settings_still_work_and_accounts_are_validated() -> None:
    legacy = WechatySettings(endpoint="h:1", notify_contact_id="filehelper").account_configs()
    assert legacy == (
        AccountConfig("default", None, "h:1", "WECHATY_PUPPET_SERVICE_TOKEN", "filehelper"),
    )
    two = WechatySettings.model_validate(
        {
            "notify_contact_id": "filehelper",
            "accounts": [
                {"adviser_id": "wang", "endpoint": "h:1", "token_env": "T_WANG"},
                {"adviser_id": "li", "token_env": "T_LI", "notify_contact_id": ""},
            ],
        }
    )
    assert [(a.key, a.notify_contact_id) for a in two.account_configs()] == [
        ("wang", "filehelper"),
        ("li", ""),
    ]
    lines = WechatySettings.model_validate(
        {
            "industry": "insurance",
            "accounts": [
                {"adviser_id": "wang", "token_env": "T_WANG"},
                {"adviser_id": "su", "token_env": "T_SU", "industry": "muying"},
            ],
        }
    )
    assert [a.industry for a in lines.account_configs()] == ["insurance", "muying"]
    assert WechatySettings().account_configs()[0].industry == ""
    with pytest.raises(ValueError, match="只能出现一次"):
        WechatySettings.model_validate(
            {"accounts": [{"adviser_id": "a", "token_env": t} for t in ("X", "Y")]}
        )


def test_the_token_is_masked_in_every_log_record(caplog: pytest.LogCaptureFixture) -> None:
    token = "insecure_secret_token_123"
    secret_mask().add(token)
    caplog.set_level(logging.DEBUG)
    hpack = logging.getLogger("hpack.hpack")
    hpack.debug("Encoding %s", [(b":authority", token.encode())])
    try:
        raise RuntimeError(f"bad token {token}")
    except RuntimeError:
        logging.getLogger("grpclib.client").exception("call failed")
    assert mask_secrets(f"url /hosties/{token}") == "url /hosties/***"
    text = caplog.text + "".join(r.exc_text or "" for r in caplog.records)
    assert token not in text
    assert "***" in text
