"""The Wechaty channel (``siyu bot``): the only module that imports ``wechaty``.

python-wechaty 0.10.7 speaks gRPC to a Wechaty *puppet service* (a provider's service on
a real WeChat / WeCom account, or the Node ``wechaty-puppet-service`` server). Its events
become ``IncomingMessage`` / ``NewContact`` here, at the edge; the synchronous pipeline
(``Assistant.handle``) runs in one worker thread so a slow LLM never blocks receiving, and
in arrival order so an adviser's reply is matched after the suggestion it answers.

Connection handling is ours, not the SDK's: the SDK sleeps 60 s after a network error and
prints other errors. ``run`` connects, listens until the event stream ends, and reconnects
with exponential backoff (``[wechaty] reconnect_*``), logging every drop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.channels.base import Backoff, Channel, Handler
from bot.channels.notes import adviser_note
from bot.domain import IncomingMessage, SuggestionResult
from bot.errors import ChannelError
from bot.pipeline.newcontacts import NewContact, Welcome
from bot.settings import WechatySettings
from bot.vocab import Direction


# --------------------------------------------------------------------------- SDK shims
def _install_sdk_shims() -> None:
    """Make python-wechaty 0.10.7 (unmaintained) import and work on Python 3.11 against
    a 1.x puppet service. Must run before ``wechaty`` is imported. See DESIGN.md."""
    # 0. The SDK's loggers print every event at INFO to stderr (their own handlers, set
    #    at import from WECHATY_LOG); keep warnings only unless the user asks for more.
    os.environ.setdefault("WECHATY_LOG", "warn")
    # The SDK creates its cache directory (``$CACHE_DIR``, default ``./.wechaty``) at import
    # time, in whatever the working directory is: keep it out of the user's tree.
    os.environ.setdefault("CACHE_DIR", os.path.join(tempfile.gettempdir(), "siyu-wechaty"))

    # 1. urllib3 2 removed ``get_host``, imported by wechaty.user.url_link. Pinning
    #    urllib3<2 conflicts with chromadb's kubernetes client (urllib3>=2.8), so give
    #    urllib3 2 back an equivalent function instead.
    import urllib3
    from urllib3.util import parse_url

    if not hasattr(urllib3, "get_host"):

        def get_host(url: str) -> tuple[str, str | None, int | None]:
            parsed = parse_url(url)
            return parsed.scheme or "http", parsed.host, parsed.port

        urllib3.get_host = get_host  # type: ignore[attr-defined]

    # 2. Python 3.11 dataclasses refuse an unhashable dataclass instance as a field
    #    default ("mutable default PuppetOptions for field puppet_options is not allowed",
    #    in WechatyOptions). An identity hash is what 3.10 effectively allowed.
    from wechaty_puppet.schemas.puppet import PuppetOptions

    if PuppetOptions.__hash__ is None:
        PuppetOptions.__hash__ = object.__hash__

    # 3. The SDK's gRPC stubs predate wechaty-grpc 1.0: contact alias moved from a
    #    StringValue wrapper (field 2 of the request, 1 of the response) to a plain
    #    optional string (request field 3, response field 2). Without this, getting an
    #    alias returns None and setting one only reads it.
    from dataclasses import dataclass as _dataclass

    import betterproto
    from wechaty_grpc.wechaty import puppet as grpc_puppet

    if not getattr(grpc_puppet.ContactAliasRequest, "_siyu_patched", False):

        @_dataclass(eq=False, repr=False)
        class ContactAliasRequest(betterproto.Message):
            id: str = betterproto.string_field(1)
            alias: str = betterproto.string_field(3)
            _siyu_patched = True

        @_dataclass(eq=False, repr=False)
        class ContactAliasResponse(betterproto.Message):
            alias: str = betterproto.string_field(2)

        grpc_puppet.ContactAliasRequest = ContactAliasRequest
        grpc_puppet.ContactAliasResponse = ContactAliasResponse


_install_sdk_shims()


class _MaskSecret(logging.Filter):
    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed SDK log call: let logging report it as usual
            return True
        if self.secret in message:
            record.msg, record.args = message.replace(self.secret, "***"), None
        return True


#: Environment variables the SDK reads a puppet token from (wechaty_puppet_service.config).
_SDK_TOKEN_VARIABLES = ("WECHATY_PUPPET_SERVICE_TOKEN", "TOKEN", "token")


def _mask_in_sdk_logs(secret: str) -> None:
    """4. The SDK logs puppet tokens (PuppetService warns "endpoint<…> and token<…>", and
    names the token it found in the environment) through its own loggers, which do not
    propagate and write to stderr themselves. Each such logger gets filters masking the
    configured token and every token the SDK could read from the environment."""
    secrets = {secret, *(os.environ.get(name, "") for name in _SDK_TOKEN_VARIABLES)}
    secrets = {s for s in secrets if len(s.strip()) >= 4}  # never mask "", "a" …
    for logger in list(logging.root.manager.loggerDict.values()):
        if not isinstance(logger, logging.Logger) or logger.propagate:
            continue
        present = {f.secret for f in logger.filters if isinstance(f, _MaskSecret)}
        for value in secrets - present:
            logger.addFilter(_MaskSecret(value))


from apscheduler.schedulers.asyncio import AsyncIOScheduler  # noqa: E402
from wechaty import Wechaty, WechatyOptions  # noqa: E402
from wechaty.user import Contact, Friendship, Message  # noqa: E402
from wechaty_grpc.wechaty.puppet import FriendshipType, MessageType  # noqa: E402
from wechaty_puppet import Puppet, PuppetOptions  # noqa: E402
from wechaty_puppet_service import PuppetService  # noqa: E402

log = logging.getLogger(__name__)

CHANNEL = "wechaty"

#: Wechaty message types -> ours (bot.domain.MESSAGE_TYPES).
MESSAGE_TYPES: dict[MessageType, str] = {
    MessageType.MESSAGE_TYPE_TEXT: "text",
    MessageType.MESSAGE_TYPE_IMAGE: "image",
    MessageType.MESSAGE_TYPE_AUDIO: "voice",
    MessageType.MESSAGE_TYPE_VIDEO: "video",
    MessageType.MESSAGE_TYPE_ATTACHMENT: "file",
    MessageType.MESSAGE_TYPE_URL: "link",
    MessageType.MESSAGE_TYPE_MINI_PROGRAM: "mini_program",
    MessageType.MESSAGE_TYPE_EMOTICON: "emoticon",
    MessageType.MESSAGE_TYPE_RECALLED: "recalled",
}

NewContactHandler = Callable[[NewContact, bool], Welcome]
PuppetFactory = Callable[[], Puppet]


class ConnectionLost(ChannelError):
    """The puppet service closed the event stream."""


def timestamp(value: float | int | None) -> datetime:
    """Wechaty timestamps are seconds or milliseconds; ours are aware UTC datetimes."""
    if not value:
        return datetime.now(UTC)
    seconds = value / 1000 if value > 2145888000 else value
    return datetime.fromtimestamp(seconds, UTC)


@dataclass
class ChannelState:
    connections: int = 0
    drops: int = 0
    user_id: str | None = None
    user_name: str = ""


class WechatyChannel(Channel):
    name = CHANNEL

    def __init__(
        self,
        handler: Handler,
        *,
        settings: WechatySettings,
        new_contacts: NewContactHandler | None = None,
        process_pending: Callable[[], int] | None = None,
        puppet_factory: PuppetFactory | None = None,
        executor: Executor | None = None,
    ) -> None:
        super().__init__(handler)
        self._settings = settings
        self._new_contacts = new_contacts
        self._process_pending = process_pending
        self._puppet_factory = puppet_factory
        self._executor = executor or ThreadPoolExecutor(1, thread_name_prefix="siyu-pipeline")
        self._owns_executor = executor is None
        self._bot: Wechaty | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.state = ChannelState()
        self.logged_in = asyncio.Event()
        #: (contact id, text) of automatic sends whose echo is not back yet.
        self._automated: set[tuple[str, str]] = set()
        self._automated_lock = threading.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()

    # ------------------------------------------------------------------ lifecycle
    async def run(self, stop: asyncio.Event) -> None:
        """Connect, listen, reconnect with backoff until ``stop`` is set."""
        self._loop = asyncio.get_running_loop()
        s = self._settings
        backoff = Backoff(initial=s.reconnect_initial_s, maximum=s.reconnect_max_s)
        retry = asyncio.create_task(self._retry_loop(stop))
        try:
            while not stop.is_set():
                serve = asyncio.create_task(self._serve_once(backoff))
                waiter = asyncio.create_task(stop.wait())
                done, _ = await asyncio.wait({serve, waiter}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                if serve not in done:
                    serve.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await serve
                    break
                exc = serve.exception()
                self.state.drops += 1
                self.logged_in.clear()
                delay = backoff.next_delay()
                log.warning(
                    "puppet service %s: %s; reconnecting in %.1f s",
                    s.endpoint or "(discovered)",
                    exc or "event stream ended",
                    delay,
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
        finally:
            retry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await retry
            await self._close_bot()
            for task in list(self._tasks):
                task.cancel()
            if self._owns_executor:
                self._executor.shutdown(wait=True, cancel_futures=False)

    def _options(self) -> WechatyOptions:
        s = self._settings
        _mask_in_sdk_logs(s.token())
        puppet: Puppet | str = (
            self._puppet_factory() if self._puppet_factory else "wechaty-puppet-service"
        )
        return WechatyOptions(
            puppet=puppet,
            puppet_options=PuppetOptions(token=s.token() or None, end_point=s.endpoint or None),
            # The SDK's plugin web server: with no plugins it only checks that the port is
            # free; port 0 never is "in use", so no fixed port is needed.
            host="127.0.0.1",
            port=0,
            # In-memory jobs: the SDK's default scheduler keeps an SQLite job store in its
            # cache directory, which we do not use.
            scheduler=AsyncIOScheduler(),
        )

    async def _serve_once(self, backoff: Backoff) -> None:
        bot = Wechaty(self._options())
        bot.on("login", self._on_login)
        bot.on("logout", self._on_logout)
        bot.on("message", self._spawn(self._on_message))
        bot.on("friendship", self._spawn(self._on_friendship))
        bot.on("error", self._on_error)
        self._bot = bot
        try:
            await bot.init_puppet()
            # The SDK caches Contact / Room / Tag objects in pools on its base classes,
            # shared by every Wechaty instance, and a cached object keeps using the puppet
            # that loaded it: after a reconnect, a closed one ("puppet_stub should not be
            # none" on say()). Each connection gets its own pools.
            for cls in (bot.Contact, bot.ContactSelf, bot.Room, bot.Tag):
                cls._pool = {}
            await bot.init_puppet_event_bridge(bot.puppet)
            self.state.connections += 1
            log.info("connected to the puppet service")
            backoff.reset()
            # Returns (or raises) when the service closes the event stream.
            await bot.puppet.start()
        finally:
            await self._close_bot()
        raise ConnectionLost("the puppet service closed the event stream")

    async def _close_bot(self) -> None:
        bot, self._bot = self._bot, None
        if bot is None:
            return
        puppet = bot._puppet  # may be None already
        try:
            if puppet is not None:
                await asyncio.wait_for(bot.stop(), 3)
        except Exception as exc:
            log.debug("stopping the bot: %s", exc)
            channel = getattr(puppet, "channel", None)
            if channel is not None:
                channel.close()
        scheduler = getattr(getattr(bot, "_plugin_manager", None), "scheduler", None)
        if scheduler is not None and getattr(scheduler, "running", False):
            with contextlib.suppress(Exception):
                scheduler.shutdown(wait=False)

    async def _retry_loop(self, stop: asyncio.Event) -> None:
        """Retry messages whose processing failed (never lost: see Channel.dispatch)."""
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._settings.retry_interval_s)
            if stop.is_set():
                return
            try:
                await loop.run_in_executor(self._executor, self._retry_once)
            except Exception:
                log.exception("retrying failed messages failed")

    def _retry_once(self) -> None:
        if self.failed_count:
            log.info("retrying %d failed messages", self.failed_count)
            self.retry_failed()
        if self._process_pending is not None:
            self._process_pending()

    def _spawn(self, coro_fn: Callable[..., Any]) -> Callable[..., None]:
        """Run an event handler as a task we keep (and log), never blocking the SDK."""

        def listener(*args: Any) -> None:
            task = asyncio.ensure_future(self._guard(coro_fn, *args))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        return listener

    async def _guard(self, coro_fn: Callable[..., Any], *args: Any) -> None:
        try:
            await coro_fn(*args)
        except Exception:
            log.exception("handling a Wechaty %s event failed", coro_fn.__name__)

    # ------------------------------------------------------------------ events
    async def _on_login(self, contact: Contact) -> None:
        self.state.user_id = contact.contact_id
        self.state.user_name = contact.name
        log.info("logged in as %s (%s)", contact.name, contact.contact_id)
        self.logged_in.set()

    async def _on_logout(self, contact: Contact) -> None:
        log.warning("logged out: %s", contact.contact_id)
        self.logged_in.clear()

    async def _on_error(self, payload: Any) -> None:
        log.warning("puppet service error: %s", payload)

    async def _on_message(self, msg: Message) -> None:
        incoming = await self.to_incoming(msg)
        if incoming is None:
            return
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(self._executor, self.dispatch, incoming)
        if result is not None and incoming.direction == "in":
            await self._notify_adviser(incoming, result)

    async def _on_friendship(self, friendship: Friendship) -> None:
        if self._new_contacts is None:
            return
        kind = friendship.type()
        if kind not in (
            FriendshipType.FRIENDSHIP_TYPE_RECEIVE,
            FriendshipType.FRIENDSHIP_TYPE_CONFIRM,
        ):
            return
        contact = friendship.contact()
        await contact.ready()
        alias = await contact.alias() or ""
        receive = kind == FriendshipType.FRIENDSHIP_TYPE_RECEIVE
        new = NewContact(
            channel=CHANNEL,
            contact_id=contact.contact_id,
            name=contact.name,
            alias=alias,
            hello=friendship.hello() if receive else "",
            request_id=friendship.friendship_id,
            adviser_id=self.state.user_id or "adviser",
            adviser_name=self.state.user_name,
        )
        may_send = receive and self._settings.auto_accept
        loop = asyncio.get_running_loop()
        handler = self._new_contacts
        welcome = await loop.run_in_executor(self._executor, lambda: handler(new, may_send))
        if not welcome.created:
            return
        if receive and self._settings.auto_accept:
            await friendship.accept()
            log.info("accepted the friend request of %s", contact.contact_id)
        if welcome.auto_text:
            self._expect_automated(contact.contact_id, welcome.auto_text)
            await contact.say(welcome.auto_text)
            log.info("sent welcome script %s to %s", welcome.auto_script_id, contact.contact_id)
        if welcome.result is not None:
            await self._notify_adviser_new(new, welcome.result)

    # ------------------------------------------------------------------ conversion
    async def to_incoming(self, msg: Message) -> IncomingMessage | None:
        """The message as ours; None for what we never log (notes to the adviser's own
        note target, the adviser's own group messages, messages with no counterpart)."""
        payload = msg.payload
        if payload is None:
            return None
        kind = MESSAGE_TYPES.get(msg.type(), "other")
        text = msg.text() or ""
        sent_at = timestamp(payload.timestamp)
        user_id = self.state.user_id
        notify = self._settings.notify_contact_id
        room = msg.room()
        is_self = msg.is_self()
        if room is not None:
            if is_self:
                return None
            talker = msg.talker()
            await room.ready()
            topic = room.payload.topic if room.payload else None
            mentioned = room.room_id in self._settings.suggest_rooms
            if not mentioned and kind == "text":
                mentioned = await msg.mention_self()
            return IncomingMessage(
                msg_id=msg.message_id,
                channel=CHANNEL,
                contact_id=talker.contact_id,
                contact_name=_display_name(talker),
                text=text,
                adviser_id=user_id or "adviser",
                adviser_name=self.state.user_name,
                direction="in",
                type=kind,
                room_id=room.room_id,
                room_topic=topic,
                mentions_adviser=mentioned,
                sent_at=sent_at,
            )
        direction: Direction
        if is_self:
            other = msg.to()
            if other is None:
                return None
            direction = "out"
        else:
            other = msg.talker()
            direction = "in"
        if other.contact_id in {user_id, notify} or not other.contact_id:
            return None
        if not other.is_ready():
            await other.ready()
        return IncomingMessage(
            msg_id=msg.message_id,
            channel=CHANNEL,
            contact_id=other.contact_id,
            contact_name=_display_name(other),
            text=text,
            adviser_id=user_id or "adviser",
            adviser_name=self.state.user_name,
            direction=direction,
            type=kind,
            sent_at=sent_at,
            automated=direction == "out" and self._was_automated(other.contact_id, text),
        )

    def _expect_automated(self, contact_id: str, text: str) -> None:
        with self._automated_lock:
            self._automated.add((contact_id, text))

    def _was_automated(self, contact_id: str, text: str) -> bool:
        with self._automated_lock:
            key = (contact_id, text)
            if key in self._automated:
                self._automated.discard(key)
                return True
            return False

    # ------------------------------------------------------------------ delivery
    async def _notify_adviser(self, message: IncomingMessage, result: SuggestionResult) -> None:
        """Push the suggestions to the adviser's note target (never to the customer)."""
        target = self._settings.notify_contact_id
        if not target or target == message.contact_id:
            return
        await self.say(target, adviser_note(message.contact_name, message.text, result))

    async def _notify_adviser_new(self, contact: NewContact, result: SuggestionResult) -> None:
        target = self._settings.notify_contact_id
        if not target or target == contact.contact_id:
            return
        label = f"新好友 {contact.alias or contact.name}"
        await self.say(target, adviser_note(label, contact.hello, result))

    async def say(self, contact_id: str, text: str) -> None:
        bot = self._bot
        if bot is None:
            raise ChannelError("not connected to the puppet service")
        contact = bot.Contact.load(contact_id)
        await contact.say(text)

    def send(self, contact_id: str, text: str) -> None:
        """Thread-safe: send from the pipeline thread (or any thread but the loop's)."""
        loop = self._loop
        if loop is None:
            raise ChannelError("the Wechaty channel is not running")
        future = asyncio.run_coroutine_threadsafe(self.say(contact_id, text), loop)
        future.result(timeout=30)


def _display_name(contact: Contact) -> str:
    payload = contact.payload
    if payload is None:
        return ""
    return payload.alias or payload.name or ""


# --------------------------------------------------------------------------- check
@dataclass(frozen=True, slots=True)
class CheckReport:
    endpoint: str
    version: str
    logged_in: bool


async def check_connection(settings: WechatySettings) -> CheckReport:
    """Connect to the puppet service and ask its version (proves the endpoint and the
    token); raises ChannelError if that fails within ``check_timeout_s``."""
    options = PuppetOptions(token=settings.token() or None, end_point=settings.endpoint or None)
    _mask_in_sdk_logs(settings.token())
    try:
        puppet = PuppetService(options)
    except Exception as exc:
        raise ChannelError(f"puppet service configuration: {exc}") from exc
    try:
        try:
            puppet._init_puppet()  # a TCP probe (3 s at most), then the gRPC channel
        except Exception as exc:
            raise ChannelError(f"cannot reach the puppet service: {exc}") from exc
        try:
            response = await asyncio.wait_for(
                puppet.puppet_stub.version(), settings.check_timeout_s
            )
        except Exception as exc:
            raise ChannelError(
                f"the puppet service at {options.end_point} did not answer: {exc!r}"
                " (wrong token, or a TLS-only service?)"
            ) from exc
        return CheckReport(
            endpoint=str(options.end_point),
            version=getattr(response, "version", "") or "",
            logged_in=bool(puppet.login_user_id),
        )
    finally:
        if puppet.channel is not None:
            puppet.channel.close()
