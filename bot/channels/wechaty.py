"""The Wechaty channel (``siyu bot``): the only module that imports ``wechaty``.

python-wechaty 0.10.7 speaks gRPC to a Wechaty *puppet service* (a provider's service on
a real WeChat / WeCom account, or the Node ``wechaty-puppet-service`` server). One
``WechatyAccountChannel`` serves one adviser's account:

- **Connection** is ours, not the SDK's (it sleeps 60 s after a network error, probes
  with a blocking telnet and looks endpoints up with ``requests`` without a timeout):
  the endpoint is looked up and probed off the event loop with timeouts, and a dropped
  or failed connection is made again with exponential backoff (``reconnect_*``) that is
  reset only once the account has logged in.
- **Liveness**: a ding every ``heartbeat_interval_s``; no event and no answer for
  ``heartbeat_timeout_s`` (a stopped server, a half-open connection) drops the
  connection, which is then made again.
- **Events** are taken from the puppet itself, before the SDK's own handlers: the id of
  each message / friend request goes to the durable inbox (bot.channels.inbox) at once,
  in arrival order; payloads are fetched and converted to ``IncomingMessage`` /
  ``NewContact`` here, when the inbox asks (``resolve``).
- **Login / logout / scan** are recorded (``channel_accounts``), logged, and passed to
  the front (``on_event``): the CLI prints the QR code, the console shows it.
- **Secrets**: the puppet token never reaches a log record or an error message.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import socket
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.channels.base import Backoff, reason
from bot.channels.inbox import (
    Inbox,
    InboxSource,
    NotConnected,
    Resolved,
    contact_payload,
)
from bot.channels.inbox import message_payload as message_payload
from bot.channels.notes import NoteSender, adviser_note
from bot.domain import IncomingMessage, SuggestionResult
from bot.errors import ChannelError
from bot.pipeline.newcontacts import NewContact, Welcome
from bot.settings import AccountConfig, WechatySettings, account_label, account_phrase
from bot.vocab import Direction
from knowledge.errors import one_line


# --------------------------------------------------------------------------- SDK shims
def _install_sdk_shims() -> None:
    """Make python-wechaty 0.10.7 (unmaintained) import and work on Python 3.11 against
    a 1.x puppet service. Must run before ``wechaty`` is imported; each step below says
    what it works around."""
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


def _quiet_sdk_loggers() -> None:
    """The SDK warns "set payload more than once" whenever two payload fetches of one
    contact overlap (concurrent fetches do), and at every connection that both an
    endpoint and a token are set: harmless, and hundreds of lines in a burst."""
    for name in ("Accessory", "PuppetService"):
        logging.getLogger(name).setLevel(logging.ERROR)


# --------------------------------------------------------------------------- secrets
#: Environment variables the SDK reads a puppet token from (wechaty_puppet_service.config).
_SDK_TOKEN_VARIABLES = ("WECHATY_PUPPET_SERVICE_TOKEN", "TOKEN", "token")
#: Shorter values are never masked ("", "a" … would mangle every line).
_MIN_SECRET_CHARS = 4


class _SecretMask:
    """A log-record factory that replaces known secrets with ``***`` in every record's
    message and traceback, whatever logger made it and whatever handler prints it: the
    SDK's own loggers, grpclib, h2 and hpack (which logs the ``:authority`` header, where
    the SDK puts the token) and ours alike."""

    def __init__(self, factory: Callable[..., logging.LogRecord]) -> None:
        self._factory = factory
        self.secrets: frozenset[str] = frozenset()
        self._lock = threading.Lock()

    def add(self, secret: str) -> None:
        if len(secret.strip()) >= _MIN_SECRET_CHARS:
            with self._lock:
                self.secrets = self.secrets | {secret}

    def mask(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self._factory(*args, **kwargs)
        if not self.secrets:
            return record
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: let logging report it as usual
            return record
        masked = self.mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and record.exc_info[1] is not None:
            text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            if self.mask(text) != text:
                record.exc_text = self.mask(text)
        if record.stack_info:
            record.stack_info = self.mask(record.stack_info)
        return record


_MASK_LOCK = threading.Lock()


def secret_mask() -> _SecretMask:
    """The process's mask (installed as the log-record factory on first use)."""
    with _MASK_LOCK:
        factory = logging.getLogRecordFactory()
        if isinstance(factory, _SecretMask):
            return factory
        mask = _SecretMask(factory)
        for name in _SDK_TOKEN_VARIABLES:
            mask.add(os.environ.get(name, ""))
        logging.setLogRecordFactory(mask)
        return mask


