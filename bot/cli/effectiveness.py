"""CLI for script effectiveness (issue #5), registered by bot.cli: ``siyu report scripts``.

Database only (no embedding model, no vector store); heavy modules load inside commands.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table

from bot.cli.crm import NowOpt, _day, _db, _now
from bot.errors import InputError

out = Console()
err = Console(stderr=True)


events_app = typer.Typer(help="Conversion events: purchases, conversions, stage changes.")


def register_effectiveness_commands(*, report_app: typer.Typer, scripts_app: typer.Typer) -> None:
    report_app.command("scripts")(report_scripts)
    report_app.command("attribution")(report_attribution)
    scripts_app.command("mine-edits")(scripts_mine_edits)


def scripts_mine_edits(
    ctx: typer.Context,
    min_count: Annotated[int, typer.Option(help="Smallest group of similar messages.")] = 3,
    similarity: Annotated[
        float, typer.Option(help="Texts at least this similar (0-1) are grouped.")
    ] = 0.8,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only show the drafts.")] = False,
) -> None:
    """Propose script drafts (status draft, never approved) from frequent adviser edits
    and frequent adviser messages that matched no script."""
    from bot.learning.mining import mine_edits

    if min_count < 1 or not 0 < similarity <= 1:
        raise InputError("--min-count must be >= 1 and --similarity within (0, 1]")
    with _db(ctx) as (db, _settings):
        proposals = mine_edits(db=db, min_count=min_count, similarity=similarity, save=not dry_run)
    table = Table(
        "草稿 draft", "来源 source", "次数 n", "正文 body", title="话术草稿 proposed drafts"
    )
    for p in proposals:
        source = f"改写 {p.based_on}" if p.based_on else "未匹配 unmatched"
        table.add_row(p.record.id, source, str(p.count), p.record.body)
    out.print(table)
    verb = "将新增" if dry_run else "已新增"
    out.print(f"{verb} {len(proposals)} 条草稿 (status draft)；审核后才会被推荐")


@events_app.command("add")
def events_add(
    ctx: typer.Context,
    customer: Annotated[
        str, typer.Option(help="Customer id or an identity value (phone, WeChat id …).")
    ],
    type: Annotated[
        str, typer.Option("--type", help="purchase, converted or stage_changed.")
    ] = "purchase",
    amount: Annotated[float | None, typer.Option(help="Order amount (adds an order).")] = None,
    time: Annotated[
        str | None, typer.Option("--time", help="When (date or ISO date-time; default now).")
    ] = None,
    product: Annotated[str, typer.Option(help="What was bought.")] = "",
    order_id: Annotated[str | None, typer.Option(help="Order number (idempotent).")] = None,
    stage: Annotated[str | None, typer.Option(help="New stage, for stage_changed.")] = None,
) -> None:
    """Record a conversion event (attributed to the scripts used before it)."""
    from bot.store import conversions as conv_repo

    with _db(ctx) as (db, settings), db.session() as session:
        cid = conv_repo.resolve_customer(session=session, ref=customer)
        record = conv_repo.add_conversion(
            session=session,
            customer_id=cid,
            type=type,
            occurred_at=_now(time, settings.timezone),
            amount=amount,
            product=product,
            order_id=order_id,
            stage=stage,
        )
    if record is None:
        out.print(f"订单 {order_id} 已存在，跳过 (order already recorded)")
    else:
        out.print(f"事件 event {record.event_id}: {record.type} · 客户 {cid}")


@events_app.command("import-orders")
def events_import_orders(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="CSV/XLSX: customer,amount,time,order_id,product")],
) -> None:
    """Import orders (all-or-nothing; order ids already stored are skipped)."""
    from bot.crm.conversions import import_orders

    with _db(ctx) as (db, settings), db.session() as session:
        stats = import_orders(session=session, path=path, timezone=settings.timezone)
    out.print(f"订单 +{stats.added} · 跳过 {stats.skipped}")


def report_attribution(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option(help="First day of conversions.")] = None,
    now: NowOpt = None,
) -> None:
    """Conversions attributed to the scripts used before them (last touch and
    position-weighted), over ``ranking.conversion_window_days``."""
    from bot.crm.followups import start_of_day
    from bot.learning.attribution import attribute_all

    with _db(ctx) as (db, settings):
        tz = ZoneInfo(settings.timezone)
        today = _now(now, settings.timezone).astimezone(tz).date()
        start = start_of_day(_day(since, today, "--since"), tz) if since else None
        result = attribute_all(
            db=db, window=timedelta(days=settings.ranking.conversion_window_days), since=start
        )
    table = Table(
        "话术 script",
        "末次触点 last touch",
        "位置加权 position",
        "收入 last-touch",
        "收入 position",
        "参与 touched",
        title=f"转化归因 attribution: {result.attributed}/{result.conversions} 转化有话术触点",
    )
    for c in result.credits:
        table.add_row(
            c.script_id,
            f"{c.last_touch:.2f}",
            f"{c.position:.2f}",
            f"{c.last_touch_revenue:,.2f}",
            f"{c.position_revenue:,.2f}",
            str(c.conversions_touched),
        )
    out.print(table)


def report_scripts(
    ctx: typer.Context,
    by: Annotated[
        str | None, typer.Option(help="Split by industry, stage or adviser (default: overall).")
    ] = None,
    since: Annotated[str | None, typer.Option(help="First day (default: all time).")] = None,
    min_suggested: Annotated[
        int, typer.Option(help="Only rows shown at least this many times.")
    ] = 0,
    csv_path: Annotated[Path | None, typer.Option("--csv", help="Also write a CSV.")] = None,
    png_path: Annotated[Path | None, typer.Option("--png", help="Also write a PNG chart.")] = None,
    now: NowOpt = None,
) -> None:
    """Per-script effectiveness: suggested, adopted, edited, reply and conversion rates
    with 95 % Wilson intervals and sample sizes; flags; A/B variant posteriors."""
    from bot.crm.followups import start_of_day
    from bot.learning import script_report as script_reports
    from bot.learning.effectiveness import GROUP_BYS

    if by is not None and by not in GROUP_BYS:
        raise InputError(f"--by must be one of {', '.join(GROUP_BYS)}")
    with _db(ctx) as (db, settings):
        tz = ZoneInfo(settings.timezone)
        today = _now(now, settings.timezone).astimezone(tz).date()
        start = start_of_day(_day(since, today, "--since"), tz) if since else None
        report = script_reports.build(
            db=db,
            settings=settings.ranking,
            by=by,
            since=start,
            reply_window=timedelta(hours=settings.outcomes.reply_window_hours),
        )
    rows = [r for r in report.rows if r.suggested >= min_suggested]
    table = Table(
        "话术 script",
        *(["分组 " + by] if by else []),
        "展示 shown",
        "采用 adopted",
        "修改 edited",
        "采用率 use rate",
        "回复率 reply rate",
        "转化率 conversion",
        "",
        title="话术效果 script effectiveness (95% Wilson)",
    )
    fr = script_reports.fmt_rate
    for s in rows:
        flags = ("✎ 常被修改 " if s.often_edited else "") + (
            "∅ 从未采用" if s.never_adopted else ""
        )
        table.add_row(
            f"{s.script_id}\n[dim]{s.title}[/dim]",
            *([s.segment] if by else []),
            str(s.suggested),
            str(s.adopted),
            str(s.edited),
            fr(s.adoption_rate, s.adoption_ci, s.suggested),
            fr(s.reply_rate, s.reply_ci, s.reply_n),
            fr(s.conversion_rate, s.conversion_ci, s.used),
            flags.strip(),
        )
    out.print(table)
    for s in report.often_edited:
        out.print(f"[bold]✎ {s.script_id}[/bold] 常被修改 ({s.edited}/{s.used})，常见改法：")
        for text, count in s.common_edits:
            out.print(f"    ×{count} {text}")
    if report.never_adopted:
        ids = ", ".join(s.script_id for s in report.never_adopted)
        out.print(f"[bold]∅ 从未采用[/bold] never adopted: {ids}")
    for g in report.variants:
        vt = Table(
            "变体 variant",
            "n",
            "回复率 mean",
            "95% 区间",
            "P(best)",
            title=f"A/B {g.group}: "
            + (f"胜出 winner {g.winner}" if g.winner else "尚无定论 no winner yet"),
        )
        for a in g.arms:
            vt.add_row(
                a.script_id,
                str(a.trials),
                f"{a.mean:.0%}",
                f"{a.low:.0%}–{a.high:.0%}",
                f"{a.p_best:.2f}",
            )
        out.print(vt)
    if csv_path:
        script_reports.write_csv(rows, csv_path)
        err.print(f"CSV written to {csv_path}")
    if png_path:
        script_reports.write_png(rows, png_path, title="Reply rate by script")
        err.print(f"PNG written to {png_path}")
