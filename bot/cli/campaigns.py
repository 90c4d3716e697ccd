"""``siyu campaigns``: campaigns, per-adviser entry codes and targets, attribution, the
unattributed contacts and the campaign report."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from bot.cli.common import (
    OTHER_PERIOD,
    Actor,
    NowOpt,
    adviser_names,
    database,
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
from bot.labels import ATTRIBUTION_METHOD_LABELS, money

if TYPE_CHECKING:
    from bot.services.campaigns import MemberRow, ReportRow
    from bot.store.campaigns import CodeRecord

app = typer.Typer(help="活动：每位顾问的渠道码、归因、ROI 报表。")

METHOD_LABELS = ATTRIBUTION_METHOD_LABELS
#: The command that makes a campaign (in the sentences of empty lists).
NEW_CAMPAIGN = "siyu campaigns add 活动名称 --channel 渠道 --start 开始日期"


def _target(done: float, target: float | None, amount: bool = False) -> str:
    """``done`` against ``target``: 「2/10 (20%)」; amounts 「5,200.00 /8,000.00 (65%)」
    (the spaces let a narrow table wrap them whole)."""
    shown = money(done) if amount else _count(done)
    if target is None:
        return shown
    goal = money(target) if amount else _count(target)
    share = f" ({done / target:.0%})" if target else ""
    return f"{shown} /{goal}{share}" if amount else f"{shown}/{goal}{share}"


def _count(value: float) -> str:
    """A count as people write it: 1,000,000 (``:g`` would print 1e+06)."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,}"


@app.command("add")
def campaigns_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="活动名称（不能重复）。")],
    channel: Annotated[str, typer.Option(help="渠道：直播、门店扫码、信息流、转介绍 …")],
    start: Annotated[str, typer.Option(help="开始日期，如 2026-11-01。")],
    end: Annotated[str | None, typer.Option(help="结束日期（默认：不设）。")] = None,
    cost: Annotated[float, typer.Option(help="成本（元）。")] = 0.0,
    segment: Annotated[str | None, typer.Option(help="目标分群（已保存的分群）。")] = None,
    welcome: Annotated[str | None, typer.Option(help="新客户先收到的欢迎语话术 ID。")] = None,
    note: Annotated[str, typer.Option(help="备注。")] = "",
    adviser: Annotated[
        list[str] | None,
        typer.Option("--adviser", help="要发渠道码的顾问 ID（默认：全部；可重复）。"),
    ] = None,
    code: Annotated[
        list[str] | None,
        typer.Option("--code", help="顾问=渠道码，手动指定渠道码（可重复）。"),
    ] = None,
    actor: Actor = None,
) -> None:
    """新建活动；每位顾问（或指定的顾问）各得一个渠道码。"""
    from bot.services import campaigns
    from bot.store.campaigns import CampaignSpec

    chosen: dict[str, str] = {}
    for item in code or []:
        adviser_id, sep, value = item.partition("=")
        if not sep or not adviser_id.strip() or not value.strip():
            raise InputError(f"--code 的格式是 顾问=渠道码，不是 {item!r}")
        chosen[adviser_id.strip()] = value.strip()
    with database(ctx) as (db, settings), db.session() as session:
        first = parse_day(start, parse_now(None, settings.timezone).date(), "--start")
        spec = CampaignSpec(
            name=name.strip(),
            channel=channel.strip(),
            starts_on=first,
            ends_on=parse_day(end, first, "--end") if end else None,
            cost=cost,
            segment=segment,
            welcome_script_id=welcome,
            note=note,
        )
        record, codes = campaigns.create(
            session,
            principal(ctx, actor),
            spec=spec,
            settings=settings,
            advisers=adviser or [],
            codes=chosen,
        )
    out.print(f"活动 #{record.id} {record.name}（{record.channel}）已创建")
    _print_codes(codes, record.id)