def mask_secrets(text: str) -> str:
    """``text`` with every registered secret replaced by ``***``."""
    return secret_mask().mask(text)


def describe(exc: BaseException) -> str:
    """A one-line reason for an SDK / gRPC error, secrets masked: a gRPC error is its
    status and the first line of its message (a Node server appends its stack)."""
    from grpclib.exceptions import GRPCError, StreamTerminatedError

    if isinstance(exc, StreamTerminatedError):  # "Connection lost", "Connection closed"
        text = "连接中断（服务停止了，或网络断开）"
    elif isinstance(exc, GRPCError):
        first = (exc.message or "").strip().splitlines()[:1]
        said = _GRPC_STATUSES.get(exc.status.name, "服务返回错误")
        # the service's own words (English, from its SDK) after ours, for the operator
        code = f"{exc.status.name}：{first[0]}" if first else exc.status.name
        text = f"{said}（{code}）"
    elif isinstance(exc, TimeoutError):
        text = "超时"
    elif isinstance(exc, socket.gaierror):
        text = "找不到这个主机名"
    elif isinstance(exc, OSError) and exc.errno in _SOCKET_ERRORS:
        text = _SOCKET_ERRORS[exc.errno]
    else:
        text = one_line(exc)
    return mask_secrets(text)


#: What a person reads for a gRPC status of the puppet service.
_GRPC_STATUSES = {
    "UNAVAILABLE": "服务暂时不可用",
    "DEADLINE_EXCEEDED": "服务超时",
    "UNAUTHENTICATED": "令牌不对或已失效",
    "PERMISSION_DENIED": "没有权限",
    "NOT_FOUND": "服务里找不到",
    "RESOURCE_EXHAUSTED": "服务繁忙或超出限额",
    "UNIMPLEMENTED": "服务不支持这个操作",
    "CANCELLED": "请求被取消",
    "INTERNAL": "服务内部出错",
    "UNKNOWN": "服务返回错误",
}

#: What a person reads for the connection errors of a puppet service that is not there.
_SOCKET_ERRORS = {
    errno.ECONNREFUSED: "对方拒绝连接（服务没有在运行，或端口不对）",
    errno.ECONNRESET: "连接被对方断开",
    errno.ECONNABORTED: "连接被中止",
    errno.EHOSTUNREACH: "网络不通（到不了这台主机）",
    errno.ENETUNREACH: "网络不通",
    errno.ETIMEDOUT: "超时",
}


def _failure(message: str, exc: BaseException) -> ChannelError:
    """A ChannelError to raise ``from None``: the original exception may carry the token
    (a gRPC status message, a discovery URL), so it is not chained into tracebacks; its
    details go to the (masked) debug log instead."""
    log.debug("%s", message, exc_info=exc)
    return ChannelError(message)


from apscheduler.schedulers.asyncio import AsyncIOScheduler  # noqa: E402
from grpclib.client import Channel as GrpcChannel  # noqa: E402
from wechaty import Wechaty, WechatyOptions  # noqa: E402
from wechaty.user import Contact, Message  # noqa: E402
from wechaty_grpc.wechaty import PuppetStub  # noqa: E402
from wechaty_grpc.wechaty.puppet import FriendshipType, MessageType  # noqa: E402
from wechaty_puppet import (  # noqa: E402
    EventLoginPayload,
    EventLogoutPayload,
    EventScanPayload,
    Puppet,
    PuppetOptions,
    ScanStatus,
)
from wechaty_puppet_service import PuppetService  # noqa: E402
from wechaty_puppet_service.utils import extract_host_and_port  # noqa: E402

_quiet_sdk_loggers()

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

