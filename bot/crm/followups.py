"""Follow-up triggers (SOP reminders): rules from a YAML file, fired once per rule,
customer and occurrence.

Rules file::

    rules:
      - id: birthday-care            # unique; the idempotency key with customer + day
        anchor: birthday             # birthday (yearly) | added | last_message | event:TYPE
        offset_days: -15             # 15 days before; positive = after
        match:                       # optional profile filter, all must hold
          industry: insurance        # also stage, lifecycle, source, city, product, adviser
          tags: [有孩子]              # confirmed tags, all required
          fields: {预算: ">=5000", 职业: [教师, 医生]}   # declared profile fields: a value
                                     # (=), "OP value" (>= <= > < !=) or a list (one of)
        action: remind               # remind (default) | mark_silent
        script: INS-CARE-1           # suggested script (filled in `followups list`)
        note: "{customer_name} 生日 {date}"
      - id: no-show-day2
        anchor: event:appointment
        event_payload: {status: no_show}
        offset_days: 2
        script: INS-FU-2
      - id: silent-30
        anchor: last_message         # the last customer message (or being added)
        offset_days: 30
        action: mark_silent

Dates are days in ``settings.timezone``. A rule fires on its due day, or later on a
run at most ``catch_up_days`` after it (a ``last_message`` rule whenever the customer
is still silent). A Feb 29 birthday falls on Feb 28 in other years.
"""

from __future__ import annotations

import calendar
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    StrictInt,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from sqlalchemy.orm import Session

from bot.crm.segments import matching
from bot.crm.variables import script_values
from bot.errors import InputError
from bot.settings import AssistantSettings
from bot.store import followups as repo
from bot.store.records import CustomerFacts, FollowUpRecord
from knowledge.files import load_yaml_file, yaml_line
from knowledge.rows import (
    Location,
    Problem,
    RowModel,
    problems_of,
    refuse,
    scalar_text,
    stripped_text,
)
from scripts_lib.variables import fill

log = logging.getLogger(__name__)

Action = Literal["remind", "mark_silent"]
ACTIONS: tuple[str, ...] = get_args(Action)
_FIXED_ANCHORS = ("birthday", "added", "last_message")
#: Larger offsets would overflow date arithmetic when the rules run (dates end in 9999).
MAX_OFFSET_DAYS = 36_500
#: Longest rule id the store's column holds.
MAX_ID_CHARS = 100


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    anchor: str
    offset_days: int = 0
    match: Mapping[str, Any] = field(default_factory=dict)
    event_payload: Mapping[str, Any] = field(default_factory=dict)
    action: str = "remind"
    script: str | None = None
    note: str = ""

    @property
    def event_type(self) -> str | None:
        return self.anchor.removeprefix("event:") if self.anchor.startswith("event:") else None


@dataclass(frozen=True, slots=True)
class RunStats:
    reminders: int = 0
    marked_silent: int = 0
    already_done: int = 0


@dataclass(frozen=True, slots=True)
class DueReminder:
    follow_up: FollowUpRecord
    note: str
    script: str | None  # the suggested script, variables filled


# --------------------------------------------------------------------------- rules
def _no_mapping(value: object) -> object:
    return {} if value is None else value


def _optional_text(value: object) -> object:
    return scalar_text(value) or None


def _flat(value: object, info: ValidationInfo) -> object:
    # ``matches`` compares strings and builds sets: nested values cannot work.
    scalar = (str, int, float)
    if isinstance(value, scalar) or (
        isinstance(value, list) and all(isinstance(v, scalar) for v in value)
    ):
        return value
    raise ValueError(f"{info.field_name} 应为一个值或一组值")


FlatValue = Annotated[Any, AfterValidator(_flat)]


class MatchRow(RowModel):
    """A rule's profile filter: every field given must hold."""

    industry: FlatValue = None
    stage: FlatValue = None
    lifecycle: FlatValue = None
    source: FlatValue = None
    city: FlatValue = None
    product: FlatValue = None
    adviser: FlatValue = None
    #: Confirmed tags, all required.
    tags: FlatValue = None
    #: Declared profile fields: name -> a value, "OP value", or a list of values.
    fields: dict[str, FlatValue] | None = None


#: The built-in profile fields a rule can match on, each with a value or a list of values
#: (declared profile fields go under ``fields``, a mapping).
MATCH_FIELDS: tuple[str, ...] = tuple(f for f in MatchRow.model_fields if f != "fields")
#: A condition on a profile field that starts with a comparison.
_COMPARED = re.compile(r"^\s*(!=|>=|<=|>|<|=)")


