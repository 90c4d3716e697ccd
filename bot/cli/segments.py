"""``siyu segments``: saved customer segments."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from bot.cli.common import (
    Actor,
    database,
    out,
    principal,
)
from bot.cli.tables import show

app = typer.Typer(help="已保存的客户分群。")


@app.command("add")
def segments_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="分群名称。")],
    filters: Annotated[
        list[str],
        typer.Option("--filter", "-f", help="字段 运算符 值，如 tag=有孩子（可重复）。"),
    ],
    description: Annotated[str, typer.Option(help="分群说明。")] = "",
    actor: Actor = None,
) -> None:
    """保存（或替换）一个命名分群；所有筛选条件都要满足。"""
    from bot.services import segments

    with database(ctx) as (db, _), db.session() as session:
        n = segments.save(
            session, principal(ctx, actor), name=name, filters=filters, description=description
        )
    out.print(f"{name}：{n} 位客户")


@app.command("delete")
def segments_delete(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="分群名称。")],
    actor: Actor = None,
) -> None:
    """删除一个已保存的分群（客户不受影响）。"""
    from bot.services import segments

    with database(ctx) as (db, _), db.session() as session:
        segments.delete(session, principal(ctx, actor), name=name)
    out.print(f"已删除分群：{name}")


@app.command("count")
def segments_count(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="分群名称。")]
) -> None:
    """分群当前有多少客户。"""
    from bot.services import segments

    with database(ctx) as (db, _), db.session() as session:
        out.print(str(segments.size(session, principal(ctx), name=name)))


@app.command("list")
def segments_list(ctx: typer.Context) -> None:
    """已保存的分群，及其筛选条件和当前人数。"""
    from bot.services import segments

    with database(ctx) as (db, _), db.session() as session:
        rows = segments.list_segments(session, principal(ctx))
    table = Table("名称", "条件", "人数", "说明")
    for s, n in rows:
        table.add_row(s.name, " ∧ ".join(s.filters), str(n), s.description)
    show(table, empty="还没有保存的分群。保存：siyu segments add 分群名称 --filter tag=有孩子")
