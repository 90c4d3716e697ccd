"""``siyu segments``: saved customer segments."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from bot.cli.common import (
    Actor,
    database,
    out,
)

if TYPE_CHECKING:
    pass

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
    actor: Actor = "cli",
) -> None:
    """Save (or replace) a named segment; all its filters must hold."""
    from bot.crm import segments

    with database(ctx) as (db, _), db.session() as session:
        segments.add_segment(
            session=session, name=name, filters=filters, description=description, actor=actor
        )
        n = segments.count(session=session, name=name)
    out.print(f"{name}: {n} customers")


@app.command("count")
def segments_count(ctx: typer.Context, name: Annotated[str, typer.Argument()]) -> None:
    """How many customers a segment holds now."""
    from bot.crm import segments

    with database(ctx) as (db, _), db.session() as session:
        out.print(str(segments.count(session=session, name=name)))


@app.command("list")
def segments_list(ctx: typer.Context) -> None:
    """Saved segments with their filters and current size."""
    from bot.crm import segments
    from bot.store import segments as repo

    with database(ctx) as (db, _), db.session() as session:
        rows = [
            (s, segments.count(session=session, name=s.name))
            for s in repo.list_segments(session=session)
        ]
    table = Table("名称", "条件", "人数", "说明")
    for s, n in rows:
        table.add_row(s.name, " ∧ ".join(s.filters), str(n), s.description)
    out.print(table)
