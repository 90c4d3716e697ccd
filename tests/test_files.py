"""One way to read data files (knowledge/files.py) and declared row models with line
numbers (knowledge/rows.py), seen through every importer of the project."""

from __future__ import annotations

import codecs
import io
import subprocess
import sys
import zipfile
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from functools import partial
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from archives import declared_sizes, many_parts, workbook, xlsx_bomb

from bot.crm.followups import load_rules
from bot.crm.oneid import read_customer_file
from bot.pipeline.tagging import parse_taxonomy
from knowledge.errors import InputError
from knowledge.files import (
    cell_text,
    check_xlsx_archive,
    count_table_rows,
    decode_text,
    read_table,
    table_rows,
    write_csv,
    write_xlsx,
)
from knowledge.loaders import Section, load_document
from scripts_lib import read_scripts

# --- the one decoder -------------------------------------------------------------------

TEXT = "问题,答案\r\n等待期多久,九十天\r\n"


@pytest.mark.parametrize(
    "data",
    [
        TEXT.encode("utf-8"),
        codecs.BOM_UTF8 + TEXT.encode("utf-8"),
        TEXT.encode("utf-16"),  # with the platform's BOM
        codecs.BOM_UTF16_BE + TEXT.encode("utf-16-be"),
        TEXT.encode("utf-32"),
        codecs.BOM_UTF32_BE + TEXT.encode("utf-32-be"),
        TEXT.encode("gb18030"),
    ],
    ids=["utf-8", "utf-8-bom", "utf-16", "utf-16-be", "utf-32", "utf-32-be", "gb18030"],
)
def test_every_encoding_decodes_to_the_same_text(data: bytes) -> None:
    assert decode_text(data, name="f.csv") == "问题,答案\n等待期多久,九十天\n"


def test_a_nul_is_a_binary_file_and_its_line_is_named() -> None:
    with pytest.raises(InputError, match=r"^f\.txt：第 3 行：含 NUL 字符；是二进制文件"):
        decode_text("a\r\nb\nc\x00".encode("utf-16"), name="f.txt")


def test_control_characters_make_a_binary_file_only_in_numbers() -> None:
    few = "行" * 1000 + "\x01" * 9  # under 1 %
    assert decode_text(few.encode(), name="f.txt") == few
    with pytest.raises(InputError, match=r"^f\.txt：是二进制文件"):
        decode_text(("行" * 100 + "\x01" * 9).encode(), name="f.txt")


def test_undecodable_bytes_name_their_line() -> None:
    with pytest.raises(InputError, match=r"^f\.csv：第 2 行无法按 UTF-8 或 GB18030"):
        decode_text(b"a,b\n\xff\xff,c\n", name="f.csv")
    with pytest.raises(InputError, match=r"^f\.csv：第 2 行无法按 UTF-16"):
        decode_text(codecs.BOM_UTF16_LE + "a\n".encode("utf-16-le") + b"\x00\xd8", name="f.csv")


#: Lines of a chat export: the same words in two encodings make a mixed file.
_LINES = [
    '{"msg_id": "m1", "contact_name": "王女士", "text": "你好"}',
    '{"msg_id": "m2", "contact_name": "李先生", "text": "在吗，我想问一下重疾险"}',
    '{"msg_id": "m3", "text": "ok"}',
    '{"msg_id": "m4", "contact_name": "张三", "text": "好的，明天联系"}',
]


@pytest.mark.parametrize(
    ("encodings", "message"),
    [
        (("gbk", "utf-8", "gbk", "gbk"), "第 2 行是 UTF-8 编码，而第 1 行是 GBK/GB18030 编码"),
        (("utf-8", "utf-8", "utf-8", "gbk"), "第 4 行是 GBK/GB18030 编码，而第 1 行是 UTF-8 编码"),
        (("utf-8-sig", "gbk", "gbk", "gbk"), "第 2 行是 GBK/GB18030 编码，而第 1 行是 UTF-8 编码"),
        (
            ("gb18030", "gb18030", "ascii", "utf-8"),
            "第 4 行是 UTF-8 编码，而第 1 行是 GBK/GB18030 编码",
        ),
    ],
    ids=["gbk-then-utf8", "utf8-then-gbk", "bom-then-gbk", "gb18030-then-utf8"],
)
def test_a_file_mixing_utf8_and_gbk_lines_is_refused_naming_both(
    encodings: tuple[str, ...], message: str
) -> None:
    """Before: decoded whole as GB18030, its UTF-8 lines imported as mojibake (「你好」 as
    「浣犲ソ」)."""
    data = b"\r\n".join(line.encode(e) for line, e in zip(_LINES, encodings, strict=True))
    with pytest.raises(InputError) as info:
        decode_text(data, name="chats.jsonl")
    assert str(info.value).startswith(f"chats.jsonl：{message}：同一个文件混用了两种编码")
    assert "另存为 UTF-8" in str(info.value)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_a_file_in_one_encoding_reads_whole(encoding: str) -> None:
    text = "\n".join(_LINES) + "\n"
    assert decode_text(text.encode(encoding), name="chats.jsonl") == text


