"""Knowledge files → sections: Markdown headings, plain text, question–answer tables."""

from __future__ import annotations

import hashlib
from pathlib import Path

import openpyxl
import pytest

from knowledge.errors import InputError
from knowledge.loaders import Section, iter_document_paths, load_document

MARKDOWN = """\
前言：本文档介绍康宁系列产品。

# 康宁终身重疾险

产品概述。

## 等待期

等待期为90天。

```bash
# 这不是标题
echo 等待期
```

### 例外

意外不受等待期限制。

## 投保年龄

出生满28天至55周岁。

# 安心医疗险 #

~~~
## 也不是标题
~~~
保费136元起。

#空标题下面没有正文

# 理赔
"""


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def test_markdown_sections_follow_heading_paths(tmp_path: Path) -> None:
    doc = load_document(write(tmp_path / "康宁产品.md", MARKDOWN))
    assert doc.kind == "markdown"
    assert [s.title for s in doc.sections] == [
        "康宁产品",  # text before the first heading: titled by the file stem
        "康宁终身重疾险",
        "康宁终身重疾险 > 等待期",
        "康宁终身重疾险 > 等待期 > 例外",
        "康宁终身重疾险 > 投保年龄",
        "安心医疗险",  # closing #s stripped, path reset by the level-1 heading
    ]
    assert doc.sections[0].text == "前言：本文档介绍康宁系列产品。"
    assert doc.sections[-1].text == "~~~\n## 也不是标题\n~~~\n保费136元起。"


def test_markdown_headings_inside_fences_are_text(tmp_path: Path) -> None:
    doc = load_document(write(tmp_path / "a.md", MARKDOWN))
    waiting = next(s for s in doc.sections if s.title.endswith("等待期"))
    assert "# 这不是标题" in waiting.text
    assert waiting.text.startswith("等待期为90天。")
    assert all("这不是标题" not in s.title for s in doc.sections)


def test_markdown_front_matter_setext_and_no_space_headings(tmp_path: Path) -> None:
    text = (
        "---\ntitle: x\n---\n"
        "产品手册\n====\n\n简介。\n\n"
        "价格\n----\n\n398元。\n\n"
        "##售后\n七天退货。\n"
    )
    doc = load_document(write(tmp_path / "b.markdown", text))
    assert doc.sections == [
        Section("产品手册", "简介。"),
        Section("产品手册 > 价格", "398元。"),
        Section("产品手册 > 售后", "七天退货。"),  # "##" is a sibling of the "----" h2
    ]


def test_markdown_without_content_has_no_sections(tmp_path: Path) -> None:
    assert load_document(write(tmp_path / "empty.md", "\n# 标题\n\n")).sections == []


def test_text_file_is_one_section_titled_by_stem(tmp_path: Path) -> None:
    path = write(tmp_path / "售后政策.txt", "第一段。\r\n\r\n第二段。  \r\n")
    doc = load_document(path)
    assert doc.kind == "text"
    assert doc.sections == [Section("售后政策", "第一段。\n\n第二段。")]
    assert doc.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert doc.path == str(path)


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gb18030", "gbk", "utf-16"])
def test_text_encodings(tmp_path: Path, encoding: str) -> None:
    doc = load_document(write(tmp_path / "n.txt", "等待期为90天，保费3000元。", encoding))
    assert doc.sections[0].text == "等待期为90天，保费3000元。"


def test_qa_csv_in_gbk_with_chinese_header(tmp_path: Path) -> None:
    csv_text = (
        '问题,答案,分类\n等待期多久？,90天,保障\n"能退保吗？","可以，犹豫期15天内全额退"\n,\n'
    )
    doc = load_document(write(tmp_path / "faq.csv", csv_text, "gbk"))
    assert doc.kind == "qa"
    assert doc.sections == [
        Section("等待期多久？", "问：等待期多久？\n答：90天"),
        Section("能退保吗？", "问：能退保吗？\n答：可以，犹豫期15天内全额退"),
    ]


def test_qa_csv_english_header_with_bom(tmp_path: Path) -> None:
    doc = load_document(write(tmp_path / "faq.csv", "Question,Answer\nQ1,A1\n", "utf-8-sig"))
    assert doc.sections == [Section("Q1", "问：Q1\n答：A1")]


def test_qa_xlsx(tmp_path: Path) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["question", "answer"])
    sheet.append(["保费多少？", 3000])
    sheet.append([None, None])
    sheet.append(["在哪理赔？", "拨打客服热线"])
    path = tmp_path / "faq.xlsx"
    workbook.save(path)
    doc = load_document(path)
    assert [s.title for s in doc.sections] == ["保费多少？", "在哪理赔？"]
    assert doc.sections[0].text == "问：保费多少？\n答：3000"


def test_qa_missing_columns_are_named(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        load_document(write(tmp_path / "bad.csv", "标题,内容\na,b\n"))
    message = str(info.value)
    assert "question" in message and "answer" in message and "bad.csv" in message
    with pytest.raises(InputError, match=r"缺少列：answer"):
        load_document(write(tmp_path / "half.csv", "问题,备注\na,b\n"))


def test_qa_rows_missing_an_answer_are_all_reported(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        load_document(write(tmp_path / "rows.csv", "question,answer\nq1,\nq2,a2\n,a3\n"))
    assert info.value.problems == [
        "第 2 行：答案为空",
        "第 4 行：问题为空",
    ]


def test_binary_file_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "image.txt"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(InputError, match="无法按 UTF-8"):
        load_document(path)


def test_broken_xlsx_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.xlsx"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(InputError, match="xlsx"):
        load_document(path)


def test_unsupported_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="不支持"):
        load_document(write(tmp_path / "a.pdf", "x"))
    with pytest.raises(InputError, match="无法读取"):
        load_document(tmp_path / "missing.md")


def test_iter_document_paths(tmp_path: Path) -> None:
    for name in ["b.md", "a.txt", "sub/c.csv", "sub/deeper/d.xlsx", "e.pdf", ".hidden.md"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x", encoding="utf-8")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "f.md").write_text("x", encoding="utf-8")
    (tmp_path / "~$lock.xlsx").write_text("x", encoding="utf-8")
    found = iter_document_paths(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "a.txt",
        "b.md",
        "sub/c.csv",
        "sub/deeper/d.xlsx",
    ]
    assert iter_document_paths(tmp_path / "b.md") == [tmp_path / "b.md"]
    with pytest.raises(InputError, match="不支持"):
        iter_document_paths(tmp_path / "e.pdf")
    with pytest.raises(InputError, match="不存在"):
        iter_document_paths(tmp_path / "nope")
