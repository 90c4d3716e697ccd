"""``siyu bot``: the Wechaty channel on the adviser's account, in the foreground. The SDK
loads inside the command (``pip install 'siyu-copilot[wechat]'``)."""

from __future__ import annotations

import asyncio
import signal
from typing import TYPE_CHECKING, Annotated

import typer

from bot.channels.wechaty_run import (
    build_channel,
    check_settings,
    check_welcome_script,
    import_channel,
)
from bot.cli.common import err, out
from bot.errors import ConfigError

if TYPE_CHECKING:
    from bot.pipeline.runtime import Runtime
    from bot.settings import Settings


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
    import_channel()
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
