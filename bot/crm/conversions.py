"""Conversion events from people and files: ``siyu events add``, ``POST /api/events`` and
the orders CSV/XLSX import (``siyu events import-orders``).

Orders file header: ``customer,amount,time,order_id,product`` (``order_id`` and
``product`` optional; ``customer`` is a customer id or any identity value such as a phone
number or WeChat id; ``time`` a date or ISO date-time, local time when naive). All or
nothing: one bad line and nothing is written; an ``order_id`` already stored is skipped
(for that customer; for another one the line is refused).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from bot.crm.dates import parse_datetime
from bot.errors import EXPECTED_ERRORS, InputError
from bot.store import conversions as conv_repo
from knowledge.files import read_table

#: Other names of the columns: the Chinese headers of order exports.
ORDER_ALIASES = {
    "customer_id": "customer",
    "客户": "customer",
    "客户id": "customer",
    "客户编号": "customer",
    "金额": "amount",
    "订单金额": "amount",
    "实付金额": "amount",
    "支付金额": "amount",
    "时间": "time",
    "下单时间": "time",
    "支付时间": "time",
    "付款时间": "time",
    "成交时间": "time",
    "订单时间": "time",
    "订单号": "order_id",
    "订单编号": "order_id",
    "订单id": "order_id",
    "商品": "product",
    "产品": "product",
    "商品名称": "product",
    "产品名称": "product",
}


@dataclass(frozen=True, slots=True)
class OrderImportStats:
    added: int
    skipped: int  # order ids already stored


#: The columns of an orders file, by the Chinese header an export writes.
ORDER_COLUMNS = {
    "customer": "客户",
    "amount": "实付金额",
    "time": "支付时间",
    "order_id": "订单编号",
    "product": "商品名称",
}


def import_orders(*, session: Session, path: Path, timezone: str) -> OrderImportStats:
    rows = read_table(path, aliases=ORDER_ALIASES)
    header = list(dict.fromkeys(c for _, row in rows for c in row))
    required = ("customer", "amount", "time")
    missing = [f"{c}（{ORDER_COLUMNS[c]}）" for c in required if c not in header]
    if rows and missing:  # each line would only say its cell is empty
        unknown = [c for c in header if c not in ORDER_COLUMNS]
        raise InputError(
            f"{path.name}：缺少列 {'、'.join(missing)}；表头须有 customer,amount,time，"
            "可选 order_id,product（或 客户,实付金额,支付时间,订单编号,商品名称）"
            + (f"；文件里未知的列：{'、'.join(unknown)}" if unknown else "")
        )
    tz = ZoneInfo(timezone)
    problems: list[str] = []
    parsed: list[tuple[int, float, datetime, str | None, str]] = []
    #: Order id -> the customer of its first line in the file.
    in_file: dict[str, int] = {}
    for line, row in rows:
        errors: list[str] = []
        customer: int | None = None
        at: datetime | None = None
        try:
            customer = conv_repo.resolve_customer(session=session, ref=row.get("customer", ""))
        except EXPECTED_ERRORS as exc:
            errors.append(str(exc))
        amount = _amount(row.get("amount", ""))
        if amount is None:
            errors.append(f"金额 {row.get('amount', '')!r} 不是大于等于 0 的数字")
        try:
            at = parse_datetime(row.get("time", ""), tz)
        except ValueError:
            errors.append(f"时间 {row.get('time', '')!r} 不是日期或日期时间")
        order_id, product = row.get("order_id") or None, row.get("product", "")
        for column, value, limit in (("order_id", order_id, 100), ("product", product, 200)):
            if value and len(value) > limit:  # the database's column sizes
                errors.append(f"{column} 超过 {limit} 个字符")
        if order_id and customer is not None:
            owner = conv_repo.order_owner(session=session, order_id=order_id)
            owner = owner if owner is not None else in_file.setdefault(order_id, customer)
            if owner != customer:
                errors.append(f"订单号 {order_id} 已记在客户 {owner} 名下，这一行是客户 {customer}")
        if errors or customer is None or amount is None or at is None:
            problems += [f"第 {line} 行：{e}" for e in errors]
            continue
        parsed.append((customer, amount, at, order_id, product))
    if problems:
        raise InputError(f"{path.name}：" + "；".join(problems[:10]))
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


def _amount(text: str) -> float | None:
    """``1200``, ``1,200.50`` or ``¥1200`` as a finite, non-negative number, else None."""
    try:
        value = float(text.replace(",", "").replace("¥", ""))
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None
