"""``siyu advisers``: advisers' personas (人设) and an adviser's own numbers."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from bot.cli.common import Actor, NowOpt, database, out, parse_now, principal, styled
from bot.cli.tables import show

app = typer.Typer(help="顾问：人设（称呼、签名、语气）和自己的数据。")


@app.command("list")
def advisers_list(ctx: typer.Context) -> None:
    """顾问及其人设。"""
    from bot.services import advisers

    with database(ctx) as (db, _), db.session() as session:
        rows = advisers.list_advisers(session, principal(ctx))
    table = Table("编号", "账号名", "人设名称", "团队", "签名", "语气")
    for a in rows:
        table.add_row(
            a.id, a.name or "-", a.persona_name or "-", a.team or "-", a.signature, a.tone
        )
    show(
        table,
        empty="还没有顾问。添加顾问的控制台账号：siyu users add 用户名 --role adviser"
        " --adviser-id 顾问ID（导入带顾问的客户、顾问的微信收到消息时也会添加）",
    )


@app.command("persona")
def advisers_persona(
    ctx: typer.Context,
    adviser: Annotated[str, typer.Argument(help="顾问 ID。")],
    name: Annotated[str | None, typer.Option(help="客户认识的称呼（{adviser_name}）。")] = None,
    signature: Annotated[str | None, typer.Option(help="欢迎语结尾的签名。")] = None,
    tone: Annotated[str | None, typer.Option(help="给大模型草稿的语气说明。")] = None,
    actor: Actor = None,
) -> None:
    """设置顾问的人设；没给的选项保持不变，给空文本则清除该项。"""
    from bot.services import advisers

    with database(ctx) as (db, _), db.session() as session:
        who = principal(ctx, actor)
        if name is None and signature is None and tone is None:
            record = advisers.persona_of(session, who, adviser)
        else:
            record = advisers.set_persona(
                session, who, adviser_id=adviser, name=name, signature=signature, tone=tone
            )
    if record.name and record.name != record.id:
        out.print(
            styled("[bold]{}[/bold]（{}，账号名 {}）", record.shown_name, record.id, record.name)
        )
    else:  # no channel account's own name: no empty 「账号名 」
        out.print(styled("[bold]{}[/bold]（{}）", record.shown_name, record.id))
    out.print(f"签名：{record.signature or '-'}")
    out.print(f"语气：{record.tone or '-'}")


@app.command("numbers")
def advisers_numbers(
    ctx: typer.Context,
    adviser: Annotated[str, typer.Argument(help="顾问 ID。")],
    now: NowOpt = None,
) -> None:
    """顾问自己的数据：侧边栏给他看的那些数字。"""
    from bot.services import advisers

    with database(ctx) as (db, settings), db.session() as session:
        who = principal(ctx)
        found = advisers.my_numbers(
            session,
            who,
            settings=settings,
            now=parse_now(now, settings.timezone),
            adviser_id=adviser,
        )
        name = advisers.names(session, who).get(found.adviser_id, found.adviser_id)
    table = Table("", "今日", found.period_label, title=f"{name} 的数据")
    for label, attr in (
        ("回复客户消息", "answered"),
        ("收到客户消息", "received"),
        ("建议", "suggestions"),
        ("采用建议", "used"),
        ("成交客户", "conversions"),
    ):
        table.add_row(label, str(getattr(found.today, attr)), str(getattr(found.period, attr)))
    table.add_row("采用率", f"{found.today.adoption_rate:.0%}", f"{found.period.adoption_rate:.0%}")
    table.add_row("成交金额", f"{found.today.revenue:,.2f}", f"{found.period.revenue:,.2f}")
    show(table, empty=None)  # fixed rows
    if found.targets:
        targets = Table(
            "活动", "渠道码", "新增/目标", "成交/目标", "成交金额/目标", title="活动目标"
        )
        for t in found.targets:
            targets.add_row(
                t.campaign,
                t.code,
                f"{t.added}/{t.target_added if t.target_added is not None else '-'}",
                f"{t.converted}/{t.target_converted if t.target_converted is not None else '-'}",
                f"{t.revenue:,.0f}/"
                + (f"{t.target_revenue:,.0f}" if t.target_revenue is not None else "-"),
            )
        show(targets, empty=None)  # shown only with a target