def test_gbk_lines_that_happen_to_be_valid_utf8_are_still_gbk() -> None:
    """Lines that read either way are taken for UTF-8 only when that reading is Chinese
    text (two hanzi or more) with fewer uncommon characters than the GBK reading."""
    assert "一些".encode("gbk").decode("utf-8") == "һЩ"  # Cyrillic: not Chinese text
    assert "洹版阿".encode("gbk").decode("utf-8") == "䡰氢"  # a rare hanzi (extension A)
    rows = ["name,phone", "一些,13800000001", "洹版阿,13800000002", "王芳,13800000003"]
    data = "\n".join(rows).encode("gbk")
    assert decode_text(data, name="t.csv") == "\n".join(rows)


# --- the one cell rule -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        ("", ""),
        (" 原样 ", " 原样 "),
        (True, "TRUE"),
        (False, "FALSE"),
        (12, "12"),
        (12.0, "12"),
        (13800000001.0, "13800000001"),
        (2.5, "2.5"),
        (-0.125, "-0.125"),
        (date(2026, 1, 15), "2026-01-15"),
        (datetime(2026, 1, 15), "2026-01-15"),
        (datetime(2026, 1, 15, 9, 30), "2026-01-15 09:30"),
        (datetime(2026, 1, 15, 9, 30, 15), "2026-01-15 09:30:15"),
        (datetime(2026, 1, 15, 9, 29, 59, 999_000), "2026-01-15 09:30"),  # float artefact
        (datetime(2026, 1, 15, 23, 59, 59, 600_000), "2026-01-16"),
        (time(9, 30), "09:30"),
        (time(9, 30, 5), "09:30:05"),
    ],
)
def test_cell_text(value: object, text: str) -> None:
    assert cell_text(value) == text


#: What a user types in a spreadsheet, as Excel stores it, and as it reads.
TYPED: list[tuple[str, object, str]] = [
    ("date", date(2026, 1, 15), "2026-01-15"),
    ("datetime", datetime(2026, 1, 15, 9, 30), "2026-01-15 09:30"),
    ("whole", 12, "12"),
    ("whole_float", 12.0, "12"),
    ("decimal", 2.5, "2.5"),
    ("phone", 13800000001, "13800000001"),
    ("flag", True, "TRUE"),
    ("empty", None, ""),
    ("text", "您好", "您好"),
]


def _xlsx(path: Path, rows: list[list[Any]]) -> Path:
    book = openpyxl.Workbook()
    sheet: Any = book.active
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


FORMULA_LIKE = ['=HYPERLINK("http://x")', "+8613800000001", "-_-", "@小王", "'=已有引号", "a=b"]


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_an_exported_table_reads_back_exactly_formula_guard_and_all(
    tmp_path: Path, suffix: str
) -> None:
    """A customer nicknamed 「@小王」 or 「-_-」 survives export -> import: the CSV's
    formula guard is taken off again, and the XLSX shows the text as typed."""
    path = tmp_path / f"t{suffix}"
    writer = write_csv if suffix == ".csv" else partial(write_xlsx, title="t")
    writer(path, ["name"], [[value] for value in FORMULA_LIKE])
    assert [row["name"] for _, row in read_table(path)] == FORMULA_LIKE


