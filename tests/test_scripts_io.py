"""Reading and writing script files (CSV / XLSX / YAML) with real files in tmp_path."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import replace
from pathlib import Path

import openpyxl
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import scripts_lib.io as scripts_io
from knowledge import files
from knowledge.errors import InputError
from scripts_lib import (
    CATEGORIES,
    EXPORT_COLUMNS,
    STAGES,
    STATUSES,
    ParsedScript,
    ScriptRecord,
    canonical_industry,
    load_scripts,
    load_scripts_with_warnings,
    read_scripts,
    write_scripts,
)

HEADER = "id,title,category,stage,industry,tags,body"
ROWS = [
    "w001,新客欢迎,welcome,acquire,general,新客;欢迎,您好{customer_name}，我是您的专属顾问{adviser_name}～",
    "p001,价格异议,objection,convert,beauty,价格；异议,理解您的顾虑，{product}这周有活动价哦",
    'c001,节日关怀,care,retain,education,"关怀，节日 , ;",{customer_name}节日快乐！',
]
CSV_TEXT = "\r\n".join([HEADER, *ROWS]) + "\r\n"
EXPECTED = [
    ScriptRecord(
        id="w001",
        title="新客欢迎",
        category="welcome",
        stage="acquire",
        industry="general",
        body="您好{customer_name}，我是您的专属顾问{adviser_name}～",
        tags=("新客", "欢迎"),
    ),
    ScriptRecord(
        id="p001",
        title="价格异议",
        category="objection",
        stage="convert",
        industry="beauty",
        body="理解您的顾虑，{product}这周有活动价哦",
        tags=("价格", "异议"),
    ),
    ScriptRecord(
        id="c001",
        title="节日关怀",
        category="care",
        stage="retain",
        industry="education",
        body="{customer_name}节日快乐！",
        tags=("关怀", "节日"),
    ),
]


def records(parsed: list[ParsedScript]) -> list[ScriptRecord]:
    return [item.record for item in parsed]


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def make_record(index: int, **changes: object) -> ScriptRecord:
    fields: dict[str, object] = {
        "id": f"s{index:05d}",
        "title": f"话术{index}",
        "category": CATEGORIES[index % len(CATEGORIES)],
        "stage": STAGES[index % len(STAGES)],
        "industry": "general",
        "body": f"您好{{customer_name}}，这是第{index}条话术，{{product}}欢迎了解～",
        "tags": ("标签", f"t{index % 7}"),
    }
    fields.update(changes)
    return ScriptRecord(**fields)  # type: ignore[arg-type]


# --- encodings -----------------------------------------------------------------------


def test_csv_utf8(tmp_path: Path) -> None:
    parsed = read_scripts(write(tmp_path / "s.csv", CSV_TEXT, "utf-8"))
    assert records(parsed) == EXPECTED
    assert [item.line for item in parsed] == [2, 3, 4]


def test_csv_utf8_with_bom(tmp_path: Path) -> None:
    parsed = read_scripts(write(tmp_path / "s.csv", CSV_TEXT, "utf-8-sig"))
    assert records(parsed) == EXPECTED
    assert parsed[0].raw["id"] == "w001"  # the BOM is not glued to the first header name


def test_csv_gbk(tmp_path: Path) -> None:
    path = write(tmp_path / "s.csv", CSV_TEXT, "gbk")
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")  # really not UTF-8
    assert records(read_scripts(path)) == EXPECTED


def test_csv_gb18030_with_characters_outside_gbk(tmp_path: Path) -> None:
    text = CSV_TEXT.replace("节日快乐", "节日快乐𠮷€")
    with pytest.raises(UnicodeEncodeError):
        text.encode("gbk")
    parsed = read_scripts(write(tmp_path / "s.csv", text, "gb18030"))
    assert parsed[2].record.body == "{customer_name}节日快乐𠮷€！"
    assert records(parsed)[:2] == EXPECTED[:2]


def test_csv_utf16_with_bom(tmp_path: Path) -> None:
    assert records(read_scripts(write(tmp_path / "s.csv", CSV_TEXT, "utf-16"))) == EXPECTED


def test_excel_unicode_text_is_utf16_and_tab_separated(tmp_path: Path) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", lineterminator="\r\n")
    for line in csv.reader(io.StringIO(CSV_TEXT)):
        writer.writerow(line)
    path = write(tmp_path / "s.csv", buffer.getvalue(), "utf-16")
    assert records(read_scripts(path)) == EXPECTED


def test_undecodable_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_bytes(HEADER.encode() + b"\r\nx,\xff\xff\xff,welcome\r\n")
    with pytest.raises(InputError, match=r"第 2 行无法按"):
        read_scripts(path)


# --- the header and the rows ------------------------------------------------------------


def test_header_is_case_whitespace_and_order_insensitive(tmp_path: Path) -> None:
    text = (
        " Body ,TAGS,Industry, stage ,Category,Title,ID,Status,Variant Group,备注\n"
        "您好{customer_name},a;b,general,engage,follow_up,回访,f1,draft,g1,ignored\n"
    )
    (item,) = read_scripts(write(tmp_path / "s.csv", text))
    assert item.record == ScriptRecord(
        id="f1",
        title="回访",
        category="follow_up",
        stage="engage",
        industry="general",
        body="您好{customer_name}",
        tags=("a", "b"),
        status="draft",
        variant_group="g1",
    )


def test_missing_column_is_named(tmp_path: Path) -> None:
    text = "id,title,category,industry,tags,body\nx,t,welcome,general,,您好\n"
    with pytest.raises(InputError, match=r"表头缺少 stage（阶段）；") as info:
        read_scripts(write(tmp_path / "s.csv", text))
    assert "body" not in str(info.value).split("缺少")[1].split("；")[0]


def test_several_missing_columns_are_all_named(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="缺少 stage（阶段）、industry（行业）、tags（标签）"):
        read_scripts(write(tmp_path / "s.csv", "id,title,category,body\nx,t,welcome,您好\n"))


def test_duplicate_header_column_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="'title' 出现了两次"):
        read_scripts(write(tmp_path / "s.csv", HEADER + ",Title\n"))


def test_status_defaults_to_approved_and_version_to_1(tmp_path: Path) -> None:
    text = HEADER + ",status\n" + ROWS[0] + ",\n" + ROWS[1] + ",archived\n"
    first, second = records(read_scripts(write(tmp_path / "s.csv", text)))
    assert (first.status, first.version, first.variant_group) == ("approved", 1, None)
    assert second.status == "archived"


def test_tags_separators_trimmed_and_empty_removed(tmp_path: Path) -> None:
    text = HEADER + '\nx,t,welcome,acquire,general," a ;b；c,d，e;;a ; ",您好\n'
    (item,) = read_scripts(write(tmp_path / "s.csv", text))
    assert item.record.tags == ("a", "b", "c", "d", "e")


def test_vocabulary_accepts_case_and_chinese_stage_names(tmp_path: Path) -> None:
    text = HEADER + "\nx,t,Follow-Up,转化,general,,您好\ny,t,欢迎语,ACQUIRE,general,,您好\n"
    first, second = records(read_scripts(write(tmp_path / "s.csv", text)))
    assert (first.category, first.stage) == ("follow_up", "convert")
    assert (second.category, second.stage) == ("welcome", "acquire")


def test_blank_rows_are_skipped_and_lines_kept(tmp_path: Path) -> None:
    text = "\n" + HEADER + "\n\n" + ROWS[0] + "\n,,,,,,\n \n" + ROWS[1] + "\n\n"
    parsed = read_scripts(write(tmp_path / "s.csv", text))
    assert [item.line for item in parsed] == [4, 7]
    assert records(parsed) == EXPECTED[:2]


def test_empty_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"s\.csv 里没有话术"):
        read_scripts(write(tmp_path / "s.csv", ""))


def test_header_only_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="里没有话术"):
        read_scripts(write(tmp_path / "s.csv", HEADER + "\r\n\r\n", "utf-8-sig"))


def test_multiline_quoted_cell_gives_right_lines_for_following_rows(tmp_path: Path) -> None:
    text = (
        HEADER + "\n"
        'a1,多行,welcome,acquire,general,,"第一行\n第二行\n""引号""第三行"\n'
        "a2,单行,welcome,acquire,general,,您好\n"
        'a3,又多行,care,retain,general,,"甲\r\n乙"\n'
        "a4,最后,care,retain,general,,{customer_name}您好\n"
    )
    parsed = read_scripts(write(tmp_path / "s.csv", text))
    assert [item.line for item in parsed] == [2, 5, 6, 8]
    assert parsed[0].record.body == '第一行\n第二行\n"引号"第三行'
    assert parsed[2].record.body == "甲\n乙"  # line ends normalized


def test_multiline_cell_line_numbers_reach_lint_messages(tmp_path: Path) -> None:
    text = (
        HEADER + "\n"
        'a1,多行,welcome,acquire,general,,"第一行\n第二行"\n'
        "a2,坏的,nope,acquire,general,,您好\n"
    )
    with pytest.raises(InputError) as info:
        load_scripts(write(tmp_path / "s.csv", text))
    assert info.value.problems == [
        "第 4 行 [a2] 分类：未知的分类 'nope'；可用：welcome/欢迎语、icebreaker/破冰、"
        "product_intro/产品介绍、objection/异议处理、pricing/报价、follow_up/跟进、closing/促单、"
        "care/关怀、after_sales/售后、referral/转介绍",
    ]


def test_unclosed_quote_is_reported_with_the_row_start(tmp_path: Path) -> None:
    text = (
        HEADER + '\na1,t,welcome,acquire,general,,您好\na2,t,welcome,acquire,general,,"没有结束\n'
    )
    with pytest.raises(InputError, match="从第 3 行开始的一行不是有效的 CSV"):
        read_scripts(write(tmp_path / "s.csv", text))


def test_unquoted_comma_shows_up_as_a_problem(tmp_path: Path) -> None:
    text = HEADER + "\na1,t,welcome,acquire,general,,您好,欢迎光临\n"
    (item,) = read_scripts(write(tmp_path / "s.csv", text))
    assert item.record.body == "您好"
    with pytest.raises(InputError, match=r"在表头的列之外.*欢迎光临"):
        load_scripts(tmp_path / "s.csv")


def test_unsupported_extension_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"不支持的文件类型 '\.txt'"):
        read_scripts(write(tmp_path / "s.txt", CSV_TEXT))
    with pytest.raises(InputError, match=r"\.xlsx"):
        read_scripts(write(tmp_path / "s.xls", CSV_TEXT))


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="不存在"):
        read_scripts(tmp_path / "nope.csv")


# --- XLSX --------------------------------------------------------------------------------


def test_xlsx_round_trip(tmp_path: Path) -> None:
    # an export always writes the examples column (a file read back has a tuple)
    original = [replace(r, examples=()) for r in EXPECTED] + [
        make_record(
            9,
            body="第一行\n第二行",
            variant_group="g",
            status="draft",
            examples=("一年多少钱", "贵不贵, 能便宜吗"),
        )
    ]
    path = tmp_path / "s.xlsx"
    write_scripts(original, path)
    parsed = read_scripts(path)
    assert records(parsed) == original
    assert [item.line for item in parsed] == [2, 3, 4, 5]
    sheet = openpyxl.load_workbook(path).active
    assert sheet is not None
    assert [c.value for c in sheet[1]] == list(EXPORT_COLUMNS)
    assert all(c.font.bold for c in sheet[1])
    assert sheet.column_dimensions["G"].width >= 40


def test_xlsx_numbers_and_empty_cells_become_strings(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["Title", "ID", "category", "stage", "industry", "tags", "body"])
    sheet.append([None, None, None, None, None, None, None])  # blank row 2
    sheet.append(["价格", 1001, "pricing", "convert", "general", None, "现在下单立减{product}"])
    sheet.append(["小数", 2.5, "pricing", "convert", "general", 3, "您好"])
    path = tmp_path / "s.xlsx"
    workbook.save(path)
    first, second = read_scripts(path)
    assert (first.line, first.record.id, first.record.title, first.record.tags) == (
        3,
        "1001",
        "价格",
        (),
    )
    assert (second.line, second.record.id, second.record.tags) == (4, "2.5", ("3",))


def test_not_an_xlsx_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"不是可读取的 \.xlsx"):
        read_scripts(write(tmp_path / "s.xlsx", CSV_TEXT))


# --- YAML --------------------------------------------------------------------------------


def test_yaml_round_trip_with_line_numbers(tmp_path: Path) -> None:
    original = [replace(r, examples=()) for r in EXPECTED] + [
        make_record(
            3, body="第一行\n  缩进的第二行", variant_group="g1", examples=("在吗", "多少钱")
        )
    ]
    path = tmp_path / "s.yaml"
    write_scripts(original, path)
    text = path.read_text("utf-8")
    assert "您好{customer_name}" in text  # allow_unicode: readable Chinese, no \u escapes
    item_lines = [n for n, line in enumerate(text.splitlines(), 1) if line.startswith("- ")]
    parsed = read_scripts(path)
    assert records(parsed) == original
    assert [item.line for item in parsed] == item_lines
    assert list(yaml.safe_load(text)[0]) == list(EXPORT_COLUMNS)


def test_yaml_hand_written(tmp_path: Path) -> None:
    text = (
        "# 话术库\n"
        "- id: 001\n"
        "  title: 欢迎\n"
        "  category: welcome\n"
        "  stage: acquire\n"
        "  industry: general\n"
        "  tags: 新客; 欢迎\n"
        "  body: |\n"
        "    您好{customer_name}！\n"
        "    有事随时找我～\n"
        "\n"
        "- id: 002\n"
        "  Title: 跟进\n"
        "  category: follow_up\n"
        "  stage: engage\n"
        "  industry: general\n"
        "  tags: [回访, ' 二次 ']\n"
        "  body: '{customer_name}，上次聊的{product}考虑得怎么样？'\n"
        "  status: draft\n"
    )
    first, second = read_scripts(write(tmp_path / "s.yml", text))
    assert (first.line, second.line) == (2, 12)
    assert first.record.id == "001"  # kept as written, not turned into the number 1
    assert first.record.tags == ("新客", "欢迎")
    assert first.record.body == "您好{customer_name}！\n有事随时找我～"
    assert second.record.tags == ("回访", "二次")
    assert (second.record.title, second.record.status) == ("跟进", "draft")


def test_yaml_not_a_list_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="应为话术列表"):
        read_scripts(write(tmp_path / "s.yaml", "id: a\ntitle: b\n"))


def test_yaml_items_that_are_not_mappings_are_all_listed(tmp_path: Path) -> None:
    text = "- id: a\n  body: 您好\n- just text\n- [1, 2]\n"
    with pytest.raises(InputError) as info:
        read_scripts(write(tmp_path / "s.yaml", text))
    keys = "id, title, category, stage, industry, tags, body"
    assert [p.split(":")[0] for p in info.value.problems] == [
        f"第 3 行：应为含 {keys} 这些键的映射，实际是文本 'just text'",
        f"第 4 行：应为含 {keys} 这些键的映射，实际是列表",
    ]


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="第 3 行：YAML 格式有误"):
        read_scripts(write(tmp_path / "s.yaml", "- id: a\n  title: b\n body: [\n"))


def test_yaml_wrong_value_type_is_a_problem(tmp_path: Path) -> None:
    text = (
        "- id: a\n  title: [x]\n  category: welcome\n  stage: acquire\n"
        "  industry: general\n  body: 您好\n"
    )
    (item,) = read_scripts(write(tmp_path / "s.yaml", text))
    assert [str(i) for i in item.issues] == [
        "第 2 行 [a] 标题：应为文本，实际是列表",
    ]


def test_empty_yaml_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="里没有话术"):
        read_scripts(write(tmp_path / "s.yaml", "# nothing yet\n"))


# --- size ---------------------------------------------------------------------------------


def test_ten_megabyte_file_parses_quickly_and_silently(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [HEADER]
    index = 0
    size = 0
    while size < 10 * 1024 * 1024:
        body = (
            f"您好{{customer_name}}，第{index}条：{'我们的产品口碑很好，' * 8}欢迎咨询{{product}}。"
        )
        line = f"s{index:06d},标题{index},pricing,convert,general,价格;优惠,{body}"
        lines.append(line)
        size += len(line.encode()) + 1
        index += 1
    path = write(tmp_path / "big.csv", "\n".join(lines) + "\n")
    assert path.stat().st_size >= 10 * 1024 * 1024
    loaded = load_scripts(path)
    assert len(loaded) == index
    assert loaded[-1].id == f"s{index - 1:06d}"
    out = capsys.readouterr()
    assert (out.out, out.err) == ("", "")


def test_file_over_the_limit_is_refused_before_parsing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scripts_io, "MAX_FILE_BYTES", 1000)
    path = write(tmp_path / "big.csv", HEADER + "\n" + "\n".join(ROWS * 20))

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("parsed a file over the limit")

    monkeypatch.setattr(scripts_io, "table_rows", fail)
    monkeypatch.setattr(scripts_io, "decode_text", fail)
    with pytest.raises(InputError, match=r"big\.csv 有 [\d.]+ KB；上限是 1000 字节"):
        read_scripts(path)


# --- all or nothing --------------------------------------------------------------------


def test_one_bad_row_among_many_lists_every_problem_and_imports_nothing(tmp_path: Path) -> None:
    good = [make_record(i) for i in range(200)]
    bad = make_record(
        500,
        id="s00007",  # duplicate of row 9
        category="welcom",
        body="{customer_nam}您好",
    )
    path = tmp_path / "s.csv"
    write_scripts([*good[:100], bad, *good[100:]], path)
    with pytest.raises(InputError) as info:
        load_scripts(path)
    error = info.value
    assert str(error).startswith("s.csv：3 处问题，没有导入任何内容")
    assert len(error.problems) == 3
    assert all(p.startswith("第 102 行 [s00007] ") for p in error.problems)
    assert any("未知的分类 'welcom'" in p for p in error.problems)
    assert any("未知的变量 {customer_nam}" in p for p in error.problems)
    assert any("第 9 行已用过" in p for p in error.problems)


def test_duplicate_id_names_both_lines(tmp_path: Path) -> None:
    text = (
        HEADER + "\n" + ROWS[0] + "\n" + ROWS[1] + "\n" + ROWS[0].replace("新客欢迎", "重复") + "\n"
    )
    with pytest.raises(InputError) as info:
        load_scripts(write(tmp_path / "s.csv", text))
    assert info.value.problems == [
        "第 4 行 [w001] 编号：编号 'w001' 重复：第 2 行已用过",
    ]


def test_warnings_do_not_block(tmp_path: Path) -> None:
    text = HEADER + "\nen1,English only,welcome,acquire,general,,Hello {customer_name}\n"
    loaded, found = load_scripts_with_warnings(write(tmp_path / "s.csv", text))
    assert [r.id for r in loaded] == ["en1"]
    assert [(w.severity, w.field) for w in found] == [("warning", "body")]


def test_unknown_industry_checked_only_when_known_industries_given(tmp_path: Path) -> None:
    path = write(tmp_path / "s.csv", CSV_TEXT)
    assert len(load_scripts(path)) == 3
    with pytest.raises(InputError) as info:
        load_scripts(path, known_industries=["beauty"])
    assert info.value.problems == [
        "第 4 行 [c001] 行业：未知的行业 'education'；可用：beauty、general",
    ]


# --- export ---------------------------------------------------------------------------------


FORMULA_LIKE = ["=1+1", "+8613800000000", "-5", "@x", "'=already quoted", "'plain", "a=b"]


def formula_records() -> list[ScriptRecord]:
    return [
        make_record(i, id=value, title=value, tags=(value, "ok"), body=value, examples=(value,))
        for i, value in enumerate(FORMULA_LIKE)
    ]


def test_csv_export_is_utf8_with_bom_and_quotes_formulas(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    write_scripts(formula_records(), path)
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf" + ",".join(EXPORT_COLUMNS).encode())
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert [row[0] for row in rows[1:]] == [
        "'=1+1",
        "'+8613800000000",
        "'-5",
        "'@x",
        "''=already quoted",
        "'plain",
        "a=b",
    ]
    assert records(read_scripts(path)) == formula_records()


def test_xlsx_export_shows_text_as_typed_never_as_a_formula(tmp_path: Path) -> None:
    path = tmp_path / "out.xlsx"
    write_scripts(formula_records(), path)
    sheet = openpyxl.load_workbook(path).active
    assert sheet is not None
    # what the spreadsheet shows: the text itself, stored as a string (never run), and
    # only the value that already looks quoted keeps an extra quote to read back exactly
    assert [sheet.cell(row, 1).value for row in range(2, 9)] == [
        "=1+1",
        "+8613800000000",
        "-5",
        "@x",
        "''=already quoted",
        "'plain",
        "a=b",
    ]
    assert all(sheet.cell(row, 1).data_type == "s" for row in range(2, 9))
    assert sheet.cell(2, 1).quotePrefix
    with zipfile.ZipFile(path) as archive:
        xml = b"".join(archive.read(name) for name in archive.namelist() if "sheet" in name)
    assert b"<f>" not in xml
    assert records(read_scripts(path)) == formula_records()


def test_yaml_export_needs_no_quote_prefix(tmp_path: Path) -> None:
    path = tmp_path / "out.yaml"
    write_scripts(formula_records(), path)
    assert yaml.safe_load(path.read_text("utf-8"))[0]["id"] == "=1+1"
    assert records(read_scripts(path)) == formula_records()


def test_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "lib.csv"
    write_scripts(EXPECTED, path)
    before = path.read_bytes()

    def broken_replace(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "replace", broken_replace)
    with pytest.raises(InputError, match=r"无法写入 .*磁盘已满"):
        write_scripts([make_record(i) for i in range(50)], path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lib.csv"]


def test_write_into_missing_directory_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="无法写入"):
        write_scripts(EXPECTED, tmp_path / "nope" / "lib.yaml")


def test_write_unsupported_extension(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="不支持的文件类型"):
        write_scripts(EXPECTED, tmp_path / "lib.json")


# --- property: export -> import is exact -------------------------------------------------

_TEXT = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00\r"), max_size=40)
_STRIPPED = _TEXT.map(str.strip)
_NONEMPTY = _STRIPPED.filter(bool)
_TAG = _NONEMPTY.filter(lambda t: not re.search(r"[;；,，]", t))
_RECORD = st.builds(
    ScriptRecord,
    id=_NONEMPTY,
    title=_STRIPPED,
    category=st.sampled_from(CATEGORIES),
    stage=st.sampled_from(STAGES),
    # every spelling of "every industry" (「通用」, ``*`` …) is read back as ``general``
    industry=_STRIPPED.map(canonical_industry),
    body=_STRIPPED,
    tags=st.lists(_TAG, unique=True, max_size=4).map(tuple),
    status=st.sampled_from(STATUSES),
    variant_group=st.none() | _NONEMPTY,
    # an export always writes the examples column: a file read back has a tuple
    examples=st.lists(
        _NONEMPTY.filter(lambda t: not re.search(r"[;；]", t)), unique=True, max_size=3
    ).map(tuple),
)


@pytest.mark.parametrize("suffix", [".csv", ".yaml"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(original=st.lists(_RECORD, min_size=1, max_size=5))
def test_write_then_read_round_trips(
    suffix: str, original: list[ScriptRecord], tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("roundtrip") / f"lib{suffix}"
    write_scripts(original, path)
    text = path.read_text(encoding="utf-8-sig")
    controls = len(re.findall(r"[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f]", text))
    if controls > max(8, len(text) // 100):  # knowledge.files.decode_text's rule
        with pytest.raises(InputError, match="是二进制文件"):  # like every importer
            read_scripts(path)
    else:
        assert records(read_scripts(path)) == original