class RuleRow(RowModel):
    """One rule of the rules file (format in the module doc)."""

    id: Annotated[
        str,
        BeforeValidator(stripped_text),
        StringConstraints(min_length=1, max_length=MAX_ID_CHARS),
    ]
    anchor: Annotated[str, BeforeValidator(scalar_text)]
    offset_days: StrictInt = 0
    match: Annotated[MatchRow, BeforeValidator(_no_mapping)] = MatchRow()
    event_payload: Annotated[dict[Any, Any], BeforeValidator(_no_mapping)] = Field(
        default_factory=dict
    )
    action: Action = "remind"
    script: Annotated[str | None, BeforeValidator(_optional_text)] = None
    note: Annotated[str, BeforeValidator(scalar_text)] = ""

    @field_validator("anchor")
    @classmethod
    def _known_anchor(cls, anchor: str) -> str:
        if anchor in _FIXED_ANCHORS or (anchor.startswith("event:") and anchor != "event:"):
            return anchor
        raise ValueError(f"anchor 只能是 {', '.join(_FIXED_ANCHORS)} 之一，或 event:事件类型")

    @field_validator("offset_days")
    @classmethod
    def _in_range(cls, offset: int, info: ValidationInfo) -> int:
        if abs(offset) > MAX_OFFSET_DAYS:
            raise ValueError(f"offset_days 需在 -{MAX_OFFSET_DAYS} 到 {MAX_OFFSET_DAYS} 之间")
        if info.data.get("anchor") == "last_message" and offset < 1:
            raise ValueError("last_message（最后一条消息）规则需要 offset_days >= 1")
        return offset


def load_rules(path: Path) -> list[Rule]:
    """Read a rules YAML file, read like every data file (``knowledge.files``: UTF-8,
    BOM optional, GB18030/GBK, UTF-16 / UTF-32 with a BOM); every problem is reported at
    once, with its line."""
    data = load_yaml_file(path, what="跟进规则")
    return parse_rules(data, name=path.name)


def parse_rules(data: object, *, name: str = "rules") -> list[Rule]:
    """Validate loaded rules data, one ``RuleRow`` per item; an id used twice is a problem."""
    items = data.get("rules") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise InputError(f"{name}：应为含 rules 列表的映射")
    problems: list[Problem] = []
    rules: list[Rule] = []
    seen: set[str] = set()
    for n, item in enumerate(items, start=1):
        rid = stripped_text(item.get("id")) if isinstance(item, dict) else None
        rid = rid if isinstance(rid, str) else ""
        where = f"规则 {n}（{rid or '没有 id'}）"

        def line(loc: Location, n: int = n) -> int | None:
            return yaml_line(data, ("rules", n - 1, *loc))

        if rid and rid in seen:
            problems.append(Problem(line(("id",)) or 0, where, "id 用了两次"))
        seen.add(rid)
        try:
            row = RuleRow.model_validate(item)
        except ValidationError as exc:
            problems += problems_of(exc, line=line, where=where)
            continue
        rules.append(
            Rule(
                id=row.id,
                anchor=row.anchor,
                offset_days=row.offset_days,
                match=row.match.model_dump(include=row.match.model_fields_set),
                event_payload=row.event_payload,
                action=row.action,
                script=row.script,
                note=row.note,
            )
        )
    if problems:
        refuse(name, problems, outcome="没有加载任何规则")
    return rules


def matches(rule: Rule, customer: CustomerFacts, by_fields: set[int] | None = None) -> bool:
    """Whether the customer meets the rule's match; ``by_fields`` are the customers
    meeting its ``fields`` conditions (``field_matches``)."""
    for key, wanted in rule.match.items():
        if key == "fields":
            if by_fields is not None and customer.id not in by_fields:
                return False
            continue
        if key == "tags":
            needed = {str(w) for w in wanted} if isinstance(wanted, list) else {str(wanted)}
            if not needed <= customer.tags:
                return False
            continue
        value = customer.adviser_id if key == "adviser" else getattr(customer, key)
        allowed = {str(w) for w in wanted} if isinstance(wanted, list) else {str(wanted)}
        if value is None or str(value) not in allowed:
            return False
    return True


def field_matches(
    session: Session, conditions: Mapping[str, Any], today: date, rule_id: str
) -> set[int]:
    """The customers meeting a rule's ``fields`` conditions (one query per value)."""
    found: set[int] | None = None
    for name, wanted in conditions.items():
        values = wanted if isinstance(wanted, list) else [wanted]
        ids: set[int] = set()
        for value in values:
            text = str(value)
            op = "" if _COMPARED.match(text) else "="
            try:
                ids |= set(matching(session=session, filters=[f"{name}{op}{text}"], today=today))
            except InputError as exc:
                raise InputError(f"跟进规则 {rule_id}：{exc}") from exc
        found = ids if found is None else found & ids
    return found if found is not None else set()


# --------------------------------------------------------------------------- dates
def birthday_in(born: date, year: int) -> date:
    """The birthday in ``year``; Feb 29 becomes Feb 28 in a common year."""
    if born.month == 2 and born.day == 29 and not calendar.isleap(year):
        return date(year, 2, 28)
    return born.replace(year=year)


def local_day(at: datetime, tz: ZoneInfo) -> date:
    return at.astimezone(tz).date()