def test_xlsx_cells_read_as_the_spreadsheet_shows_them_like_csv(tmp_path: Path) -> None:
    header = [name for name, _, _ in TYPED]
    xlsx = _xlsx(tmp_path / "t.xlsx", [header, [value for _, value, _ in TYPED]])
    typed = openpyxl.load_workbook(xlsx).active
    assert typed is not None and typed["A2"].is_date and typed["B2"].is_date
    csv = tmp_path / "t.csv"
    csv.write_text(",".join(header) + "\n" + ",".join(t for _, _, t in TYPED) + "\n", "utf-8")
    expected = [(2, {name: text for name, _, text in TYPED})]
    assert read_table(xlsx) == read_table(csv) == expected
    assert table_rows(xlsx)[1] == table_rows(csv)[1] == (2, [t for _, _, t in TYPED])


def test_a_qa_sheet_reads_dates_as_dates(tmp_path: Path) -> None:
    # Its date cells became "2026-01-15 00:00:00" (str() of the datetime) before.
    path = _xlsx(
        tmp_path / "faq.xlsx",
        [
            ["问题", "答案"],
            ["开课日期", date(2026, 1, 15)],
            ["直播时间", datetime(2026, 1, 15, 19, 30)],
            ["课时", 12.0],
        ],
    )
    assert load_document(path).sections == [
        Section(title="开课日期", text="问：开课日期\n答：2026-01-15"),
        Section(title="直播时间", text="问：直播时间\n答：2026-01-15 19:30"),
        Section(title="课时", text="问：课时\n答：12"),
    ]


def test_script_and_customer_sheets_use_the_same_rule(tmp_path: Path) -> None:
    scripts = _xlsx(
        tmp_path / "s.xlsx",
        [
            ["id", "title", "category", "stage", "industry", "tags", "body"],
            [1001, date(2026, 1, 15), "care", "retain", "general", 3.0, "您好"],
        ],
    )
    [parsed] = read_scripts(scripts)
    assert (parsed.record.id, parsed.record.title, parsed.record.tags) == (
        "1001",
        "2026-01-15",
        ("3",),
    )
    people = _xlsx(
        tmp_path / "c.xlsx",
        [
            ["name", "phone", "birthday", "added_at"],
            ["王芳", 13800000001, date(1990, 2, 28), datetime(2026, 1, 15, 9, 30)],
        ],
    )
    [row] = read_customer_file(people, timezone="Asia/Shanghai")
    assert row.fields == {"name": "王芳", "birthday": date(1990, 2, 28)}
    assert row.identities == (("phone", "13800000001"),)
    assert row.added_at == datetime(2026, 1, 15, 1, 30, tzinfo=UTC)


# --- every importer decodes alike ----------------------------------------------------------

_SCRIPT_ROW = "id,title,category,stage,industry,tags,body\na,标题,care,retain,general,,您好"
#: (importer, file name, valid content): each reads its file.
IMPORTERS: list[tuple[str, Callable[[Path], object], str, str]] = [
    ("read_scripts csv", read_scripts, "s.csv", _SCRIPT_ROW),
    ("read_scripts yaml", read_scripts, "s.yaml", "- id: a\n  title: 标题\n  body: 您好"),
    ("load_document md", load_document, "k.md", "# 标题\n等待期九十天"),
    ("load_document txt", load_document, "k.txt", "等待期\n九十天"),
    ("load_document csv", load_document, "k.csv", "问题,答案\n多久,九十天"),
    ("parse_taxonomy", parse_taxonomy, "t.yaml",
     "version: 1\ncategories:\n- {name: 家, tags: [{name: 娃}]}"),
    ("load_rules", load_rules, "r.yaml", "rules:\n  - {id: a, anchor: added}"),
    ("read_customer_file", read_customer_file, "c.csv", "name,phone\n王芳,13800000001"),
    ("read_table", read_table, "t.csv", "name,phone\n王芳,13800000001"),
]  # fmt: skip
IDS = [name for name, *_ in IMPORTERS]


def _normal(result: object) -> object:
    """What a reader returned, without the file's hash and path (which differ by design)."""
    if hasattr(result, "sections"):
        return result.sections
    return result


