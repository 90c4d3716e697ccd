"""Profile fields as data: the fields file, values typed by their field, and values stated
in a customer's message (suggested with their evidence for a person to confirm).

Fields file (YAML; keys other than these are refused, every problem with its line)::

    version: 1
    fields:
      - name: 预算                 # unique; no spaces, none of = ! < > { }
        type: money                # number | money | date | choice | text
        unit: 元/年                 # shown after the value
        industry: insurance        # or general (the default): whose profiles show it
        description: 每年愿意投入的保费
        keywords: [预算, 保费预算]   # cue words: a value stated right after one is suggested
      - name: 收入区间
        type: choice
        choices: [10万以下, 10-30万, 30万以上]
      - name: 消费倾向
        type: choice
        choices:                   # a choice with words that state it
          - {value: 价格敏感, keywords: [便宜, 划算, 太贵]}
          - 品质优先
      - name: 职业
        type: text
        keywords: [职业是, 我是做]
        patterns: ['我在(?P<value>[^，。]{2,8})上班']   # regular expressions, group "value"

What a message can state: number / money fields a number after a cue word (「预算一年五千
左右」 → 5000: Arabic or Chinese numerals, 千 / 万 / k / w; for money, numbers of years,
months, people … are skipped); date fields a date after a cue word; choice fields a
choice's text or one of its keywords; text fields a pattern's ``value`` group, or the
words after a cue word.
A cue word or keyword right after a negation (没 / 不 / 无 …) states nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BeforeValidator,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bot.crm.dates import parse_date
from bot.errors import InputError
from bot.store.fields import REFERRER_FIELD, FieldSpec, Parsed
from bot.store.segments import NUMERIC_FIELDS, PROFILE_FIELDS
from bot.vocab import FieldType
from knowledge.files import load_yaml_file, yaml_line
from knowledge.rows import Problem, RowModel, problems_of, refuse, scalar_text, stripped_text
from knowledge.text import normalize

#: Names a field may not take: they mean something in filters and rules already.
RESERVED = (*PROFILE_FIELDS, "tag", "event", *NUMERIC_FIELDS, REFERRER_FIELD, "customer_name")
#: Longest field name, unit, value (the store's columns).
MAX_NAME_CHARS = 64
MAX_UNIT_CHARS = 20
MAX_VALUE_CHARS = 200
#: A cue word right after one of these states nothing (「没预算」).
NEGATIONS = ("没有", "没", "不", "无", "非", "未")
#: Characters after a cue word searched for a number or a date.
WINDOW = 12
#: Longest text value taken after a cue word.
TEXT_CHARS = 12
EVIDENCE_CHARS = 24
_NAME = re.compile(r"^[^\s=!<>{}]+$")
_ARABIC = r"\d+(?:\.\d+)?\s*(?:[万wW千kK百](?:\d(?!\d))?)?"
_CHINESE = r"[零〇一二两三四五六七八九十百千万]+"
_AMOUNT = re.compile(rf"(?P<ar>{_ARABIC})|(?P<cn>{_CHINESE})")
#: A number followed by one of these counts years, people … not an amount of money.
_NOT_AMOUNT = re.compile(r"^\s*(?:个月|年|月|周|天|日|号|岁|次|个|口|人|份|点|位|家|套|张|层)")
_DATE = re.compile(r"\d{4}\s*[-/.年]\s*\d{1,2}\s*[-/.月]\s*\d{1,2}\s*日?")
_TEXT_AFTER = re.compile(rf"[^，,。.！!？?；;、：:\s]{{1,{TEXT_CHARS}}}")
_PARTICLES = "的了啊呀呢哈吧哦嘛"
_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4}
_DIGITS |= {"五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_UNITS = {"十": 10, "百": 100, "千": 1000}
_ARABIC_UNITS = {"万": 10000, "w": 10000, "W": 10000, "千": 1000, "k": 1000, "K": 1000, "百": 100}
TYPE_LABELS: dict[str, str] = {
    "number": "数字",
    "money": "金额",
    "date": "日期",
    "choice": "选项",
    "text": "文本",
}


# --------------------------------------------------------------------------- the file
def _name(value: object, info: ValidationInfo) -> object:
    value = stripped_text(value)
    if isinstance(value, str) and value and not _NAME.match(value):
        raise ValueError(f"名称 {value!r} 不能含空格或 = ! < > {{ }} 中的字符")
    if value in RESERVED:
        raise ValueError(f"名称 {value!r} 已被占用（内置的筛选字段）")
    if isinstance(value, str) and value.lower() in (info.context or {}).get("columns", ()):
        raise ValueError(f"名称 {value!r} 已被占用（客户导入文件的列）")
    return value


def _texts(value: object) -> object:
    if value is None:
        return ()
    if isinstance(value, list):
        return tuple(stripped_text(v) for v in value)
    return value


def _industry(value: object) -> object:
    value = stripped_text(value)
    return value or "general"


Text = Annotated[str, BeforeValidator(stripped_text)]
Words = Annotated[
    tuple[Annotated[str, StringConstraints(min_length=1)], ...], BeforeValidator(_texts)
]


class ChoiceRow(RowModel):
    """A choice with the words that state it in a message."""

    value: Annotated[
        str, BeforeValidator(stripped_text), StringConstraints(min_length=1, max_length=100)
    ]
    keywords: Words = ()


def _choice(value: object) -> object:
    if isinstance(value, str | int | float):
        return {"value": scalar_text(value)}
    return value


class FieldRow(RowModel):
    """One field of the fields file (format in the module doc)."""

    name: Annotated[
        str,
        BeforeValidator(_name),
        StringConstraints(min_length=1, max_length=MAX_NAME_CHARS),
    ]
    type: FieldType
    industry: Annotated[str, BeforeValidator(_industry), StringConstraints(max_length=50)] = (
        "general"
    )
    unit: Annotated[str, BeforeValidator(stripped_text), StringConstraints(max_length=20)] = ""
    description: Text = ""
    keywords: Words = ()
    patterns: Words = ()
    choices: list[Annotated[ChoiceRow, BeforeValidator(_choice)]] = Field(default_factory=list)

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in patterns:
            try:
                compiled = re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"模式 {pattern!r} 不是正则表达式：{exc}") from None
            if "value" not in compiled.groupindex:
                raise ValueError(f"模式 {pattern!r} 需要一个名为 value 的分组：(?P<value>…)")
        return patterns

    @model_validator(mode="after")
    def _choices_fit_the_type(self) -> FieldRow:
        if self.type == "choice" and not self.choices:
            raise ValueError(f"字段 {self.name!r}：选项字段需要 choices")
        if self.type != "choice" and self.choices:
            raise ValueError(f"字段 {self.name!r}：只有选项字段才有 choices")
        values = [c.value for c in self.choices]
        if len(set(values)) != len(values):
            raise ValueError(f"字段 {self.name!r}：有重复的选项")
        return self


class FieldsFile(RowModel):
    version: Any = 1
    fields: list[FieldRow]


def load_fields(path: Path, *, columns: Sequence[str] = ()) -> list[FieldSpec]:
    """Read a profile fields file (read like every data file, ``knowledge.files``);
    ``columns``: the names the customer import reads, which no field may take."""
    raw = load_yaml_file(path, what="画像字段")
    return fields_from_data(raw, name=path.name, columns=columns)


def fields_from_data(
    raw: Any, *, name: str = "fields", columns: Sequence[str] = ()
) -> list[FieldSpec]:
    """Validate loaded fields data; a name used twice is a problem too."""
    if not isinstance(raw, dict) or not isinstance(raw.get("fields"), list):
        raise InputError(f"{name}：应为含 fields 列表的映射")
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(raw["fields"]):
        fname = stripped_text(item.get("name")) if isinstance(item, dict) else None
        if isinstance(fname, str) and fname:
            if fname in seen:
                line = yaml_line(raw, ("fields", i)) or 0
                problems.append(Problem(line, f"fields[{i + 1}]", f"名称 {fname!r} 用了两次"))
            seen.setdefault(fname, i)
    model: FieldsFile | None = None
    try:
        model = FieldsFile.model_validate(raw, context={"columns": {c.lower() for c in columns}})
    except ValidationError as exc:
        problems += problems_of(exc, line=lambda loc: yaml_line(raw, loc))
    if problems or model is None:
        refuse(name, problems)
    return [
        FieldSpec(
            name=f.name,
            type=f.type,
            industry=f.industry,
            unit=f.unit,
            description=f.description,
            choices=tuple(c.value for c in f.choices),
            choice_keywords={c.value: c.keywords for c in f.choices if c.keywords},
            keywords=f.keywords,
            patterns=f.patterns,
        )
        for f in model.fields
    ]


# --------------------------------------------------------------------------- values
def parse_value(spec: FieldSpec, text: str) -> Parsed:
    """``text`` as a value of the field (what a person typed, or an import cell)."""
    raw = text.strip()
    if not raw:
        raise InputError(f"{spec.name}：值不能为空")
    if len(raw) > MAX_VALUE_CHARS:
        raise InputError(f"{spec.name}：值超过 {MAX_VALUE_CHARS} 个字符")
    if spec.type in ("number", "money"):
        number = parse_amount(raw.removesuffix(spec.unit) if spec.unit else raw)
        if number is None:
            raise InputError(f"{spec.name}：需要一个数字（如 5000、5千、1.5万），不是 {raw!r}")
        return Parsed(value=format_number(number), number=number)
    if spec.type == "date":
        try:
            day = parse_date(raw)
        except ValueError:
            raise InputError(f"{spec.name}：需要一个日期（如 2026-01-31），不是 {raw!r}") from None
        return Parsed(value=day.isoformat(), day=day)
    if spec.type == "choice":
        if raw not in spec.choices:
            raise InputError(f"{spec.name}：只能是 {'、'.join(spec.choices)} 之一，不是 {raw!r}")
        return Parsed(value=raw)
    return Parsed(value=raw)


def format_number(number: float) -> str:
    return str(int(number)) if number == int(number) else f"{number:.2f}".rstrip("0")


def shown(spec: FieldSpec | None, value: str) -> str:
    """A value as shown to people: with the field's unit."""
    if spec is None or not spec.unit or spec.type not in ("number", "money"):
        return value
    return f"{value} {spec.unit}"


