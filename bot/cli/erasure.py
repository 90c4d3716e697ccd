"""CLI for data-subject requests: ``siyu customers export ID`` and ``siyu customers
forget ID`` (registered with the other customer commands by ``bot.cli.crm``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from bot.cli.crm import Actor, _db, out


def customers_export(
    ctx: typer.Context,
    customer_id: Annotated[int, typer.Argument(help="Customer id.")],
    output: Annotated[
        Path | None, typer.Option("--out", help="Write the JSON here (default: stdout).")
    ] = None,
    actor: Actor = "cli",
) -> None:
    """Everything held about one person, as JSON (the export is audit-logged)."""
    from bot.store import erasure

    with _db(ctx) as (db, _), db.session() as session:
        data = erasure.export_customer(session=session, customer_id=customer_id, actor=actor)
    text = json.dumps(data, ensure_ascii=False, indent=2, default=str)
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")
        out.print(f"customer {customer_id} exported to {output}")


def customers_forget(
    ctx: typer.Context,
    customer_id: Annotated[int, typer.Argument(help="Customer id.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    actor: Actor = "cli",
) -> None:
    """Erase one person's personal data and messages; anonymous aggregates (funnel,
    revenue, script statistics) stay. Audit-logged; cannot be undone."""
    from bot.store import erasure

    if not yes:
        typer.confirm(f"erase customer {customer_id}'s personal data for good?", abort=True)
    with _db(ctx) as (db, _), db.session() as session:
        counts = erasure.erase_customer(session=session, customer_id=customer_id, actor=actor)
    done = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
    out.print(f"customer {customer_id} forgotten ({done or 'nothing else held'})")
