"""Mask personal data before any text leaves for an LLM (or reaches a report).

``mask_pii`` replaces mainland mobile numbers, landlines with an area code, resident ID
numbers (18 and 15 digits), bank card numbers, e-mail addresses, and WeChat ids and QQ
numbers introduced as such (「微信号 abc_123」「QQ 12345678」) with Chinese placeholder
tokens (【手机号】 …). ``find_pii`` reports where they are; ``mask_names`` replaces given
names (a customer's own name in an adviser's message).

How numbers are found: one regex finds *runs* of digit groups joined by short separators
(spaces, tabs, line breaks, zero-width characters, dashes, dots and middle dots, slashes,
underscores, full-width and enumeration commas, a closing bracket after an area code or a
mobile's first three digits); each run is split into its groups and the longest span of
consecutive groups that has the shape of a known kind is taken, left to right. So
``2026-01-15 13812345678`` masks only the phone, and prices, years, dates, short codes
and order numbers (no known shape) stay as they are. Digits are ASCII, full-width
(１３８…) or Chinese numerals (一三八 / 幺三八 / 零〇 / 两); each counts as one digit, so
positions carry over. A run touching an ASCII letter (``SO2026…``, ``abc123``) is never a
number of ours, unless the letters are a phone label (``tel13800138000``) or follow a
mobile number. Shapes accepted:

- mobile: 11 digits ``1[3-9]…`` as one group (also with letters typed right after it),
  3-4-4, 3-8, 7-4, 4-4-3, 3-3-5, any grouping in pieces of at most four digits
  (``13 800 138 000``, ``1 3 8 0 …``), the first three in brackets (``(138) 0013 8000``),
  optionally after +86 / 0086 / 86;
- ID card: 18 digits (a valid birth date inside) as one group, 6-8-4, 6-4-4-4 or
  3-3-4-4-4, or grouped any other way when its check digit is right; 15 digits, 6-6-3;
- bank card: 16–19 digits as one group, or in groups of 4, 5 or 6 (the last shorter),
  when Luhn-valid, UnionPay (62…), grouped, or next to words about a card — and never
  right after words about an order or a parcel.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Literal

PiiKind = Literal["mobile", "landline", "id_card", "bank_card", "email", "wechat", "qq"]

#: The token that replaces each kind of personal data.
TOKENS: dict[PiiKind, str] = {
    "mobile": "【手机号】",
    "landline": "【电话】",
    "id_card": "【身份证号】",
    "bank_card": "【银行卡号】",
    "email": "【邮箱】",
    "wechat": "【微信号】",
    "qq": "【QQ号】",
}
#: What ``mask_names`` puts in place of a name.
NAME_TOKEN = "【客户】"

# Digits: ASCII and full-width, or Chinese numerals (each one character for one digit).
# A run is made of one or the other (「张三13812345678」: 三 is not part of the number).
_DIGIT_CHARS = "0-9\uff10-\uff19"
_CN_DIGITS = "零〇一幺二两三四五六七八九"
_TO_ASCII_DIGITS = str.maketrans(
    "０１２３４５６７８９" + _CN_DIGITS + "ＸｘXx", "0123456789" + "0011223456789" + "XXXX"
)
# A separator between two digit groups: up to three of space (ASCII, no-break,
# ideographic), tab, line break, an invisible zero-width character, dash (ASCII, Unicode
# hyphens and dashes, full-width), dot (also the middle dots · ・ •), slash, underscore,
# full-width comma or the enumeration comma 、. (No ASCII comma: 13,800,138,000 is a
# price.)
_SEP = (
    "[ \t\r\n\u00a0\u3000\u200b-\u200d\u2060\ufeff\\-\u2010-\u2015\uff0d./_"
    "\uff0c\uff0e\uff0f\u00b7\u30fb\u2022\u3001]"
)
_CLOSE = "[)）]"
# Keywords that make a 16–19 digit number a bank card even when it fails the Luhn check
# (some older domestic debit cards do); looked for just before the number.
_CARD_CONTEXT = ("卡号", "银行卡", "银行", "账号", "帐号", "账户", "帐户", "卡")
# ... and keywords that make a single long number something else (an order, a parcel).
_NOT_CARD_CONTEXT = ("订单", "单号", "运单", "快递", "物流", "编号", "流水", "工单", "发票")
_CARD_CONTEXT_CHARS = 8
# Letters that may touch a phone number ("tel13800138000"), lower case.
_PHONE_LABELS = frozenset(
    {"tel", "tele", "telephone", "phone", "mobile", "mob", "cell", "call", "hp", "no"}
)
# At most this many groups form one number: a mobile spelled digit by digit has eleven
# (bank card 4-4-4-4-3 has five). Bounds the span search on pathological input.
_MAX_GROUPS = 11
# Digits in the shortest number (mobile; landline 0xxx-xxxxxxx) and the longest (bank card).
_MIN_DIGITS = 11
_MAX_DIGITS = 19
_MOBILE_SHAPES = {(11,), (3, 4, 4), (3, 8), (7, 4), (4, 4, 3), (3, 3, 5)}
_LANDLINE_LOCAL_SHAPES = {(7,), (8,), (3, 4), (4, 3), (4, 4)}
_ID18_SHAPES = {(18,), (6, 8, 4), (6, 4, 4, 4), (3, 3, 4, 4, 4)}
_ID15_SHAPES = {(15,), (6, 6, 3)}
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
# E-mail: a non-ASCII local part (张三@163.com) is at most this many characters, and
# stops at words that usually come before an address.
_LOCAL_CJK_CHARS = 4
_LOCAL_STOPS = frozenset("是为的：:到给至往发箱址件")


@dataclass(frozen=True, slots=True)
class PiiMatch:
    """One piece of personal data: its kind and its ``text[start:end]`` span."""

    kind: PiiKind
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class _Patterns:
    run: re.Pattern[str]
    cn_run: re.Pattern[str]
    group: re.Pattern[str]
    email: re.Pattern[str]
    wechat: re.Pattern[str]
    qq: re.Pattern[str]
    mobile: re.Pattern[str]
    id18: re.Pattern[str]
    id15: re.Pattern[str]


@cache
def _patterns() -> _Patterns:
    """Compiled once, on first use (nothing is compiled at import)."""
    return _Patterns(
        # Greedy and unambiguous (digits and separators are disjoint), so linear; the
        # look-behind keeps a run from starting inside a longer one.
        run=re.compile(
            rf"(?<![{_DIGIT_CHARS}+])\+?[{_DIGIT_CHARS}]+"
            rf"(?:(?:{_SEP}{{1,3}}|{_CLOSE}{_SEP}{{0,3}})[{_DIGIT_CHARS}]+)*"
            rf"[XxＸｘ]?(?![{_DIGIT_CHARS}])"
        ),
        cn_run=re.compile(
            rf"(?<![{_CN_DIGITS}])[{_CN_DIGITS}]+(?:{_SEP}{{1,3}}[{_CN_DIGITS}]+)*(?![{_CN_DIGITS}])"
        ),
        group=re.compile(r"[0-9]+X?"),
        # The look-behind stops a match from starting inside a longer word, which also
        # keeps the scan linear on long runs without an "@". The local part may hold
        # CJK letters (张三@163.com; trimmed afterwards); "＠" and "．" count as well.
        email=re.compile(
            r"(?<![A-Za-z0-9._%+\-\u4e00-\u9fff])[A-Za-z0-9\u4e00-\u9fff]"
            r"[A-Za-z0-9._%+\-\u4e00-\u9fff]*"
            r"[@＠][A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?"
            r"(?:[.．][A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*[.．][A-Za-z]{2,24}"
            r"(?![A-Za-z0-9\-])"
        ),
        # WeChat ids are 6–20 letters, digits, "_" or "-", starting with a letter (wxid_…
        # too); only when introduced as such. Group 1 is the id.
        wechat=re.compile(
            r"(?:微信号?|微信id|薇信|威信|(?<![A-Za-z0-9])v信"
            r"|(?<![A-Za-z0-9])(?:wechat(?:\s*id)?|weixin|[vw]x)(?=[\s:：号是为]))"
            r"(?:\s*(?:号|id|是|为|[:：]|号码))*\s*"
            r"([A-Za-z][A-Za-z0-9_\-]{5,19})(?![A-Za-z0-9_\-])",
            re.IGNORECASE,
        ),
        # QQ numbers: 5–12 digits, not starting with 0, after "QQ" / "扣扣" (group 1).
        qq=re.compile(
            r"(?<![A-Za-z0-9])(?:[qQＱｑ]\s?[qQＱｑ]|扣扣)(?:\s*(?:号|号码|是|为|[:：]))*\s*"
            r"([1-9][0-9]{4,11})(?![0-9])"
        ),
        mobile=re.compile(r"1[3-9][0-9]{9}"),
        # area (6) + birth date YYYYMMDD, loosely checked + sequence (3) + check char
        id18=re.compile(
            r"[1-9][0-9]{5}(?:18|19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])"
            r"[0-9]{3}[0-9X]"
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
    if "@" in text or "＠" in text:
        found.extend(_emails(text, patterns))
    labelled: tuple[tuple[PiiKind, re.Pattern[str]], ...] = (
        ("wechat", patterns.wechat),
        ("qq", patterns.qq),
    )
    for kind, pattern in labelled:
        found.extend(PiiMatch(kind, m.start(1), m.end(1)) for m in pattern.finditer(text))
    for run in patterns.run.finditer(text):
        found.extend(_numbers_in_run(text, run, patterns))
    for run in patterns.cn_run.finditer(text):
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


def mask_names(text: str, names: Iterable[str | None], token: str = NAME_TOKEN) -> str:
    """``text`` with each of ``names`` (two characters or longer) replaced by ``token``,
    longest first (「张丽丽」 before 「张丽」)."""
    wanted = sorted({n.strip() for n in names if n and len(n.strip()) >= 2}, key=len, reverse=True)
    for name in wanted:
        text = text.replace(name, token)
    return text


def _emails(text: str, patterns: _Patterns) -> list[PiiMatch]:
    """E-mail addresses; a local part starting with CJK letters keeps only the last few
    of them, after the words that lead to an address (「邮箱是张三@163.com」)."""
    found = []
    for m in patterns.email.finditer(text):
        at = m.start() + re.search("[@＠]", m.group()).start()  # type: ignore[union-attr]
        position = at
        while position > m.start() and text[position - 1].isascii():
            position -= 1
        # CJK letters belong to the address only when the ASCII part cannot stand alone
        # (李四_01@…, 张三@…); 「我是zhang@…」 is zhang@….
        if position == at or text[position] in "._%+-":
            letters = 0
            while (
                position > m.start()
                and text[position - 1] not in _LOCAL_STOPS
                and letters < _LOCAL_CJK_CHARS
            ):
                position -= 1
                letters += 1
        if position < at:
            found.append(PiiMatch("email", position, m.end()))
    return found


def _numbers_in_run(text: str, run: re.Match[str], patterns: _Patterns) -> list[PiiMatch]:
    """The numbers in one run of digit groups, longest span of groups first."""
    offset = run.start()
    if not _free_standing(text, run.start(), run.end()) and not _mobile_before_letters(
        text, run, patterns
    ):
        return []
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
                kind in ("landline", "mobile")
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


def _mobile_before_letters(text: str, run: re.Match[str], patterns: _Patterns) -> bool:
    """A mobile number written as one group with letters right after it (「13800138000a」,
    a slip of the keyboard) and none before: still a phone."""
    start = run.start()
    if start > 0 and text[start - 1].isascii() and text[start - 1].isalpha():
        return False
    return bool(patterns.mobile.fullmatch(run.group().translate(_TO_ASCII_DIGITS)))


def _free_standing(text: str, start: int, end: int) -> bool:
    """False when the run touches an ASCII letter (a product code, an order number …),
    except a phone label just before it (tel13800138000)."""
    if end < len(text) and text[end].isascii() and text[end].isalpha():
        return False
    if start == 0 or not (text[start - 1].isascii() and text[start - 1].isalpha()):
        return True
    word_start = start
    while word_start > 0 and text[word_start - 1].isascii() and text[word_start - 1].isalpha():
        word_start -= 1
    return text[word_start:start].lower() in _PHONE_LABELS


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
        if closed[0] and not any(closed[1:]):
            if _is_landline(parts):
                return "landline"
            if len(parts[0]) == 3 and _is_mobile(parts, plus=False, patterns=patterns):
                return "mobile"  # (138) 0013 8000
        return None
    if digits[-1] == "X":
        return "id_card" if _is_id18(digits, shape, patterns) else None
    if "X" in digits:
        return None
    if _is_mobile(parts, plus=plus, patterns=patterns):
        return "mobile"
    if plus:
        return None
    if digits[0] == "0" and _is_landline(parts):
        return "landline"
    if _is_id18(digits, shape, patterns):
        return "id_card"
    if shape in _ID15_SHAPES and patterns.id15.fullmatch(digits):
        return "id_card"
    if 16 <= len(digits) <= 19 and (len(shape) == 1 or _card_groups(shape)):
        return "bank_card"
    return None


def _card_groups(shape: tuple[int, ...]) -> bool:
    """Groups of 4, 5 or 6 digits, the last one no longer than the others."""
    size = shape[0]
    return (
        len(shape) >= 3
        and size in (4, 5, 6)
        and all(n == size for n in shape[:-1])
        and 1 <= shape[-1] <= size
    )


def _is_mobile(parts: list[str], *, plus: bool, patterns: _Patterns) -> bool:
    """11 digits 1[3-9]…, optionally after +86 / 0086 / 86, in one of the usual groupings
    or spelled digit by digit."""
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
    # Any grouping in pieces of at most four digits is how people read a number out
    # (13 800 138 000, 1 38 0013 8000, digit by digit); four of at most 255 is an IPv4
    # address (192.168.10.100).
    ipv4 = len(rest) == 4 and all(len(p) <= 3 and int(p) <= 255 for p in rest)
    read_out = max(shape) <= 4 and not ipv4
    return (shape in _MOBILE_SHAPES or read_out) and bool(patterns.mobile.fullmatch("".join(rest)))


def _is_id18(digits: str, shape: tuple[int, ...], patterns: _Patterns) -> bool:
    """18 characters with a birth date, in a usual grouping, or any grouping of at most
    six groups when the check character is right."""
    if len(digits) != 18 or not patterns.id18.fullmatch(digits):
        return False
    if shape in _ID18_SHAPES:
        return True
    total = sum(int(d) * w for d, w in zip(digits[:17], _ID_WEIGHTS, strict=True))
    return len(shape) <= 6 and _ID_CHECK[total % 11] == digits[17]


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
    """Luhn-valid, written in groups, a UnionPay number (62…), or after words about a
    card or account; never a single number right after words about an order or parcel."""
    digits = "".join(chars[a:b] for a, b in span)
    before = text[max(0, start - _CARD_CONTEXT_CHARS) : start]
    if any(word in before for word in _CARD_CONTEXT):
        return True
    if len(span) == 1 and any(word in before for word in _NOT_CARD_CONTEXT):
        return False
    return len(span) > 1 or digits.startswith("62") or _luhn_ok(digits)


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
