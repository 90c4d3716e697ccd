"""Mask personal data before any text leaves for an LLM.

``mask_pii`` replaces mainland mobile numbers, landlines with an area code, resident ID
numbers (18 and 15 digits), bank card numbers and e-mail addresses with Chinese
placeholder tokens (【手机号】 …). ``find_pii`` reports where they are.

How numbers are found: one regex finds *runs* of digit groups joined by single
separators (space, dash, a closing bracket after an area code); each run is split into
its groups and the longest span of consecutive groups that has the shape of a known kind
is taken, left to right. So ``2026-01-15 13812345678`` masks only the phone, and prices,
years, dates, short codes and order numbers (no known shape) stay as they are. Runs touching
an ASCII letter or digit (``SO2026…``, ``abc123``) are never numbers of ours. Full-width
digits (１３８…) count as digits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Literal

PiiKind = Literal["mobile", "landline", "id_card", "bank_card", "email"]

#: The token that replaces each kind of personal data.
TOKENS: dict[PiiKind, str] = {
    "mobile": "【手机号】",
    "landline": "【电话】",
    "id_card": "【身份证号】",
    "bank_card": "【银行卡号】",
    "email": "【邮箱】",
}

_DIGIT = "[0-9\uff10-\uff19]"
_TO_ASCII_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")
# A separator allowed between two digit groups: one space (ASCII, no-break, ideographic)
# or one dash (ASCII, Unicode hyphens and dashes, full-width).
_SEP = "[ \u00a0\u3000\\-\u2010-\u2015\uff0d]"
_CLOSE = "[)）]"
# Keywords that make a 16–19 digit number a bank card even when it fails the Luhn check
# (some older domestic debit cards do); looked for just before the number.
_CARD_CONTEXT = ("卡号", "银行卡", "银行", "账号", "帐号", "账户", "帐户", "卡")
_CARD_CONTEXT_CHARS = 8
# At most this many groups form one number (bank card 4-4-4-4-3 has five; +86 prefix and
# a 3-4-4 mobile has four). Bounds the span search on pathological input.
_MAX_GROUPS = 5
# Digits in the shortest number (mobile; landline 0xxx-xxxxxxx) and the longest (bank card).
_MIN_DIGITS = 11
_MAX_DIGITS = 19
_MOBILE_SHAPES = {(11,), (3, 4, 4), (3, 8), (7, 4)}
_LANDLINE_LOCAL_SHAPES = {(7,), (8,), (3, 4), (4, 4)}
_ID18_SHAPES = {(18,), (6, 8, 4), (6, 4, 4, 4)}
_ID15_SHAPES = {(15,), (6, 6, 3)}


@dataclass(frozen=True, slots=True)
class PiiMatch:
    """One piece of personal data: its kind and its ``text[start:end]`` span."""

    kind: PiiKind
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class _Patterns:
    run: re.Pattern[str]
    group: re.Pattern[str]
    email: re.Pattern[str]
    mobile: re.Pattern[str]
    id18: re.Pattern[str]
    id15: re.Pattern[str]


@cache
def _patterns() -> _Patterns:
    """Compiled once, on first use (nothing is compiled at import)."""
    return _Patterns(
        run=re.compile(
            rf"(?<![0-9\uff10-\uff19A-Za-z+])\+?{_DIGIT}+(?:(?:{_SEP}|{_CLOSE}{_SEP}?){_DIGIT}+)*"
            rf"[Xx]?(?![0-9\uff10-\uff19A-Za-z])"
        ),
        group=re.compile(r"[0-9]+[Xx]?"),
        # The look-behind stops a match from starting inside a longer word, which also
        # keeps the scan linear on long runs without an "@".
        email=re.compile(
            r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9][A-Za-z0-9._%+\-]*"
            r"@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?"
            r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}"
            r"(?![A-Za-z0-9\-])"
        ),
        mobile=re.compile(r"1[3-9][0-9]{9}"),
        # area (6) + birth date YYYYMMDD, loosely checked + sequence (3) + check char
        id18=re.compile(
            r"[1-9][0-9]{5}(?:18|19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])"
            r"[0-9]{3}[0-9Xx]"
        ),
        # area (6) + birth date YYMMDD + sequence (3)
        id15=re.compile(
            r"[1-9][0-9]{5}[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}"
        ),
    )


def find_pii(text: str) -> list[PiiMatch]:
    """Every piece of personal data in ``text``, sorted by position, never overlapping."""
    if not text:
        return []
    patterns = _patterns()
    found: list[PiiMatch] = []
    if "@" in text:
        found.extend(PiiMatch("email", m.start(), m.end()) for m in patterns.email.finditer(text))
    for run in patterns.run.finditer(text):
        found.extend(_numbers_in_run(text, run, patterns))
    if not found:
        return []
    # An e-mail such as 13812345678@163.com contains a "mobile": keep the earlier,
    # longer match and drop whatever overlaps it.
    found.sort(key=lambda m: (m.start, -m.end))
    kept: list[PiiMatch] = []
    for match in found:
        if not kept or match.start >= kept[-1].end:
            kept.append(match)
    return kept


def mask_pii(text: str) -> str:
    """``text`` with every piece of personal data replaced by its token (see ``TOKENS``)."""
    matches = find_pii(text)
    if not matches:
        return text
    parts: list[str] = []
    position = 0
    for match in matches:
        parts.append(text[position : match.start])
        parts.append(TOKENS[match.kind])
        position = match.end
    parts.append(text[position:])
    return "".join(parts)


def _numbers_in_run(text: str, run: re.Match[str], patterns: _Patterns) -> list[PiiMatch]:
    """The numbers in one run of digit groups, longest span of groups first."""
    offset = run.start()
    # Same length as the run (one character for one), so offsets carry over.
    chars = run.group().translate(_TO_ASCII_DIGITS)
    groups = [(m.start(), m.end()) for m in patterns.group.finditer(chars)]
    plus = chars.startswith("+")
    # digits[i:j] of the groups is cumulative[j] - cumulative[i]: a cheap pre-check, as
    # most runs are prices, dates and short codes.
    cumulative = [0]
    for start, end in groups:
        cumulative.append(cumulative[-1] + end - start)
    found: list[PiiMatch] = []
    i = 0
    while i < len(groups):
        last = min(len(groups), i + _MAX_GROUPS)
        if cumulative[last] - cumulative[i] < _MIN_DIGITS:
            i += 1
            continue
        for j in range(last, i, -1):
            if not _MIN_DIGITS <= cumulative[j] - cumulative[i] <= _MAX_DIGITS:
                continue
            span = groups[i:j]
            kind = _classify(chars, span, plus=plus and i == 0, patterns=patterns)
            if kind is None:
                continue
            start = offset + span[0][0]
            if kind == "mobile" and plus and i == 0:
                start -= 1  # the "+" of "+86"
            elif (
                kind == "landline"
                and len(span) > 1
                and chars[span[0][1]] in ")）"
                and text[start - 1 : start] in ("(", "（")
            ):
                start -= 1  # "(010)12345678": the opening bracket goes too
            if kind == "bank_card" and not _is_bank_card(text, start, chars, span):
                continue
            found.append(PiiMatch(kind, start, offset + span[-1][1]))
            i = j
            break
        else:
            i += 1
    return found


def _classify(
    chars: str, span: list[tuple[int, int]], *, plus: bool, patterns: _Patterns
) -> PiiKind | None:
    """The kind of number the groups ``span`` of ``chars`` form, if any. A bank card is
    only a candidate here (its context is checked by the caller)."""
    parts = [chars[start:end] for start, end in span]
    digits = "".join(parts)
    shape = tuple(len(part) for part in parts)
    # Only a landline's area code may be followed by a closing bracket.
    closed = [chars[end] in ")）" for _, end in span[:-1]]
    if any(closed):
        if closed[0] and not any(closed[1:]) and _is_landline(parts):
            return "landline"
        return None
    if digits[-1] in "Xx":
        if shape in _ID18_SHAPES and patterns.id18.fullmatch(digits):
            return "id_card"
        return None
    if _is_mobile(parts, plus=plus, patterns=patterns):
        return "mobile"
    if plus:
        return None
    if digits[0] == "0" and _is_landline(parts):
        return "landline"
    if shape in _ID18_SHAPES and patterns.id18.fullmatch(digits):
        return "id_card"
    if shape in _ID15_SHAPES and patterns.id15.fullmatch(digits):
        return "id_card"
    if 16 <= len(digits) <= 19 and (
        len(shape) == 1
        or (len(shape) >= 4 and all(n == 4 for n in shape[:-1]) and 1 <= shape[-1] <= 4)
    ):
        return "bank_card"
    return None


def _is_mobile(parts: list[str], *, plus: bool, patterns: _Patterns) -> bool:
    """11 digits 1[3-9]…, optionally after +86 / 0086 / 86, as one group or 3-4-4 etc."""
    rest = list(parts)
    for prefix in ("0086", "86"):
        if rest[0].startswith(prefix) and (plus or prefix == "0086" or len(rest[0]) in (2, 13)):
            rest[0] = rest[0][len(prefix) :]
            if not rest[0]:
                rest.pop(0)
            break
    if not rest:
        return False
    shape = tuple(len(part) for part in rest)
    return shape in _MOBILE_SHAPES and bool(patterns.mobile.fullmatch("".join(rest)))


def _is_landline(parts: list[str]) -> bool:
    """Area code 010 / 02x (then 8 digits) or 0[3-9]xx (then 7–8 digits); the local
    number does not start with 0."""
    digits = "".join(parts)
    if len(digits) < 2 or digits[0] != "0" or digits[1] == "0":
        return False
    area_len = 3 if digits[1] in "12" else 4
    if digits[1] == "1" and digits[2] != "0":
        return False  # 01x other than 010 is not an area code
    local = digits[area_len:]
    local_lengths = (8,) if area_len == 3 else (7, 8)
    if len(local) not in local_lengths or local[0] == "0":
        return False
    if len(parts) == 1:
        return True
    return len(parts[0]) == area_len and tuple(len(p) for p in parts[1:]) in _LANDLINE_LOCAL_SHAPES


def _is_bank_card(text: str, start: int, chars: str, span: list[tuple[int, int]]) -> bool:
    """Luhn-valid always; otherwise when written in groups of four, when it is a UnionPay
    number (62…), or when the words just before it talk about a card or account."""
    digits = "".join(chars[a:b] for a, b in span)
    if len(span) > 1 or digits.startswith("62") or _luhn_ok(digits):
        return True
    before = text[max(0, start - _CARD_CONTEXT_CHARS) : start]
    return any(word in before for word in _CARD_CONTEXT)


def _luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0
