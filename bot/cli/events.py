"""``siyu events``: conversion events — purchases, conversions, stage changes, order imports."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bot.cli.common import (
    database,
    out,
    parse_now,
    principal,
)

app = typer.Typer(help="Conversion events: purchases, conversions, stage changes.")


@app.command("add")
def events_add(
    ctx: typer.Context,
    customer: Annotated[
        str, typer.Option(help="Customer id or an identity value (phone, WeChat id …).")
    ],
    type: Annotated[
        str, typer.Option("--type", help="purchase, converted or stage_changed.")
    ] = "purchase",
    amount: Annotated[float | None, typer.Option(help="Order amount (adds an order).")] = None,
    time: Annotated[
        str | None, typer.Option("--time", help="When (date or ISO date-time; default now).")
    ] = None,
    product: Annotated[str, typer.Option(help="What was bought.")] = "",
    order_id: Annotated[str | None, typer.Option(help="Order number (idempotent).")] = None,
    stage: Annotated[str | None, typer.Option(help="New stage, for stage_changed.")] = None,
) -> None:
    """Record a conversion event (attributed to the scripts used before it)."""
    from bot.services import conversions

    with database(ctx) as (db, settings), db.session() as session:
        recorded = conversions.record(
            session,
            principal(ctx),
            customer=customer,
            type=type,
            occurred_at=parse_now(time, settings.timezone),
            amount=amount,
            product=product,
            order_id=order_id,
            stage=stage,
        )
    record = recorded.conversion
    if record is None:
        out.print(f"订单 {order_id} 已存在，跳过 (order already recorded)")
    else:
        out.print(f"事件 event {record.event_id}: {record.type} · 客户 {recorded.customer_id}")


@app.command("import-orders")
def events_import_orders(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="CSV/XLSX: customer,amount,time,order_id,product")],
) -> None:
    """Import orders (all-or-nothing; order ids already stored are skipped)."""
    from bot.services import conversions

    with database(ctx) as (db, settings), db.session() as session:
        stats = conversions.import_orders(
            session, principal(ctx), path=path, timezone=settings.timezone
        )
    out.print(f"订单 +{stats.added} · 跳过 {stats.skipped}")
