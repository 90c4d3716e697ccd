"""Saved segments: named filters over profile fields, tags, events and transactions.

A filter is ``FIELD OP VALUE``; a segment's filters must all hold::

    industry=insurance   lifecycle!=churn_risk   source=抖音   adviser=a1   city=上海
    tag=有孩子            tag!=已投保              (confirmed tags)
    event=appointment    event!=purchase          (has / has not an event of that type)
    spent>=5000          orders>=2                (sum / count of transactions)
    age>=30                                       (whole years, from the birthday)
    预算>=5000            职业=教师                 (declared profile fields)

Built-in profile fields: industry, stage, lifecycle, source, adviser, city, product, name.
Every built-in field may be written by its Chinese name (``labels.FILTER_FIELD_LABELS``:
行业=保险, 标签=有孩子, 累计消费>=5000), and an industry, stage, lifecycle or event value
by its Chinese name too.
Declared profile fields (the profile fields file, bot/crm/fields.py) compare by their
type: number and money as numbers, date as dates (2026-01-31), choice and text with
= / !=. The same language is used by the next-best-action rules (bot/crm/next_actions.py)
and the ``fields`` of a follow-up rule's match.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import date

from sqlalchemy.orm import Session

from bot import labels
from bot.crm.fields import format_number, parse_value, shown
from bot.errors import InputError
from bot.store import advisers as advisers_repo
from bot.store import fields as fields_repo
from bot.store import segments as repo
from bot.store.fields import FieldSpec
from bot.store.segments import NUMERIC_FIELDS, PROFILE_FIELDS, Condition, SegmentRecord
from scripts_lib.model import canonical_industry

_FILTER = re.compile(r"^\s*([^\s=!<>]+)\s*(!=|>=|<=|=|>|<)\s*(.+?)\s*$")
#: Names a declared profile field may not take (they mean something in filters already).
BUILT_IN = (*PROFILE_FIELDS, "tag", "event", *NUMERIC_FIELDS)


def parse_filter(text: str, fields: Mapping[str, FieldSpec] | None = None) -> Condition:
    """One ``FIELD OP VALUE`` filter; ``fields`` are the declared profile fields by name."""
    m = _FILTER.match(text)
    if m is None:
        raise InputError(
            f"筛选条件 {text!r} 不是「字段 运算符 值」的形式（如 tag=有孩子、spent>=1000）"
        )
    field, op, value = m.groups()
    declared = (fields or {}).get(field)
    if declared is not None and field not in BUILT_IN:
        return _field_condition(text, declared, op, value)
    field = labels.code_of(labels.FILTER_FIELD_LABELS, field) or field
    if field not in BUILT_IN:
        known = "、".join(
            [*(f"{labels.FILTER_FIELD_LABELS[f]}（{f}）" for f in BUILT_IN), *(fields or {})]
        )
        raise InputError(f"筛选条件“{text.strip()}”：未知字段“{m.group(1)}”；可用：{known}")
    name = labels.FILTER_FIELD_LABELS[field]
    if field in NUMERIC_FIELDS:
        try:
            float(value)
        except ValueError as exc:
            raise InputError(f"筛选条件“{text.strip()}”：{name}需要一个数字") from exc
    elif op not in ("=", "!="):
        raise InputError(f"筛选条件“{text.strip()}”：{name}只能用 = 或 != 比较")
    return Condition(field=field, op=op, value=_code(field, value))


#: The built-in fields whose values are codes, with the Chinese names they go by.
_VALUE_LABELS = {
    "stage": labels.STAGE_LABELS,
    "lifecycle": labels.LIFECYCLE_LABELS,
    "event": labels.EVENT_LABELS,
}


def _code(field: str, value: str) -> str:
    """A built-in field's value as stored: an industry, stage, lifecycle or event may be
    written by its Chinese name (行业=保险 is industry=insurance)."""
    if field == "industry":
        return canonical_industry(value)
    names = _VALUE_LABELS.get(field)
    return (labels.code_of(names, value) or value) if names else value


def _field_condition(text: str, spec: FieldSpec, op: str, value: str) -> Condition:
    if spec.type in ("choice", "text") and op not in ("=", "!="):
        raise InputError(f"筛选条件 {text!r}：{spec.name} 只能用 = 或 != 比较")
    try:
        parsed = parse_value(spec, value)
    except InputError as exc:
        raise InputError(f"筛选条件 {text!r}：{exc}") from exc
    stored = parsed.day.isoformat() if parsed.day is not None else parsed.value
    if parsed.number is not None:
        stored = repr(parsed.number)
    return Condition(field=spec.name, op=op, value=stored, field_type=spec.type)


def parse_filters(
    texts: Sequence[str], fields: Mapping[str, FieldSpec] | None = None
) -> list[Condition]:
    problems: list[str] = []
    out: list[Condition] = []
    for t in texts:
        try:
            out.append(parse_filter(t, fields))
        except InputError as exc:
            problems.append(str(exc))
    if problems:
        raise InputError(f"{len(problems)} 个筛选条件有错", problems)
    return out


def declared_fields(session: Session) -> dict[str, FieldSpec]:
    """The active profile fields, by name (what filters may name besides the built-ins)."""
    return {f.name: f for f in fields_repo.list_fields(session=session)}


def matching(
    *,
    session: Session,
    filters: Sequence[str],
    customer_ids: Sequence[int] | None = None,
    adviser_ids: Sequence[str] | None = None,
    today: date | None = None,
) -> list[int]:
    """Visible customers (of ``customer_ids``, of the advisers ``adviser_ids``) meeting
    every filter. An adviser may be named as colleagues call them (顾问=林晓), when only
    one adviser goes by that name."""
    conditions = parse_filters(filters, declared_fields(session))
    advisers = [c.value for c in conditions if c.field == "adviser"]
    if advisers:  # a name for an id (follow-up rules run this once per field value)
        named = advisers_repo.ids_by_name(session=session, values=advisers)
        conditions = [
            replace(c, value=named[c.value]) if c.field == "adviser" and c.value in named else c
            for c in conditions
        ]
    return repo.matching_customer_ids(
        session=session,
        conditions=conditions,
        customer_ids=customer_ids,
        adviser_ids=adviser_ids,
        today=today,
    )


def add_segment(
    *, session: Session, name: str, filters: Sequence[str], description: str = "", actor: str = ""
) -> SegmentRecord:
    if not name.strip():
        raise InputError("分群需要名称")
    if not filters:
        raise InputError("分群至少需要一个筛选条件")
    parse_filters(filters, declared_fields(session))
    return repo.save_segment(
        session=session, name=name.strip(), filters=filters, description=description, actor=actor
    )


def members(
    *,
    session: Session,
    name: str,
    adviser_ids: Sequence[str] | None = None,
    today: date | None = None,
) -> list[int]:
    """The segment's customers (only those of ``adviser_ids`` when given)."""
    segment = repo.get_segment(session=session, name=name)
    return matching(session=session, filters=segment.filters, adviser_ids=adviser_ids, today=today)