#: Puppet events that only prove the service is alive (liveness).
_ALIVE_EVENTS = ("heartbeat", "dong", "ready", "error", "room-join", "room-leave", "room-topic")

#: (account) -> a puppet, for tests; the default is the puppet service at the endpoint.
PuppetFactory = Callable[[AccountConfig], Puppet]


class ConnectionLost(ChannelError):
    """The puppet service closed the event stream."""


class HeartbeatTimeout(ChannelError):
    """No event and no answer from the puppet service within the deadline."""


def _can_ding(puppet: Puppet) -> bool:
    """The puppet service client has a stub once its start() began (other puppets: yes)."""
    return not isinstance(puppet, PuppetService) or puppet._puppet_stub is not None


def timestamp(value: float | int | None) -> datetime:
    """Wechaty timestamps are seconds or milliseconds; ours are aware UTC datetimes."""
    if not value:
        return datetime.now(UTC)
    seconds = value / 1000 if value > 2145888000 else value
    return datetime.fromtimestamp(seconds, UTC)


# --------------------------------------------------------------------------- the puppet
class _ServicePuppet(PuppetService):
    """The SDK's puppet service client without its blocking start-up: the endpoint is
    looked up and probed beforehand (``open_endpoint``), off the event loop."""

    def _init_puppet(self) -> None:
        host, port = extract_host_and_port(self.options.end_point)
        self.channel = GrpcChannel(host=host, port=port)
        # The puppet service authenticates the token sent as the HTTP/2 :authority.
        self.channel._authority = self.options.token
        self._puppet_stub = PuppetStub(self.channel)


async def open_endpoint(account: AccountConfig, settings: WechatySettings) -> str:
    """The account's host:port: configured, or looked up from the token (service
    discovery, in a thread with a timeout); then probed (TCP, with a timeout). Raises
    ChannelError with a one-line reason (never the token)."""
    endpoint = account.endpoint or await _discover(account, settings)
    try:
        host, port = extract_host_and_port(endpoint)
        _reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port), settings.check_timeout_s
        )
    except (OSError, TimeoutError, ValueError) as exc:
        raise _failure(f"连不上 puppet service {endpoint}：{describe(exc)}", exc) from None
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()
    return endpoint


async def _discover(account: AccountConfig, settings: WechatySettings) -> str:
    import httpx

    token = account.token()
    name = account_phrase(account.key)
    if not token:
        raise ChannelError(f"{name} 没有 endpoint，也没有令牌（{account.token_env}）")
    url = settings.discovery_url.format(token=token)
    log.debug("account %s: looking up its puppet service at %s", account.key, mask_secrets(url))

    def fetch() -> Any:
        response = httpx.get(url, timeout=settings.check_timeout_s)
        response.raise_for_status()
        return response.json()

    try:
        data = await asyncio.to_thread(fetch)
    except Exception as exc:
        raise _failure(
            f"无法用令牌查到{name}的 puppet service 地址：{describe(exc)}", exc
        ) from None
    host = str(data.get("ip") or "") if isinstance(data, dict) else ""
    if not host or host == "0.0.0.0" or not data.get("port"):
        raise ChannelError(f"{name}的令牌没有可用的 puppet service（令牌对吗？）")
    return f"{host}:{data['port']}"


def _service_puppet(account: AccountConfig, endpoint: str) -> Puppet:
    return _ServicePuppet(PuppetOptions(token=account.token() or None, end_point=endpoint))


# --------------------------------------------------------------------------- state
@dataclass
class AccountEvent:
    """Something the front should show: ``kind`` is scan / login / logout / drop."""

    account: str
    kind: str
    #: What happened, in Chinese (the same text as the channel's log line).
    text: str
    qr_code: str | None = None
    #: The account as people read it (「林晓（ins_lin）」).
    shown: str = ""


EventHandler = Callable[[AccountEvent], None]


@dataclass
class AccountState:
    """The account's live state (mirrored to ``channel_accounts``)."""

    state: str = "connecting"
    attempts: int = 0
    connections: int = 0
    drops: int = 0
    user_id: str | None = None
    user_name: str = ""
    qr_code: str | None = None
    error: str | None = None
    #: Why the last connection ended (kept after a new login, unlike ``error``).
    last_drop: str | None = None
    endpoint: str = ""
    #: Reconnect delays chosen, most recent last (the last 50).
    delays: list[float] = field(default_factory=list)