def parse_amount(text: str) -> float | None:
    """A whole number written as people write amounts: ``5000``, ``5,000元``, ``5千``,
    ``1.5万``, ``3w``, ``五千``, ``一万二`` (12000), ``三千五`` (3500); None otherwise."""
    cleaned = text.strip().replace(",", "").replace("，", "")
    cleaned = re.sub(r"\s*(?:元|块钱|块|人民币|rmb|RMB)$", "", cleaned)
    cleaned = normalize(cleaned) if cleaned else cleaned
    m = _AMOUNT.fullmatch(cleaned)
    if m is None:
        return None
    return _amount(m)


def _amount(m: re.Match[str]) -> float | None:
    if m.group("ar"):
        return _arabic(m.group("ar"))
    return _chinese(m.group("cn"))


def _arabic(text: str) -> float | None:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([万wW千kK百])?(\d)?", text.strip())
    if m is None:
        return None
    number = float(m.group(1))
    unit = _ARABIC_UNITS.get(m.group(2) or "", 1)
    value = number * unit
    if m.group(3):  # 1万5 = 15000, 3千5 = 3500
        value += int(m.group(3)) * unit / 10
    return value


def _chinese(text: str) -> float | None:
    total = section = number = 0
    last_unit = 1
    zero_since_unit = False
    for ch in text:
        if ch in _DIGITS:
            number = _DIGITS[ch]
            if number == 0:
                zero_since_unit = True
        elif ch in _UNITS:
            unit = _UNITS[ch]
            section += (number or 1) * unit
            number, last_unit, zero_since_unit = 0, unit, False
        elif ch == "万":
            total += (section + number) * 10000
            section = number = 0
            last_unit, zero_since_unit = 10000, False
    if number and last_unit > 1 and not zero_since_unit:
        number *= last_unit // 10  # 三千五 = 3500, 一万二 = 12000
    value = total + section + number
    return float(value) if value else None


