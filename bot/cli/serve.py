"""``siyu serve``: the web console and its JSON API, in one process or in ``--workers N``
processes behind one port. FastAPI and uvicorn load inside the command."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bot.cli.common import out
from bot.cli.logs import configure
from bot.errors import InputError
from knowledge.errors import os_reason

if TYPE_CHECKING:
    from fastapi import FastAPI

    from bot.settings import Settings

#: The settings of the command, as JSON, for the worker processes it starts
#: (``worker_app``): every worker runs with exactly the parent's settings.
WORKER_SETTINGS_ENV = "SIYU_SERVE_WORKER_SETTINGS"
#: Set (to "1") when the command runs with ``--debug``.
WORKER_DEBUG_ENV = "SIYU_SERVE_WORKER_DEBUG"
#: Seconds a stopping server lets open requests (event streams) finish.
GRACEFUL_SHUTDOWN_S = 3
#: Seconds uvicorn waits for a worker to answer its health check before it kills and
#: replaces it. A starting worker loads the embedding model and the indexes: on a busy
#: machine that took longer than uvicorn's default 5 s, and workers were killed forever.
WORKER_HEALTHCHECK_S = 120


#: How a traceback of an interrupted shutdown ends (``_Interrupted``).
INTERRUPTIONS = ("CancelledError", "KeyboardInterrupt")
#: The interpreter's thread switch interval while serving (seconds).
SWITCH_INTERVAL_S = 0.001


def serve_command(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="监听地址（默认：配置 \\[web] host）。")] = None,
    port: Annotated[int | None, typer.Option(help="端口（默认：配置 \\[web] port）。")] = None,
    with_bot: Annotated[
        bool,
        typer.Option("--with-bot", help="同时在这个进程里运行 Wechaty 通道。"),
    ] = False,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            max=64,
            help="共用端口的工作进程数（默认：配置 \\[web] workers）；多于一个需要 PostgreSQL。",
        ),
    ] = None,
) -> None:
    """启动网页控制台及其 JSON API（OpenAPI 文档在 /docs）。"""
    settings: Settings = ctx.obj.settings()
    secret = settings.web.secret()  # fail before the slow start-up if it is missing
    count = workers or settings.web.workers
    h, p = host or settings.web.host, port or settings.web.port
    if count > 1:  # what the configuration lacks first: a free port would not help
        _check_workers(settings, with_bot=with_bot)
    check_port(h, p)  # before the slow start-up, and in Chinese (uvicorn's is English)
    if count > 1:
        _serve_workers(settings, host=h, port=p, count=count, debug=ctx.obj.debug)
        return
    import uvicorn

    from bot.pipeline.runtime import open_runtime
    from bot.web.app import create_app

    # Jobs (uploads, rebuilds) run Python on a thread of this process: a shorter GIL
    # switch interval (default 5 ms) lets request threads in sooner while one runs.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    runtime = open_runtime(settings)
    channel = None
    try:
        runtime.resume_pending()
        runtime.start_background(live=True)
        if with_bot:
            from bot.channels.wechaty_run import BackgroundChannel
            from bot.cli.bot import show_account_event
            from bot.cli.logs import show_channel_lines

            # Login QR codes and logouts in this terminal too (the console shows them).
            show_channel_lines()
            channel = BackgroundChannel(runtime, on_event=show_account_event)
            channel.start()
        app = create_app(runtime, secret=secret)
        out.print(f"思语控制台：http://{h}:{p}/（API 文档：/docs；按 Ctrl-C 停止）")
        with _quiet_interrupt():
            uvicorn.run(
                app,
                host=h,
                port=p,
                timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
                forwarded_allow_ips=settings.web.forwarded_allow_ips,
                **uvicorn_logging(debug=ctx.obj.debug),
            )
        out.print("控制台已停止")
    finally:
        if channel is not None:
            channel.stop()
        runtime.close()


def check_port(host: str, port: int) -> None:
    """Fail with the reason, in the user's language, when ``host:port`` cannot be listened
    on (taken by another program, a privileged port, an address of another machine). The
    test socket is closed at once; uvicorn binds the same way (``SO_REUSEADDR``, IPv4
    unless the host has a ``:``), so 「localhost」 is checked where uvicorn will listen."""
    # the address family uvicorn binds: IPv6 only for a host written with ":"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        infos = socket.getaddrinfo(
            host, port, family=family, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        raise InputError(f"监听地址 {host} 无法解析：请检查 --host 或配置 [web] host") from exc
    address = infos[0][4]
    try:
        with socket.create_server(address[:2], family=family):
            pass
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            reason = "端口已被占用：用 --port 换一个端口，或先停掉占用它的程序"
        elif exc.errno in (errno.EACCES, errno.EPERM):
            reason = "没有权限（1024 以下的端口需要管理员权限）：用 --port 换一个端口"
        elif exc.errno == errno.EADDRNOTAVAIL:
            reason = "这台机器没有这个地址：请检查 --host 或配置 [web] host"
        else:
            reason = os_reason(exc)
        raise InputError(f"无法在 {host}:{port} 上启动控制台：{reason}") from exc


def _check_workers(settings: Settings, *, with_bot: bool) -> None:
    """Several workers need PostgreSQL (live updates travel through it) and no bot inside."""
    from bot.store import Database

    if with_bot:
        raise InputError("--with-bot 只能用于单个工作进程：多个工作进程时请另行运行 siyu bot")
    db = Database.from_settings(settings)  # no connection yet: only the URL is read
    backend = db.engine.dialect.name
    db.dispose()
    if backend != "postgresql":
        raise InputError(
            "多个工作进程需要 PostgreSQL（[store] url）：各进程之间的实时推送经由数据库传递"
        )


def _serve_workers(settings: Settings, *, host: str, port: int, count: int, debug: bool) -> None:
    """``count`` uvicorn workers on one port, each with a runtime of its own (``worker_app``).

    This process brings the database and the indexes up to date first, so the workers
    start with nothing to migrate or embed, then supervises them (uvicorn restarts a
    worker that dies)."""
    import uvicorn

    from bot.pipeline.runtime import open_runtime

    runtime = open_runtime(settings)
    try:
        runtime.resume_pending()
    finally:
        runtime.close()
    os.environ[WORKER_SETTINGS_ENV] = settings.model_dump_json()
    os.environ[WORKER_DEBUG_ENV] = "1" if debug else ""
    out.print(
        f"思语控制台：http://{host}:{port}/（{count} 个工作进程；API 文档：/docs；按 Ctrl-C 停止）"
    )
    with _quiet_interrupt():
        uvicorn.run(
            f"{__name__}:worker_app",
            factory=True,
            host=host,
            port=port,
            workers=count,
            timeout_worker_healthcheck=WORKER_HEALTHCHECK_S,
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
            forwarded_allow_ips=settings.web.forwarded_allow_ips,
            **uvicorn_logging(debug=debug),
        )
    out.print("控制台已停止")


def uvicorn_logging(*, debug: bool) -> dict[str, Any]:
    """uvicorn's logging as the rest of the command's: through the root logger
    (bot/cli/logs.py), so operators see only warnings and errors, in the operator's format;
    with ``--debug`` uvicorn's own lines as well (startup, each request)."""
    return {"log_config": None, "log_level": "info" if debug else "warning", "access_log": debug}


