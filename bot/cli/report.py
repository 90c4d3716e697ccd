"""``siyu report``: funnel, purchase quadrants, script effectiveness, attribution."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from bot.cli.common import (
    OTHER_PERIOD,
    NowOpt,
    adviser_names,
    database,
    day_start,
    during,
    err,
    out,
    parse_day,
    parse_now,
    principal,
    styled,
)
from bot.cli.tables import show
from bot.errors import InputError
from bot.labels import LIFECYCLE_LABELS, STAGE_LABELS, industry_label, label

if TYPE_CHECKING:
    from bot.services.reports import FunnelCustomer

app = typer.Typer(help="报表：漏斗、购买象限、话术效果、转化归因。")

#: How orders come in (the quadrants and the attribution count them).
RECORD_ORDERS = (
    "导入订单：siyu events import-orders 订单文件（或记一笔：siyu events add --customer 客户"
    " --amount 金额）"
)


@app.command("funnel")
def report_funnel(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option(help="起始日期（默认：30 天前）。")] = None,
    until: Annotated[str | None, typer.Option(help="截止日期，含当天（默认：今天）。")] = None,
    by: Annotated[str, typer.Option(help="adviser（按顾问）或 channel（按渠道）。")] = "adviser",
    csv_path: Annotated[Path | None, typer.Option("--csv", help="同时写出 CSV 文件。")] = None,
    png_path: Annotated[Path | None, typer.Option("--png", help="同时画一张 PNG 图。")] = None,
    now: NowOpt = None,
    adviser: Annotated[
        str | None, typer.Option("--adviser", help="下钻：这位顾问的客户群。")
    ] = None,
    customers: Annotated[
        bool, typer.Option("--customers", help="与 --adviser 一起用：列出客户及其阶段。")
    ] = False,
) -> None:
    """新增客户 → 互动 → 成交，各组的转化率和成交金额。"""
    from bot.services import reports

    if by not in ("adviser", "channel"):
        raise InputError("--by 只能是 adviser 或 channel")
    if customers and not adviser:
        raise InputError("--customers 需要 --adviser 顾问ID")
    if adviser and not customers:  # it was ignored: the whole team's funnel printed
        raise InputError("--adviser 要与 --customers 一起用：列出这位顾问的新增客户及其阶段")
    with database(ctx) as (db, settings), db.session() as session:
        today = settings.today(parse_now(now, settings.timezone))
        first = parse_day(since, today - timedelta(days=29), "--since")
        last = parse_day(until, today, "--until")
        if adviser and customers:
            from bot.services.advisers import advisers_as_known

            names = adviser_names(session, principal(ctx))  # 「王磊」 as well as wang
            adviser = advisers_as_known(session, {adviser})[0].get(adviser, adviser)
            members = reports.funnel_customers(
                session,
                principal(ctx),
                since=first,
                until=last + timedelta(days=1),
                adviser_id=adviser,
                timezone=settings.timezone,
            )
            if not members and adviser not in names:  # a typo is not 「没有新客户」
                if adviser in names.values():  # a name two advisers go by
                    raise InputError(
                        f"有几位顾问都叫“{adviser}”：请写顾问 ID（siyu advisers list）"
                    )
                known = "、".join(f"{n}（{i}）" if n != i else i for i, n in names.items())
                raise InputError(f"没有顾问“{adviser}”" + (f"；可选：{known}" if known else ""))
            _print_funnel_customers(members, names.get(adviser, adviser), first, last)
            return
        rows = reports.funnel(
            session,
            principal(ctx),
            since=first,
            until=last + timedelta(days=1),
            by="adviser" if by == "adviser" else "channel",
            timezone=settings.timezone,
        )
        if by == "adviser":  # names, not ids: in the table, the CSV and the chart
            from bot.services.advisers import shown

            names = adviser_names(session, principal(ctx))
            rows = [replace(r, group=shown(names, r.group)) for r in rows]
    table = Table(
        "顾问" if by == "adviser" else "渠道",
        "新增",
        "互动",
        "成交",
        "转化率",
        "成交金额",
        title=f"漏斗 {first} 至 {last}",
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
    # the last row is the total
    show(table, empty=f"{during(first, last)} 没有新客户（{OTHER_PERIOD}）", zero=rows[-1].new == 0)
    if csv_path:
        reports.write_funnel_csv(rows, csv_path)
        err.print(f"CSV 已写入 {csv_path}")
    if png_path:
        group = "顾问" if by == "adviser" else "渠道"
        reports.write_funnel_png(rows, png_path, title=f"按{group}的漏斗 {first} 至 {last}")
        err.print(f"PNG 已写入 {png_path}")


#: The column of ``report scripts --by``.
SCRIPT_GROUP_LABELS = {"industry": "行业", "stage": "阶段", "adviser": "顾问"}


def _segment(by: str, code: str, adviser_names: dict[str, str]) -> str:
    """A group of ``report scripts --by`` by its name."""
    if by == "industry":
        return industry_label(code)
    if by == "stage":
        return label(STAGE_LABELS, code)
    return adviser_names.get(code, code)


def _print_funnel_customers(
    members: list[FunnelCustomer], adviser: str, first: date, last: date
) -> None:
    table = Table(
        "编号",
        "客户",
        "阶段",
        "成交金额",
        title=f"漏斗 {adviser} {first} 至 {last}：{len(members)} 位客户",
    )
    for m in members:
        stage = label(LIFECYCLE_LABELS, m.stage)
        table.add_row(str(m.customer_id), m.name, stage, f"{m.revenue:,.2f}")
    show(table, empty=f"{adviser} {during(first, last)} 没有新客户（{OTHER_PERIOD}）")


@app.command("quadrants")
def report_quadrants(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option(help="订单的起始日期（默认：全部）。")] = None,
    until: Annotated[str | None, typer.Option(help="截止日期，含当天。")] = None,
    min_orders: Annotated[
        float | None, typer.Option(help="订单数达到多少算高频（默认：中位数）。")
    ] = None,
    min_ticket: Annotated[
        float | None, typer.Option(help="平均客单价达到多少算高（默认：中位数）。")
    ] = None,
) -> None:
    """把购买客户分成四个象限：购买频次 × 客单价。"""
    from bot.services import reports

    with database(ctx) as (db, settings), db.session() as session:
        tz = settings.timezone
        start = day_start(parse_day(since, date.min, "--since"), tz) if since else None
        end = (
            day_start(parse_day(until, date.max, "--until") + timedelta(days=1), tz)
            if until
            else None
        )
        report = reports.quadrants(
            session,
            principal(ctx),
            since=start,
            until=end,
            frequency_threshold=min_orders,
            ticket_threshold=min_ticket,
        )
    table = Table(
        "象限",
        "客户",
        "成交金额",
        title=f"高频 ≥ {report.frequency_threshold:g} 单 · 高客单 ≥ {report.ticket_threshold:,.2f}",
    )
    for q in report.quadrants:
        table.add_row(q.name, str(q.customers), f"{q.revenue:,.2f}")
    empty = (
        f"这段时间没有订单（{OTHER_PERIOD}）" if since or until else f"还没有订单。{RECORD_ORDERS}"
    )
    show(table, empty=empty, zero=not any(q.customers for q in report.quadrants))  # fixed rows


@app.command("scripts")
def report_scripts(
    ctx: typer.Context,
    by: Annotated[
        str | None,
        typer.Option(
            help=("按 industry（行业）、stage（阶段）或 adviser（顾问）分组（默认：不分组）。")
        ),
    ] = None,
    since: Annotated[str | None, typer.Option(help="起始日期（默认：全部）。")] = None,
    min_suggested: Annotated[int, typer.Option(help="只显示展示次数不少于此数的行。")] = 0,
    csv_path: Annotated[Path | None, typer.Option("--csv", help="同时写出 CSV 文件。")] = None,
    png_path: Annotated[Path | None, typer.Option("--png", help="同时画一张 PNG 图。")] = None,
    now: NowOpt = None,
) -> None:
    """每条话术的效果：建议、采用、修改、回复和转化率，附 95 % 置信区间（Wilson）
    和样本量；提示标记；A/B 变体的后验概率。"""
    from bot.services import reports

    if by is not None and by not in reports.SCRIPT_GROUP_BYS:
        raise InputError(f"--by 只能是 {', '.join(reports.SCRIPT_GROUP_BYS)} 之一")
    with database(ctx) as (db, settings):
        tz = settings.zone
        today = parse_now(now, settings.timezone).astimezone(tz).date()
        first = parse_day(since, today, "--since") if since else None
        start = day_start(first, settings.timezone) if first else None
        report = reports.script_effectiveness(
            db, principal(ctx), settings=settings, by=by, since=start
        )
        with db.session() as session:
            names = adviser_names(session, principal(ctx))
    rows = [r for r in report.rows if r.suggested >= min_suggested]
    table = Table(
        "话术",
        *([SCRIPT_GROUP_LABELS.get(by, by)] if by else []),
        "展示",
        "采用",
        "修改",
        "采用率",
        "回复率",
        "转化率",
        "提示",
        title="话术效果（95% 置信区间）",
    )
    fr = reports.fmt_rate
    for s in rows:
        flags = ("✎ 常被修改 " if s.often_edited else "") + (
            "∅ 从未采用" if s.never_adopted else ""
        )
        table.add_row(
            styled("{}\n[dim]{}[/dim]", s.script_id, s.title),
            *([_segment(by, s.segment, names)] if by else []),
            str(s.suggested),
            str(s.adopted),
            str(s.edited),
            fr(s.adoption_rate, s.adoption_ci, s.suggested),
            fr(s.reply_rate, s.reply_ci, s.reply_n),
            fr(s.conversion_rate, s.conversion_ci, s.conversion_n),
            flags.strip(),
        )
    if report.rows:
        empty = (
            f"没有展示次数不少于 {min_suggested} 的行"
            f"（共 {len(report.rows)} 行有数据：调低 --min-suggested）"
        )
    elif start is not None:
        empty = f"{first} 以来没有给顾问的建议（可用 --since 换个起始日期）"
    else:
        empty = "还没有话术效果数据：顾问在控制台、siyu chat 或 siyu bot 里收到建议后才有统计"
    show(table, empty=empty)
    for s in report.often_edited:
        out.print(
            styled("[bold]✎ {}[/bold] 常被修改 ({}/{})，常见改法：", s.script_id, s.edited, s.used)
        )
        for text, count in s.common_edits:
            out.print(f"    ×{count} {text}", highlight=False)
    if report.never_adopted:
        ids = ", ".join(s.script_id for s in report.never_adopted)
        out.print(styled("[bold]∅ 从未采用[/bold]：{}", ids))
    for g in report.variants:
        tried = any(a.trials for a in g.arms)
        verdict = f"胜出 {g.winner}" if g.winner else ("尚无定论" if tried else "还没有数据")
        vt = Table(
            "变体", "样本", "回复率", "95% 区间", "最优概率", title=f"A/B {g.group}：{verdict}"
        )
        for a in g.arms:
            # without a trial the figures are the prior's, a difference that is not there
            shown = (
                (f"{a.mean:.0%}", f"{a.low:.0%}–{a.high:.0%}", f"{a.p_best:.2f}")
                if a.trials
                else ("—", "—", "—")
            )
            vt.add_row(a.script_id, str(a.trials), *shown)
        show(vt, empty=None)  # a variant group has its variants
    if csv_path:
        reports.write_scripts_csv(rows, csv_path)
        err.print(f"CSV 已写入 {csv_path}")
    if png_path:
        reports.write_scripts_png(rows, png_path, title="各话术的回复率")
        err.print(f"PNG 已写入 {png_path}")


@app.command("attribution")
def report_attribution(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option(help="转化的起始日期。")] = None,
    now: NowOpt = None,
) -> None:
    """把转化归因到之前用过的话术（末次触点和位置加权），窗口为配置 ranking.conversion_window_days
    的天数。"""
    from bot.services import reports

    with database(ctx) as (db, settings):
        tz = settings.zone
        today = parse_now(now, settings.timezone).astimezone(tz).date()
        first = parse_day(since, today, "--since") if since else None
        start = day_start(first, settings.timezone) if first else None
        result = reports.attribution(db, principal(ctx), settings=settings, since=start)
        window = settings.ranking.conversion_window_days
    table = Table(
        "话术",
        "末次触点",
        "位置加权",
        "末次触点成交金额",
        "位置加权成交金额",
        "参与转化",
        title=f"转化归因：{result.attributed}/{result.conversions} 次转化有话术触点",
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
    if result.conversions:
        empty = f"{result.conversions} 次转化都没有话术触点：转化前 {window} 天内顾问没有采用过话术"
    elif start is not None:
        empty = f"{first} 以来没有转化（可用 --since 换个起始日期）"
    else:
        empty = f"还没有转化。{RECORD_ORDERS}"
    show(table, empty=empty)
