"""Running the Wechaty channel: every configured account wired through one durable inbox
to the runtime's pipeline, the configuration checks shared by ``siyu bot`` and ``siyu
serve --with-bot``, and a background thread for the latter. The SDK itself loads only in
``bot.channels.wechaty``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from bot.channels.base import reason
from bot.channels.inbox import Inbox, InboxPipeline
from bot.errors import ConfigError
from bot.pipeline.assistant import Received
from bot.settings import DEFAULT_ACCOUNT

if TYPE_CHECKING:
    from bot.channels.wechaty import EventHandler, PuppetFactory, WechatyAccountChannel
    from bot.domain import IncomingMessage, SuggestionResult
    from bot.pipeline.newcontacts import NewContact, NewContactFlow, Welcome
    from bot.pipeline.runtime import Runtime
    from bot.settings import Settings

log = logging.getLogger(__name__)

#: Seconds before an account whose channel failed unexpectedly is started again.
RESTART_S = 5.0
#: Under the data directory: the capture journals (bot.channels.journal).
JOURNAL_DIR = "inbox-journal"


def import_channel() -> None:
    """Load the SDK adapter, or say in one line why it cannot load."""
    if sys.version_info >= (3, 13):
        version = f"{sys.version_info[0]}.{sys.version_info[1]}"
        raise ConfigError(
            f"Wechaty 通道需要 Python 3.11 或 3.12，当前是 Python {version}"
            "（python-wechaty 0.10.7 用到了 3.13 已删除的 telnetlib）"
        )
    try:
        import bot.channels.wechaty  # noqa: F401
    except ImportError as exc:
        missing = exc.name or str(exc)
        raise ConfigError(
            f"Wechaty 通道需要额外依赖：pip install 'siyu-copilot[wechat]'（缺少 {missing}）"
        ) from exc


class AssistantPipeline(InboxPipeline):
    """The runtime's assistant and new-contact flow behind the inbox."""

    def __init__(self, runtime: Runtime) -> None:
        from bot.pipeline.newcontacts import NewContactFlow, RateLimiter

        ws = runtime.settings.wechaty
        self._assistant = runtime.assistant
        self._db = runtime.db
        self._flow: NewContactFlow = NewContactFlow(
            assistant=runtime.assistant,
            db=runtime.db,
            settings=runtime.settings,
            welcome_script_id=ws.welcome_script_id,
            limiter=RateLimiter(
                per_hour=ws.welcome_per_hour, min_interval_s=ws.welcome_min_interval_s
            ),
        )

    def log(self, message: IncomingMessage) -> Received:
        received = self._assistant.receive(message, suggest=False)
        if received.created:
            return received
        # Logged before (a retry after the inbox row failed to record it, or a redelivery):
        # still due a suggestion if it is pending and one is wanted.
        from dataclasses import replace

        from bot.store import messages as messages_repo

        with self._db.session() as session:
            logged = messages_repo.get_message(session=session, msg_id=message.msg_id)
        due = logged is not None and logged.status == "pending" and logged.direction == "in"
        return replace(received, pending=due) if due else received

    def suggest(self, message: IncomingMessage, *, message_id: int) -> SuggestionResult | None:
        return self._assistant.suggest_logged(message, message_id=message_id)

    def new_contact(self, contact: NewContact, may_send: bool) -> Welcome:
        return self._flow.handle(contact, may_send)