# --------------------------------------------------------------------------- extraction
@dataclass(frozen=True, slots=True)
class Stated:
    """A value of a field stated in a message, with the words that state it."""

    field: str
    value: Parsed
    evidence: str


def extract(text: str, specs: Sequence[FieldSpec]) -> list[Stated]:
    """The values of ``specs`` that ``text`` states (at most one per field)."""
    norm = normalize(text)
    out: list[Stated] = []
    for spec in specs:
        found = _extract_one(text, norm, spec)
        if found is not None:
            out.append(found)
    return out


def _extract_one(text: str, norm: str, spec: FieldSpec) -> Stated | None:
    if spec.type == "choice":
        return _choice_stated(text, norm, spec)
    if spec.type == "text":
        for pattern in spec.patterns:
            m = re.search(pattern, norm)
            if m and m.group("value") and m.group("value").strip():
                value = m.group("value").strip()[:MAX_VALUE_CHARS]
                return Stated(spec.name, Parsed(value=value), _evidence(text, norm, m.start(), 0))
    for keyword in sorted(spec.keywords, key=len, reverse=True):
        cue = normalize(keyword)
        for pos in _affirmed(norm, cue):
            after = norm[pos + len(cue) : pos + len(cue) + WINDOW]
            parsed = _stated_after(spec, after)
            if parsed is not None:
                return Stated(
                    spec.name,
                    parsed,
                    f"「{_evidence(text, norm, pos, len(cue))}」含“{keyword}”",
                )
    return None


