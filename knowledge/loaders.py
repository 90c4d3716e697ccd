"""Knowledge files → ``SourceDocument``: Markdown, plain text and question–answer tables.

Markdown is split on its headings (the heading path becomes the section title),
plain text is one section, and every CSV/XLSX row is one question–answer section.
Files are read like every data file of the project (``knowledge.files``: UTF-8 with or
without a BOM, UTF-16 / UTF-32 with a BOM, GB18030/GBK; one rule for XLSX cells).
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from knowledge.errors import InputError
from knowledge.files import RawRow, decode_text, read_bytes, table_rows

__all__ = [
    "ANSWER_COLUMNS",
    "QUESTION_COLUMNS",
    "SUPPORTED_SUFFIXES",
    "DocumentKind",
    "Section",
    "SourceDocument",
    "iter_document_paths",
    "load_document",
]

log = logging.getLogger(__name__)

DocumentKind = Literal["markdown", "text", "qa"]

#: File suffix (lowercase) → document kind.
SUPPORTED_SUFFIXES: dict[str, DocumentKind] = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".csv": "qa",
    ".xlsx": "qa",
}
#: Accepted header names (compared case-insensitively) of the question column.
QUESTION_COLUMNS = ("question", "问题", "问")
#: Accepted header names (compared case-insensitively) of the answer column.
ANSWER_COLUMNS = ("answer", "答案", "回答", "答")

TITLE_SEPARATOR = " > "


@dataclass(frozen=True, slots=True)
class Section:
    """A titled piece of a document.

    ``title`` is the heading path (``"产品A > 等待期"``) for Markdown, the file stem for
    plain text, the question for question–answer tables.
    """

    title: str
    text: str


@dataclass(frozen=True, slots=True)
class SourceDocument:
    """One loaded knowledge file. ``sha256`` is the hex digest of the file's bytes."""

    path: str
    kind: DocumentKind
    sections: list[Section] = field(default_factory=list)
    sha256: str = ""


def iter_document_paths(path: Path | str) -> list[Path]:
    """The knowledge files at ``path``: the file itself, or a folder searched recursively.

    Folder results are sorted, keep only supported suffixes and skip hidden files and
    folders (``.git``, ``.DS_Store`` …) and Office lock files (``~$…``). A single file
    of an unsupported type, or a missing path, is an ``InputError``.
    """
    root = Path(path)
    if root.is_file():
        if root.suffix.lower() not in SUPPORTED_SUFFIXES:
            raise InputError(f"{root}：不支持的文件类型；应为 {_suffix_list()}")
        return [root]
    if not root.is_dir():
        raise InputError(f"{root}：文件或目录不存在")
    found = []
    for candidate in root.rglob("*"):
        relative = candidate.relative_to(root)
        if any(part.startswith((".", "~$")) for part in relative.parts):
            continue
        if candidate.suffix.lower() in SUPPORTED_SUFFIXES and candidate.is_file():
            found.append(candidate)
    return sorted(found)


def load_document(path: Path | str) -> SourceDocument:
    """Read and split one knowledge file; every unusable file is an ``InputError``."""
    source = Path(path)
    kind = SUPPORTED_SUFFIXES.get(source.suffix.lower())
    if kind is None:
        raise InputError(f"{source}：不支持的文件类型；应为 {_suffix_list()}")
    data = read_bytes(source)
    digest = hashlib.sha256(data).hexdigest()
    if kind == "qa":
        sections = _qa_sections(source, table_rows(source, data=data, name=str(source)))
    else:
        text = decode_text(data, name=str(source))
        if kind == "markdown":
            sections = _markdown_sections(text, source.stem)
        else:
            sections = _text_sections(text, source.stem)
    if not sections:
        log.info("%s: no content", source)
    return SourceDocument(path=str(source), kind=kind, sections=sections, sha256=digest)


# --- Markdown ---------------------------------------------------------------------------

# "# 标题"; also "#标题" (no space) when a CJK character follows, as Chinese editors write it.
_ATX_HEADING = re.compile(
    r"^ {0,3}(#{1,6})(?:[ \t]+|(?=[\u3400-\u9fff\uf900-\ufaff]))(.*?)(?:[ \t]+#+)?[ \t]*$"
    r"|^ {0,3}(#{1,6})[ \t]*$"
)
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_SETEXT_UNDERLINE = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FRONT_MATTER_END = re.compile(r"^(---|\.\.\.)[ \t]*$")


