"""``siyu serve``: the web console and its JSON API. FastAPI and uvicorn load inside the command."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli.common import (
    out,
)

if TYPE_CHECKING:
    pass


#: The interpreter's thread switch interval while serving (seconds).
SWITCH_INTERVAL_S = 0.001


def serve_command(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Listen address (default [web] host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default [web] port).")] = None,
    with_bot: Annotated[
        bool,
        typer.Option("--with-bot", help="Also run the Wechaty channel in this process."),
    ] = False,
) -> None:
    """Start the web console and its JSON API (OpenAPI at /docs)."""
    import uvicorn

    from bot.crm.scheduler import FollowupScheduler
    from bot.pipeline.runtime import open_runtime
    from bot.web.app import create_app

    # Jobs (uploads, rebuilds) run Python on a thread of this process: a shorter GIL
    # switch interval (default 5 ms) lets request threads in sooner while one runs.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    settings = ctx.obj.settings()
    secret = settings.web.secret()  # fail before the slow start-up if it is missing
    runtime = open_runtime(settings)
    runtime.resume_pending()
    channel = None
    scheduler = FollowupScheduler(db=runtime.db, settings=settings)
    try:
        scheduler.start()
        if with_bot:
            from bot.channels.wechaty_run import BackgroundChannel
            from bot.cli.bot import show_account_event

            # Login QR codes and logouts in this terminal too (the console shows them).
            channel = BackgroundChannel(runtime, on_event=show_account_event)
            channel.start()
        app = create_app(runtime, secret=secret)
        h, p = host or settings.web.host, port or settings.web.port
        out.print(f"思语 console on http://{h}:{p}/  (API docs: /docs)")
        uvicorn.run(app, host=h, port=p, log_level="info", timeout_graceful_shutdown=3)
    finally:
        scheduler.stop()
        if channel is not None:
            channel.stop()
        runtime.close()