# --------------------------------------------------------------------------- one account
class WechatyAccountChannel(InboxSource):
    """One adviser's account: connection, liveness, events into the inbox, sending."""

    def __init__(
        self,
        account: AccountConfig,
        *,
        settings: WechatySettings,
        inbox: Inbox,
        on_event: EventHandler | None = None,
        puppet_factory: PuppetFactory | None = None,
        clock: Callable[[], float] = time.monotonic,
        shown: str = "",
    ) -> None:
        """``shown``: the account as people read it in log lines (「林晓（ins_lin）」,
        bot.services.channel_status.account_names); its key when empty."""
        self.config = account
        self.account = account.key
        self.shown = shown or account_label(account.key)
        self._settings = settings
        self._inbox = inbox
        self._on_event = on_event
        self._puppet_factory = puppet_factory
        self._clock = clock
        self._bot: Wechaty | None = None
        self._backoff = Backoff(
            initial=settings.reconnect_initial_s, maximum=settings.reconnect_max_s
        )
        self.state = AccountState()
        self.logged_in = asyncio.Event()
        self._last_alive = 0.0
        self._last_event_at: datetime | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        #: This connection's "connected" line was logged (or its login was).
        self._announced = False
        #: (contact id, text) of automatic sends whose echo is not back yet.
        self._automated: set[tuple[str, str]] = set()
        self.notes = NoteSender(
            send=self._send_note,
            connected=self.connected,
            min_interval_s=settings.note_min_interval_s,
            per_hour=settings.notes_per_hour,
            max_items=settings.note_max_items,
            name=self.shown,
        )
        secret_mask().add(account.token())
        inbox.attach(self)

    # ------------------------------------------------------------------ lifecycle
    async def run(self, stop: asyncio.Event) -> None:
        """Connect, listen, reconnect with backoff until ``stop`` is set."""
        helpers = [
            asyncio.create_task(self.notes.run(stop), name=f"notes-{self.account}"),
            asyncio.create_task(self._status_loop(stop), name=f"status-{self.account}"),
        ]
        await self._save(state="connecting", pid=os.getpid(), adviser_id=self.config.adviser_id)
        try:
            while not stop.is_set():
                self.state.attempts += 1
                serve = asyncio.create_task(self._serve_once())
                waiter = asyncio.create_task(stop.wait())
                done, _ = await asyncio.wait({serve, waiter}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                if serve not in done:
                    serve.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await serve
                    break
                exc = serve.exception()
                reason = describe(exc) if exc else "puppet service 结束了消息流"
                self.state.drops += 1
                self.state.last_drop = reason
                was_logged_in = self.logged_in.is_set()
                self.logged_in.clear()
                delay = self._backoff.next_delay()
                self.state.delays.append(delay)
                del self.state.delays[:-50]
                if was_logged_in:
                    self._report(
                        logging.WARNING,
                        "drop",
                        f"与 puppet service 的连接断开：{reason}；{delay:g} 秒后重连",
                    )
                else:
                    log.warning("[%s] %s；%g 秒后重试", self.shown, reason, delay)
                await self._save(state="reconnecting", error=reason, drops=self.state.drops)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
        finally:
            for task in helpers:
                task.cancel()
            for task in list(self._tasks):
                task.cancel()
            await self._close(graceful=True)
            self.logged_in.clear()
            with contextlib.suppress(Exception):
                await self._save(state="stopped")

    async def _serve_once(self) -> None:
        s = self._settings
        if self._puppet_factory is not None:
            puppet = self._puppet_factory(self.config)
        else:
            endpoint = await open_endpoint(self.config, s)
            self.state.endpoint = endpoint
            puppet = _service_puppet(self.config, endpoint)
        bot = Wechaty(
            WechatyOptions(
                puppet=puppet,
                puppet_options=PuppetOptions(token=None, end_point=None),
                # The SDK's plugin web server never starts (its login handler, which
                # starts it, is not used); port 0 avoids any fixed port anyway.
                host="127.0.0.1",
                port=0,
                scheduler=AsyncIOScheduler(),
            )
        )
        await bot.init_puppet()
        # The SDK caches Contact / Room / Tag objects in pools on its base classes, shared
        # by every Wechaty instance, and a cached object keeps using the puppet that
        # loaded it: after a reconnect, a closed one ("puppet_stub should not be none" on
        # say()). Each connection gets its own pools.
        for cls in (bot.Contact, bot.ContactSelf, bot.Room, bot.Tag):
            cls._pool = {}
        self._bridge(bot.puppet)
        self._bot = bot
        self._announced = False
        self._touch()
        start = asyncio.create_task(bot.puppet.start())
        watchdog = asyncio.create_task(self._watchdog(bot.puppet))
        stale = False
        try:
            done, _ = await asyncio.wait({start, watchdog}, return_when=asyncio.FIRST_COMPLETED)
            if watchdog in done:
                stale = True
                raise HeartbeatTimeout(
                    f"心跳超时：{s.heartbeat_timeout_s:g} 秒没有收到 puppet service 的任何消息"
                )
            exc = start.exception()
            if exc is not None:
                raise _failure(describe(exc), exc) from None
            where = f" {self.state.endpoint}" if self.state.endpoint else ""
            raise ConnectionLost(f"puppet service{where} 关闭了事件流")
        finally:
            for task in (start, watchdog):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await self._close(graceful=not stale)

    async def _close(self, *, graceful: bool) -> None:
        """Let go of the connection; ``graceful``: tell the service first (it is alive)."""
        bot, self._bot = self._bot, None
        if bot is None:
            return
        puppet = bot._puppet
        if puppet is None:
            return
        if graceful:
            try:
                await asyncio.wait_for(bot.stop(), 3)
                return
            except Exception as exc:
                log.debug("stopping the puppet: %s", mask_secrets(one_line(exc)))
        with contextlib.suppress(Exception):
            puppet._event_stream.remove_all_listeners()
        channel = getattr(puppet, "channel", None)
        if channel is not None:
            channel.close()

    async def _watchdog(self, puppet: Puppet) -> None:
        """Returns when the service showed no sign of life for ``heartbeat_timeout_s``
        (checked ten times per timeout: found dead at most a tenth of it late)."""
        s = self._settings
        check = min(s.heartbeat_interval_s, s.heartbeat_timeout_s / 10)
        ding: asyncio.Task[None] | None = None
        last_ding = self._clock()
        try:
            while True:
                await asyncio.sleep(check)
                now = self._clock()
                if now - self._last_alive > s.heartbeat_timeout_s:
                    return
                due = now - last_ding >= s.heartbeat_interval_s
                if due and (ding is None or ding.done()) and _can_ding(puppet):
                    last_ding = now
                    ding = asyncio.create_task(self._ding(puppet))
        finally:
            if ding is not None:
                ding.cancel()

    async def _ding(self, puppet: Puppet) -> None:
        try:
            await asyncio.wait_for(puppet.ding("siyu"), self._settings.heartbeat_interval_s)
            self._touch()
        except Exception as exc:
            log.debug("account %s: ding: %s", self.account, mask_secrets(one_line(exc)))

    def _touch(self) -> None:
        self._last_alive = self._clock()
        self._last_event_at = datetime.now(UTC)

    # ------------------------------------------------------------------ events
    def _bridge(self, puppet: Puppet) -> None:
        """Our listeners on the puppet's own events (the SDK's bridge is not used: it
        fetches each payload in its own task, in any order, before anyone sees the id)."""
        puppet.on("message", self._on_message)
        puppet.on("friendship", self._on_friendship)
        puppet.on("login", self._on_login)
        puppet.on("logout", self._on_logout)
        puppet.on("scan", self._on_scan)
        for name in _ALIVE_EVENTS:
            puppet.on(name, self._on_alive)

    def _on_alive(self, *_: Any) -> None:
        self._touch()
        self._announce()

    def _announce(self) -> None:
        """The first sign of life of a connection that is not a login: say it is up."""
        if self._announced or self.logged_in.is_set():
            return
        self._announced = True
        where = f" {self.state.endpoint}" if self.state.endpoint else ""
        log.info("[%s] 已连上 puppet service%s，等待微信登录", self.shown, where)

    def _on_message(self, payload: Any) -> None:
        self._touch()
        self._inbox.capture(self.account, "message", payload.message_id)

    def _on_friendship(self, payload: Any) -> None:
        self._touch()
        if payload.friendship_id:
            self._inbox.capture(self.account, "friendship", payload.friendship_id)

    def _on_login(self, payload: EventLoginPayload) -> None:
        self._touch()
        self._spawn(self._login(payload.contact_id), "登录后的处理")

    async def _login(self, user_id: str) -> None:
        bot = self._bot
        name = ""
        if bot is not None:
            try:
                me = bot.ContactSelf.load(user_id)
                await asyncio.wait_for(me.ready(), self._settings.check_timeout_s)
                name = me.name
            except Exception as exc:
                log.debug("account %s: own contact: %s", self.account, one_line(exc))
        st = self.state
        st.user_id, st.user_name, st.qr_code, st.error = user_id, name, None, None
        st.connections += 1
        self._backoff.reset()
        self.logged_in.set()
        self._announced = True
        who = f"「{name}」（{user_id}）" if name else f" {user_id}"
        self._report(logging.INFO, "login", f"已登录微信{who}，开始接收消息")
        now = datetime.now(UTC)
        await self._save(
            state="logged_in",
            user_id=user_id,
            user_name=name[:100],
            qr_code=None,
            error=None,
            connections=st.connections,
            logged_in_at=now,
            endpoint=self.state.endpoint,
            adviser_id=self._adviser_id(),
        )

    def _on_logout(self, payload: EventLogoutPayload) -> None:
        self._touch()
        self.logged_in.clear()
        reason = " ".join(str(getattr(payload, "data", "") or "").split())
        name = self.state.user_name
        who = f"「{name}」" if name else (f" {self.state.user_id}" if self.state.user_id else "")
        said = f"（{reason}）" if reason else ""
        self._report(
            logging.ERROR,
            "logout",
            f"微信{who}已退出登录{said}：收不到消息了，请让顾问重新扫码登录",
        )
        self._spawn(
            self._save(state="logged_out", logged_out_at=datetime.now(UTC)), "保存退出登录的状态"
        )

    def _on_scan(self, payload: EventScanPayload) -> None:
        self._touch()
        status = payload.status
        qr = payload.qrcode or ""
        if status in (ScanStatus.Waiting, ScanStatus.Timeout) and qr:
            self.state.qr_code = qr
            self._announced = True
            text = "等待扫码登录：请用顾问的微信扫描下面的二维码（控制台的微信账号页也有）"
            self._report(logging.INFO, "scan", text, qr_code=qr)
            self._spawn(self._save(state="waiting_scan", qr_code=qr), "保存登录二维码")
        elif status == ScanStatus.Scanned:
            self._report(logging.INFO, "scan", "已扫码，请在手机上确认登录")
        elif status in (ScanStatus.Confirmed, ScanStatus.Cancel):
            self.state.qr_code = None
            self._spawn(self._save(qr_code=None), "清除登录二维码")

    def _report(self, level: int, kind: str, text: str, *, qr_code: str | None = None) -> None:
        """Something the operator must see: one log line (``[林晓（ins_lin）] text``), and the
        same text to the front (``on_event``), which adds the QR code."""
        log.log(level, "[%s] %s", self.shown, text)
        if self._on_event is None:
            return
        try:
            self._on_event(AccountEvent(self.account, kind, text, qr_code, shown=self.shown))
        except Exception as exc:
            log.error("[%s] 显示账号事件时出错：%s", self.shown, reason(exc))
            log.debug("account event handler failure", exc_info=exc)

    def _spawn(self, coro: Any, what: str) -> None:
        """Run ``coro`` on the side; ``what`` names it in the line its failure logs."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._done(done, what))

    def _done(self, task: asyncio.Task[Any], what: str) -> None:
        self._tasks.discard(task)
        exc = None if task.cancelled() else task.exception()
        if exc is not None:
            log.warning("[%s] %s失败：%s", self.shown, what, reason(exc))

    # ------------------------------------------------------------------ status
    async def _save(self, **values: Any) -> None:
        values.setdefault("last_event_at", self._last_event_at)
        values.setdefault("endpoint", self.state.endpoint or self.config.endpoint)
        if "state" in values:
            self.state.state = values["state"]
        await self._inbox.save_account_state(self.account, **values)

    async def _status_loop(self, stop: asyncio.Event) -> None:
        """Refresh ``last_event_at`` / ``updated_at`` (the console sees the process is up)."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._settings.heartbeat_interval_s)
            if not stop.is_set():
                await self._save()

    # ------------------------------------------------------------------ inbox source
    def connected(self) -> bool:
        return self._bot is not None and self.logged_in.is_set()

    async def resolve(self, kind: str, event_id: str) -> Resolved:
        bot = self._bot
        if bot is None or not self.logged_in.is_set():
            raise NotConnected(f"账号 {self.account} 没有登录")
        try:
            return await self._resolve(bot, kind, event_id)
        except ChannelError:
            raise
        except Exception as exc:
            raise _failure(describe(exc), exc) from None

    async def _resolve(self, bot: Wechaty, kind: str, event_id: str) -> Resolved:
        if kind == "friendship":
            return await self._resolve_friendship(bot, event_id)
        msg = bot.Message.load(event_id)
        await msg.ready()
        incoming = await self.to_incoming(msg)
        if incoming is None:
            return Resolved(contact_key=None)
        return Resolved(
            contact_key=incoming.room_id or incoming.contact_id,
            payload=message_payload(incoming),
        )

    async def _resolve_friendship(self, bot: Wechaty, friendship_id: str) -> Resolved:
        friendship = bot.Friendship.load(friendship_id)
        await friendship.ready()
        kind = friendship.type()
        if kind not in (
            FriendshipType.FRIENDSHIP_TYPE_RECEIVE,
            FriendshipType.FRIENDSHIP_TYPE_CONFIRM,
        ):
            return Resolved(contact_key=None)
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
            adviser_id=self._adviser_id(),
            adviser_name=self.state.user_name,
            industry=self.config.industry or None,
        )
        may_send = receive and self._settings.auto_accept
        return Resolved(
            contact_key=contact.contact_id,
            payload=contact_payload(new, receive=receive, may_send=may_send),
        )

    def _adviser_id(self) -> str:
        return self.config.adviser_id or self.state.user_id or "adviser"

    async def after_suggest(self, message: IncomingMessage, result: SuggestionResult) -> None:
        target = self.config.notify_contact_id
        if message.direction != "in" or not target or target == message.contact_id:
            return
        self.notes.add(adviser_note(message.contact_name, message.text, result))

    async def accept_request(self, contact: NewContact) -> bool:
        if not self._settings.auto_accept:
            return False
        bot = self._bot
        if bot is None or not self.logged_in.is_set():
            raise NotConnected("没有连上：好友请求已记下，还没有通过")
        try:
            friendship = bot.Friendship.load(contact.request_id)
            await friendship.ready()
            await friendship.accept()
        except Exception as exc:
            raise _failure(f"通过好友请求失败：{describe(exc)}", exc) from None
        log.info("[%s] 已通过%s的好友请求", self.shown, _named(contact))
        return True

    async def after_new_contact(self, contact: NewContact, welcome: Welcome) -> None:
        if welcome.auto_text:
            if not self.connected():
                raise NotConnected("没有连上：欢迎语还没有发")
            self._expect_automated(contact.contact_id, welcome.auto_text)
            try:
                await self.say(contact.contact_id, welcome.auto_text)
            except Exception as exc:
                raise _failure(f"发送欢迎语失败：{describe(exc)}", exc) from None
            log.info(
                "[%s] 已给%s发欢迎语（话术 %s）",
                self.shown,
                _named(contact),
                welcome.auto_script_id or "?",
            )
        target = self.config.notify_contact_id
        if welcome.result is not None and target and target != contact.contact_id:
            label = f"新好友 {contact.alias or contact.name}"
            self.notes.add(adviser_note(label, contact.hello, welcome.result))

    # ------------------------------------------------------------------ conversion
    async def to_incoming(self, msg: Message) -> IncomingMessage | None:
        """The message as ours; None for what we never log (notes to the adviser's own
        note target, the adviser's own group messages, messages with no counterpart)."""
        payload = msg.payload
        if payload is None:
            raise ChannelError(f"还取不到消息 {msg.message_id} 的内容")
        kind = MESSAGE_TYPES.get(msg.type(), "other")
        text = msg.text() or ""
        sent_at = timestamp(payload.timestamp)
        user_id = self.state.user_id
        notify = self.config.notify_contact_id
        adviser_id = self._adviser_id()
        room = msg.room()
        is_self = bool(user_id) and payload.from_id == user_id
        if room is not None:
            if is_self:
                return None
            talker = msg.talker()
            await room.ready()
            topic = room.payload.topic if room.payload else None
            mentioned = room.room_id in self._settings.suggest_rooms
            if not mentioned and kind == "text":
                mentioned = bool(user_id) and user_id in (payload.mention_ids or [])
            return IncomingMessage(
                msg_id=msg.message_id,
                channel=CHANNEL,
                contact_id=talker.contact_id,
                contact_name=_display_name(talker),
                text=text,
                adviser_id=adviser_id,
                adviser_name=self.state.user_name,
                direction="in",
                type=kind,
                room_id=room.room_id,
                room_topic=topic,
                mentions_adviser=mentioned,
                sent_at=sent_at,
                industry=self.config.industry or None,
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
            adviser_id=adviser_id,
            adviser_name=self.state.user_name,
            direction=direction,
            type=kind,
            sent_at=sent_at,
            automated=direction == "out" and self._was_automated(other.contact_id, text),
            industry=self.config.industry or None,
        )

    def _expect_automated(self, contact_id: str, text: str) -> None:
        self._automated.add((contact_id, text))

    def _was_automated(self, contact_id: str, text: str) -> bool:
        key = (contact_id, text)
        if key in self._automated:
            self._automated.discard(key)
            return True
        return False

    # ------------------------------------------------------------------ sending
    async def _send_note(self, text: str) -> None:
        try:
            await self.say(self.config.notify_contact_id, text)
        except ChannelError:
            raise
        except Exception as exc:
            raise _failure(describe(exc), exc) from None

    async def say(self, contact_id: str, text: str) -> None:
        bot = self._bot
        if bot is None:
            raise ChannelError("没有连上 puppet service")
        contact = bot.Contact.load(contact_id)
        await contact.say(text)


