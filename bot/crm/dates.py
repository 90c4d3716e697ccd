"""Dates and date-times as people write them in data files and on the command line."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo


def parse_date(text: str) -> date:
    """``2026-02-28``, ``2026/2/28``, ``2026.2.28``, ``20260228`` or ``2026年2月28日``."""
    text = text.strip()
    if re.fullmatch(r"\d{8}", text):
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    m = re.fullmatch(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?", text)
    if m is None:
        m = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})[ T].*", text)  # a date-time cell
    if m is None:
        raise ValueError(text)
    return date(int(m[1]), int(m[2]), int(m[3]))


#: A birthday this many years back or more is a placeholder or a typo (1900-01-01).
MAX_AGE_YEARS = 120


def parse_birthday(text: str, today: date) -> date:
    """A date as ``parse_date`` reads it that a living customer can have been born on:
    not after ``today``, not ``MAX_AGE_YEARS`` or more before it (ValueError in Chinese:
    a 2099 birthday was saved without a word)."""
    try:
        born = parse_date(text)
    except ValueError:
        raise ValueError(f"生日 {text!r} 不是日期（如 1990-02-28）") from None
    if born > today:
        raise ValueError(f"生日 {born.isoformat()} 还没到（今天是 {today.isoformat()}）")
    if born.year <= today.year - MAX_AGE_YEARS:
        raise ValueError(f"生日 {born.isoformat()} 早于 {today.year - MAX_AGE_YEARS} 年，请核对")
    return born


#: A time as a spreadsheet shows it: ``2026/3/1 9:30`` (Excel's date cells, saved as CSV),
#: ``2026-3-1 9:30``, ``2026年3月1日 9:30``, ``2026/3/1 下午 2:30``.
SHEET_TIME = re.compile(
    r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:[\sT]*(上午|下午|AM|PM)?\s*(\d{1,2})[:：](\d{2})(?:[:：](\d{2}))?\s*(上午|下午|AM|PM)?)?",
    re.IGNORECASE,
)


def sheet_time(match: re.Match[str]) -> datetime:
    """The naive date-time a ``SHEET_TIME`` match writes (ValueError for no such day)."""
    year, month, day, before, hour, minute, second, after = match.groups()
    clock = int(hour or 0)
    half = (before or after or "").upper()
    if half in ("下午", "PM") and clock < 12:
        clock += 12
    elif half in ("上午", "AM") and clock == 12:
        clock = 0
    return datetime(int(year), int(month), int(day), clock, int(minute or 0), int(second or 0))


def parse_datetime(text: str, tz: ZoneInfo) -> datetime:
    """A date (local midnight), an ISO date-time or a time as a spreadsheet shows it
    (``2026/11/28 14:00``, ``2026年11月28日 下午 2:30``: ``SHEET_TIME``); naive values are
    local time. Returned in UTC (the store keeps UTC: SQLite drops the offset)."""
    sheet = SHEET_TIME.fullmatch(text.strip())
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        value = sheet_time(sheet) if sheet else datetime.combine(parse_date(text), time())
    try:
        return (value if value.tzinfo else value.replace(tzinfo=tz)).astimezone(UTC)
    except OverflowError as exc:  # e.g. 0001-01-01 local time is before year 1 in UTC
        raise ValueError(f"{text!r} 超出范围") from exc
