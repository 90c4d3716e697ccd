"""``siyu actions``: next-best-action rules — check a rules file, see a customer's cards."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from bot.cli.common import database, out, principal, runtime, styled
from bot.cli.tables import show

app = typer.Typer(help="下一步建议的规则。")


@app.command("check")
def actions_check(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="规则 YAML 文件（格式见 README）。")],
) -> None:
    """检查规则文件（筛选条件与已声明的画像字段是否一致）；有错误时退出码为 1。"""
    from bot.services import next_actions

    with database(ctx) as (db, _), db.session() as session:
        rules = next_actions.check_rules(session, principal(ctx), path=path)
    table = Table("规则", "条件", "产品", "话术", "优先级")
    for r in rules:
        table.add_row(r.id, " ∧ ".join(r.when), r.product or "-", r.script or "-", str(r.priority))
    show(table, empty=f"{path} 里没有规则（格式见 README）")
    if rules:
        out.print(f"{len(rules)} 条规则，没有问题")


@app.command("show")
def actions_show(
    ctx: typer.Context,
    customer: Annotated[int, typer.Argument(help="客户 ID（见 siyu customers list）。")],
) -> None:
    """此刻适用于某位客户的下一步建议卡片。"""
    from bot.services import next_actions

    with runtime(ctx) as rt:
        found = next_actions.for_customer(rt, principal(ctx), customer)
        configured = bool(rt.settings.next_actions.rules_file)
    if not found:  # without rules, say so: not that none of them applies
        out.print(
            "没有适用的下一步建议"
            if configured
            else "还没有下一步建议规则：在配置文件的 [next_actions] rules_file 写上规则文件"
            "（先用 siyu actions check 文件 检查）"
        )
        return
    for a in found:
        what = a.product or (f"发「{a.script_title}」" if a.script_title else "")
        out.print(styled("[bold]{}[/bold]  [dim]({})[/dim]", what, a.rule))
        out.print(f"  理由：{a.reason}")
        if a.script_text:
            out.print(f"  话术：{a.script_text}")
