"""``siyu bot``: the Wechaty channel on the advisers' accounts, in the foreground; its
``--check``, ``--status`` and ``--requeue``. The SDK loads inside the command
(``pip install 'siyu-copilot[wechat]'``)."""

from __future__ import annotations

import asyncio
import io
import json
import signal
import sys
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from bot.cli.common import database, err, out, principal
from bot.cli.logs import show_channel_lines
from bot.cli.tables import show
from bot.errors import ChannelError, ConfigError, InputError
from bot.settings import account_phrase

if TYPE_CHECKING:
    from bot.channels.inbox import FlowStats
    from bot.channels.wechaty import AccountEvent
    from bot.pipeline.runtime import Runtime
    from bot.settings import Settings
    from bot.store.channel_inbox import AccountCounts

#: Parked messages listed by ``--status``.
PARKED_SHOWN = 20


def bot_command(
    ctx: typer.Context,
    check: Annotated[
        bool,
        typer.Option("--check", help="检查配置和每个账号的连接，然后退出。"),
    ] = False,
    status: Annotated[
        bool,
        typer.Option(
            "--status",
            help="显示每个账号的状态、积压和搁置的消息（来自任一进程）。",
        ),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="与 --status 一起用：输出 JSON。")
    ] = False,
    requeue: Annotated[
        str | None,
        typer.Option(
            "--requeue",
            metavar="ID[,ID…]|all",
            help="把搁置的消息放回去重试（运行中的通道会接手处理）。",
        ),
    ] = None,
    discard: Annotated[
        str | None,
        typer.Option(
            "--discard",
            metavar="ID[,ID…]",
            help="丢弃搁置的消息，不再处理（例如永远无法处理的消息；已记录的仍在客户记录里）。",
        ),
    ] = None,
) -> None:
    """通过 Wechaty puppet service 接入顾问的微信 / 企业微信账号并收发消息。"""
    settings: Settings = ctx.obj.settings()
    if status:
        _status(ctx, settings, as_json=as_json)
        return
    if requeue is not None:
        _requeue(ctx, requeue)
        return
    if discard is not None:
        _discard(ctx, discard)
        return
    from bot.channels.wechaty_run import check_settings, check_welcome_script, import_channel

    problems = check_settings(settings)
    if problems:
        raise ConfigError("；".join(problems))
    import_channel()
    if check:
        _check(settings)
        return
    from bot.pipeline.runtime import open_runtime

    runtime = open_runtime(settings)
    try:
        problems = check_welcome_script(runtime)
        if problems:
            raise ConfigError("；".join(problems))
        # No ``resume_pending`` here: the inbox resumes this channel's messages once
        # connected, with the note to the adviser (a backlog suggested first kept the
        # accounts offline for as long, and sent no notes).
        # Follow the consoles' library changes; run the follow-up rules if no other
        # process does. The console shows this process's messages live (PostgreSQL).
        runtime.start_background(live=False)
        show_channel_lines()
        asyncio.run(_serve(runtime))
    finally:
        runtime.close()


# --------------------------------------------------------------------------- serving
async def _serve(runtime: Runtime) -> None:
    from bot.channels.wechaty_run import ChannelService

    service = ChannelService(runtime, on_event=show_account_event)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    ws = runtime.settings.wechaty
    if ws.welcome_script_id:
        mode = f"新好友自动发欢迎语（话术 {ws.welcome_script_id}），其余只给建议"
    else:
        mode = "只给建议，不替顾问发消息"
    names = "、".join(a.shown for a in service.accounts.values())
    _line(f"siyu bot：正在连接 {len(service.accounts)} 个账号：{names}；{mode}。按 Ctrl-C 停止")
    await service.run(stop)
    try:
        counts = service.inbox.counts()
    except Exception:  # the database is failing: the summary goes without what is left
        counts = {}
    for key, account in service.accounts.items():
        _line(f"[{account.shown}] {stop_summary(service.inbox.stats(key), counts.get(key))}")
    _line("siyu bot：已停止")


def stop_summary(st: FlowStats, counts: AccountCounts | None) -> str:
    """What one account did in this run, and what waits for the next."""
    parts = [f"本次收到 {st.captured:,} 条", f"记录 {st.logged:,} 条", f"建议 {st.suggested:,} 条"]
    if st.skipped:
        parts.append(f"无需记录 {st.skipped:,} 条")
    parts.append(f"搁置 {st.parked:,} 条")
    text = "，".join(parts)
    lag = sorted(st.write_lag_ms)
    if lag:
        text += f"（收到到写入收件箱 p95 {lag[int(0.95 * (len(lag) - 1))]:.0f} ms）"
    if counts is not None and counts.backlog:
        text += f"；还有 {counts.backlog:,} 条没处理完，留在收件箱，下次启动时接着处理"
    if counts is not None and counts.parked:
        text += (
            f"；收件箱里共有 {counts.parked:,} 条搁置的消息"
            "（siyu bot --status 查看，--requeue 重试）"
        )
    return text


def _line(text: str) -> None:
    err.print(text, markup=False, highlight=False, soft_wrap=True)


def show_account_event(event: AccountEvent) -> None:
    """The QR code to scan, drawn in the terminal. What happened is the channel's own log
    line (``[林晓（ins_lin）] 等待扫码登录…``, bot.cli.logs.show_channel_lines), printed just
    before."""
    if event.qr_code:
        sys.stderr.write(qr_text(event.qr_code))
        sys.stderr.flush()


