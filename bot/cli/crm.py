"""CLI commands for OneID, follow-ups, segments and reports (registered by bot.cli).

These need only the database, never the embedding model or the vector store, so they
open a ``Database`` instead of the whole runtime. Heavy modules load inside commands.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table

from bot.errors import InputError

if TYPE_CHECKING:
    from bot.crm import reports as reports_mod
    from bot.settings import Settings
    from bot.store import Database

followups_app = typer.Typer(help="Follow-up reminders (SOP rules): run the rules, list today's.")
segments_app = typer.Typer(help="Saved customer segments.")
report_app = typer.Typer(help="Reports: funnel, purchase quadrants.")

out = Console()
err = Console(stderr=True)

Actor = Annotated[str, typer.Option("--actor", help="Who does this (kept in the audit log).")]
NowOpt = Annotated[
    str | None,
    typer.Option("--now", help="Pretend it is this ISO date-time (default: now)."),
]


@contextmanager
def _db(ctx: typer.Context) -> Iterator[tuple[Database, Settings]]:
    from bot.store import Database

    settings: Settings = ctx.obj.settings()
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    db = Database.from_settings(settings)
    try:
        db.migrate()
        yield db, settings
    finally:
        db.dispose()


def _now(value: str | None, timezone: str) -> datetime:
    if not value:
        return datetime.now(UTC)
    from bot.crm.oneid import parse_datetime

    try:
        return parse_datetime(value, ZoneInfo(timezone))
    except ValueError as exc:
        raise InputError(f"--now {value!r} is not a date or ISO date-time") from exc


def _day(value: str | None, default: date, option: str) -> date:
    if not value:
        return default
    from bot.crm.oneid import parse_date

    try:
        return parse_date(value)
    except ValueError as exc:
        raise InputError(f"{option} {value!r} is not a date like 2026-01-31") from exc


# --------------------------------------------------------------------------- customers
def register_customer_commands(customers_app: typer.Typer) -> None:
    customers_app.command("import")(customers_import)
    customers_app.command("merge")(customers_merge)
    customers_app.command("unmerge")(customers_unmerge)
    customers_app.command("merges")(customers_merges)
    customers_app.command("merge-suggestions")(customers_merge_suggestions)
    customers_app.command("lifecycle")(customers_lifecycle)
    from bot.cli.erasure import customers_export, customers_forget

    customers_app.command("export")(customers_export)
    customers_app.command("forget")(customers_forget)


def customers_import(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="CSV or XLSX file (format in the README).")],
    actor: Actor = "cli",
) -> None:
    """Import customers and identities (all-or-nothing: one bad line and nothing is written)."""
    from bot.crm.oneid import import_customer_file

    with _db(ctx) as (db, settings), db.session() as session:
        stats = import_customer_file(
            session=session, path=path, actor=actor, timezone=settings.timezone
        )
    out.print(
        f"新建 {stats.created} · 更新 {stats.updated} · 身份 +{stats.identities_added}"
        f" · 标签 +{stats.tags_added}"
    )


def customers_merge(
    ctx: typer.Context,
    keep: Annotated[int, typer.Argument(help="Customer id to keep.")],
    merge: Annotated[int, typer.Argument(help="Customer id merged into it.")],
    actor: Actor = "cli",
    reason: Annotated[str, typer.Option(help="Why (kept in the audit log).")] = "",
) -> None:
    """Merge customer MERGE into KEEP (identities, messages, tags, events, orders …)."""
    from bot.crm import oneid

    with _db(ctx) as (db, _), db.session() as session:
        record = oneid.merge(session=session, keep=keep, merge=merge, actor=actor, reason=reason)
    moved = ", ".join(f"{k} {v}" for k, v in record.moved.items() if v)
    out.print(f"merge {record.id}: {merge} → {keep} ({moved or 'nothing to move'})")
    out.print(f"undo: siyu customers unmerge {record.id}")


def customers_unmerge(
    ctx: typer.Context,
    merge_id: Annotated[int, typer.Argument(help="Id printed by `customers merge`.")],
    actor: Actor = "cli",
) -> None:
    """Undo a merge: the moved rows go back, both profiles are as they were."""
    from bot.crm import oneid

    with _db(ctx) as (db, _), db.session() as session:
        record = oneid.unmerge(session=session, merge_id=merge_id, actor=actor)
    out.print(f"merge {record.id} undone: {record.merged_id} split from {record.kept_id}")


def customers_merges(
    ctx: typer.Context,
    customer: Annotated[int | None, typer.Option(help="Only merges of this customer.")] = None,
) -> None:
    """List merges (with the undone ones)."""
    from bot.store import merges

    with _db(ctx) as (db, settings), db.session() as session:
        rows = merges.list_merges(session=session, customer_id=customer)
    tz = ZoneInfo(settings.timezone)
    table = Table("id", "保留", "并入", "操作人", "时间", "撤销", "原因")
    for r in rows:
        when = r.created_at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
        undone = r.undone_at.astimezone(tz).strftime("%Y-%m-%d %H:%M") if r.undone_at else "-"
        table.add_row(str(r.id), str(r.kept_id), str(r.merged_id), r.actor, when, undone, r.reason)
    out.print(table)


def customers_merge_suggestions(ctx: typer.Context) -> None:
    """Profiles sharing a phone number or unionid (never merged automatically)."""
    from bot.crm.oneid import merge_suggestions

    with _db(ctx) as (db, _), db.session() as session:
        found = merge_suggestions(session=session)
    if not found:
        out.print("没有建议合并的客户 no merge suggestions")
        return
    table = Table("保留 keep", "并入 merge", "依据 evidence", "命令 command")
    for s in found:
        table.add_row(
            f"{s.keep_id} {s.keep_name}",
            f"{s.merge_id} {s.merge_name}",
            "; ".join(s.evidence),
            f"siyu customers merge {s.keep_id} {s.merge_id}",
        )
    out.print(table)


def customers_lifecycle(ctx: typer.Context, now: NowOpt = None) -> None:
    """Recompute every customer's lifecycle stage from messages, events and orders."""
    from bot.crm.reports import refresh_lifecycles

    with _db(ctx) as (db, settings), db.session() as session:
        counts = refresh_lifecycles(
            session=session,
            now=_now(now, settings.timezone),
            silent_after_days=settings.followups.silent_after_days,
        )
    out.print(" · ".join(f"{k} {v}" for k, v in counts.items()))


