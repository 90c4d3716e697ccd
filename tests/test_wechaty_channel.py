"""The Wechaty adapter in-process: the real python-wechaty ``Wechaty`` over a fake puppet
that subclasses the SDK's ``Puppet`` interface (no network, no Node)."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
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
    EventFriendshipPayload,
    EventLoginPayload,
    EventMessagePayload,
    Puppet,
)

from bot.channels.wechaty import WechatyChannel
from bot.domain import IncomingMessage, SuggestionResult
from bot.pipeline.newcontacts import NewContact, Welcome
from bot.settings import WechatySettings

USER = "me"


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

    def drop(self) -> None:
        self._closed.set()

    def self_id(self) -> str:
        return USER

    async def message_payload(self, message_id: str) -> MessagePayloadResponse:
        self.world.loaded.append(local(message_id))
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
        self.world.accepted.append(friendship_id)

    async def message_send_text(
        self, conversation_id: str, message: str, mention_ids: Any = None
    ) -> str:
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
            "note": ContactPayloadResponse(id="note", name="文件传输助手"),
        }
        self.rooms = {"r1": RoomPayloadResponse(id="r1", topic="群", member_ids=[USER, "c1"])}
        self.messages: dict[str, MessagePayloadResponse] = {}
        self.friendships: dict[str, FriendshipPayloadResponse] = {}
        self.puppets: list[FakePuppet] = []
        self.loaded: list[str] = []
        self.sent: list[tuple[str, str]] = []
        self.accepted: list[str] = []
        self.prefix = uuid.uuid4().hex

    @property
    def puppet(self) -> FakePuppet:
        return self.puppets[-1]

    def say(
        self,
        mid: str,
        *,
        frm: str,
        to: str = USER,
        text: str = "",
        room: str = "",
        type: MessageType = MessageType.MESSAGE_TYPE_TEXT,
        mentions: tuple[str, ...] = (),
    ) -> None:
        # python-wechaty drops an id it saw before in this process (a global set), so
        # every test uses fresh ids.
        mid = f"{self.prefix}:{mid}"
        self.messages[mid] = MessagePayloadResponse(
            id=mid,
            text=text,
            timestamp=int(time.time()),
            type=type,
            from_id=frm,
            to_id="" if room else to,
            room_id=room,
            mention_ids=list(mentions),
        )
        self.puppet.emit("message", EventMessagePayload(message_id=mid))


class Recorder:
    """A handler with the pipeline's signature; can fail or block on demand."""

    def __init__(self) -> None:
        self.messages: list[IncomingMessage] = []
        self.fail_once: set[str] = set()
        self.block: threading.Event | None = None
        self.failures = 0

    def __call__(self, message: IncomingMessage) -> SuggestionResult | None:
        if self.block is not None:
            self.block.wait(5)
        if local(message.msg_id) in self.fail_once:
            self.fail_once.discard(local(message.msg_id))
            self.failures += 1
            raise RuntimeError("database is locked")
        self.messages.append(message)
        return SuggestionResult(
            scripts=(), knowledge=(), tags=(), reply="好的", mode="retrieval", latency_ms=1.0
        )

    def ids(self) -> list[str]:
        return [local(m.msg_id) for m in self.messages]


async def until(cond: Callable[[], Any], timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.01)


def run_channel(
    scenario: Callable[[WechatyChannel, World, Recorder], Awaitable[None]],
    *,
    new_contacts: Callable[[NewContact, bool], Welcome] | None = None,
    **settings: Any,
) -> None:
    world, recorder = World(), Recorder()
    ws = WechatySettings.model_validate(
        {"endpoint": "fake:1", "reconnect_initial_s": 0.05, "retry_interval_s": 0.1} | settings
    )
    channel = WechatyChannel(
        recorder, settings=ws, new_contacts=new_contacts, puppet_factory=lambda: FakePuppet(world)
    )

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(channel.run(stop))
        await until(channel.logged_in.is_set)
        try:
            await scenario(channel, world, recorder)
        finally:
            stop.set()
            await asyncio.wait_for(task, 5)

    asyncio.run(main())


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WECHATY_PUPPET_SERVICE_TOKEN", "insecure_unit")