def _markdown_sections(text: str, stem: str) -> list[Section]:
    """Split on ATX (``#``) and setext headings, ignoring anything inside code fences."""
    lines = _skip_front_matter(text.split("\n"))
    sections: list[Section] = []
    path: list[tuple[int, str]] = []  # (level, heading) from the top
    body: list[str] = []
    fence: str | None = None

    def flush() -> None:
        content = "\n".join(body).strip("\n")
        if content.strip():
            title = TITLE_SEPARATOR.join(h for _, h in path if h) or stem
            sections.append(Section(title=title, text=content.strip()))
        body.clear()

    def open_heading(level: int, heading: str) -> None:
        flush()
        while path and path[-1][0] >= level:
            path.pop()
        path.append((level, _clean_heading(heading)))

    for line in lines:
        fence_match = _FENCE.match(line)
        if fence is not None:
            body.append(line)
            closes = (
                fence_match is not None
                and fence_match.group(1)[0] == fence[0]
                and len(fence_match.group(1)) >= len(fence)
                and not line.strip(" `~")
            )
            if closes:
                fence = None
            continue
        if fence_match:
            fence = fence_match.group(1)
            body.append(line)
            continue
        atx = _ATX_HEADING.match(line)
        if atx:
            open_heading(len(atx.group(1) or atx.group(3)), atx.group(2) or "")
            continue
        underline = _SETEXT_UNDERLINE.match(line)
        if underline and body and body[-1].strip() and not _is_block_start(body[-1]):
            heading = body.pop()
            open_heading(1 if underline.group(1)[0] == "=" else 2, heading)
            continue
        body.append(line)
    flush()
    return sections


def _skip_front_matter(lines: list[str]) -> list[str]:
    """Drop a YAML front-matter block (``---`` … ``---``) at the top of the file."""
    if not lines or lines[0].strip() != "---":
        return lines
    for index in range(1, len(lines)):
        if _FRONT_MATTER_END.match(lines[index]):
            return lines[index + 1 :]
    return lines


def _is_block_start(line: str) -> bool:
    """Lines that cannot be the text of a setext heading (lists, quotes, tables)."""
    stripped = line.lstrip()
    return stripped.startswith(("- ", "* ", "+ ", ">", "|")) or bool(
        re.match(r"\d+[.)] ", stripped)
    )


def _clean_heading(heading: str) -> str:
    heading = re.sub(r"[*_`]+", "", heading).strip()
    return re.sub(r"\s+", " ", heading)


# --- plain text -------------------------------------------------------------------------


def _text_sections(text: str, stem: str) -> list[Section]:
    content = "\n".join(line.rstrip() for line in text.split("\n")).strip()
    return [Section(title=stem, text=content)] if content else []


# --- question–answer tables -------------------------------------------------------------


def _qa_sections(source: Path, rows: Iterable[RawRow]) -> list[Section]:
    """One section per row: titled by the question, text ``问：…\n答：…``."""
    row_iter = iter(rows)
    header: list[str] | None = None
    for _, cells in row_iter:
        if any(cell.strip() for cell in cells):
            header = [cell.strip().lstrip("\ufeff").lower() for cell in cells]
            break
    if header is None:
        raise InputError(f"{source}：表格是空的；需要表头行 `question,answer`")
    question_col = _find_column(header, QUESTION_COLUMNS)
    answer_col = _find_column(header, ANSWER_COLUMNS)
    missing = [
        name
        for name, col in (("question（问题）", question_col), ("answer（答案）", answer_col))
        if col is None
    ]
    if question_col is None or answer_col is None:
        raise InputError(
            f"{source}：缺少列：{', '.join(missing)}",
            problems=[f"文件的表头：{','.join(header)}"],
        )
    sections: list[Section] = []
    problems: list[str] = []
    for line, cells in row_iter:
        question = _cell(cells, question_col)
        answer = _cell(cells, answer_col)
        if not question and not answer:
            continue
        if not question or not answer:
            empty = "问题" if not question else "答案"
            problems.append(f"第 {line} 行：{empty}为空")
            continue
        sections.append(Section(title=question, text=f"问：{question}\n答：{answer}"))
    if problems:
        raise InputError(f"{source}：{len(problems)} 行无法使用", problems=problems)
    return sections


def _find_column(header: list[str], names: tuple[str, ...]) -> int | None:
    for name in names:
        if name in header:
            return header.index(name)
    return None


def _cell(row: list[str], index: int) -> str:
    return row[index].strip() if index < len(row) else ""


def _suffix_list() -> str:
    return ", ".join(SUPPORTED_SUFFIXES)
