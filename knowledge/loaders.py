"""Knowledge files → ``SourceDocument``: Markdown, plain text and question–answer tables.

Markdown is split on its headings (the heading path becomes the section title),
plain text is one section, and every CSV/XLSX row is one question–answer section.
Text files may be UTF-8 (with or without BOM), GB18030/GBK, or UTF-16 with a BOM.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import re
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from bot.errors import InputError, one_line

__all__ = [
    "ANSWER_COLUMNS",
    "QUESTION_COLUMNS",
    "SUPPORTED_SUFFIXES",
    "DocumentKind",
    "Section",
    "SourceDocument",
    "decode_text",
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
            raise InputError(f"{root}: unsupported file type; expected {_suffix_list()}")
        return [root]
    if not root.is_dir():
        raise InputError(f"{root}: no such file or folder")
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
        raise InputError(f"{source}: unsupported file type; expected {_suffix_list()}")
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise InputError(f"{source}: cannot read file: {exc.strerror or exc}") from exc
    digest = hashlib.sha256(data).hexdigest()
    if source.suffix.lower() == ".xlsx":
        sections = _qa_sections(source, _xlsx_rows(source, data))
    else:
        text = decode_text(data, name=str(source))
        if kind == "markdown":
            sections = _markdown_sections(text, source.stem)
        elif kind == "text":
            sections = _text_sections(text, source.stem)
        else:
            sections = _qa_sections(source, _csv_rows(text))
    if not sections:
        log.info("%s: no content", source)
    return SourceDocument(path=str(source), kind=kind, sections=sections, sha256=digest)


# --- decoding ---------------------------------------------------------------------------

_BINARY_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f]")


def decode_text(data: bytes, *, name: str = "file") -> str:
    """Decode file bytes: UTF-16 with a BOM, then UTF-8 (BOM optional), then GB18030.

    Line endings become ``\\n``. Bytes that decode to nothing sensible (NUL bytes, many
    control characters) are reported as a binary file.
    """
    text: str | None = None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise InputError(f"{name}: invalid UTF-16 text") from exc
    elif b"\x00" in data:
        raise InputError(f"{name}: binary file or unsupported encoding (not a text file)")
    else:
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                text = data.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
    if text is None:
        raise InputError(
            f"{name}: cannot decode the file as UTF-8, GB18030/GBK or UTF-16; save it as UTF-8"
        )
    text = text.removeprefix("\ufeff")
    if "\x00" in text:  # from UTF-16: no text file holds NUL (and PostgreSQL refuses it)
        raise InputError(f"{name}: binary file or unsupported encoding (not a text file)")
    controls = len(_BINARY_CONTROL.findall(text))
    if controls and controls > max(8, len(text) // 100):
        raise InputError(f"{name}: binary file or unsupported encoding (not a text file)")
    return text.replace("\r\n", "\n").replace("\r", "\n")


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


def _csv_rows(text: str) -> Iterator[list[str]]:
    first_line = text.split("\n", 1)[0]
    delimiter = "\t" if "\t" in first_line and "," not in first_line else ","
    return csv.reader(io.StringIO(text), delimiter=delimiter)


def _xlsx_rows(source: Path, data: bytes) -> Iterator[list[str]]:
    import openpyxl

    from bot.tabular import xlsx_errors

    unreadable: tuple[type[Exception], ...] = (*xlsx_errors(), OSError)
    try:
        with warnings.catch_warnings():
            # openpyxl warns about styles and extensions of files from other tools.
            warnings.simplefilter("ignore")
            workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
            try:
                if not workbook.worksheets:
                    raise InputError(f"{source}: the workbook has no sheet")
                sheet = workbook.worksheets[0]
                rows = [
                    ["" if cell is None else str(cell) for cell in row]
                    for row in sheet.iter_rows(values_only=True)
                ]
            finally:
                workbook.close()
    except unreadable as exc:
        raise InputError(f"{source}: not a readable .xlsx workbook ({one_line(exc)})") from exc
    return iter(rows)


def _qa_sections(source: Path, rows: Iterable[list[str]]) -> list[Section]:
    """One section per row: titled by the question, text ``问：…\\n答：…``."""
    row_iter = enumerate(rows, start=1)
    header: list[str] | None = None
    try:
        for _, row in row_iter:
            if any(cell.strip() for cell in row):
                header = [cell.strip().lstrip("\ufeff").lower() for cell in row]
                break
    except csv.Error as exc:
        raise InputError(f"{source}: malformed CSV: {exc}") from exc
    if header is None:
        raise InputError(f"{source}: empty table; expected a header row `question,answer`")
    question_col = _find_column(header, QUESTION_COLUMNS)
    answer_col = _find_column(header, ANSWER_COLUMNS)
    missing = [
        name
        for name, col in (("question (问题)", question_col), ("answer (答案)", answer_col))
        if col is None
    ]
    if question_col is None or answer_col is None:
        raise InputError(
            f"{source}: missing column(s): {', '.join(missing)}",
            problems=[f"header found: {','.join(header)}"],
        )
    sections: list[Section] = []
    problems: list[str] = []
    line = 1
    try:
        for line, row in row_iter:
            question = _cell(row, question_col)
            answer = _cell(row, answer_col)
            if not question and not answer:
                continue
            if not question or not answer:
                empty = "question" if not question else "answer"
                problems.append(f"row {line}: {empty} is empty")
                continue
            sections.append(Section(title=question, text=f"问：{question}\n答：{answer}"))
    except csv.Error as exc:
        raise InputError(f"{source}: malformed CSV near row {line + 1}: {exc}") from exc
    if problems:
        raise InputError(f"{source}: {len(problems)} unusable row(s)", problems=problems)
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