def _stated_after(spec: FieldSpec, after: str) -> Parsed | None:
    if spec.type in ("number", "money"):
        for m in _AMOUNT.finditer(after):
            if spec.type == "money" and _NOT_AMOUNT.match(after[m.end() :]):
                continue
            number = _amount(m)
            if number is not None:
                return Parsed(value=format_number(number), number=number)
        return None
    if spec.type == "date":
        written = _DATE.search(after)
        if written is None:
            return None
        try:
            day = parse_date(written.group(0))
        except ValueError:
            return None
        return Parsed(value=day.isoformat(), day=day)
    words = _TEXT_AFTER.match(after.lstrip("是为在做：: "))
    if words is None:
        return None
    value = words.group(0).rstrip(_PARTICLES)
    return Parsed(value=value) if value else None


def _choice_stated(text: str, norm: str, spec: FieldSpec) -> Stated | None:
    words = [(c, c) for c in spec.choices]
    words += [(kw, c) for c, kws in spec.choice_keywords.items() for kw in kws]
    for word, choice in sorted(words, key=lambda wc: -len(wc[0])):
        cue = normalize(word)
        for pos in _affirmed(norm, cue):
            evidence = f"「{_evidence(text, norm, pos, len(cue))}」含“{word}”"
            return Stated(spec.name, Parsed(value=choice), evidence)
    return None


def _affirmed(norm: str, cue: str) -> list[int]:
    """Positions of ``cue`` in ``norm`` not directly after a negation."""
    if not cue:
        return []
    out = []
    pos = norm.find(cue)
    while pos >= 0:
        if not any(norm.endswith(neg, 0, pos) for neg in NEGATIONS):
            out.append(pos)
        pos = norm.find(cue, pos + 1)
    return out


def _evidence(original: str, norm: str, pos: int, length: int) -> str:
    source = original if len(original) == len(norm) else norm
    start = max(0, pos - EVIDENCE_CHARS // 2)
    end = min(len(source), pos + length + EVIDENCE_CHARS)
    snippet = " ".join(source[start:end].split())
    return ("…" if start > 0 else "") + snippet + ("…" if end < len(source) else "")