class _Interrupted(logging.Filter):
    """Drops what uvicorn logs when a second Ctrl+C cuts its shutdown short: the
    application's lifespan, cancelled, as a traceback of ``CancelledError`` (Starlette
    hands it over as the message text; uvicorn logs it as an error)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, (asyncio.CancelledError, KeyboardInterrupt)):
            return False
        text = str(record.msg).rstrip()
        return not (text.startswith("Traceback") and text.endswith(INTERRUPTIONS))


@contextmanager
def _quiet_interrupt() -> Iterator[None]:
    """While uvicorn runs: no traceback for an impatient second Ctrl+C."""
    quiet = _Interrupted()
    logger = logging.getLogger("uvicorn.error")
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)


def worker_app() -> FastAPI:
    """The app of one worker process of ``siyu serve --workers N`` (a uvicorn factory):
    its own runtime, following the other processes' changes and live events, closed when
    the worker stops."""
    from bot.pipeline.runtime import open_runtime
    from bot.settings import Settings
    from bot.web.app import create_app

    configure(debug=bool(os.environ.get(WORKER_DEBUG_ENV)))
    sys.setswitchinterval(SWITCH_INTERVAL_S)  # as in one process: jobs run on threads
    settings = Settings.model_validate_json(os.environ[WORKER_SETTINGS_ENV])
    runtime = open_runtime(settings)
    runtime.start_background(live=True)
    return create_app(runtime, on_shutdown=runtime.close)
