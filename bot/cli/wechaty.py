"""``siyu bot``: registered on the main CLI by ``bot.cli``. Only typer is imported at
module level; the Wechaty SDK loads inside the command (``pip install 'siyu-copilot[wechat]'``)."""

from __future__ import annotations

import asyncio
import signal
import threading
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from bot.errors import ConfigError

if TYPE_CHECKING:
    from bot.channels.wechaty import WechatyChannel
    from bot.pipeline.runtime import Runtime
    from bot.settings import Settings

out = Console()
err = Console(stderr=True)


def _import_channel() -> None:
    try:
        import bot.channels.wechaty  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            f"the Wechaty channel needs the extra: pip install 'siyu-copilot[wechat]' ({exc})"
        ) from exc


def build_channel(runtime: Runtime) -> WechatyChannel:
    """The channel wired to the runtime's assistant (messages) and new-contact flow."""
    from bot.channels.wechaty import WechatyChannel
    from bot.pipeline.newcontacts import NewContactFlow, RateLimiter

    ws = runtime.settings.wechaty
    flow = NewContactFlow(
        assistant=runtime.assistant,
        db=runtime.db,
        settings=runtime.settings,
        welcome_script_id=ws.welcome_script_id,
        limiter=RateLimiter(per_hour=ws.welcome_per_hour, min_interval_s=ws.welcome_min_interval_s),
    )
    return WechatyChannel(
        runtime.assistant.handle,
        settings=ws,
        new_contacts=flow.handle,
        process_pending=runtime.assistant.process_pending,
    )


def check_settings(settings: Settings) -> list[str]:
    """Problems in ``[wechaty]`` that would stop the bot (empty: fine)."""
    ws = settings.wechaty
    problems = []
    try:
        token = ws.token()
    except ConfigError as exc:
        problems.append(str(exc))
        token = ""
    if not token and not ws.endpoint:
        problems.append(f"set [wechaty] endpoint or the token in {ws.token_env}")
    if ws.endpoint and ":" not in ws.endpoint:
        problems.append(f"[wechaty] endpoint {ws.endpoint!r} must be host:port")
    if ws.endpoint and not token:
        problems.append(f"set {ws.token_env} (the puppet service token)")
    return problems


def check_welcome_script(runtime: Runtime) -> list[str]:
    sid = runtime.settings.wechaty.welcome_script_id
    if not sid:
        return []
    found = runtime.library.get([sid]).get(sid)
    if found is None:
        return [f"welcome script {sid} does not exist"]
    if found.status != "approved":
        return [f"welcome script {sid} is {found.status}, not approved"]
    return []


def bot_command(
    ctx: typer.Context,
    check: Annotated[
        bool,
        typer.Option("--check", help="Verify the configuration and the connection, then exit."),
    ] = False,
) -> None:
    """Listen on the adviser's WeChat / WeCom account through a Wechaty puppet service."""
    settings: Settings = ctx.obj.settings()
    problems = check_settings(settings)
    if problems:
        raise ConfigError("; ".join(problems))
    _import_channel()
    if check:
        _check(settings)
        return
    from bot.pipeline.runtime import open_runtime

    runtime = open_runtime(settings)
    try:
        problems = check_welcome_script(runtime)
        if problems:
            raise ConfigError("; ".join(problems))
        runtime.resume_pending()
        from bot.crm.scheduler import FollowupScheduler

        scheduler = FollowupScheduler(db=runtime.db, settings=settings)
        scheduler.start()
        try:
            asyncio.run(_serve(runtime))
        finally:
            scheduler.stop()
    finally:
        runtime.close()


def _check(settings: Settings) -> None:
    from bot.channels.wechaty import check_connection
    from bot.pipeline.runtime import open_runtime

    runtime = open_runtime(settings)
    try:
        problems = check_welcome_script(runtime)
    finally:
        runtime.close()
    if problems:
        raise ConfigError("; ".join(problems))
    report = asyncio.run(check_connection(settings.wechaty))
    out.print(
        f"ok: puppet service {report.endpoint} answered"
        + (f" (version {report.version})" if report.version else "")
    )


async def _serve(runtime: Runtime) -> None:
    channel = build_channel(runtime)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    ws = runtime.settings.wechaty
    mode = "suggestion-only" if not ws.welcome_script_id else "auto-welcome on"
    err.print(
        f"siyu bot: connecting to {ws.endpoint or 'the puppet service'} ({mode}); Ctrl-C stops"
    )
    await channel.run(stop)


class BackgroundChannel:
    """The Wechaty channel on its own event loop in a daemon thread, for ``siyu serve
    --with-bot``: the console and the channel share one runtime, so live suggestions
    reach the sidebar."""

    def __init__(self, runtime: Runtime) -> None:
        settings = runtime.settings
        problems = check_settings(settings)
        if problems:
            raise ConfigError("; ".join(problems))
        _import_channel()
        problems = check_welcome_script(runtime)
        if problems:
            raise ConfigError("; ".join(problems))
        self.channel = build_channel(runtime)
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="wechaty", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def main() -> None:
            self._stop = asyncio.Event()
            await self.channel.run(self._stop)

        self._loop.run_until_complete(main())
        self._loop.close()

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 15.0) -> bool:
        """Stop the channel; True once its thread has finished."""
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout_s)
        return not self._thread.is_alive()
