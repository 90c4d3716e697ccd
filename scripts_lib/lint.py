"""Checks on scripts read from a file, reported all at once with their line numbers.

``lint`` never stops at the first problem: an operator fixing a spreadsheet wants the
whole list. Errors block an import (``load_scripts`` is all-or-nothing); warnings
(severity ``"warning"``) are advice and do not.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from datetime import date

from knowledge.text import UNSTORABLE
from scripts_lib.model import (
    ANY_INDUSTRY,
    CATEGORY_LABELS,
    DEPRECATED_VARIABLES,
    HEADER_LABELS,
    MAX_BODY_CHARS,
    MAX_EXAMPLE_CHARS,
    MAX_EXAMPLES,
    STAGE_LABELS,
    STATUS_LABELS,
    VARIABLES,
    LintIssue,
    ParsedScript,
)
from scripts_lib.variables import VARIABLE_LABELS, parse_template

#: Titles longer than this get a warning (they are cut off in the adviser's sidebar).
MAX_TITLE_CHARS = 40
#: Characters an id may not hold: it is a part of the script's address in the console
#: (``/scripts/<id>/edit``), where these would end or change the path.
URL_UNSAFE = re.compile(r"[\s/\\?#%]")
#: Longest values the store's script columns hold (bot/store/models.py ``Script``): an
#: error, or the import fails on PostgreSQL (SQLite would store anything).
MAX_FIELD_CHARS = {"id": 64, "title": 200, "industry": 50, "variant_group": 64}

# CJK unified ideographs (basic, extension A, compatibility, extensions B-G).
_CHINESE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
# A variable typed with full-width braces by a Chinese input method: ｛customer_name｝.
_FULLWIDTH_VARIABLE = re.compile(r"｛\s*([A-Za-z_][A-Za-z0-9_]*)\s*｝")
_ALLOWED_VARIABLES = ", ".join(
    f"{{{name}}}" for name in VARIABLES if name not in DEPRECATED_VARIABLES
)
_LABEL_TO_VARIABLE = {label: name for name, label in VARIABLE_LABELS.items()}


def lint(
    parsed: Sequence[ParsedScript],
    *,
    known_industries: Collection[str] | None = None,
    today: date | None = None,
) -> list[LintIssue]:
    """Return every problem in ``parsed``, in file order.

    Errors: problems the reader found in a row's shape, an empty id / title / body,
    an unknown category, stage or status, an unknown industry (only checked when
    ``known_industries`` is given; ``"general"`` is always allowed), a duplicate id
    (reported on the second occurrence, naming the line of the first), a body
    longer than ``MAX_BODY_CHARS``, an unknown ``{variable}`` and malformed braces.
    Warnings: a body without any Chinese text, a title longer than ``MAX_TITLE_CHARS``,
    ``{date}`` (no longer filled by itself: what to write instead), ``{deadline}`` with
    the row's deadline cell empty, and a deadline before ``today`` (when given).
    """
    industries = None if known_industries is None else {*known_industries, ANY_INDUSTRY}
    first_line: dict[str, int] = {}
    issues: list[LintIssue] = []
    for item in parsed:
        issues.extend(item.issues)
        issues.extend(_check_one(item, industries))
        issues.extend(_check_dates(item, today))
        script_id = item.record.id
        if script_id:
            if script_id in first_line:
                issues.append(
                    _issue(
                        item,
                        "id",
                        f"编号 {script_id!r} 重复：第 {first_line[script_id]} 行已用过",
                    )
                )
            else:
                first_line[script_id] = item.line
    return issues


def _named(field: str) -> str:
    """A column by its Chinese name (内容, 标题 …)."""
    return HEADER_LABELS.get(field, field)


def _issue(item: ParsedScript, field: str, message: str, severity: str = "error") -> LintIssue:
    return LintIssue(
        line=item.line,
        script_id=item.record.id,
        field=field,
        message=message,
        severity=severity,
    )


def _check_one(item: ParsedScript, industries: set[str] | None) -> list[LintIssue]:
    record = item.record
    issues: list[LintIssue] = []
    for name in ("id", "title", "body"):
        if not getattr(record, name):
            issues.append(_issue(item, name, f"{_named(name)}为空"))
    if URL_UNSAFE.search(record.id):
        issues.append(
            _issue(item, "id", "编号不能含有空格或 / \\ ? # %（编号是话术网页地址的一部分）")
        )
    for name, value, allowed in (
        ("category", record.category, CATEGORY_LABELS),
        ("stage", record.stage, STAGE_LABELS),
        ("status", record.status, STATUS_LABELS),
    ):
        if value not in allowed:
            what = f"{_named(name)}为空" if not value else f"未知的{_named(name)} {value!r}"
            names = "、".join(f"{code}/{label}" for code, label in allowed.items())
            issues.append(_issue(item, name, f"{what}；可用：{names}"))
    if not record.industry:
        issues.append(_issue(item, "industry", f"行业为空；适用于所有行业请写 {ANY_INDUSTRY!r}"))
    elif industries is not None and record.industry not in industries:
        names = "、".join(sorted(industries))
        issues.append(_issue(item, "industry", f"未知的行业 {record.industry!r}；可用：{names}"))
    for name in ("id", "title", "category", "stage", "industry", "body", "variant_group"):
        if UNSTORABLE.search(getattr(record, name) or ""):
            issues.append(
                _issue(item, name, f"{_named(name)}含有无法保存的字符（NUL 或残缺的代理对）")
            )
    if any(UNSTORABLE.search(tag) for tag in record.tags):
        issues.append(_issue(item, "tags", "标签含有无法保存的字符（NUL 或残缺的代理对）"))
    for name, limit in MAX_FIELD_CHARS.items():
        value = getattr(record, name) or ""
        if len(value) > limit:
            issues.append(
                _issue(item, name, f"{_named(name)}有 {len(value)} 个字符；上限是 {limit}")
            )
    if len(record.body) > MAX_BODY_CHARS:
        issues.append(
            _issue(
                item,
                "body",
                f"内容有 {len(record.body)} 个字符；上限是 {MAX_BODY_CHARS}",
            )
        )
    issues.extend(_check_template(item))
    issues.extend(_check_examples(item))
    if record.body and not _CHINESE.search(record.body):
        issues.append(_issue(item, "body", "内容里没有中文", "warning"))
    if len(record.title) > MAX_TITLE_CHARS:
        issues.append(
            _issue(
                item,
                "title",
                f"标题有 {len(record.title)} 个字符；请控制在 {MAX_TITLE_CHARS} 个以内",
                "warning",
            )
        )
    return issues


#: What an operator is told about ``{date}`` (README.md, "Variables").
DATE_ADVICE = (
    "{date} 不再自动填成发送当天的日期（否则「12月6日截止」会在每一天都说成当天）："
    "活动截止日请写 {deadline} 并在「截止日期」(deadline) 列填日期；"
    "确实指发送当天请写 {today}；写死的日期请直接写出。改之前顾问会看到【待填:日期】"
)


def _check_dates(item: ParsedScript, today: date | None) -> list[LintIssue]:
    record = item.record
    names = {part.value for part in parse_template(record.body) if part.kind == "variable"}
    issues: list[LintIssue] = []
    if "date" in names:
        issues.append(_issue(item, "body", DATE_ADVICE, "warning"))
    bad_date = any(i.field == "deadline" for i in item.issues)  # reported already
    if (
        "deadline" in names
        and record.deadline is None
        and "deadline" in item.given
        and not bad_date
    ):
        issues.append(
            _issue(
                item,
                "deadline",
                "正文用了 {deadline}，但截止日期 (deadline) 为空：顾问会看到【待填:截止日期】",
                "warning",
            )
        )
    if today is not None and record.deadline is not None and record.deadline < today:
        issues.append(
            _issue(
                item,
                "deadline",
                f"截止日期 {record.deadline.isoformat()} 已过：{{deadline}} 会显示为"
                "【待填:截止日期】，请更新日期或归档这条话术",
                "warning",
            )
        )
    return issues


def _check_template(item: ParsedScript) -> list[LintIssue]:
    issues: list[LintIssue] = []
    reported: set[str] = set()
    for part in parse_template(item.record.body):
        if part.kind == "variable" and part.value not in VARIABLES:
            if part.value in reported:
                continue
            reported.add(part.value)
            hint = ""
            if part.value.strip() in VARIABLES:
                hint = f"（是不是想写 {{{part.value.strip()}}}，不带空格？）"
            elif part.value in _LABEL_TO_VARIABLE:
                hint = f"（是不是想写 {{{_LABEL_TO_VARIABLE[part.value]}}}？）"
            issues.append(
                _issue(
                    item,
                    "body",
                    f"未知的变量 {{{part.value}}}{hint}；可用：{_ALLOWED_VARIABLES}",
                )
            )
        elif part.kind == "malformed":
            issues.append(_issue(item, "body", _malformed_message(part.value, part.offset)))
    for match in _FULLWIDTH_VARIABLE.finditer(item.record.body):
        issues.append(
            _issue(
                item,
                "body",
                f"{match.group(0)} 用了全角括号；变量请写成 {{{match.group(1)}}}",
            )
        )
    return issues


def _check_examples(item: ParsedScript) -> list[LintIssue]:
    """At most ``MAX_EXAMPLES`` examples of at most ``MAX_EXAMPLE_CHARS``, without the
    separator ``;`` (it would split them on the next import)."""
    examples = item.record.examples
    issues: list[LintIssue] = []
    if len(examples) > MAX_EXAMPLES:
        issues.append(_issue(item, "examples", f"有 {len(examples)} 条例句；上限是 {MAX_EXAMPLES}"))
    for n, example in enumerate(examples, start=1):
        if len(example) > MAX_EXAMPLE_CHARS:
            issues.append(
                _issue(
                    item,
                    "examples",
                    f"第 {n} 条例句有 {len(example)} 个字符；上限是 {MAX_EXAMPLE_CHARS}",
                )
            )
        if ";" in example or "；" in example:
            issues.append(_issue(item, "examples", f"第 {n} 条例句含有分隔符「;」"))
        if UNSTORABLE.search(example):
            issues.append(
                _issue(item, "examples", f"第 {n} 条例句含有无法保存的字符（NUL 或残缺的代理对）")
            )
    return issues


def _malformed_message(token: str, offset: int) -> str:
    where = f"第 {offset + 1} 个字符处"
    if token == "{":
        return f"{where}的「{{」没有对应的「}}」（要写字面的括号请用 '{{{{'）"
    if token == "}":
        return f"{where}的「}}」没有对应的「{{」（要写字面的括号请用 '}}}}'）"
    return f"{where}有空变量 {token!r}；可用：{_ALLOWED_VARIABLES}"
