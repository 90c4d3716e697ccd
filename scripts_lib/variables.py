"""``{variable}`` templates in script bodies: parsing, listing and filling.

The syntax is a small, safe subset of ``str.format``: ``{name}`` is a variable,
``{{`` and ``}}`` are literal braces, nothing else is special (no attribute access,
no format specs). A value is inserted literally, so a customer name that happens to
contain ``{x}`` is never expanded again, and on one line (``one_line``), so a nickname
with line breaks or invisible characters cannot add lines to a script. A variable
without a value is never left blank: it becomes a visible placeholder such as
``【待填:客户称呼】`` so the adviser sees what to fill in before pressing send.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Literal

from knowledge.text import strip_invisible
from scripts_lib.model import VARIABLES

#: Chinese labels of the variables, shown to advisers (placeholders, forms).
VARIABLE_LABELS: dict[str, str] = {
    "customer_name": "客户称呼",
    "adviser_name": "顾问称呼",
    "product": "产品",
    "company": "公司",
    "city": "城市",
    "today": "今天日期",
    "deadline": "截止日期",
    "date": "日期",
}

#: The visible stand-in for a variable that has no value.
PLACEHOLDER = "【待填:{label}】"
#: A placeholder anywhere in a text (its label in group 1).
PLACEHOLDER_PATTERN = re.compile(r"【待填:([^】]*)】")

PartKind = Literal["text", "variable", "malformed"]

_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|\{|\}")


@dataclass(frozen=True, slots=True)
class TemplatePart:
    """One piece of a parsed body.

    ``kind`` is ``"text"`` (``value`` is literal text, escapes already resolved),
    ``"variable"`` (``value`` is the name between the braces) or ``"malformed"``
    (``value`` is the offending source text: a lone ``{`` or ``}``, or ``{}``).
    ``offset`` is the 0-based position of the part in the body.
    """

    kind: PartKind
    value: str
    offset: int


@dataclass(frozen=True, slots=True)
class FilledScript:
    """A body with its variables filled in; ``missing`` names those without a value."""

    text: str
    missing: tuple[str, ...] = ()


def parse_template(body: str) -> list[TemplatePart]:
    """Split ``body`` into literal text, ``{variable}`` references and malformed braces."""
    parts: list[TemplatePart] = []
    buf: list[str] = []
    buf_start = 0

    def add_text(text: str, at: int) -> None:
        nonlocal buf_start
        if not buf:
            buf_start = at
        buf.append(text)

    def flush() -> None:
        if buf:
            parts.append(TemplatePart("text", "".join(buf), buf_start))
            buf.clear()

    pos = 0
    for match in _TOKEN.finditer(body):
        start, end = match.span()
        if start > pos:
            add_text(body[pos:start], pos)
        token = match.group(0)
        if token in ("{{", "}}"):
            add_text(token[0], start)
        else:
            flush()
            name = match.group(1)
            if name and name.strip():  # "{name}"
                parts.append(TemplatePart("variable", name, start))
            else:  # "{}", "{ }", a lone "{" or a lone "}"
                parts.append(TemplatePart("malformed", token, start))
        pos = end
    if pos < len(body):
        add_text(body[pos:], pos)
    flush()
    return parts


def variables_in(body: str) -> list[str]:
    """Names of the ``{variables}`` in ``body``, in order of first appearance, each once."""
    seen: dict[str, None] = {}
    for part in parse_template(body):
        if part.kind == "variable":
            seen.setdefault(part.value, None)
    return list(seen)


def chinese_date(day: date, *, today: date | None = None) -> str:
    """``12月6日``; with the year (``2027年1月15日``) when it is not ``today``'s year."""
    if today is not None and day.year != today.year:
        return f"{day.year}年{day.month}月{day.day}日"
    return f"{day.month}月{day.day}日"


def date_values(*, today: date, deadline: date | None = None) -> dict[str, str | None]:
    """The date variables of a script on ``today`` (the local day of sending):
    ``{today}``, and ``{deadline}`` while the script's deadline has not passed (after it,
    the adviser sees a placeholder: the offer is over). ``{date}`` is never filled
    here: it used to mean the day of sending by accident (README.md, "Variables")."""
    return {
        "today": chinese_date(today),
        "deadline": (
            chinese_date(deadline, today=today)
            if deadline is not None and deadline >= today
            else None
        ),
    }


def placeholder(name: str) -> str:
    """The visible stand-in for variable ``name``, e.g. ``【待填:客户称呼】``."""
    return PLACEHOLDER.format(label=VARIABLE_LABELS.get(name, name))


def blanks_in(text: str) -> list[str]:
    """The labels of the placeholders still in ``text`` (``【待填:城市】`` -> 城市), in
    order, each once: a text holding any is not ready to send."""
    return list(dict.fromkeys(m.group(1) for m in PLACEHOLDER_PATTERN.finditer(text)))


def one_line(value: str) -> str:
    """``value`` as one line: control and format characters (bidi overrides, zero-width
    joiners …) dropped, every run of whitespace, line breaks included, one space."""
    return " ".join(strip_invisible(value).split())


def fill(body: str, values: Mapping[str, str | None]) -> FilledScript:
    """Fill the ``{variables}`` of ``body`` from ``values``.

    A variable whose value is absent, ``None`` or blank, and any variable that is not
    one of ``VARIABLES``, becomes a placeholder (see ``placeholder``) and is listed in
    ``missing``. ``{{`` and ``}}`` become ``{`` and ``}``; malformed braces are kept
    as written (``lint`` rejects them on import). Values are inserted literally, each on
    one line (``one_line``).
    """
    out: list[str] = []
    missing: dict[str, None] = {}
    for part in parse_template(body):
        if part.kind != "variable":
            out.append(part.value)
            continue
        value = values.get(part.value) if part.value in VARIABLES else None
        value = one_line(value) if value is not None else ""
        if not value:
            missing.setdefault(part.value, None)
            out.append(placeholder(part.value))
        else:
            out.append(value)
    return FilledScript(text="".join(out), missing=tuple(missing))
