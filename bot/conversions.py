"""Conversion events from people and files: ``siyu events add``, ``POST /api/events`` and
the orders CSV/XLSX import (``siyu events import-orders``).

Orders file header: ``customer,amount,time,order_id,product`` (``order_id`` and
``product`` optional; ``customer`` is a customer id or any identity value such as a phone
number or WeChat id; ``time`` a date or ISO date-time, local time when naive). All or
nothing: one bad line and nothing is written; an ``order_id`` already stored is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from bot.errors import InputError, SiyuError
from bot.oneid import parse_datetime
from bot.store import conversions as conv_repo
from bot.tabular import read_table

ORDER_ALIASES = {
    "customer_id": "customer",
    "客户": "customer",
    "金额": "amount",
    "时间": "time",
    "下单时间": "time",
    "订单号": "order_id",
    "商品": "product",
    "产品": "product",
}


@dataclass(frozen=True, slots=True)
class OrderImportStats:
    added: int
    skipped: int  # order ids already stored


def import_orders(*, session: Session, path: Path, timezone: str) -> OrderImportStats:
    rows = read_table(path, aliases=ORDER_ALIASES)
    tz = ZoneInfo(timezone)
    problems: list[str] = []
    parsed: list[tuple[int, float, datetime, str | None, str]] = []
    for line, row in rows:
        try:
            customer = conv_repo.resolve_customer(session=session, ref=row.get("customer", ""))
            amount = float(row.get("amount", "").replace(",", "").replace("¥", ""))
            at = parse_datetime(row.get("time", ""), tz)
        except (SiyuError, ValueError) as exc:
            problems.append(f"line {line}: {exc}")
            continue
        parsed.append((customer, amount, at, row.get("order_id") or None, row.get("product", "")))
    if problems:
        raise InputError(f"{path.name}: " + "; ".join(problems[:10]))
    added = skipped = 0
    for customer, amount, at, order_id, product in parsed:
        record = conv_repo.add_conversion(
            session=session,
            customer_id=customer,
            type="purchase",
            occurred_at=at,
            amount=amount,
            product=product,
            order_id=order_id,
        )
        added += record is not None
        skipped += record is None
    return OrderImportStats(added=added, skipped=skipped)
