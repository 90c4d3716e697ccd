"""Saved segments: named filters over profile fields, tags, events and transactions.

A filter is ``FIELD OP VALUE``; a segment's filters must all hold::

    industry=insurance   lifecycle!=churn_risk   source=抖音   adviser=a1   city=上海
    tag=有孩子            tag!=已投保              (confirmed tags)
    event=appointment    event!=purchase          (has / has not an event of that type)
    spent>=5000          orders>=2                (sum / count of transactions)

Profile fields: industry, stage, lifecycle, source, adviser, city, product, name.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from sqlalchemy.orm import Session

from bot.errors import InputError
from bot.store import segments as repo
from bot.store.segments import NUMERIC_FIELDS, PROFILE_FIELDS, Condition, SegmentRecord

_FILTER = re.compile(r"^\s*([a-z_]+)\s*(!=|>=|<=|=|>|<)\s*(.+?)\s*$")


def parse_filter(text: str) -> Condition:
    m = _FILTER.match(text)
    if m is None:
        raise InputError(f"filter {text!r} is not FIELD OP VALUE (e.g. tag=有孩子, spent>=1000)")
    field, op, value = m.groups()
    if field not in PROFILE_FIELDS and field not in ("tag", "event", *NUMERIC_FIELDS):
        known = ", ".join([*PROFILE_FIELDS, "tag", "event", *NUMERIC_FIELDS])
        raise InputError(f"filter {text!r}: unknown field {field!r}; known: {known}")
    if field in NUMERIC_FIELDS:
        try:
            float(value)
        except ValueError as exc:
            raise InputError(f"filter {text!r}: {field} needs a number") from exc
    elif op not in ("=", "!="):
        raise InputError(f"filter {text!r}: {field} can only be compared with = or !=")
    return Condition(field=field, op=op, value=value)


def parse_filters(texts: Sequence[str]) -> list[Condition]:
    problems: list[str] = []
    out: list[Condition] = []
    for t in texts:
        try:
            out.append(parse_filter(t))
        except InputError as exc:
            problems.append(str(exc))
    if problems:
        raise InputError(f"{len(problems)} bad filter(s)", problems)
    return out


def add_segment(
    *, session: Session, name: str, filters: Sequence[str], description: str = "", actor: str = ""
) -> SegmentRecord:
    if not name.strip():
        raise InputError("a segment needs a name")
    if not filters:
        raise InputError("a segment needs at least one --filter")
    parse_filters(filters)
    return repo.save_segment(
        session=session, name=name.strip(), filters=filters, description=description, actor=actor
    )


def members(*, session: Session, name: str) -> list[int]:
    segment = repo.get_segment(session=session, name=name)
    return repo.matching_customer_ids(session=session, conditions=parse_filters(segment.filters))


def count(*, session: Session, name: str) -> int:
    return len(members(session=session, name=name))