@pytest.mark.parametrize(("name", "read", "file", "content"), IMPORTERS, ids=IDS)
@pytest.mark.parametrize("encoding", ["utf-32", "utf-32-be", "utf-16-be", "gb18030"])
def test_every_importer_reads_utf32_and_the_others_alike(
    name: str,
    read: Callable[[Path], object],
    file: str,
    content: str,
    encoding: str,
    tmp_path: Path,
) -> None:
    reference = tmp_path / "utf8" / file
    reference.parent.mkdir()
    reference.write_text(content, encoding="utf-8")
    other = tmp_path / encoding / file
    other.parent.mkdir()
    bom = {"utf-32-be": codecs.BOM_UTF32_BE, "utf-16-be": codecs.BOM_UTF16_BE}.get(encoding, b"")
    other.write_bytes(bom + content.encode(encoding))
    assert _normal(read(other)) == _normal(read(reference))


@pytest.mark.parametrize(("name", "read", "file", "content"), IMPORTERS, ids=IDS)
@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "utf-32"])
def test_every_importer_calls_a_nul_binary_with_its_line(
    name: str,
    read: Callable[[Path], object],
    file: str,
    content: str,
    encoding: str,
    tmp_path: Path,
) -> None:
    path = tmp_path / file
    first, rest = content.split("\n", 1)
    path.write_bytes(f"{first}\n\x00{rest}".encode(encoding))
    with pytest.raises(InputError) as info:
        read(path)
    assert str(info.value).endswith(f"{file}：第 2 行：含 NUL 字符；{_BINARY}")


_BINARY = "是二进制文件或不支持的编码（不是文本文件）"


@pytest.mark.parametrize(("name", "read", "file", "content"), IMPORTERS, ids=IDS)
def test_every_importer_calls_a_control_character_soup_binary(
    name: str, read: Callable[[Path], object], file: str, content: str, tmp_path: Path
) -> None:
    path = tmp_path / file
    path.write_bytes(content.encode() + bytes(range(1, 9)) * 4)
    with pytest.raises(InputError) as info:
        read(path)
    assert str(info.value).endswith(f"{file}：{_BINARY}")


# --- row models: every problem, with its line ----------------------------------------------


def test_taxonomy_problems_all_at_once_with_lines(tmp_path: Path) -> None:
    path = tmp_path / "tags.yaml"
    path.write_text(
        "categories:\n"  # 1: no version
        "  - name: 家庭\n"
        "    industry: insurance\n"
        "    tags:\n"
        "      - name: 有孩子\n"
        "        keywords: [孩子, {a: b}]\n"  # 6
        "      - name: 有孩子\n"  # 7: twice
        "      - description: 没有名字\n"  # 8
        "  - name: 家庭\n"  # 9: twice for insurance
        "    industry: insurance\n"
        "    colour: red\n"  # 11: not a key of the format
        "    tags: []\n"  # 12
        "  - name: ' '\n"  # 13
        "    tags:\n"
        "      - name: a\n"
        "        keyword: [x]\n",  # 16
        encoding="utf-8",
    )
    with pytest.raises(InputError) as info:
        parse_taxonomy(path)
    assert str(info.value).split("\n")[0] == "tags.yaml：9 处问题，没有导入任何内容"
    assert info.value.problems == [
        "第 1 行：缺少字段 version",
        "第 6 行：categories[1].tags[1]：keywords[2] 应为文本",
        "第 7 行：categories[1].tags[2]：分类 '家庭' 里的标签 '有孩子' 重复",
        "第 8 行：categories[1].tags[3]：缺少字段 name",
        "第 9 行：categories[2]：行业 'insurance' 里的分类 '家庭' 重复",
        "第 11 行：categories[2]：未知字段 colour",
        "第 12 行：categories[2]：tags 不能是空列表",
        "第 13 行：categories[3]：name 不能为空",
        "第 16 行：categories[3].tags[1]：未知字段 keyword",
    ]