def _print_codes(codes: list[CodeRecord], campaign_id: int) -> None:
    table = Table("顾问", "渠道码", "目标新增", "目标成交", "目标成交金额")
    for c in codes:
        table.add_row(
            # as the bot's lines name an account: 「林晓（ins_lin）」, the id alone without a name
            f"{c.adviser_name}（{c.adviser_id}）"
            if c.adviser_name and c.adviser_name != c.adviser_id
            else c.adviser_id,
            c.code,
            "-" if c.target_added is None else str(c.target_added),
            "-" if c.target_converted is None else str(c.target_converted),
            money(c.target_revenue),
        )
    show(
        table,
        empty=f"活动 #{campaign_id} 还没有渠道码。"
        f"给顾问发一个：siyu campaigns code {campaign_id} --adviser 顾问ID"
        "（顾问见 siyu advisers list）",
    )
    if codes:
        out.print(styled("[dim]客户在好友申请的验证语里写上渠道码，就会归到这个活动和顾问。[/dim]"))


@app.command("list")
def campaigns_list(ctx: typer.Context) -> None:
    """列出活动，最新的在前。"""
    from bot.services import campaigns

    with database(ctx) as (db, _), db.session() as session:
        rows = campaigns.list_campaigns(session, principal(ctx))
        titles = campaigns.welcome_titles(session, rows)
    table = Table("编号", "活动", "渠道", "开始", "结束", "成本", "目标人群", "欢迎语")
    for c in rows:
        table.add_row(
            str(c.id),
            c.name,
            c.channel,
            c.starts_on.isoformat(),
            c.ends_on.isoformat() if c.ends_on else "-",
            money(c.cost),
            c.segment or "-",
            titles.get(c.welcome_script_id, c.welcome_script_id) if c.welcome_script_id else "-",
        )
    show(table, empty=f"还没有活动。新建：{NEW_CAMPAIGN}")


@app.command("show")
def campaigns_show(
    ctx: typer.Context, campaign: Annotated[str, typer.Argument(help="名称或 ID。")]
) -> None:
    """一个活动及各顾问的渠道码和目标。"""
    from bot.services import campaigns

    with database(ctx) as (db, _), db.session() as session:
        record, codes = campaigns.show(session, principal(ctx), campaign=campaign)
        titles = campaigns.welcome_titles(session, [record])
    end = record.ends_on.isoformat() if record.ends_on else "不限"
    out.print(
        styled(
            "[bold]#{} {}[/bold] · {} · {} – {} · 成本 {}",
            record.id,
            record.name,
            record.channel,
            record.starts_on.isoformat(),
            end,
            money(record.cost),
        )
    )
    if record.segment:
        out.print(f"目标人群：{record.segment}")
    if record.welcome_script_id:
        title = titles.get(record.welcome_script_id)
        shown = f"{title}（{record.welcome_script_id}）" if title else record.welcome_script_id
        out.print(f"欢迎语话术：{shown}")
    if record.note:
        out.print(f"备注：{record.note}")
    _print_codes(codes, record.id)


@app.command("code")
def campaigns_code(
    ctx: typer.Context,
    campaign: Annotated[str, typer.Argument(help="名称或 ID。")],
    adviser: Annotated[str, typer.Option(help="顾问 ID。")],
    code: Annotated[str | None, typer.Option(help="渠道码（默认：自动生成）。")] = None,
    actor: Actor = None,
) -> None:
    """给活动再加一位顾问的渠道码。"""
    from bot.services import campaigns

    with database(ctx) as (db, settings), db.session() as session:
        record = campaigns.add_code(
            session,
            principal(ctx, actor),
            campaign=campaign,
            adviser_id=adviser,
            code=code,
            settings=settings,
        )
    out.print(f"{record.adviser_name} 在「{record.campaign}」的渠道码：{record.code}")


