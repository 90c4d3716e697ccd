"""Next-best-action rules: conditions on a customer's profile fields, tags and events →
a product or a script, with the reason shown to the adviser.

Rules file (YAML, ``[next_actions] rules_file``; keys other than these are refused, every
problem with its line)::

    rules:
      - id: ci-gap                       # unique
        when:                            # filters, all must hold (the segment language)
          - industry=insurance
          - age>=25
          - age<=50
          - 预算>=3000                    # declared profile fields
          - 已有保额<300000
          - tag!=已投保重疾
          - event!=purchase
        product: 安心保重疾险             # a product and / or
        script: INS-PRD-001              #   an approved script (filled in for the customer)
        reason: "{age}岁，预算{预算}，已有重疾保额{已有保额}，低于建议的 30 万"
        priority: 10                     # higher first (default 0)

A reason may use ``{customer_name}``, ``{age}``, ``{product}`` and any profile field by
its name (shown with its unit); a value the customer does not have shows as
``【待填:名称】``. Filters are those of ``siyu segments`` (bot/crm/segments.py): profile
fields, ``tag``, ``event``, ``spent``, ``orders``, ``age`` and the declared fields.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated

from pydantic import BeforeValidator, Field, StrictInt, StringConstraints, ValidationError
from sqlalchemy.orm import Session

from bot.crm.fields import shown
from bot.crm.segments import declared_fields, parse_filters
from bot.errors import InputError
from bot.store import fields as fields_repo
from bot.store import segments as segments_repo
from bot.store.fields import FieldSpec
from bot.store.records import CustomerRecord
from knowledge.files import load_yaml_file, yaml_line
from knowledge.rows import Problem, RowModel, problems_of, refuse, scalar_text, stripped_text
from scripts_lib.variables import parse_template

log = logging.getLogger(__name__)

MAX_ID_CHARS = 100


def _optional(value: object) -> object:
    return scalar_text(value) or None


def _filters(value: object) -> object:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [scalar_text(v) for v in value]
    return value


class RuleRow(RowModel):
    """One rule of the rules file (format in the module doc)."""

    id: Annotated[
        str, BeforeValidator(stripped_text), StringConstraints(min_length=1, max_length=100)
    ]
    when: Annotated[
        list[Annotated[str, StringConstraints(min_length=1)]], BeforeValidator(_filters)
    ]
    product: Annotated[str | None, BeforeValidator(_optional)] = None
    script: Annotated[str | None, BeforeValidator(_optional)] = None
    reason: Annotated[str, BeforeValidator(scalar_text), StringConstraints(min_length=1)]
    priority: StrictInt = 0


class RulesFile(RowModel):
    rules: list[RuleRow] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    when: tuple[str, ...]
    product: str | None
    script: str | None
    reason: str
    priority: int = 0


@dataclass(frozen=True, slots=True)
class NextAction:
    """A rule that applies to a customer: what to offer and why."""

    rule: str
    product: str | None
    script_id: str | None
    reason: str
    priority: int = 0


def load_rules(path: Path, fields: Mapping[str, FieldSpec] | None = None) -> list[Rule]:
    """Read a rules file; with ``fields`` (the declared profile fields), every filter is
    checked too."""
    data = load_yaml_file(path, what="下一步建议规则")
    return parse_rules(data, name=path.name, fields=fields)


def parse_rules(
    data: object, *, name: str = "rules", fields: Mapping[str, FieldSpec] | None = None
) -> list[Rule]:
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise InputError(f"{name}：应为含 rules 列表的映射")
    problems: list[Problem] = []
    rules: list[Rule] = []
    seen: set[str] = set()
    for n, item in enumerate(data["rules"], start=1):
        rid = stripped_text(item.get("id")) if isinstance(item, dict) else None
        rid = rid if isinstance(rid, str) else ""
        where = f"规则 {n}（{rid or '没有 id'}）"

        def line(loc: tuple[str | int, ...], n: int = n) -> int | None:
            return yaml_line(data, ("rules", n - 1, *loc))

        if rid and rid in seen:
            problems.append(Problem(line(("id",)) or 0, where, "id 用了两次"))
        seen.add(rid)
        try:
            row = RuleRow.model_validate(item)
        except ValidationError as exc:
            problems += problems_of(exc, line=line, where=where)
            continue
        if row.product is None and row.script is None:
            problems.append(Problem(line(()) or 0, where, "需要 product（产品）或 script（话术）"))
            continue
        if fields is not None:
            try:
                parse_filters(row.when, fields)
            except InputError as exc:
                for p in exc.problems or [str(exc)]:
                    problems.append(Problem(line(("when",)) or 0, where, str(p)))
                continue
        rules.append(
            Rule(
                id=row.id,
                when=tuple(row.when),
                product=row.product,
                script=row.script,
                reason=row.reason,
                priority=row.priority,
            )
        )
    if problems:
        refuse(name, problems, outcome="没有加载任何规则")
    return rules


def applicable(
    *,
    session: Session,
    rules: Sequence[Rule],
    customer: CustomerRecord,
    today: date,
    limit: int = 3,
) -> list[NextAction]:
    """The rules that apply to the customer now, highest priority first, their reasons
    filled in."""
    if not rules:
        return []
    fields = declared_fields(session)
    found: list[tuple[Rule, NextAction]] = []
    values: dict[str, str] | None = None
    for rule in rules:
        try:
            conditions = parse_filters(rule.when, fields)
        except InputError as exc:  # a field dropped from the fields file since loading
            log.warning("next-best-action rule %s skipped: %s", rule.id, exc)
            continue
        if not segments_repo.matching_customer_ids(
            session=session, conditions=conditions, customer_ids=[customer.id], today=today
        ):
            continue
        if values is None:
            values = _values(session, customer, fields, today)
        reason = fill_any(rule.reason, values | {"product": rule.product or ""})
        found.append(
            (
                rule,
                NextAction(
                    rule=rule.id,
                    product=rule.product,
                    script_id=rule.script,
                    reason=reason,
                    priority=rule.priority,
                ),
            )
        )
    found.sort(key=lambda ra: -ra[0].priority)
    return [action for _, action in found[:limit]]


def _values(
    session: Session, customer: CustomerRecord, fields: Mapping[str, FieldSpec], today: date
) -> dict[str, str]:
    values = {"customer_name": customer.name}
    if customer.birthday is not None:
        values["age"] = str(age_on(customer.birthday, today))
    for v in fields_repo.field_values(session=session, customer_id=customer.id):
        values[v.field] = shown(fields.get(v.field), v.value)
    return values


def age_on(born: date, today: date) -> int:
    """Whole years from ``born`` to ``today``."""
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def fill_any(template: str, values: Mapping[str, str]) -> str:
    """``{name}`` filled from ``values`` (any name); a missing one as ``【待填:name】``."""
    out = []
    for part in parse_template(template):
        if part.kind != "variable":
            out.append(part.value)
            continue
        value = values.get(part.value.strip())
        out.append(value if value else f"【待填:{part.value.strip()}】")
    return "".join(out)


class RulesSource:
    """The rules of a file, re-read when the file changes (a stat per use); a file that
    stops being valid keeps the rules last read, with a warning."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._stamp: tuple[float, int] | None = None
        self._rules: list[Rule] = []
        self._lock = threading.Lock()

    def rules(self) -> list[Rule]:
        if self._path is None:
            return []
        try:
            stat = self._path.stat()
        except OSError:
            return self._rules
        stamp = (stat.st_mtime, stat.st_size)
        with self._lock:
            if stamp != self._stamp:
                self._stamp = stamp
                try:
                    self._rules = load_rules(self._path)
                except InputError as exc:
                    log.warning("next-best-action rules not reloaded: %s %s", exc, exc.problems)
            return self._rules
