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

app = typer.Typer(help="Saved customer segments.")


@app.command("add")
def segments_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument()],
    filters: Annotated[
        list[str],
        typer.Option("--filter", "-f", help="FIELD OP VALUE, e.g. tag=有孩子 (repeatable)."),
    ],
    description: Annotated[str, typer.Option()] = "",
    actor: Actor = None,
) -> None:
    """Save (or replace) a named segment; all its filters must hold."""
    from bot.services import segments

    with database(ctx) as (db, _), db.session() as session:
        n = segments.save(
            session, principal(ctx, actor), name=name, filters=filters, description=description
        )
    out.print(f"{name}: {n} customers")


@app.command("count")
def segments_count(ctx: typer.Context, name: Annotated[str, typer.Argument()]) -> None:
    """How many customers a segment holds now."""
    from bot.services import segments

    with database(ctx) as (db, _), db.session() as session:
        out.print(str(segments.size(session, principal(ctx), name=name)))


@app.command("list")
def segments_list(ctx: typer.Context) -> None:
    """Saved segments with their filters and current size."""
    from bot.services import segments

    with database(ctx) as (db, _), db.session() as session:
        rows = segments.list_segments(session, principal(ctx))
    table = Table("名称", "条件", "人数", "说明")
    for s, n in rows:
        table.add_row(s.name, " ∧ ".join(s.filters), str(n), s.description)
    out.print(table)
