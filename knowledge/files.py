"""Reading and writing data files: the one place that decodes text files, reads CSV / XLSX
tables, loads YAML, and writes files atomically with formula-safe cells.

Every importer of the project reads through here (knowledge files, script libraries,
tag taxonomies, follow-up rules, customer and order files, …), so they all accept the same
files and refuse the same ones with the same one-line ``InputError`` naming the file.

* **Text** (``decode_text``): UTF-8 with or without a BOM, UTF-16 or UTF-32 with a BOM,
  else GB18030 (a superset of GBK, what Chinese Windows writes). A file mixing UTF-8 lines
  and GBK lines is refused, naming a line of each (read either way, some would be
  mojibake). A NUL character, or
  control characters in more than one character of a hundred, make it a binary file.
  Line ends become ``\\n``.
* **Tables** (``table_rows``, ``read_table``): CSV, tab-separated text (Excel's "Unicode
  Text") or the first sheet of an XLSX workbook, as ``(line, cells)``. Line numbers are
  the ones a user sees: the file's line a CSV row starts on, the sheet's row number.
  Every cell becomes text by one rule, ``cell_text``: what the spreadsheet shows
  (a date ``2026-01-15``, a date-time ``2026-01-15 09:30``, a whole number ``12`` …);
  formula cells give their last computed value. A workbook is checked on its zip directory
  before openpyxl opens it (``check_xlsx_archive``): one that would unpack to more than
  256 MB, with a part packed more than 100 times or with more than 10,000 parts is refused.
* **YAML** (``load_yaml_file``): nesting checked before parsing (``MAX_YAML_DEPTH``);
  mappings and lists remember the lines they are on (``yaml_line``), so that a validator
  can name the line of each problem.
* **Writing** (``replace_atomically``, ``write_csv``, ``write_xlsx``): readers see the old
  file or the whole new one, never half of it. In CSV, text cells that a spreadsheet would
  run as a formula (starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return)
  are written with a leading ``'`` (``protect_cell``); ``unprotect_cell`` undoes it, so an
  export reads back exactly. (To keep this reversible, a value that already starts with
  ``'`` characters followed by one of those characters gets one more ``'`` too.) XLSX
  needs no prefix: a text cell is stored as a string, never as a formula, and shows as
  typed; only the values that already look protected get the one more ``'``.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import logging
import os
import re
import stat
import tempfile
import warnings
import zipfile
import zlib
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from knowledge.errors import InputError, one_line, os_reason

__all__ = [
    "MAX_XLSX_MEMBERS",
    "MAX_XLSX_RATIO",
    "MAX_XLSX_UNPACKED_BYTES",
    "MAX_YAML_DEPTH",
    "RawRow",
    "Row",
    "YamlList",
    "YamlMapping",
    "cell_text",
    "check_xlsx_archive",
    "check_yaml_depth",
    "count_table_rows",
    "csv_rows",
    "decode_text",
    "load_yaml_file",
    "protect_cell",
    "read_bytes",
    "read_table",
    "replace_atomically",
    "table_rows",
    "unprotect_cell",
    "write_csv",
    "write_xlsx",
    "xlsx_rows",
    "yaml_line",
]

log = logging.getLogger(__name__)

#: One row of a table as read: the line it starts on and its cells as text.
RawRow = tuple[int, list[str]]
#: One row of a table under its header: the line and ``{column: text}``.
Row = tuple[int, dict[str, str]]

XLSX_SUFFIXES = (".xlsx", ".xlsm")
TABLE_SUFFIXES = (".csv", ".tsv", ".txt", *XLSX_SUFFIXES)


# --- bytes and text ---------------------------------------------------------------------


def read_bytes(path: Path) -> bytes:
    """The file's bytes; a missing or unreadable file is an ``InputError``."""
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise InputError(f"{path}：无法读取文件：文件不存在") from exc
    except OSError as exc:
        raise InputError(f"{path}：无法读取文件：{os_reason(exc)}") from exc


# C0 controls but tab, line and page breaks and ESC (terminal colour codes use it); DEL.
_BINARY_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f]")
_BINARY = "是二进制文件或不支持的编码（不是文本文件）"