def qr_text(data: str) -> str:
    """``data`` as a QR code drawn with block characters (for a terminal)."""
    import qrcode

    code = qrcode.QRCode(border=1)
    code.add_data(data)
    code.make(fit=True)
    buffer = io.StringIO()
    code.print_ascii(out=buffer, invert=True)
    return buffer.getvalue()


# --------------------------------------------------------------------------- check
def _check(settings: Settings) -> None:
    from bot.channels.wechaty import check_connection

    if settings.wechaty.welcome_script_id:  # only then is the library needed
        from bot.channels.wechaty_run import check_welcome_script
        from bot.pipeline.runtime import open_runtime

        runtime = open_runtime(settings)
        try:
            problems = check_welcome_script(runtime)
        finally:
            runtime.close()
        if problems:
            raise ConfigError("；".join(problems))
    accounts = settings.wechaty.account_configs()
    failed: list[str] = []
    for account in accounts:
        try:
            report = asyncio.run(check_connection(account, settings.wechaty))
        except ChannelError as exc:
            if len(accounts) == 1:
                raise
            failed.append(account.key)
            err.print(
                f"失败：{account_phrase(account.key)}：{exc}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )
            continue
        version = f"（版本 {report.version}）" if report.version else ""
        name = account_phrase(report.account)
        out.print(
            f"ok：{name}的 puppet service {report.endpoint} 已应答{version}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    if failed:
        raise ChannelError(f"{len(failed)} 个账号连不上：{'、'.join(failed)}")


# --------------------------------------------------------------------------- status
def _status(ctx: typer.Context, settings: Settings, *, as_json: bool) -> None:
    from bot.services.channel_status import parked_messages, read_status

    actor = principal(ctx)
    with database(ctx) as (db, _settings), db.session() as session:
        accounts = read_status(session, actor, settings=settings.wechaty)
        parked = parked_messages(session, actor, settings=settings.wechaty, limit=PARKED_SHOWN)
    if as_json:
        data = {
            "accounts": [_account_json(a) for a in accounts],
            "parked": [_json_ready(p) for p in parked],
        }
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    tz = settings.zone
    table = Table(title="微信账号")
    for column in ("账号", "状态", "微信", "登录时间", "最后消息", "积压", "搁置", "说明"):
        table.add_column(column)
    for a in accounts:
        who = f"{a.user_name}（{a.user_id}）" if a.user_name else (a.user_id or "")
        note = a.banner or a.error or ""
        table.add_row(
            a.shown,
            a.label,
            who,
            _when(a.logged_in_at, tz),
            _when(a.last_message_at, tz),
            str(a.backlog),
            str(a.parked),
            note,
        )
    show(table, empty=None)  # the configured accounts, at least the default one
    if not parked:
        return
    table = Table(title=f"搁置的消息（最早的 {len(parked)} 条；siyu bot --requeue ID 重试）")
    for column in ("ID", "账号", "类型", "客户", "内容", "环节", "次数", "错误"):
        table.add_column(column)
    for p in parked:
        from bot.services.channel_status import KIND_LABELS, STAGE_LABELS

        table.add_row(
            str(p.id),
            p.account_shown,
            KIND_LABELS.get(p.kind, p.kind),
            p.contact_name or p.contact_id or p.event_id,
            p.text[:40],
            STAGE_LABELS.get(p.stage or "", p.stage or ""),
            str(p.attempts),
            (p.error or "")[:80],
        )
    show(table, empty=None)  # shown only with parked messages


def _when(value: datetime | None, tz: ZoneInfo) -> str:
    return value.astimezone(tz).strftime("%m-%d %H:%M:%S") if value else ""


def _account_json(status: Any) -> dict[str, Any]:
    data = _json_ready(status)
    data["label"] = status.label
    return data


def _json_ready(record: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in asdict(record).items()}


def _parked_ids(option: str, value: str, *, everything: bool) -> list[int] | None:
    """The ids of ``--requeue`` / ``--discard`` (None: ``all``, where ``everything``)."""
    wanted = "搁置消息的 ID（逗号分隔）" + ("或 all" if everything else "")
    if everything and value.strip().lower() == "all":
        return None
    try:
        ids = [int(part) for part in value.replace("，", ",").split(",") if part.strip()]
    except ValueError as exc:
        raise InputError(f"{option} 需要{wanted}，而不是 {value!r}") from exc
    if not ids:
        raise InputError(f"{option} 需要{wanted}")
    return ids


def _discard(ctx: typer.Context, value: str) -> None:
    from bot.services.channel_status import discard

    ids = _parked_ids("--discard", value, everything=False) or []
    with database(ctx) as (db, settings), db.session() as session:
        count = discard(session, principal(ctx), ids=ids, settings=settings.wechaty)
    out.print(f"已丢弃 {count} 条搁置的消息，不再处理", markup=False, soft_wrap=True)


def _requeue(ctx: typer.Context, value: str) -> None:
    from bot.services.channel_status import requeue

    ids = _parked_ids("--requeue", value, everything=True)
    with database(ctx) as (db, settings), db.session() as session:
        count = requeue(session, principal(ctx), ids=ids, settings=settings.wechaty)
    out.print(
        f"已放回 {count} 条搁置的消息；运行中的 siyu bot 半分钟内会重试",
        markup=False,
        soft_wrap=True,
    )
