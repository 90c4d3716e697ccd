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
from bot.labels import EVENT_LABELS, STAGE_LABELS, code_of, label

app = typer.Typer(help="转化事件：购买、成交、阶段变化。")


@app.command("add")
def events_add(
    ctx: typer.Context,
    customer: Annotated[str, typer.Option(help="客户 ID 或任一身份值（手机号、微信号 …）。")],
    type: Annotated[
        str,
        typer.Option(
            "--type", help=("purchase（购买）、converted（成交）或 stage_changed（阶段变化）。")
        ),
    ] = "purchase",
    amount: Annotated[float | None, typer.Option(help="订单金额（同时记一笔订单）。")] = None,
    time: Annotated[
        str | None, typer.Option("--time", help="时间（日期或 ISO 日期时间；默认：现在）。")
    ] = None,
    product: Annotated[str, typer.Option(help="买了什么。")] = "",
    order_id: Annotated[str | None, typer.Option(help="订单号（重复导入不会重复记）。")] = None,
    stage: Annotated[str | None, typer.Option(help="新阶段，用于 stage_changed。")] = None,
) -> None:
    """记录一个转化事件（归因到之前用过的话术）。"""
    from bot.services import conversions

    with database(ctx) as (db, settings), db.session() as session:
        recorded = conversions.record(
            session,
            principal(ctx),
            customer=customer,
            type=code_of(EVENT_LABELS, type) or type,  # 购买 as purchase, as its --help names it
            occurred_at=parse_now(time, settings.timezone),
            amount=amount,
            product=product,
            order_id=order_id,
            stage=code_of(STAGE_LABELS, stage) or stage if stage is not None else None,
        )
    record = recorded.conversion
    if record is None:
        out.print(f"订单 {order_id} 已存在，跳过")
    else:
        what = label(EVENT_LABELS, record.type)
        out.print(f"事件 {record.event_id}：{what} · 客户 {recorded.customer_id}")


@app.command("import-orders")
def events_import_orders(
    ctx: typer.Context,
    path: Annotated[
        Path, typer.Argument(help=("CSV/XLSX 文件，表头：customer,amount,time,order_id,product"))
    ],
) -> None:
    """导入订单（全有或全无；已存在的订单号跳过）。"""
    from bot.services import conversions

    with database(ctx) as (db, settings), db.session() as session:
        stats = conversions.import_orders(
            session, principal(ctx), path=path, timezone=settings.timezone
        )
    out.print(f"订单 +{stats.added} · 跳过 {stats.skipped}")