#: The first bytes of files people rename to .txt / .csv / .md by mistake -> what they are.
_SIGNATURES = (
    (b"\x89PNG", "一张 PNG 图片"),
    (b"\xff\xd8\xff", "一张 JPEG 图片"),
    (b"GIF8", "一张 GIF 图片"),
    (b"%PDF", "一个 PDF 文件"),
    (b"PK\x03\x04", "一个压缩包或 Office 文件（Word / Excel / PPT）"),
    (b"\xd0\xcf\x11\xe0", "一个旧版 Office 文件（.doc / .xls）"),
    (b"Rar!", "一个 RAR 压缩包"),
    (b"7z\xbc\xaf", "一个 7z 压缩包"),
)


def decode_text(data: bytes, *, name: str) -> str:
    """Decode a text file's bytes (see the module doc); line ends become ``\\n``.

    ``name`` names the file in the ``InputError`` raised for bytes that are no text (a
    picture, PDF or Office file by its first bytes, whatever its name says). UTF-32's BOM
    is tested before UTF-16's, which it starts with.
    """
    kind = next((what for magic, what in _SIGNATURES if data.startswith(magic)), None)
    if kind is not None:
        raise InputError(
            f"{name}：这是{kind}，不是文本文件；请导入文字内容（另存为 TXT、CSV 或 Markdown）"
        )
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        encodings: tuple[str, ...] = ("utf-32",)
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encodings = ("utf-16",)
    else:
        encodings = ("utf-8-sig", "gb18030")
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:  # GB18030 then, unless some lines are UTF-8
            _refuse_mixed_encodings(data, name=name)
    text: str | None = None
    error: UnicodeDecodeError | None = None
    for encoding in encodings:
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError as exc:
            error = exc
    if text is None:
        assert error is not None
        line = _line_at(data[: error.start], encoding)
        label = "UTF-8 或 GB18030/GBK" if len(encodings) > 1 else encodings[0].upper()
        raise InputError(
            f"{name}：第 {line} 行无法按 {label} 解码；"
            "请把文件另存为 UTF-8（Excel 里选「CSV UTF-8」）"
        ) from error
    text = text.removeprefix("\ufeff")
    if "\x00" in text:  # no text file holds NUL (and PostgreSQL refuses to store it)
        line = _line_in(text[: text.index("\x00")])
        raise InputError(f"{name}：第 {line} 行：含 NUL 字符；{_BINARY}")
    controls = len(_BINARY_CONTROL.findall(text))
    if controls > max(8, len(text) // 100):
        raise InputError(f"{name}：{_BINARY}")
    return _unix_line_ends(text)


#: What text read as UTF-8 must consist of to be taken for UTF-8 where GB18030 reads it too:
#: CJK ideographs, their punctuation and full-width forms, besides ASCII. (GBK bytes that
#: happen to be valid UTF-8 mostly read as Latin, Greek or Cyrillic letters.)
_CHINESE = re.compile(
    r"[\x00-\x7f\u2010-\u206f\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]*"
)
_IDEOGRAPH = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")


def _uncommon(text: str) -> int:
    """How many characters of ``text`` are outside ASCII and GB2312 (the 6,763 common
    hanzi, their punctuation, kana, Greek and Cyrillic): few in text as it was written,
    many in text decoded with the wrong codec (UTF-8 「你好」 read as GBK is 「浣犲ソ」)."""
    count = 0
    for char in text:
        if char > "\x7f":
            try:
                char.encode("gb2312")
            except UnicodeEncodeError:
                count += 1
    return count


def _line_encoding(line: bytes) -> str | None:
    """``"utf-8"`` or ``"gbk"`` for a line of bytes that is surely in that encoding, else
    None (ASCII, undecodable, or both readings plausible).

    A line GB18030 cannot read is UTF-8, and one UTF-8 cannot read is GB18030. A line
    both can read is UTF-8 only when that reading looks like Chinese (two hanzi or more,
    nothing but ASCII and CJK characters) and has fewer uncommon characters than the
    GB18030 reading: GBK text whose bytes happen to be valid UTF-8 reads as scattered
    rare characters that way."""
    if line.isascii():
        return None
    try:
        utf8 = line.decode("utf-8")
    except UnicodeDecodeError:
        utf8 = None
    try:
        gbk = line.decode("gb18030")
    except UnicodeDecodeError:
        gbk = None
    if utf8 is None:
        return None if gbk is None else "gbk"
    if gbk is None:
        return "utf-8"
    if (
        len(_IDEOGRAPH.findall(utf8)) >= 2
        and _CHINESE.fullmatch(utf8)
        and _uncommon(utf8) < _uncommon(gbk)
    ):
        return "utf-8"
    return None


_ENCODING_NAMES = {"utf-8": "UTF-8", "gbk": "GBK/GB18030"}


def _refuse_mixed_encodings(data: bytes, *, name: str) -> None:
    """An ``InputError`` for a file (not UTF-8 as a whole) some of whose lines are UTF-8
    and others GBK (two exports pasted together): read as GB18030 the UTF-8 lines would be
    mojibake. Names the first line of each encoding; a UTF-8 BOM counts as a UTF-8 line."""
    first: dict[str, int] = {"utf-8": 1} if data.startswith(codecs.BOM_UTF8) else {}
    data = data.removeprefix(codecs.BOM_UTF8)
    for number, line in enumerate(data.splitlines(), start=1):
        encoding = _line_encoding(line)
        if encoding is None or encoding in first:
            continue
        first[encoding] = number
        if len(first) == 2:
            (a, one), (b, other) = sorted(first.items(), key=lambda item: item[1])
            raise InputError(
                f"{name}：第 {other} 行是 {_ENCODING_NAMES[b]} 编码，"
                f"而第 {one} 行是 {_ENCODING_NAMES[a]} 编码：同一个文件混用了两种编码，"
                "按任何一种读都会有乱码，未导入；请把各部分统一另存为 UTF-8"
                "（Excel 里选「CSV UTF-8」）后再导入"
            )


def _unix_line_ends(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _line_in(before: str) -> int:
    """The line number of the character after ``before``."""
    return _unix_line_ends(before).count("\n") + 1


def _line_at(before: bytes, encoding: str) -> int:
    return _line_in(before.decode(encoding, errors="replace"))


# --- tables -----------------------------------------------------------------------------


def cell_text(value: object) -> str:
    """A spreadsheet cell as the text a user sees in it; the one rule of every reader.

    Empty → ``""``; ``TRUE`` / ``FALSE``; a whole number ``12`` (also when stored as
    ``12.0``), other numbers as Python writes them (``2.5``); a date ``2026-01-15``; a
    date-time ``2026-01-15 09:30`` (``2026-01-15`` at midnight, seconds shown only when
    not zero, rounded to the second); a time ``09:30``; text as it is.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        value = _to_second(value)
        if value.time() == dt.time():
            return value.date().isoformat()
        return f"{value.date().isoformat()} {_clock(value.time())}"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return _clock(_to_second(dt.datetime.combine(dt.date(2000, 1, 1), value)).time())
    return str(value)


def _to_second(value: dt.datetime) -> dt.datetime:
    """Round to the nearest second (Excel stores times as fractions of a day)."""
    if value.microsecond == 0:
        return value
    rounded = value.replace(microsecond=0)
    if value.microsecond >= 500_000 and rounded < dt.datetime.max.replace(microsecond=0):
        rounded += dt.timedelta(seconds=1)
    return rounded


def _clock(value: dt.time) -> str:
    return value.strftime("%H:%M" if value.second == 0 else "%H:%M:%S")


def table_rows(path: Path, *, data: bytes | None = None, name: str | None = None) -> list[RawRow]:
    """Every row of a CSV / tab-separated file or of an XLSX workbook's first sheet (by
    the suffix), as ``(line, cells)`` with each cell as text (``cell_text``). Blank rows
    are kept: callers skip them, and line numbers stay the ones the user sees.

    ``data`` is the file's bytes when the caller has read them already; ``name`` names the
    file in errors (default: ``path.name``).
    """
    name = name or path.name
    if data is None:
        data = read_bytes(path)
    if path.suffix.lower() in XLSX_SUFFIXES:
        return xlsx_rows(data, name=name)
    return csv_rows(decode_text(data, name=name), name=name)


def csv_rows(text: str, *, name: str) -> list[RawRow]:
    """The rows of CSV text; tab-separated when the first non-blank line has a tab and no
    comma. A row's line is the line it starts on (a quoted cell may span lines)."""
    first = next((line for line in text.split("\n") if line.strip()), "")
    delimiter = "\t" if "\t" in first and "," not in first else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows: list[RawRow] = []
    start = 1
    try:
        for row in reader:
            rows.append((start, row))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise InputError(
            f"{name}：从第 {start} 行开始的一行不是有效的 CSV（{exc}）；"
            '以 " 开头的单元格必须以 " 结尾，其中的 " 要写成 ""'
        ) from exc
    return rows


def _xlsx_errors() -> tuple[type[Exception], ...]:
    """What reading a damaged or non-XLSX file with openpyxl can raise.

    openpyxl validates little itself: a broken zip surfaces as ``BadZipFile``, ``zlib.error``
    (a corrupt deflate stream), ``EOFError`` (a truncated member) or ``NotImplementedError``
    (an unknown zip version); broken XML as ``SyntaxError`` (lxml / ElementTree parse
    errors); a well-formed but wrong part as ``TypeError`` (an unknown attribute),
    ``KeyError`` / ``IndexError`` (a missing part or sheet) or ``ValueError``.
    """
    from openpyxl.utils.exceptions import InvalidFileException

    return (
        InvalidFileException,
        zipfile.BadZipFile,
        zlib.error,
        EOFError,
        NotImplementedError,
        SyntaxError,
        TypeError,
        AttributeError,
        KeyError,
        IndexError,
        ValueError,
        OSError,
    )


#: What an XLSX workbook may unpack to, checked on the archive's directory before openpyxl
#: opens it (``check_xlsx_archive``): a few hundred KB of deflated XML can unpack to
#: gigabytes, which openpyxl would hold in memory. Real workbooks of the tables read here
#: unpack to a few MB, their parts compressed 5-30 times, in a few dozen parts.
MAX_XLSX_UNPACKED_BYTES = 256 * 1024 * 1024
MAX_XLSX_RATIO = 100
MAX_XLSX_MEMBERS = 10_000
#: Parts smaller than this are not held to ``MAX_XLSX_RATIO``: a few KB of repeated XML may
#: compress more than a hundred times and is harmless.
XLSX_RATIO_FROM_BYTES = 1024 * 1024
_BOMB = "（可能是“压缩炸弹”），未读取；请在 Excel 里另存为新的 .xlsx 或导出为 CSV 再导入"


def check_xlsx_archive(data: bytes, *, name: str) -> None:
    """An ``InputError`` saying why, for a workbook whose parts unpack to more than
    ``MAX_XLSX_UNPACKED_BYTES`` in all, a part (of at least ``XLSX_RATIO_FROM_BYTES``)
    compressed more than ``MAX_XLSX_RATIO`` times, or more than ``MAX_XLSX_MEMBERS`` parts.

    Read from the zip's central directory only, nothing is unpacked. The sizes it declares
    bound what can be read: ``zipfile`` stops a part at its declared size (and fails its
    CRC check), so a part that lies about its size cannot unpack to more. Bytes that are
    no zip archive are left to the reader, which names the problem."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, ValueError, OSError):
        return
    if len(members) > MAX_XLSX_MEMBERS:
        raise InputError(
            f"{name}：工作簿包含 {len(members)} 个部件，超过 {MAX_XLSX_MEMBERS} 个的上限{_BOMB}"
        )
    mb = 1024 * 1024
    total = sum(m.file_size for m in members)
    if total > MAX_XLSX_UNPACKED_BYTES:
        raise InputError(
            f"{name}：工作簿解压后共 {total / mb:.0f} MB，"
            f"超过 {MAX_XLSX_UNPACKED_BYTES // mb} MB 的上限{_BOMB}"
        )
    for m in members:
        if m.file_size < XLSX_RATIO_FROM_BYTES:
            continue
        ratio = m.file_size / max(m.compress_size, 1)
        if ratio > MAX_XLSX_RATIO:
            raise InputError(
                f"{name}：工作簿中的 {m.filename[:80]} 压缩了 {ratio:.0f} 倍"
                f"（{m.compress_size / 1024:.0f} KB 解压后 {m.file_size / mb:.0f} MB），"
                f"超过 {MAX_XLSX_RATIO} 倍的上限{_BOMB}"
            )


def xlsx_rows(data: bytes, *, name: str) -> list[RawRow]:
    """The rows of an XLSX workbook's first sheet, numbered as the sheet numbers them;
    a workbook that would unpack to too much is refused first (``check_xlsx_archive``)."""
    check_xlsx_archive(data, name=name)
    import openpyxl  # heavy (it pulls in numpy): only XLSX needs it

    rows: list[RawRow] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # openpyxl warns about features it ignores
            book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
            try:
                if not book.worksheets:
                    raise InputError(f"{name}：工作簿里没有工作表")
                sheet: Any = book.worksheets[0]
                sheet.reset_dimensions()  # the stored dimension may be stale
                for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
                    rows.append((number, [cell_text(value) for value in values]))
            finally:
                book.close()
    except _xlsx_errors() as exc:
        raise InputError(f"{name}：不是可读取的 .xlsx 工作簿（{one_line(exc)}）") from exc
    return rows


def count_table_rows(path: Path, *, stop_after: int) -> int:
    """How many rows (blank ones too) a CSV / tab-separated file or an XLSX workbook's
    first sheet has, counting no further than ``stop_after + 1``: enough to tell that a
    table is over a limit without reading all of it. A file that cannot be read counts
    the rows read before the problem (reading it for real reports the problem); a
    workbook that would unpack to too much is an ``InputError`` (``check_xlsx_archive``)."""
    data = read_bytes(path)
    count = 0
    if path.suffix.lower() in XLSX_SUFFIXES:
        check_xlsx_archive(data, name=path.name)
        import openpyxl

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
                try:
                    if book.worksheets:
                        sheet: Any = book.worksheets[0]
                        sheet.reset_dimensions()
                        for _ in sheet.iter_rows(values_only=True):
                            count += 1
                            if count > stop_after:
                                break
                finally:
                    book.close()
        except _xlsx_errors():
            pass
        return count
    text = decode_text(data, name=path.name)
    try:
        for _ in csv.reader(io.StringIO(text, newline="")):
            count += 1
            if count > stop_after:
                break
    except csv.Error:
        pass
    return count


_SPACE = re.compile(r"\s+")


def read_table(path: Path, *, aliases: Mapping[str, str] | None = None) -> list[Row]:
    """The rows of a CSV / XLSX table under its header: the first non-blank row.

    Header names are lower-cased with spaces turned into ``_``, then mapped through
    ``aliases`` (``{"手机": "phone"}``). Blank rows are skipped; cells are stripped and
    lose the formula guard an export put on them (``unprotect_cell``), so what the product
    exported reads back exactly. A column named twice, or a cell outside the named
    columns, is an ``InputError``.
    """
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise InputError(f"{path.name}：不支持的文件类型 {suffix!r}；请用 .csv 或 .xlsx")
    header: list[str] | None = None
    rows: list[Row] = []
    for line, raw in table_rows(path):
        cells = [unprotect_cell(c.strip()) for c in raw]
        if not any(cells):
            continue
        if header is None:
            header = [_column(c, aliases or {}) for c in cells]
            seen: set[str] = set()
            for c in header:
                if c and c in seen:
                    raise InputError(f"{path.name}：第 {line} 行：列 {c!r} 出现了两次")
                seen.add(c)
            continue
        extra = [c for i, c in enumerate(cells) if c and (i >= len(header) or not header[i])]
        if extra:
            raise InputError(
                f"{path.name}：第 {line} 行：有单元格在表头的列之外（{extra[0][:20]!r}）；"
                "含逗号的单元格要加引号"
            )
        rows.append((line, {h: cells[i] for i, h in enumerate(header) if h and i < len(cells)}))
    if header is None:
        raise InputError(f"{path.name}：文件是空的")
    return rows


def _column(cell: str, aliases: Mapping[str, str]) -> str:
    name = _SPACE.sub("_", cell.strip().lstrip("\ufeff").strip().lower())
    return aliases.get(name, name)


# --- YAML -------------------------------------------------------------------------------

#: YAML nested deeper than this is refused before it is composed: PyYAML's composer
#: recurses once per level (a RecursionError in Python; libyaml's C composer overflows
#: the C stack and kills the process), and its scanner slows down quadratically with
#: the depth of ``[[[…`` flow collections. Real files nest a few levels.
MAX_YAML_DEPTH = 64

if TYPE_CHECKING:
    _SafeLoader = yaml.SafeLoader
else:  # libyaml's loader, much faster, when PyYAML was built with it
    _SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def check_yaml_depth(text: str, name: str) -> None:
    """Raise ``InputError`` if ``text`` nests lists / mappings over ``MAX_YAML_DEPTH`` deep.

    Reads only parser events (which needs no recursion) and stops at the first level
    too deep. Syntax errors propagate as ``yaml.YAMLError`` for the caller to report.
    """
    depth = 0
    for event in yaml.parse(text, Loader=_SafeLoader):
        if isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
            depth += 1
            if depth > MAX_YAML_DEPTH:
                line = event.start_mark.line + 1 if event.start_mark else 0
                raise InputError(f"{name}：第 {line} 行：列表 / 映射嵌套超过 {MAX_YAML_DEPTH} 层")
        elif isinstance(event, yaml.SequenceEndEvent | yaml.MappingEndEvent):
            depth -= 1


class YamlMapping(dict[Any, Any]):
    """A YAML mapping that knows its line and the line of each of its keys."""

    line: int = 0
    key_lines: dict[Any, int]


class YamlList(list[Any]):
    """A YAML list that knows its line and the line of each of its items."""

    line: int = 0
    item_lines: list[int]


class _LinedLoader(_SafeLoader):
    """The safe loader, building ``YamlMapping`` / ``YamlList`` instead of dict / list."""


def _construct_mapping(loader: Any, node: yaml.MappingNode) -> Any:
    data = YamlMapping()
    data.line = node.start_mark.line + 1
    data.key_lines = {}
    yield data  # first, so that anchors and aliases can refer to it
    data.update(loader.construct_mapping(node))
    for key_node, _ in node.value:  # merged ("<<") keys included: flattened by now
        data.key_lines[loader.construct_object(key_node)] = key_node.start_mark.line + 1


def _construct_list(loader: Any, node: yaml.SequenceNode) -> Any:
    data = YamlList()
    data.line = node.start_mark.line + 1
    data.item_lines = [item.start_mark.line + 1 for item in node.value]
    yield data
    data.extend(loader.construct_sequence(node))


_LinedLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
_LinedLoader.add_constructor("tag:yaml.org,2002:seq", _construct_list)


def load_yaml_file(path: Path, *, what: str) -> Any:
    """The data of a small YAML file (a tag taxonomy, follow-up rules), read like every
    data file (``decode_text``), its nesting checked before parsing; every problem an
    ``InputError`` naming the file. ``what`` names the kind of file in the not-found
    message. Mappings and lists come back as ``YamlMapping`` / ``YamlList``, which know
    their lines (``yaml_line``)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise InputError(f"找不到{what}文件：{path}") from exc
    except OSError as exc:
        raise InputError(f"{path}：无法读取文件：{os_reason(exc)}") from exc
    text = decode_text(data, name=path.name)
    try:
        check_yaml_depth(text, path.name)
        return yaml.load(text, Loader=_LinedLoader)  # a safe loader (see above)
    except yaml.YAMLError as exc:
        raise InputError(f"{path.name}：不是有效的 YAML（{one_line(exc)}）") from exc


def yaml_line(data: object, location: Sequence[str | int]) -> int | None:
    """The line of the deepest item on ``location`` (keys and 0-based list indexes, as in
    a pydantic error's ``loc``) that ``load_yaml_file`` data knows; None if none."""
    line: int | None = data.line if isinstance(data, YamlMapping | YamlList) else None
    for part in location:
        if isinstance(data, YamlMapping) and part in data:
            line = data.key_lines.get(part, data.line)
            data = data[part]
        elif isinstance(data, YamlList) and isinstance(part, int) and 0 <= part < len(data):
            line = data.item_lines[part]
            data = data[part]
        else:
            break
    return line


# --- writing ----------------------------------------------------------------------------


def replace_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Write ``path`` through ``write(tmp)`` on a temporary file in the same directory,
    then rename it over ``path``: readers see the old file or the whole new one. The
    file keeps its permissions. A path that is not a regular file (``/dev/stdout``, a
    pipe) is written as it is, never replaced. An ``OSError`` becomes an ``InputError``
    ("cannot write"); any other error propagates; either way the temporary file is
    removed."""
    try:
        try:
            found = path.stat()
            mode = found.st_mode & 0o777
        except FileNotFoundError:
            found, mode = None, 0o644
        if found is not None and not stat.S_ISREG(found.st_mode):
            write(path)
            return
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        tmp = Path(name)
        try:
            write(tmp)
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    except OSError as exc:
        if isinstance(exc, FileNotFoundError) and not path.parent.is_dir():
            raise InputError(f"无法写入 {path}：文件夹 {path.parent} 不存在") from exc
        raise InputError(f"无法写入 {path}：{os_reason(exc)}") from exc


# A cell that a spreadsheet would treat as a formula, and its escaped form.
_NEEDS_QUOTE = re.compile(r"'*[=+\-@\t\r]")
_QUOTED = re.compile(r"'+[=+\-@\t\r]")


def protect_cell(value: str) -> str:
    """Protect a text cell from being run as a spreadsheet formula (see the module doc);
    every CSV/XLSX export writes its text cells through this."""
    if _NEEDS_QUOTE.match(value):
        return "'" + value
    return value


def unprotect_cell(value: str) -> str:
    """Undo ``protect_cell``: the text that was exported."""
    if _QUOTED.match(value):
        return value[1:]
    return value


def _xlsx_text(value: str) -> str:
    """A text cell for XLSX, stored as a string cell as it is (``write_xlsx``): the reader
    sees no ``'``. Only a value that already looks protected gets one more ``'``, so that
    ``unprotect_cell`` gives it back exactly."""
    return "'" + value if _QUOTED.match(value) else value


def _safe(value: object) -> object:
    return protect_cell(value) if isinstance(value, str) else value


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """Write a table as CSV that Excel / WPS open as UTF-8 (BOM), atomically; text cells
    formula-protected, numbers written as numbers, ``None`` as an empty cell."""

    def write(tmp: Path) -> None:
        with tmp.open("w", encoding="utf-8-sig", newline="") as fh:
            writer = csv.writer(fh, lineterminator="\r\n")
            writer.writerow([_safe(h) for h in header])
            writer.writerows([_safe(v) for v in row] for row in rows)

    replace_atomically(path, write)


#: Characters an XLSX cell cannot hold: the C0 controls but tab and line ends, which
#: openpyxl refuses (its ILLEGAL_CHARACTERS_RE), and U+FFFE / U+FFFF, which XML does not
#: allow either (lxml raises ValueError on them).
_NOT_IN_XLSX = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def write_xlsx(
    path: Path,
    header: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    title: str,
    widths: Mapping[str, float] | None = None,
    wrap: Collection[str] = (),
) -> None:
    """Write a table as one XLSX sheet named ``title``, atomically: a bold, frozen header
    row, column ``widths`` by header name, text wrapped in the ``wrap`` columns. Text
    cells are stored as strings, never as formulas; characters XLSX cannot hold are
    dropped (logged)."""
    import openpyxl
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    book = openpyxl.Workbook()
    sheet: Any = book.active
    sheet.title = title
    sheet.append(list(header))
    bold = Font(bold=True)
    for cell in sheet[1]:
        cell.font = bold
    for index, column in enumerate(header, start=1):
        if widths and column in widths:
            sheet.column_dimensions[get_column_letter(index)].width = widths[column]
    sheet.freeze_panes = "A2"
    dropped = 0
    for row in rows:
        values: list[object] = []
        for value in row:
            if isinstance(value, str):
                value, count = _NOT_IN_XLSX.subn("", value)
                dropped += count
                value = _xlsx_text(value)
            values.append(value)
        sheet.append(values)
        for cell in sheet[sheet.max_row]:
            if cell.data_type == "f":
                # openpyxl takes a leading "=" for a formula; stored as a string, a
                # spreadsheet shows it as text and never runs it (quotePrefix keeps it
                # text when the user edits the cell).
                cell.data_type = "s"
                cell.quotePrefix = True
    top = Alignment(wrap_text=True, vertical="top")
    for index, column in enumerate(header, start=1):
        if column in wrap:
            for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
                cell.alignment = top
    if dropped:
        log.warning("%s: dropped %d control characters that XLSX cannot store", path, dropped)
    replace_atomically(path, book.save)
