"""``siyu referrals``: who referred whom (老带新), chains, and the referral report."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.tree import Tree

from bot.cli.common import (
    NO_CUSTOMERS,
    OTHER_PERIOD,
    Actor,
    NowOpt,
    database,
    during,
    out,
    parse_day,
    parse_now,
    principal,
)
from bot.cli.tables import show

if TYPE_CHECKING:
    from bot.services.referrals import Referred

app = typer.Typer(help="转介绍（老带新）：介绍人、转介绍链、客户和成交金额占比。")


@app.command("set")
def referrals_set(
    ctx: typer.Context,
    customer: Annotated[int, typer.Argument(help="客户 ID。")],
    referrer: Annotated[
        str | None, typer.Argument(help="介绍人：客户 ID、任一身份或姓名（none 表示清除）。")
    ] = None,
    note: Annotated[str, typer.Option(help="原因（作为依据保存）。")] = "",
    actor: Actor = None,
) -> None:
    """设置（或清除）客户的介绍人。"""
    from bot.services import referrals

    with database(ctx) as (db, _), db.session() as session:
        found = referrals.set_referrer(
            session, principal(ctx, actor), customer_id=customer, referrer=referrer, note=note
        )
    out.print(f"客户 {customer} 的介绍人：{found if found is not None else '无'}")


@app.command("chain")
def referrals_chain(
    ctx: typer.Context,
    customer: Annotated[int, typer.Argument(help="客户 ID（见 siyu customers list）。")],
) -> None:
    """客户的转介绍链：谁介绍了他，他又介绍了谁。"""
    from bot.services import customers, referrals

    with database(ctx) as (db, _), db.session() as session:
        who = principal(ctx)
        found = referrals.chain(session, who, customer)
        me = customers.profile(session, who, customer, timeline_limit=0).customer
    if found.up:
        path = " ← ".join(f"{p.name or '-'} #{p.id}" if p.id else p.name for p in found.up)
        out.print(f"介绍人链：{me.name or '-'} #{me.id} ← {path}")
    else:
        out.print(f"{me.name or '-'} #{me.id} 没有介绍人")
    tree = Tree(f"{me.name or '-'} #{me.id} 介绍的客户")
    for node in found.down:
        _branch(tree, node)
    if not found.down:
        tree.add("（无）")
    out.print(tree)


def _branch(tree: Tree, node: Referred) -> None:
    label = f"{node.person.name or '-'} #{node.person.id}" if node.person.id else node.person.name
    child = tree.add(label + (f"（下线 {node.size} 人）" if node.size else ""))
    for c in node.children:
        _branch(child, c)


@app.command("report")
def referrals_report(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option(help="添加的起始日期（默认：全部）。")] = None,
    until: Annotated[str | None, typer.Option(help="截止日期，含当天（默认：今天）。")] = None,
    now: NowOpt = None,
) -> None:
    """经转介绍来的客户和成交金额占比，按顾问和介绍人统计。"""
    from bot.services import advisers, referrals

    with database(ctx) as (db, settings), db.session() as session:
        today = settings.today(parse_now(now, settings.timezone))
        first = parse_day(since, today, "--since") if since else None
        last = parse_day(until, today, "--until")
        report = referrals.report(
            session,
            principal(ctx),
            since=first,
            until=last + timedelta(days=1),
            timezone=settings.timezone,
        )
        names = advisers.names(session, principal(ctx))  # names, not ids
    period = f"{first or '开始'} – {last}"
    table = Table(
        "顾问",
        "客户",
        "转介绍",
        "占比",
        "成交金额",
        "转介绍成交金额",
        "成交金额占比",
        title=f"转介绍 {period}",
    )
    for s in (*report.advisers, report.total):
        table.add_row(
            names.get(s.adviser_id, s.adviser_id),
            str(s.customers),
            str(s.referred),
            f"{s.customer_share:.0%}",
            f"{s.revenue:,.2f}",
            f"{s.referred_revenue:,.2f}",
            f"{s.revenue_share:.0%}",
            style="bold" if s is report.total else None,
        )
    empty = (
        f"{during(first, last)} 没有新客户（{OTHER_PERIOD}）" if since or until else NO_CUSTOMERS
    )
    nobody = report.total.customers == 0
    show(table, empty=empty, zero=nobody)  # the last row is the total
    if nobody:
        return  # and so no referrer either
    referrers = Table(
        "介绍人", "顾问", "直接介绍", "整条链", "直接成交金额", "整条链成交金额", title="介绍人"
    )
    for r in report.referrers:
        referrers.add_row(
            f"{r.name or '-'} #{r.referrer_id}",
            names.get(r.adviser_id, r.adviser_id) if r.adviser_id else "-",
            str(r.direct),
            str(r.chain),
            f"{r.direct_revenue:,.2f}",
            f"{r.chain_revenue:,.2f}",
        )
    show(
        referrers,
        empty=f"{during(first, last)} 没有经转介绍来的客户。"
        "登记介绍人：siyu referrals set 客户ID 介绍人",
    )