@app.command("target")
def campaigns_target(
    ctx: typer.Context,
    campaign: Annotated[str, typer.Argument(help="名称或 ID。")],
    adviser: Annotated[str, typer.Option(help="顾问 ID。")],
    added: Annotated[int | None, typer.Option(help="目标：新增客户数。")] = None,
    converted: Annotated[int | None, typer.Option(help="目标：成交客户数。")] = None,
    revenue: Annotated[float | None, typer.Option(help="目标：成交金额（元）。")] = None,
    actor: Actor = None,
) -> None:
    """设置顾问在活动中的目标；没给的选项会被清空。"""
    from bot.services import campaigns

    with database(ctx) as (db, _), db.session() as session:
        record = campaigns.set_targets(
            session,
            principal(ctx, actor),
            campaign=campaign,
            adviser_id=adviser,
            added=added,
            converted=converted,
            revenue=revenue,
        )
    out.print(
        f"{record.adviser_name} 在「{record.campaign}」的目标：新增 {record.target_added or '-'}"
        f" · 成交 {record.target_converted or '-'} · 成交金额 {money(record.target_revenue)}"
    )


@app.command("attribute")
def campaigns_attribute(
    ctx: typer.Context,
    customer: Annotated[int, typer.Argument(help="客户 ID。")],
    code: Annotated[str | None, typer.Option(help="渠道码。")] = None,
    campaign: Annotated[str | None, typer.Option(help="或者：一个活动（名称或 ID）…")] = None,
    adviser: Annotated[
        str | None, typer.Option(help="… 以及用谁的渠道码（默认：客户的顾问）。")
    ] = None,
    note: Annotated[str, typer.Option(help="原因（作为依据保存）。")] = "",
    actor: Actor = None,
) -> None:
    """手动把客户归到某个活动、渠道和顾问。"""
    from bot.services import campaigns

    with database(ctx) as (db, _), db.session() as session:
        record = campaigns.attribute(
            session,
            principal(ctx, actor),
            customer_id=customer,
            code=code,
            campaign=campaign,
            adviser_id=adviser,
            note=note,
        )
    c = record.code
    out.print(f"客户 {customer} → 「{c.campaign}」· {c.channel} · {c.adviser_name}（{c.code}）")


@app.command("unattributed")
def campaigns_unattributed(
    ctx: typer.Context,
    days: Annotated[
        int | None, typer.Option(help="最近 N 天内新增的（默认：配置里的天数）。")
    ] = None,
) -> None:
    """没有渠道码的新客户，待补归属（`siyu campaigns attribute`）。"""
    from bot.services import campaigns

    with database(ctx) as (db, settings), db.session() as session:
        who = principal(ctx)
        rows = campaigns.unattributed(session, who, settings=settings, days=days)
        names = adviser_names(session, who)  # the advisers as colleagues know them
    span = days if days is not None else settings.campaigns.unattributed_days
    tz = settings.zone
    table = Table("编号", "客户", "顾问", "来源", "添加时间", title=f"未归因的新客户：{len(rows)}")
    for c in rows:
        table.add_row(
            str(c.id),
            c.name or "-",
            names.get(c.adviser_id, c.adviser_id) if c.adviser_id else "-",
            c.source or "-",
            c.created_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
        )
    show(table, empty=f"最近 {span} 天没有未归因的新客户（看更长时间：--days 天数）")
    if rows:
        out.print(styled("[dim]修正：siyu campaigns attribute 客户ID --code 渠道码[/dim]"))