# --------------------------------------------------------------------------- followups
@followups_app.command("run")
def followups_run(
    ctx: typer.Context,
    rules: Annotated[
        Path | None, typer.Option(help="Rules YAML (default: followups.rules_file).")
    ] = None,
    now: NowOpt = None,
) -> None:
    """Fire the rules due today; safe to run as often as you like (once per occurrence)."""
    from bot.crm.followups import load_rules, run_rules

    with _db(ctx) as (db, settings):
        path = rules or (
            Path(settings.followups.rules_file) if settings.followups.rules_file else None
        )
        if path is None:
            raise InputError("no rules: set followups.rules_file in the config or pass --rules")
        parsed = load_rules(path)
        with db.session() as session:
            stats = run_rules(
                session=session,
                rules=parsed,
                now=_now(now, settings.timezone),
                timezone=settings.timezone,
                catch_up_days=settings.followups.catch_up_days,
            )
    out.print(
        f"提醒 {stats.reminders} · 标记沉默 {stats.marked_silent} · 已处理 {stats.already_done}"
    )


@followups_app.command("list")
def followups_list(
    ctx: typer.Context,
    adviser: Annotated[str | None, typer.Option(help="Only this adviser's reminders.")] = None,
    now: NowOpt = None,
) -> None:
    """Today's open reminders (and overdue ones) with the suggested script filled in."""
    from bot.crm.followups import due_reminders

    with _db(ctx) as (db, settings), db.session() as session:
        a = settings.assistant
        rows = due_reminders(
            session=session,
            now=_now(now, settings.timezone),
            timezone=settings.timezone,
            adviser_id=adviser,
            adviser_name=a.adviser_name,
            company=a.company,
            default_product=a.default_product,
        )
    tz = ZoneInfo(settings.timezone)
    if not rows:
        out.print("今天没有待办提醒 no reminders due")
        return
    for r in rows:
        f = r.follow_up
        day = f.due_at.astimezone(tz).strftime("%Y-%m-%d")
        out.print(
            f"[bold]#{f.id}[/] {day} · 客户 {f.customer_id} {f.customer_name}"
            f" · 顾问 {f.adviser_id or '-'} · {f.rule or ''}",
            highlight=False,
        )
        out.print(f"  {r.note}", highlight=False)
        if r.script:
            out.print(f"  话术 {f.script_id}: {r.script}", highlight=False)


# --------------------------------------------------------------------------- segments
@segments_app.command("add")
def segments_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument()],
    filters: Annotated[
        list[str],
        typer.Option("--filter", "-f", help="FIELD OP VALUE, e.g. tag=有孩子 (repeatable)."),
    ],
    description: Annotated[str, typer.Option()] = "",
    actor: Actor = "cli",
) -> None:
    """Save (or replace) a named segment; all its filters must hold."""
    from bot.crm import segments

    with _db(ctx) as (db, _), db.session() as session:
        segments.add_segment(
            session=session, name=name, filters=filters, description=description, actor=actor
        )
        n = segments.count(session=session, name=name)
    out.print(f"{name}: {n} customers")


@segments_app.command("count")
def segments_count(ctx: typer.Context, name: Annotated[str, typer.Argument()]) -> None:
    """How many customers a segment holds now."""
    from bot.crm import segments

    with _db(ctx) as (db, _), db.session() as session:
        out.print(str(segments.count(session=session, name=name)))