def test_messages_are_converted_at_the_edge() -> None:
    async def scenario(channel: WechatyChannel, world: World, rec: Recorder) -> None:
        world.say("m1", frm="c1", text="多少钱")
        world.say("m2", frm=USER, to="c1", text="4680元一年")
        world.say("m3", frm="c1", type=MessageType.MESSAGE_TYPE_IMAGE)
        world.say("m4", frm=USER, to="note", text="a note to myself")
        world.say("g1", frm="c1", room="r1", text="大家好")
        world.say("g2", frm="c1", room="r1", text="@顾问 在吗", mentions=(USER,))
        await until(lambda: len(rec.messages) == 5)
        by_id = {local(m.msg_id): m for m in rec.messages}
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

    run_channel(scenario, notify_contact_id="note")


def test_suggestions_go_to_the_note_target_only() -> None:
    async def scenario(channel: WechatyChannel, world: World, rec: Recorder) -> None:
        world.say("m1", frm="c1", text="多少钱")
        await until(lambda: world.sent)
        assert world.sent == [("note", "【思语】张姐：多少钱\n草拟：好的")]

    run_channel(scenario, notify_contact_id="note")


def test_a_failed_message_is_retried_not_lost() -> None:
    async def scenario(channel: WechatyChannel, world: World, rec: Recorder) -> None:
        rec.fail_once.add("m1")
        world.say("m1", frm="c1", text="第一条")
        await until(lambda: "m1" in rec.ids(), timeout=3)  # retry_interval_s = 0.1
        assert rec.failures == 1
        assert channel.failed_count == 0

    run_channel(scenario)


def test_a_slow_pipeline_does_not_block_receiving() -> None:
    async def scenario(channel: WechatyChannel, world: World, rec: Recorder) -> None:
        rec.block = threading.Event()
        world.say("m1", frm="c1", text="一")
        world.say("m2", frm="c1", text="二")
        await until(lambda: {"m1", "m2"} <= set(world.loaded))  # both received...
        assert rec.messages == []  # ...while the pipeline is still busy
        rec.block.set()
        await until(lambda: rec.ids() == ["m1", "m2"])  # then processed in order

    run_channel(scenario)


def test_reconnects_with_backoff_after_a_drop() -> None:
    async def scenario(channel: WechatyChannel, world: World, rec: Recorder) -> None:
        first = world.puppet
        first.drop()
        await until(lambda: channel.state.connections == 2 and world.puppet is not first)
        await until(channel.logged_in.is_set)
        world.say("m1", frm="c1", text="还在吗")
        await until(lambda: rec.ids() == ["m1"])
        assert channel.state.drops == 1

    run_channel(scenario)


def test_friend_request_accept_and_welcome() -> None:
    calls: list[tuple[NewContact, bool]] = []

    def new_contacts(contact: NewContact, may_send: bool) -> Welcome:
        calls.append((contact, may_send))
        return Welcome(
            created=True, customer_id=1, result=None, auto_text="欢迎张姐", auto_script_id="W1"
        )

    async def scenario(channel: WechatyChannel, world: World, rec: Recorder) -> None:
        world.friendships["f1"] = FriendshipPayloadResponse(
            id="f1", contact_id="c1", hello="我是张三", type=FriendshipType.FRIENDSHIP_TYPE_RECEIVE
        )
        world.puppet.emit("friendship", EventFriendshipPayload(friendship_id="f1"))
        await until(lambda: world.sent)
        assert world.accepted == ["f1"]
        assert world.sent == [("c1", "欢迎张姐")]
        contact, may_send = calls[0]
        assert (contact.contact_id, contact.alias, contact.hello, may_send) == (
            "c1",
            "张姐",
            "我是张三",
            True,
        )
        # The welcome's echo is the adviser's message, flagged as automatic.
        world.say("e1", frm=USER, to="c1", text="欢迎张姐")
        await until(lambda: rec.ids() == ["e1"])
        assert rec.messages[0].automated and rec.messages[0].direction == "out"

    run_channel(scenario, new_contacts=new_contacts, auto_accept=True, welcome_script_id="W1")