def start_of_day(day: date, tz: ZoneInfo) -> datetime:
    """Local midnight of ``day``, in UTC (what the store keeps)."""
    return datetime.combine(day, time(), tzinfo=tz).astimezone(UTC)


def _occurrences(
    rule: Rule,
    customer: CustomerFacts,
    events: list[tuple[date, dict[str, Any]]],
    today: date,
    tz: ZoneInfo,
) -> list[date]:
    """Anchor days of ``rule`` for this customer that could be due around ``today``."""
    if rule.anchor == "birthday":
        if customer.birthday is None:
            return []
        return [
            birthday_in(customer.birthday, y) for y in (today.year - 1, today.year, today.year + 1)
        ]
    if rule.anchor == "added":
        return [local_day(customer.created_at, tz)]
    if rule.anchor == "last_message":
        last = customer.last_inbound_at or customer.created_at
        return [local_day(last, tz)]
    return sorted(
        {
            day
            for day, payload in events
            if all(payload.get(k) == v for k, v in rule.event_payload.items())
        }
    )


# --------------------------------------------------------------------------- run
def run_rules(
    *,
    session: Session,
    rules: list[Rule],
    now: datetime,
    timezone: str,
    catch_up_days: int = 7,
) -> RunStats:
    """Fire every rule due on ``now``'s local day (or in the catch-up window).

    Idempotent: an occurrence (rule, customer, anchor day) fires once, however often
    this runs."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    tz = ZoneInfo(timezone)
    today = local_day(now, tz)
    customers = repo.customer_facts(session=session)
    event_types = sorted({r.event_type for r in rules if r.event_type})
    horizon = max((abs(r.offset_days) for r in rules), default=0) + catch_up_days + 2
    events: dict[tuple[int, str], list[tuple[date, dict[str, Any]]]] = {}
    if event_types:
        since = start_of_day(today - timedelta(days=horizon), tz)
        for e in repo.events_of_types(session=session, types=event_types, since=since):
            events.setdefault((e.customer_id, e.type), []).append(
                (local_day(e.occurred_at, tz), e.payload)
            )
    reminders = silent = done = 0
    for rule in rules:
        fields = rule.match.get("fields")
        by_fields = field_matches(session, fields, today, rule.id) if fields else None
        for customer in customers:
            if not matches(rule, customer, by_fields):
                continue
            own = events.get((customer.id, rule.event_type or ""), [])
            for anchor in _occurrences(rule, customer, own, today, tz):
                due = anchor + timedelta(days=rule.offset_days)
                if due > today:
                    continue
                if rule.anchor != "last_message" and (today - due).days > catch_up_days:
                    continue
                created = repo.record_occurrence(
                    session=session,
                    rule=rule.id,
                    customer_id=customer.id,
                    occurs_on=anchor,
                    action=rule.action,
                    due_at=start_of_day(due, tz),
                    adviser_id=customer.adviser_id,
                    note=_fill(rule.note, customer, anchor) if rule.note else rule.id,
                    script_id=rule.script,
                )
                if not created:
                    done += 1
                elif rule.action == "mark_silent":
                    repo.set_lifecycle(
                        session=session, customer_ids=[customer.id], lifecycle="silent"
                    )
                    silent += 1
                else:
                    reminders += 1
    log.info("follow-ups: %d reminders, %d silent, %d already done", reminders, silent, done)
    return RunStats(reminders=reminders, marked_silent=silent, already_done=done)


def due_reminders(
    *,
    session: Session,
    now: datetime,
    timezone: str,
    adviser_id: str | None = None,
    adviser_ids: tuple[str, ...] | None = None,
    adviser_name: str = "",
    assistant: AssistantSettings | None = None,
) -> list[DueReminder]:
    """Open reminders due today or earlier (local day), scripts filled in; only
    ``adviser_id``'s and / or those of ``adviser_ids`` (a scope) when given."""
    tz = ZoneInfo(timezone)
    today = local_day(now, tz)
    rows = repo.open_follow_ups(
        session=session,
        due_before=start_of_day(today + timedelta(days=1), tz),
        adviser_id=adviser_id,
        adviser_ids=adviser_ids,
    )
    out = []
    for row in rows:
        c = row.customer
        values = script_values(
            assistant=assistant or AssistantSettings(),
            today=today,
            deadline=row.script_deadline,
            customer_name=c.name if c else row.customer_name,
            adviser_name=adviser_name,
            product=c.product if c else None,
            city=c.city if c else None,
        )
        script = fill(row.script_body, values).text if row.script_body else None
        out.append(DueReminder(follow_up=row, note=row.note, script=script))
    return out


def _fill(template: str, customer: CustomerFacts, day: date) -> str:
    return fill(
        template,
        {
            "customer_name": customer.name,
            "date": f"{day.month}月{day.day}日",
            "product": customer.product,
            "city": customer.city,
        },
    ).text