@segments_app.command("list")
def segments_list(ctx: typer.Context) -> None:
    """Saved segments with their filters and current size."""
    from bot.crm import segments
    from bot.store import segments as repo

    with _db(ctx) as (db, _), db.session() as session:
        rows = [
            (s, segments.count(session=session, name=s.name))
            for s in repo.list_segments(session=session)
        ]
    table = Table("名称", "条件", "人数", "说明")
    for s, n in rows:
        table.add_row(s.name, " ∧ ".join(s.filters), str(n), s.description)
    out.print(table)


# --------------------------------------------------------------------------- reports
@report_app.command("funnel")
def report_funnel(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option(help="First day (default: 30 days ago).")] = None,
    until: Annotated[str | None, typer.Option(help="Last day, inclusive (default: today).")] = None,
    by: Annotated[str, typer.Option(help="adviser or channel.")] = "adviser",
    csv_path: Annotated[Path | None, typer.Option("--csv", help="Also write a CSV.")] = None,
    png_path: Annotated[Path | None, typer.Option("--png", help="Also write a PNG chart.")] = None,
    now: NowOpt = None,
    adviser: Annotated[
        str | None, typer.Option("--adviser", help="Drill down: this adviser's cohort.")
    ] = None,
    customers: Annotated[
        bool, typer.Option("--customers", help="With --adviser: list the customers and stage.")
    ] = False,
) -> None:
    """New contacts → engaged → converted, conversion rate and revenue per group."""
    from bot.crm import reports

    if by not in ("adviser", "channel"):
        raise InputError("--by must be adviser or channel")
    if customers and not adviser:
        raise InputError("--customers needs --adviser ID")
    with _db(ctx) as (db, settings), db.session() as session:
        today = _now(now, settings.timezone).astimezone(ZoneInfo(settings.timezone)).date()
        first = _day(since, today - timedelta(days=29), "--since")
        last = _day(until, today, "--until")
        if adviser and customers:
            members = reports.funnel_customers(
                session=session,
                since=first,
                until=last + timedelta(days=1),
                adviser_id=adviser,
                timezone=settings.timezone,
            )
            _print_funnel_customers(members, adviser, first, last)
            return
        rows = reports.funnel(
            session=session,
            since=first,
            until=last + timedelta(days=1),
            by="adviser" if by == "adviser" else "channel",
            timezone=settings.timezone,
        )
    table = Table(
        "顾问 adviser" if by == "adviser" else "渠道 channel",
        "新增 new",
        "互动 engaged",
        "成交 converted",
        "转化率 rate",
        "收入 revenue",
        title=f"漏斗 funnel {first} – {last}",
    )
    for r in rows:
        table.add_row(
            r.group,
            str(r.new),
            str(r.engaged),
            str(r.converted),
            f"{r.rate:.1%}",
            f"{r.revenue:,.2f}",
        )
    out.print(table)
    if csv_path:
        reports.write_funnel_csv(rows, csv_path)
        err.print(f"CSV written to {csv_path}")
    if png_path:
        reports.write_funnel_png(rows, png_path, title=f"Funnel by {by}, {first} – {last}")
        err.print(f"PNG written to {png_path}")


def _print_funnel_customers(
    members: list[reports_mod.FunnelCustomer], adviser: str, first: date, last: date
) -> None:
    table = Table(
        "id",
        "客户 customer",
        "阶段 stage",
        "收入 revenue",
        title=f"漏斗 funnel {adviser} {first} – {last}: {len(members)} customers",
    )
    for m in members:
        table.add_row(str(m.customer_id), m.name, m.stage, f"{m.revenue:,.2f}")
    out.print(table)


@report_app.command("quadrants")
def report_quadrants(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option(help="First day of orders (default: all).")] = None,
    until: Annotated[str | None, typer.Option(help="Last day, inclusive.")] = None,
    min_orders: Annotated[
        float | None, typer.Option(help="High frequency from this many orders (default: median).")
    ] = None,
    min_ticket: Annotated[
        float | None, typer.Option(help="High ticket from this average (default: median).")
    ] = None,
) -> None:
    """Buyers in four quadrants: purchase frequency × average ticket size."""
    from bot.crm import reports
    from bot.crm.followups import start_of_day

    with _db(ctx) as (db, settings), db.session() as session:
        tz = ZoneInfo(settings.timezone)
        start = start_of_day(_day(since, date.min, "--since"), tz) if since else None
        end = (
            start_of_day(_day(until, date.max, "--until") + timedelta(days=1), tz)
            if until
            else None
        )
        report = reports.quadrants(
            session=session,
            since=start,
            until=end,
            frequency_threshold=min_orders,
            ticket_threshold=min_ticket,
        )
    table = Table(
        "象限 quadrant",
        "客户 customers",
        "收入 revenue",
        title=f"高频 ≥ {report.frequency_threshold:g} 单 · 高客单 ≥ {report.ticket_threshold:,.2f}",
    )
    for q in report.quadrants:
        table.add_row(q.name, str(q.customers), f"{q.revenue:,.2f}")
    out.print(table)
