"""Declared row models for data files, and their problems with file line numbers.

The rows of a data file (a line of a CSV / XLSX table, an item of a YAML list) are
validated by pydantic models derived from ``RowModel`` (frozen; unknown keys refused).
``problems_of`` turns a ``ValidationError`` into ``Problem``\\ s that name the file's line,
where in the file the item is, the field and what is wrong with it, e.g.::

    line 7: categories[1].tags[2]: name is longer than 100 characters
    line 3: rule 2 (birthday-care): action must be 'remind' or 'mark_silent', not 'shout'

Validators of a row model raise ``ValueError`` with a message that names the field
(``birthday '1990-02-30' is not a date like 1990-02-28``); it is used as it is.
An importer collects the problems of every row and raises one ``InputError`` with all of
them (nothing imported), the way every importer of the project reports bad files:
``refuse``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import ErrorDetails

from knowledge.errors import InputError

__all__ = [
    "Location",
    "Problem",
    "RowModel",
    "problems_of",
    "refuse",
    "scalar_text",
    "stripped_text",
]

#: Where a pydantic error is: keys and 0-based list indexes, outermost first.
Location = tuple[str | int, ...]


class RowModel(BaseModel):
    """Base of the row models of data files: frozen, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem of a data file: its line (0 if unknown), the item and what is wrong."""

    line: int
    where: str
    message: str

    def __str__(self) -> str:
        head = f"第 {self.line} 行：" if self.line else ""
        return head + (f"{self.where}：" if self.where else "") + self.message


def scalar_text(value: object) -> object:
    """A YAML scalar as text (``2024`` → ``"2024"``, a null → ``""``); anything else as it
    is, for the model to refuse. For ``BeforeValidator``\\ s of text fields."""
    if value is None:
        return ""
    if isinstance(value, bool | int | float | dt.date):
        return str(value)
    return value


def stripped_text(value: object) -> object:
    """``scalar_text``, stripped. (In a ``BeforeValidator``: pydantic checks the length
    constraints of an ``Annotated`` text after it, on the stripped text.)"""
    value = scalar_text(value)
    return value.strip() if isinstance(value, str) else value


def refuse(
    name: str, problems: Sequence[Problem], *, outcome: str = "没有导入任何内容"
) -> NoReturn:
    """The ``InputError`` of a file with ``problems``: 「x.yaml：3 处问题，没有导入任何内容」
    and every problem, by line (a line's problems keep their order)."""
    ordered = sorted(problems, key=lambda p: p.line)
    raise InputError(f"{name}：{len(ordered)} 处问题，{outcome}", [str(p) for p in ordered])


def problems_of(
    error: ValidationError,
    *,
    line: int | Callable[[Location], int | None] = 0,
    where: str = "",
) -> list[Problem]:
    """The problems in ``error``, one per pydantic error, in the file's words.

    ``line`` is the row's line, or a function from an error's location to its line (e.g.
    ``knowledge.files.yaml_line`` over the loaded data); ``where`` names the item that
    was validated (``rule 2 (birthday-care)``), and the error's own location is added
    to it (``categories[1].tags[2]``).
    """
    problems: list[Problem] = []
    for detail in error.errors(include_url=False):
        loc: Location = tuple(detail["loc"])
        found = line(loc) if callable(line) else line
        subject, parent = _split(loc)
        place = "：".join(p for p in (where, _path(parent)) if p)
        problem = Problem(found or 0, place, _message(detail, subject))
        if problem not in problems:
            problems.append(problem)
    return problems


def _split(loc: Location) -> tuple[str, Location]:
    """The subject of an error (its field, with the list indexes after it) and the
    location of the item holding it."""
    end = len(loc)
    start = end
    while start > 0 and isinstance(loc[start - 1], int):
        start -= 1
    if start > 0:
        start -= 1  # the field the indexes belong to
    return _path(loc[start:end]), loc[:start]


def _path(loc: Sequence[str | int]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part + 1}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _message(detail: ErrorDetails, subject: str) -> str:
    kind = detail["type"]
    ctx: dict[str, Any] = dict(detail.get("ctx") or {})
    text = isinstance(detail.get("input"), str)
    # Length limits are "string_too_…" on plain text fields, "too_…" on any other or on
    # text with a validator in front.
    short = kind in ("string_too_short", "too_short") and ctx.get("min_length") == 1
    if kind in ("value_error", "assertion_error") and "error" in ctx:
        return str(ctx["error"])
    if kind == "missing":
        return f"缺少字段 {subject}"
    if short and text:  # the column is there, its cell is empty
        return f"{subject} 不能为空"
    if kind == "extra_forbidden":
        return f"未知字段 {subject}"
    expected = _EXPECTED.get(kind)
    if expected:
        return f"{subject} 应为{expected}" if subject else f"应为{expected}"
    it = subject or "值"
    if short:
        return f"{it} 不能是空列表"
    if kind in ("string_too_long", "too_long") and text:
        return f"{it} 超过 {ctx.get('max_length')} 个字符"
    bound = _BOUNDS.get(kind)
    if bound is not None and bound[0] in ctx:
        return f"{it} {bound[1]} {ctx[bound[0]]}"
    if kind == "literal_error":
        choices = str(ctx.get("expected")).replace(" or ", " 或 ")
        return f"{it} 只能是 {choices}，不是 {_shown(detail.get('input'))}"
    # a type without a Chinese message of its own: pydantic's words are English
    return f"{it}：{_PYDANTIC.get(kind, '格式不对')}"


_EXPECTED = {
    "int_type": "整数",
    "int_parsing": "整数",
    "int_from_float": "整数",
    "string_type": "文本",
    "list_type": "列表",
    "tuple_type": "列表",
    "dict_type": "映射（键: 值）",
    "model_type": "映射（键: 值）",
    "model_attributes_type": "映射（键: 值）",
}
#: A bound a value breaks: its limit's name in the error's context and the rule.
_BOUNDS = {
    "greater_than_equal": ("ge", "不能小于"),
    "less_than_equal": ("le", "不能大于"),
    "greater_than": ("gt", "要大于"),
    "less_than": ("lt", "要小于"),
}
#: Pydantic's other messages, by their type.
_PYDANTIC = {
    "float_type": "应为数字",
    "float_parsing": "应为数字",
    "bool_type": "应为 true 或 false",
    "bool_parsing": "应为 true 或 false",
    "date_type": "应为日期",
    "date_parsing": "应为日期（如 2026-01-31）",
    "date_from_datetime_parsing": "应为日期（如 2026-01-31）",
    "datetime_type": "应为日期时间",
    "datetime_parsing": "应为 ISO 日期时间",
    "greater_than_equal": "太小",
    "less_than_equal": "太大",
    "greater_than": "太小",
    "less_than": "太大",
    "enum": "不是可选的值",
    "finite_number": "应为有限的数字",
    "path_type": "应为路径（文本）",
    "int_parsing_size": "数字太大",
    "none_required": "应为空",
    "url_parsing": "应为网址",
    "url_scheme": "网址应以 http:// 或 https:// 开头",
}


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