def _named(contact: NewContact) -> str:
    """A new friend in a log line: 「张姐」（wxid_…）, or the id alone."""
    name = contact.alias or contact.name
    return f"「{name}」（{contact.contact_id}）" if name else f" {contact.contact_id} "


def _display_name(contact: Contact) -> str:
    payload = contact.payload
    if payload is None:
        return ""
    return payload.alias or payload.name or ""


# --------------------------------------------------------------------------- check
@dataclass(frozen=True, slots=True)
class CheckReport:
    account: str
    endpoint: str
    version: str


async def check_connection(account: AccountConfig, settings: WechatySettings) -> CheckReport:
    """Connect to the account's puppet service and ask its version (proves the endpoint
    and the token); raises ChannelError (one line, token masked) if that fails within
    ``check_timeout_s``."""
    secret_mask().add(account.token())
    endpoint = await open_endpoint(account, settings)
    puppet = _service_puppet(account, endpoint)
    try:
        puppet._init_puppet()
        try:
            response = await asyncio.wait_for(
                puppet.puppet_stub.version(), settings.check_timeout_s
            )
        except Exception as exc:
            raise _failure(
                f"puppet service {endpoint} 没有应答（令牌不对，或服务只接受 TLS？）："
                f"{describe(exc)}",
                exc,
            ) from None
        return CheckReport(
            account=account.key,
            endpoint=endpoint,
            version=getattr(response, "version", "") or "",
        )
    finally:
        if puppet.channel is not None:
            puppet.channel.close()