def test_rule_problems_all_at_once_with_lines(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "rules:\n"
        "  - id: a\n"
        "    anchor: moon\n"  # 3
        "  - id: a\n"  # 4: twice
        "    anchor: last_message\n"
        "    offset_days: 0\n"  # 6: a last_message rule needs >= 1
        "    action: shout\n"  # 7
        "    match: {colour: red, tags: [[x]]}\n"  # 8
        "  - just text\n"  # 9
        "  - {id: c, anchor: added, offset_days: 1.5, event_payload: 3, script: [x]}\n",  # 10
        encoding="utf-8",
    )
    with pytest.raises(InputError) as info:
        load_rules(path)
    assert info.value.problems == [
        "第 3 行：规则 1（a）：anchor 只能是 birthday, added, last_message 之一，或 event:事件类型",
        "第 4 行：规则 2（a）：id 用了两次",
        "第 6 行：规则 2（a）：last_message（最后一条消息）规则需要 offset_days >= 1",
        "第 7 行：规则 2（a）：action 只能是 'remind' 或 'mark_silent'，不是 'shout'",
        "第 8 行：规则 2（a）：match：tags 应为一个值或一组值",
        "第 8 行：规则 2（a）：match：未知字段 colour",
        "第 9 行：规则 3（没有 id）：应为映射（键: 值）",
        "第 10 行：规则 4（c）：offset_days 应为整数",
        "第 10 行：规则 4（c）：event_payload 应为映射（键: 值）",
        "第 10 行：规则 4（c）：script 应为文本",
    ]


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_customer_row_problems_all_at_once_with_lines(suffix: str, tmp_path: Path) -> None:
    rows = [
        ["customer_id", "name", "stage", "phone", "birthday", "added_at", "id:member"],
        ["", "甲", "", "13800000001", "", "", ""],
        ["x1", "乙" * 101, "buy", "123", "1990-02-30", "昨天", "m" * 201],
        ["", "丙", "", "", "", "", ""],
        ["", "丁", "", "+86 138-0000-0001", "", "", ""],
        ["", "戊", "", "13800000005", "2099-01-01", "", ""],
    ]
    path = tmp_path / f"c{suffix}"
    if suffix == ".xlsx":
        _xlsx(path, [[cell or None for cell in row] for row in rows])
    else:
        path.write_text("\n".join(",".join(row) for row in rows) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        read_customer_file(path)
    assert str(info.value).split("\n")[0] == f"c{suffix}：10 行有错，没有导入任何内容"
    assert info.value.problems == [
        "第 3 行：customer_id 'x1' 不是数字",
        "第 3 行：name 超过 100 个字符",
        "第 3 行：stage 只能是 'acquire', 'engage', 'convert' 或 'retain'，不是 'buy'",
        "第 3 行：生日 '1990-02-30' 不是日期（如 1990-02-28）",
        "第 3 行：添加时间 '昨天' 不是日期或日期时间",
        "第 3 行：手机号 '123' 不是手机号码",
        "第 3 行：id:member 超过 200 个字符",
        "第 4 行：需要 customer_id 或至少一个身份列的值",
        "第 5 行：phone 13800000001 在第 2 行也出现了",
        "第 6 行：生日 2099-01-01 还没到（今天是 " + date.today().isoformat() + "）",
    ]


# --- the libraries stand alone -----------------------------------------------------------


def test_knowledge_and_scripts_lib_import_nothing_of_bot() -> None:
    code = (
        "import importlib, pkgutil, sys\n"
        "import knowledge, scripts_lib\n"
        "for package in (knowledge, scripts_lib):\n"
        "    for module in pkgutil.iter_modules(package.__path__):\n"
        "        importlib.import_module(f'{package.__name__}.{module.name}')\n"
        "print(sorted(m for m in sys.modules if m == 'bot' or m.startswith('bot.')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "一张 PNG 图片"),
        (b"\xff\xd8\xff\xe0" + bytes(range(256)), "一张 JPEG 图片"),
        (b"%PDF-1.7\n" + bytes(range(256)), "一个 PDF 文件"),
        (b"PK\x03\x04" + bytes(range(256)), "一个压缩包或 Office 文件（Word / Excel / PPT）"),
    ],
)
def test_a_picture_pdf_or_office_file_renamed_as_text_says_what_it_is(
    data: bytes, kind: str
) -> None:
    """A PNG renamed 海报.txt was told to be saved as UTF-8 (「第 4 行无法按 UTF-8 …解码」)."""
    with pytest.raises(InputError) as info:
        decode_text(data, name="海报.txt")
    assert str(info.value).startswith(f"海报.txt：这是{kind}，不是文本文件")


# --- XLSX: what a workbook may unpack to ---------------------------------------------------

#: Every reader of tables, each given an XLSX workbook.
XLSX_READERS: list[tuple[str, Callable[[Path], object]]] = [
    ("read_table", read_table),
    ("read_scripts", read_scripts),
    ("read_customer_file", read_customer_file),
    ("load_document", load_document),
    ("count_table_rows", lambda path: count_table_rows(path, stop_after=10)),
]