def count(*, session: Session, name: str, adviser_ids: Sequence[str] | None = None) -> int:
    return len(members(session=session, name=name, adviser_ids=adviser_ids))


#: How a comparison reads (``!=`` of a tag or an event reads 没有 …).
_OPS = {"=": "=", "!=": "≠", ">=": "≥", "<=": "≤", ">": ">", "<": "<"}


def describe(
    text: str,
    fields: Mapping[str, FieldSpec] | None = None,
    adviser_names: Mapping[str, str] | None = None,
) -> str:
    """A saved filter as a person reads it: the field by its Chinese name and a code by
    its name (``adviser=ins_lin`` → 顾问 = 林晓, ``tag!=已投保`` → 没有标签「已投保」,
    ``预算>=5000`` → 预算 ≥ 5000 元/年); a filter that no longer parses (a profile field
    removed since) as it is written."""
    try:
        c = parse_filter(text, fields)
    except InputError:
        return text.strip()
    if c.field in ("tag", "event"):
        what = "标签" if c.field == "tag" else "事件"
        value = c.value if c.field == "tag" else labels.label(_VALUE_LABELS["event"], c.value)
        return f"{'有' if c.op == '=' else '没有'}{what}「{value}」"
    value = c.value
    if c.field_type is not None:
        spec = (fields or {})[c.field]
        if c.field_type in ("number", "money"):
            value = shown(spec, format_number(float(c.value)))
        return f"{c.field} {_OPS[c.op]} {value}"
    match c.field:
        case "industry":
            value = labels.industry_label(c.value)
        case "stage" | "lifecycle":
            value = labels.label(_VALUE_LABELS[c.field], c.value)
        case "adviser":
            value = (adviser_names or {}).get(c.value, c.value)
        case "spent":
            value = f"{format_number(float(c.value))} 元"
        case "age":
            value = f"{format_number(float(c.value))} 岁"
        case "orders":
            value = format_number(float(c.value))
    return f"{labels.FILTER_FIELD_LABELS[c.field]} {_OPS[c.op]} {value}"