@app.command("report")
def campaigns_report(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option(help="客户添加的起始日期（默认：全部）。")] = None,
    until: Annotated[str | None, typer.Option(help="截止日期，含当天（默认：今天）。")] = None,
    by: Annotated[str, typer.Option(help="adviser（活动 × 渠道 × 顾问）或 channel（按渠道）。")] = (
        "adviser"
    ),
    campaign: Annotated[str | None, typer.Option(help="只看这个活动（名称或 ID）。")] = None,
    customers: Annotated[
        bool, typer.Option("--customers", help="与 --campaign 一起用：列出其客户。")
    ] = False,
    adviser: Annotated[
        str | None, typer.Option(help="与 --customers 一起用：只看这位顾问的。")
    ] = None,
    csv_path: Annotated[Path | None, typer.Option("--csv", help="同时写出 CSV 文件。")] = None,
    png_path: Annotated[Path | None, typer.Option("--png", help="同时画一张 PNG 图。")] = None,
    now: NowOpt = None,
) -> None:
    """新增、裂变、互动、成交、成交金额、成本、ROI 和目标。"""
    from bot.services import campaigns

    if by not in ("adviser", "channel"):
        raise InputError("--by 只能是 adviser 或 channel")
    if customers and not campaign:
        raise InputError("--customers 需要 --campaign")
    with database(ctx) as (db, settings), db.session() as session:
        today = settings.today(parse_now(now, settings.timezone))
        first = parse_day(since, today, "--since") if since else None
        last = parse_day(until, today, "--until")
        if customers and campaign:
            members = campaigns.report_customers(
                session,
                principal(ctx),
                campaign=campaign,
                adviser_id=adviser,
                since=first,
                until=last + timedelta(days=1),
                timezone=settings.timezone,
            )
            name = campaigns.show(session, principal(ctx), campaign=campaign)[0].name
            _print_members(members, name, settings.timezone, during(first, last), adviser)
            return
        rows = campaigns.report(
            session,
            principal(ctx),
            since=first,
            until=last + timedelta(days=1),
            timezone=settings.timezone,
            by="channel" if by == "channel" else "adviser",
            campaign=campaign,
        )
        when = during(first, last)
        if len(rows) > 1:  # campaigns, then the total
            empty = (
                f"{when} 没有经渠道码添加的客户（没写渠道码的新客户：siyu campaigns unattributed）"
            )
        elif campaign or campaigns.list_campaigns(session, principal(ctx)):
            empty = (
                f"{when} 没有进行中且发了渠道码的活动"
                f"（全部活动：siyu campaigns list；{OTHER_PERIOD}）"
            )
        else:
            empty = f"还没有活动。新建：{NEW_CAMPAIGN}"
    period = f"{first or '开始'} – {last}"
    _print_report(rows, by, period, empty=empty)
    if csv_path:
        campaigns.write_csv(rows, csv_path)
        err.print(f"CSV 已写入 {csv_path}")
    if png_path:
        campaigns.write_png(rows, png_path, title=f"活动效果 {period}")
        err.print(f"PNG 已写入 {png_path}")


def _print_report(rows: list[ReportRow], by: str, period: str, *, empty: str) -> None:
    columns = ["渠道"] if by == "channel" else ["活动", "渠道", "顾问"]
    table = Table(
        *columns,
        "新增(目标)",
        "裂变",
        "互动",
        "成交(目标)",
        "成交金额(目标)",
        "成本",
        "ROI",
        title=f"活动效果 {period}",
    )
    for r in rows:
        head = (
            [r.channel or r.campaign]
            if by == "channel"
            else [r.campaign, r.channel, r.adviser_name]
        )
        style = "bold" if r.total else None
        table.add_row(
            *head,
            _target(r.added, r.target_added),
            str(r.referred),
            str(r.engaged),
            _target(r.converted, r.target_converted),
            _target(r.revenue, r.target_revenue, amount=True),
            money(r.cost),
            "-" if r.roi is None else f"{r.roi:.2f}",
            style=style,
        )
    show(table, empty=empty, zero=rows[-1].added == 0)  # the last row is the total
    out.print(styled("[dim]ROI = 成交金额 ÷ 成本；活动成本按各顾问新增客户数分摊。[/dim]"))


def _print_members(
    members: list[MemberRow], campaign: str, timezone: str, when: str, adviser: str | None
) -> None:
    tz = ZoneInfo(timezone)
    labels = {"new": "新增", "engaged": "互动", "converted": "成交"}
    table = Table(
        "编号",
        "客户",
        "添加时间",
        "阶段",
        "裂变",
        "成交金额",
        title=f"「{campaign}」的客户：{len(members)}",
    )
    for m in members:
        table.add_row(
            str(m.customer_id),
            m.name or "-",
            m.added_at.astimezone(tz).strftime("%Y-%m-%d"),
            labels.get(m.stage, m.stage),
            str(m.referred),
            money(m.revenue),
        )
    whose = f"顾问 {adviser} 的渠道码 " if adviser else ""
    show(table, empty=f"「{campaign}」{whose}{when} 没有带来客户（{OTHER_PERIOD}）")