@pytest.mark.parametrize(("name", "read"), XLSX_READERS, ids=[n for n, _ in XLSX_READERS])
def test_an_xlsx_bomb_is_refused_before_openpyxl_unpacks_it(
    name: str, read: Callable[[Path], object], tmp_path: Path
) -> None:
    """A sheet of 8 MB deflated some 300 times (before: read, all of it, by every reader;
    an 817 KB workbook of this kind took openpyxl 2.7 GB)."""
    path = tmp_path / "炸弹.xlsx"
    path.write_bytes(xlsx_bomb(8 * 1024 * 1024))
    assert path.stat().st_size < 100_000
    with pytest.raises(InputError) as info:
        read(path)
    message = str(info.value)  # (load_document names the file by its path)
    assert "炸弹.xlsx：工作簿中的 xl/worksheets/sheet1.xml 压缩了 " in message
    assert "超过 100 倍的上限（可能是“压缩炸弹”），未读取" in message


def test_an_xlsx_bomb_of_a_gigabyte_is_refused_by_its_unpacked_size(tmp_path: Path) -> None:
    path = tmp_path / "大.xlsx"
    path.write_bytes(xlsx_bomb(1024 * 1024 * 1024))  # about 3 MB
    with pytest.raises(InputError, match=r"^大\.xlsx：工作簿解压后共 1024 MB，超过 256 MB 的上限"):
        read_table(path)


def test_parts_declaring_more_than_256_mb_in_all_are_refused_at_any_ratio(tmp_path: Path) -> None:
    """Two parts of 130 MB each, packed 65 times (under the ratio): the total decides."""
    real = workbook([["问题", "答案"], ["多久", "九十天"]])
    parts = ["xl/worksheets/sheet1.xml", "xl/styles.xml"]
    forged = declared_sizes(real, {p: (2 * 1024 * 1024, 130 * 1024 * 1024) for p in parts})
    with pytest.raises(InputError, match=r"解压后共 260 MB，超过 256 MB 的上限"):
        check_xlsx_archive(forged, name="t.xlsx")
    check_xlsx_archive(real, name="t.xlsx")  # the same workbook as it is: fine
    path = tmp_path / "t.xlsx"
    path.write_bytes(forged)
    with pytest.raises(InputError, match=r"^t\.xlsx：工作簿解压后共 260 MB"):
        read_table(path)


def test_a_part_that_lies_about_its_size_is_read_only_as_far_as_it_says(
    tmp_path: Path,
) -> None:
    """What the check trusts: a part declaring 1 MB that holds 8 MB is cut at 1 MB by
    zipfile (and fails its CRC), so the directory's sizes bound what openpyxl unpacks."""
    bomb = xlsx_bomb(8 * 1024 * 1024)
    with zipfile.ZipFile(io.BytesIO(bomb)) as archive:
        info = archive.getinfo("xl/worksheets/sheet1.xml")
        info.file_size = 1024 * 1024
        with archive.open(info) as part, pytest.raises(zipfile.BadZipFile, match="CRC"):
            assert len(part.read()) <= 1024 * 1024


def test_a_workbook_of_more_than_10000_parts_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "多.xlsx"
    path.write_bytes(many_parts(10_001))
    with pytest.raises(InputError, match=r"^多\.xlsx：工作簿包含 10\d{3} 个部件，超过 10000 个"):
        read_table(path)
    path.write_bytes(many_parts(100))
    assert read_table(path) == []  # a header, no rows: read


def test_a_real_workbook_of_many_rows_passes_the_check(tmp_path: Path) -> None:
    """20,000 alike rows (a sheet of 1.6 MB, packed some 20 times) are no bomb."""
    rows = [["问题", "答案"], *([f"问题{i}", "等待期九十天，犹豫期十五天"] for i in range(20_000))]
    path = tmp_path / "大表.xlsx"
    path.write_bytes(workbook(rows))
    with zipfile.ZipFile(path) as archive:
        sheet = archive.getinfo("xl/worksheets/sheet1.xml")
    assert sheet.file_size > 1024 * 1024
    assert len(read_table(path)) == 20_000