class ChannelService:
    """Every configured account in one process, each supervised on its own (one
    account's failure or re-login never stops another), sharing one pipeline through
    one durable inbox."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        on_event: EventHandler | None = None,
        puppet_factory: PuppetFactory | None = None,
        pipeline: InboxPipeline | None = None,
    ) -> None:
        from bot.channels.wechaty import WechatyAccountChannel
        from bot.services.channel_status import account_names

        ws = runtime.settings.wechaty
        with runtime.db.session() as session:
            names = account_names(session, settings=ws)
        self.inbox = Inbox(
            db=runtime.db,
            pipeline=pipeline or AssistantPipeline(runtime),
            settings=ws,
            journal_dir=Path(runtime.settings.data_dir) / JOURNAL_DIR,
        )
        self.accounts: dict[str, WechatyAccountChannel] = {
            a.key: WechatyAccountChannel(
                a,
                settings=ws,
                inbox=self.inbox,
                on_event=on_event,
                puppet_factory=puppet_factory,
                shown=names.get(a.key, ""),
            )
            for a in ws.account_configs()
        }

    @property
    def channel(self) -> WechatyAccountChannel:
        """The first (with the single-account settings: the only) account."""
        return next(iter(self.accounts.values()))

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop``; then the accounts disconnect and the inbox writes what
        it captured (unfinished rows wait in the database for the next start)."""
        inbox_stop = asyncio.Event()
        inbox = asyncio.create_task(self.inbox.run(inbox_stop), name="inbox")
        accounts = [
            asyncio.create_task(self._supervise(a, stop), name=f"account-{a.account}")
            for a in self.accounts.values()
        ]
        try:
            await stop.wait()
        finally:
            await asyncio.gather(*accounts, return_exceptions=True)
            inbox_stop.set()
            with contextlib.suppress(Exception):
                await inbox

    async def _supervise(self, channel: WechatyAccountChannel, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await channel.run(stop)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.error(
                    "[%s] 通道意外出错：%s；%g 秒后重新启动这个账号（其他账号不受影响）",
                    channel.shown,
                    reason(exc),
                    RESTART_S,
                )
                log.debug("channel failure", exc_info=exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), RESTART_S)


def check_settings(settings: Settings) -> list[str]:
    """Problems in ``[wechaty]`` that would stop the bot, one line each (empty: fine)."""
    problems = []
    for account in settings.wechaty.account_configs():
        label = "" if account.key == DEFAULT_ACCOUNT else f"账号 {account.key}："
        where = "[wechaty]" if account.key == DEFAULT_ACCOUNT else "[[wechaty.accounts]]"
        try:
            token = account.token()
        except ConfigError as exc:
            problems.append(label + str(exc))
            continue
        if not account.endpoint and not token:
            problems.append(
                f"{label}请在 {where} 设置 endpoint，或在环境变量 {account.token_env}"
                " 里提供 puppet service 令牌"
            )
        elif account.endpoint and ":" not in account.endpoint:
            problems.append(f"{label}endpoint {account.endpoint!r} 应写成 host:port")
        elif account.endpoint and not token:
            problems.append(f"{label}请在环境变量 {account.token_env} 里设置 puppet service 令牌")
    return problems


def check_welcome_script(runtime: Runtime) -> list[str]:
    sid = runtime.settings.wechaty.welcome_script_id
    if not sid:
        return []
    found = runtime.library.get([sid]).get(sid)
    if found is None:
        return [f"欢迎话术 {sid} 不存在"]
    if found.status != "approved":
        return [f"欢迎话术 {sid} 还没有审核通过（{found.status}）"]
    return []


class BackgroundChannel:
    """The channel service on its own event loop in a daemon thread, for ``siyu serve
    --with-bot``: the console and the channel share one runtime, so live suggestions
    reach the sidebar."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        on_event: EventHandler | None = None,
        puppet_factory: PuppetFactory | None = None,
    ) -> None:
        settings = runtime.settings
        problems = check_settings(settings)
        if problems:
            raise ConfigError("；".join(problems))
        import_channel()
        problems = check_welcome_script(runtime)
        if problems:
            raise ConfigError("；".join(problems))
        self.service = ChannelService(runtime, on_event=on_event, puppet_factory=puppet_factory)
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._thread = threading.Thread(target=self._run, name="wechaty", daemon=True)

    @property
    def channel(self) -> WechatyAccountChannel:
        return self.service.channel

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def main() -> None:
            await self.service.run(self._stop)

        self._loop.run_until_complete(main())
        self._loop.close()

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 15.0) -> bool:
        """Stop the channel; True once its thread has finished."""
        if not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout_s)
        return not self._thread.is_alive()
