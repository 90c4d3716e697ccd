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
    return ", ".join(f"{code}/{label}" for code, label in labels.items())


def errors(issues: list[LintIssue]) -> list[str]:
    return [str(issue) for issue in issues if issue.severity == "error"]


def warnings_(issues: list[LintIssue]) -> list[str]:
    return [str(issue) for issue in issues if issue.severity == "warning"]


def test_a_clean_file_has_no_issues(tmp_path: Path) -> None:
    assert lint_rows(tmp_path, GOOD, GOOD.replace("ok1", "ok2")) == []


def test_unknown_category(tmp_path: Path) -> None:
    issues = lint_rows(tmp_path, GOOD, GOOD.replace("ok1", "b1").replace("welcome", "greeting"))
    assert errors(issues) == [
        f"line 3 [b1] category: unknown category 'greeting'; allowed: {named(CATEGORY_LABELS)}"
    ]


def test_unknown_stage(tmp_path: Path) -> None:
    issues = lint_rows(tmp_path, GOOD.replace("acquire", "nurture"))
    assert errors(issues) == [
        f"line 2 [ok1] stage: unknown stage 'nurture'; allowed: {named(STAGE_LABELS)}"
    ]


def test_unknown_status(tmp_path: Path) -> None:
    issues = lint_rows(tmp_path, GOOD + "published")
    assert errors(issues) == [
        f"line 2 [ok1] status: unknown status 'published'; allowed: {named(STATUS_LABELS)}"
    ]


def test_empty_category_and_stage_are_reported(tmp_path: Path) -> None:
    issues = lint_rows(tmp_path, "e1,标题,,,general,,您好,")
    assert [i.field for i in issues] == ["category", "stage"]
    assert "category is empty; allowed:" in str(issues[0])


def test_unknown_industry_only_with_known_industries(tmp_path: Path) -> None:
    row = GOOD.replace("general", "finance")
    assert lint_rows(tmp_path, row) == []
    issues = lint_rows(tmp_path, row, GOOD.replace("ok1", "ok2"), known_industries={"beauty"})
    assert errors(issues) == [
        "line 2 [ok1] industry: unknown industry 'finance'; allowed: beauty, general"
    ]


def test_empty_industry_is_an_error(tmp_path: Path) -> None:
    issues = lint_rows(tmp_path, GOOD.replace("general", ""))
    assert errors(issues) == [
        "line 2 [ok1] industry: industry is empty; use 'general' for every industry"
    ]


def test_empty_id_title_and_body(tmp_path: Path) -> None:
    issues = lint_rows(tmp_path, ",,welcome,acquire,general,,,")
    assert errors(issues) == [
        "line 2 id: id is empty",
        "line 2 title: title is empty",
        "line 2 body: body is empty",
    ]


def test_empty_body_alone(tmp_path: Path) -> None:
    issues = lint_rows(tmp_path, "b1,标题,welcome,acquire,general,tag,  ,")
    assert errors(issues) == ["line 2 [b1] body: body is empty"]
    assert warnings_(issues) == []  # no "no Chinese" warning on top of it


def test_duplicate_id_names_the_first_line(tmp_path: Path) -> None:
    issues = lint_rows(tmp_path, GOOD, GOOD.replace("ok1", "ok2"), GOOD, GOOD)
    assert errors(issues) == [
        "line 4 [ok1] id: duplicate id 'ok1': first used on line 2",
        "line 5 [ok1] id: duplicate id 'ok1': first used on line 2",
    ]


def test_body_too_long(tmp_path: Path) -> None:
    body = "好" * (MAX_BODY_CHARS + 1)
    assert (
        lint_rows(tmp_path, GOOD.replace("您好{customer_name}，我是{adviser_name}", "好" * 500))
        == []
    )
    issues = lint_rows(tmp_path, f"l1,长,care,retain,general,,{body},")
    assert errors(issues) == [
        f"line 2 [l1] body: body is 501 characters; the limit is {MAX_BODY_CHARS}"
    ]


def test_unknown_variable_is_named_with_the_allowed_ones(tmp_path: Path) -> None:
    issues = lint_rows(
        tmp_path, "v1,变量,welcome,acquire,general,,您好{name}{name}{customer_name},"
    )
    allowed = ", ".join(f"{{{v}}}" for v in VARIABLES if v != "date")
    assert errors(issues) == [f"line 2 [v1] body: unknown variable {{name}}; allowed: {allowed}"]


def test_chinese_variable_name_gets_a_hint(tmp_path: Path) -> None:
    issues = lint_rows(tmp_path, "v1,变量,welcome,acquire,general,,您好{客户称呼},")
    assert "unknown variable {客户称呼} (did you mean {customer_name}?)" in errors(issues)[0]


def test_full_width_braces_are_an_error(tmp_path: Path) -> None:
    issues = lint_rows(tmp_path, "v1,变量,welcome,acquire,general,,您好｛customer_name｝,")
    assert errors(issues) == [
        "line 2 [v1] body: ｛customer_name｝ uses full-width braces;"
        " write variables as {customer_name}"
    ]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("您好{customer_name", "'{' without a closing '}' at character 3"),
        ("您好{}", "empty variable '{}' at character 3"),
        ("您好}", "'}' without an opening '{' at character 3"),
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
        "line 2 [w1] body: body contains no Chinese text",
        "line 2 [w1] title: title is 41 characters; keep it within 40",
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
    assert str(info.value).splitlines()[0] == "lib.csv: 4 problems, nothing imported"
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
    assert [(i.line, i.field) for i in issues] == [(1, "title"), (2, "body"), (2, "tags")]
