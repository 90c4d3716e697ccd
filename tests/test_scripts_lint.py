"""``lint``: every problem of a script file, with its line; read from real files in tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge.errors import InputError
from scripts_lib import (
    CATEGORY_LABELS,
    MAX_BODY_CHARS,
    STAGE_LABELS,
    STATUS_LABELS,
    VARIABLES,
    LintIssue,
    lint,
    load_scripts,
    read_scripts,
)

HEADER = "id,title,category,stage,industry,tags,body,status"
GOOD = "ok1,欢迎,welcome,acquire,general,新客,您好{customer_name}，我是{adviser_name},"


def lint_rows(tmp_path: Path, *rows: str, **kwargs: object) -> list[LintIssue]:
    path = tmp_path / "scripts.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return lint(read_scripts(path), **kwargs)  # type: ignore[arg-type]


def named(labels: dict[str, str]) -> str:
    return "、".join(f"{code}/{label}" for code, label in labels.items())


def errors(issues: list[LintIssue]) -> list[str]:
    return [str(issue) for issue in issues if issue.severity == "error"]


def warnings_(issues: list[LintIssue]) -> list[str]:
    return [str(issue) for issue in issues if issue.severity == "warning"]


def test_a_clean_file_has_no_issues(tmp_path: Path) -> None:
    assert lint_rows(tmp_path, GOOD, GOOD.replace("ok1", "ok2")) == []


def test_unknown_category(tmp_path: Path) -> None:
    issues = lint_rows(tmp_path, GOOD, GOOD.replace("ok1", "b1").replace("welcome", "greeting"))
    assert errors(issues) == [
        f"第 3 行 [b1] 分类：未知的分类 'greeting'；可用：{named(CATEGORY_LABELS)}",
    ]


def test_unknown_stage(tmp_path: Path) -> None:
    issues = lint_rows(tmp_path, GOOD.replace("acquire", "nurture"))
    assert errors(issues) == [
        f"第 2 行 [ok1] 阶段：未知的阶段 'nurture'；可用：{named(STAGE_LABELS)}",
    ]


def test_unknown_status(tmp_path: Path) -> None:
    issues = lint_rows(tmp_path, GOOD + "published")
    assert errors(issues) == [
        f"第 2 行 [ok1] 状态：未知的状态 'published'；可用：{named(STATUS_LABELS)}",
    ]


def test_empty_category_and_stage_are_reported(tmp_path: Path) -> None:
    issues = lint_rows(tmp_path, "e1,标题,,,general,,您好,")
    assert [i.field for i in issues] == ["category", "stage"]
    assert "分类为空；可用：" in str(issues[0])


def test_unknown_industry_only_with_known_industries(tmp_path: Path) -> None:
    row = GOOD.replace("general", "finance")
    assert lint_rows(tmp_path, row) == []
    issues = lint_rows(tmp_path, row, GOOD.replace("ok1", "ok2"), known_industries={"beauty"})
    assert errors(issues) == [
        "第 2 行 [ok1] 行业：未知的行业 'finance'；可用：beauty、general",
    ]


def test_empty_industry_is_an_error(tmp_path: Path) -> None:
    issues = lint_rows(tmp_path, GOOD.replace("general", ""))
    assert errors(issues) == [
        "第 2 行 [ok1] 行业：行业为空；适用于所有行业请写 'general'",
    ]


def test_empty_id_title_and_body(tmp_path: Path) -> None:
    issues = lint_rows(tmp_path, ",,welcome,acquire,general,,,")
    assert errors(issues) == [
        "第 2 行 编号：编号为空",
        "第 2 行 标题：标题为空",
        "第 2 行 内容：内容为空",
    ]


def test_empty_body_alone(tmp_path: Path) -> None:
    issues = lint_rows(tmp_path, "b1,标题,welcome,acquire,general,tag,  ,")
    assert errors(issues) == [
        "第 2 行 [b1] 内容：内容为空",
    ]
    assert warnings_(issues) == []  # no "no Chinese" warning on top of it


def test_duplicate_id_names_the_first_line(tmp_path: Path) -> None:
    issues = lint_rows(tmp_path, GOOD, GOOD.replace("ok1", "ok2"), GOOD, GOOD)
    assert errors(issues) == [
        "第 4 行 [ok1] 编号：编号 'ok1' 重复：第 2 行已用过",
        "第 5 行 [ok1] 编号：编号 'ok1' 重复：第 2 行已用过",
    ]


def test_body_too_long(tmp_path: Path) -> None:
    body = "好" * (MAX_BODY_CHARS + 1)
    assert (
        lint_rows(tmp_path, GOOD.replace("您好{customer_name}，我是{adviser_name}", "好" * 500))
        == []
    )
    issues = lint_rows(tmp_path, f"l1,长,care,retain,general,,{body},")
    assert errors(issues) == [
        f"第 2 行 [l1] 内容：内容有 501 个字符；上限是 {MAX_BODY_CHARS}",
    ]


def test_unknown_variable_is_named_with_the_allowed_ones(tmp_path: Path) -> None:
    issues = lint_rows(
        tmp_path, "v1,变量,welcome,acquire,general,,您好{name}{name}{customer_name},"
    )
    allowed = ", ".join(f"{{{v}}}" for v in VARIABLES if v != "date")
    assert errors(issues) == [
        f"第 2 行 [v1] 内容：未知的变量 {{name}}；可用：{allowed}",
    ]


def test_chinese_variable_name_gets_a_hint(tmp_path: Path) -> None:
    issues = lint_rows(tmp_path, "v1,变量,welcome,acquire,general,,您好{客户称呼},")
    assert "未知的变量 {客户称呼}（是不是想写 {customer_name}？）" in errors(issues)[0]


def test_full_width_braces_are_an_error(tmp_path: Path) -> None:
    issues = lint_rows(tmp_path, "v1,变量,welcome,acquire,general,,您好｛customer_name｝,")
    assert errors(issues) == [
        "第 2 行 [v1] 内容：｛customer_name｝ 用了全角括号；变量请写成 {customer_name}",
    ]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("您好{customer_name", "第 3 个字符处的「{」没有对应的「}」"),
        ("您好{}", "第 3 个字符处有空变量 '{}'"),
        ("您好}", "第 3 个字符处的「}」没有对应的「{」"),
    ],
)
def test_malformed_braces(tmp_path: Path, body: str, expected: str) -> None:
    issues = lint_rows(tmp_path, f"m1,括号,welcome,acquire,general,,{body},")
    assert len(errors(issues)) == 1
    assert expected in errors(issues)[0]


def test_escaped_braces_are_fine(tmp_path: Path) -> None:
    assert lint_rows(tmp_path, "m1,括号,welcome,acquire,general,,回复{{1}}领取{product},") == []


def test_warnings_no_chinese_and_long_title(tmp_path: Path) -> None:
    title = "标" * 41
    issues = lint_rows(tmp_path, f"w1,{title},welcome,acquire,general,,Hello {{customer_name}},")
    assert errors(issues) == []
    assert warnings_(issues) == [
        "第 2 行 [w1] 内容：内容里没有中文",
        "第 2 行 [w1] 标题：标题有 41 个字符；请控制在 40 个以内",
    ]


def test_every_problem_is_reported_in_file_order(tmp_path: Path) -> None:
    issues = lint_rows(
        tmp_path,
        GOOD,
        "x1,,bad,bad,general,,{oops},",
        GOOD,
        "x2,t,welcome,acquire,general,,好{,",
    )
    assert [(i.line, i.field) for i in issues if i.severity == "error"] == [
        (3, "title"),
        (3, "category"),
        (3, "stage"),
        (3, "body"),
        (4, "id"),
        (5, "body"),
    ]


def test_load_scripts_raises_with_every_error(tmp_path: Path) -> None:
    path = tmp_path / "lib.csv"
    path.write_text(
        "\n".join([HEADER, GOOD, "x1,,bad,acquire,general,,{oops}好,", GOOD]) + "\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError) as info:
        load_scripts(path)
    assert str(info.value).splitlines()[0] == "lib.csv：4 处问题，没有导入任何内容"
    assert len(info.value.problems) == 4


def test_yaml_nul_escapes_are_line_errors(tmp_path: Path) -> None:
    """A YAML "\\0" escape gets past the byte checks; PostgreSQL cannot store a NUL."""
    path = tmp_path / "scripts.yaml"
    path.write_text(
        '- {id: a1, title: "欢迎\\0", category: welcome, stage: acquire, industry: general,'
        " body: 您好}\n"
        "- {id: a2, title: 你好, category: welcome, stage: acquire, industry: general,"
        ' body: "您好\\0", tags: ["x\\0"]}\n',
        encoding="utf-8",
    )
    issues = [i for i in lint(read_scripts(path)) if i.severity == "error"]
    assert [(i.line, i.field) for i in issues] == [
        (1, "title"),
        (2, "body"),
        (2, "tags"),
    ]


@pytest.mark.parametrize("script_id", ["INS/2026-01", "INS 01", "A?b", "A#1", "50%", "a\\b"])
def test_an_id_that_would_break_its_address_is_refused(tmp_path: Path, script_id: str) -> None:
    """``/scripts/INS/2026-01/edit`` is no page: such a script could never be edited,
    approved or archived in the console."""
    row = GOOD.replace("ok1", f'"{script_id}"')
    assert errors(lint_rows(tmp_path, row)) == [
        f"第 2 行 [{script_id}] 编号：编号不能含有空格或 / \\ ? # %（编号是话术网页地址的一部分）"
    ]
    assert errors(lint_rows(tmp_path, GOOD.replace("ok1", "INS-2026_01.a"))) == []
