"""Reading and writing the script library's interchange files: CSV, XLSX and YAML.

The format is a public contract (DESIGN.md, "Interchange formats"): a header
``id,title,category,stage,industry,tags,body`` plus the optional ``status`` and
``variant_group`` columns; YAML is a list of mappings with the same keys.

Reading is forgiving about what Chinese Excel users produce (UTF-8 with or without
BOM, GBK/GB18030, UTF-16 with BOM, header names in any case, tags separated by
``;`` ``；`` ``,`` or ``，``) and strict about everything else: problems are reported
with the line they are on, all at once, and ``load_scripts`` imports nothing unless
the whole file is clean.

Exports are safe to open in a spreadsheet: a cell that would start with ``=``,
``+``, ``-``, ``@``, a tab or a carriage return is prefixed with ``'`` so it is never
run as a formula, and reading strips that one ``'`` again, so export -> import is
exact. (To keep this reversible, a value that already starts with ``'`` characters
followed by one of those characters gets one more ``'`` too.)
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import logging
import os
import re
import tempfile
import warnings
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

from bot.errors import InputError, one_line
from scripts_lib.lint import lint
from scripts_lib.model import (
    CATEGORIES,
    CATEGORY_LABELS,
    COLUMNS,
    OPTIONAL_COLUMNS,
    STAGE_LABELS,
    STAGES,
    STATUSES,
    LintIssue,
    ParsedScript,
    ScriptRecord,
)

log = logging.getLogger(__name__)

#: Files larger than this are refused before they are read.
MAX_FILE_BYTES = 20 * 1024 * 1024
#: Columns an export writes, in order.
EXPORT_COLUMNS: tuple[str, ...] = COLUMNS + OPTIONAL_COLUMNS
#: Status of an imported script when the file does not say.
DEFAULT_STATUS = "approved"

_CSV = ".csv"
_XLSX = ".xlsx"
_YAML = (".yaml", ".yml")
_SUPPORTED = "use .csv, .xlsx, .yaml or .yml"

_TAG_SEPARATORS = re.compile(r"[;；,，]")
# A cell that a spreadsheet would treat as a formula, and its escaped form.
_NEEDS_QUOTE = re.compile(r"'*[=+\-@\t\r]")
_QUOTED = re.compile(r"'+[=+\-@\t\r]")
_CARRIAGE_RETURN = re.compile(r"\r\n?")
_HEADER_SPACE = re.compile(r"[\s\-]+")
_YAML_NULL = "tag:yaml.org,2002:null"
_KNOWN_COLUMNS = frozenset(EXPORT_COLUMNS)
_CATEGORY_ALIASES = {label: name for name, label in CATEGORY_LABELS.items()}
_STAGE_ALIASES = {label: name for name, label in STAGE_LABELS.items()}

# Reading ----------------------------------------------------------------------------


def read_scripts(path: Path) -> list[ParsedScript]:
    """Read the scripts in a ``.csv``, ``.xlsx`` or ``.yaml``/``.yml`` file.

    Each script carries the 1-based line its row starts on (the sheet row for XLSX,
    the list item's line for YAML). Values are stripped and their line ends turned
    into ``\\n`` (so a body reads the same from every format); ``status`` defaults to
    ``"approved"``. Nothing is validated beyond the file's shape: call ``lint``
    (or use ``load_scripts``) for the content.

    Raises ``InputError`` for an unsupported extension, a missing or unreadable file,
    a file over ``MAX_FILE_BYTES``, an undecodable encoding, a missing column, broken
    CSV/YAML syntax, or a file without any script.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (_CSV, _XLSX, *_YAML):
        raise InputError(
            f"{path.name}: unsupported file type {suffix or '(none)'!r}; {_hint(suffix)}"
        )
    try:
        size = path.stat().st_size
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no such file") from exc
    except OSError as exc:
        raise InputError(f"{path}: cannot read the file ({exc.strerror})") from exc
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    if size > MAX_FILE_BYTES:
        raise InputError(
            f"{path.name} is {_format_size(size)}; the limit is {_format_size(MAX_FILE_BYTES)}"
            " — split it into smaller files"
        )
    if suffix == _XLSX:
        scripts = _read_xlsx(path)
    else:
        text = _decode(_read_bytes(path), path.name)
        scripts = _read_csv(text, path.name) if suffix == _CSV else _read_yaml(text, path.name)
    if not scripts:
        raise InputError(f"{path.name} contains no scripts")
    return scripts


def load_scripts(
    path: Path, *, known_industries: Collection[str] | None = None
) -> list[ScriptRecord]:
    """Read and lint a script file; return its records only if it has no errors.

    All-or-nothing: if ``lint`` finds any error, raise ``InputError`` whose
    ``problems`` list every error with its line, and return nothing. Warnings do not
    block (``load_scripts_with_warnings`` returns them).
    """
    records, _ = load_scripts_with_warnings(path, known_industries=known_industries)
    return records


def load_scripts_with_warnings(
    path: Path, *, known_industries: Collection[str] | None = None
) -> tuple[list[ScriptRecord], list[LintIssue]]:
    """Like ``load_scripts``, and also return the warnings (non-blocking issues)."""
    path = Path(path)
    parsed = read_scripts(path)
    issues = lint(parsed, known_industries=known_industries)
    errors = [issue for issue in issues if issue.severity == "error"]
    if errors:
        noun = "problem" if len(errors) == 1 else "problems"
        raise InputError(
            f"{path.name}: {len(errors)} {noun}, nothing imported",
            problems=[str(issue) for issue in errors],
        )
    found = [issue for issue in issues if issue.severity != "error"]
    log.info("%s: %d scripts read, %d warnings", path.name, len(parsed), len(found))
    return [item.record for item in parsed], found


def _hint(suffix: str) -> str:
    if suffix == ".xls":
        return "the old .xls format is not supported: in Excel use Save As → Excel Workbook (.xlsx)"
    return _SUPPORTED


def _format_size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    if size >= 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size} bytes"


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the file ({exc.strerror})") from exc


def _decode(data: bytes, name: str) -> str:
    """Decode the encodings Chinese spreadsheet users produce."""
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        encodings: tuple[str, ...] = ("utf-32",)
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encodings = ("utf-16",)
    else:
        encodings = ("utf-8-sig", "gb18030")
    error: UnicodeDecodeError | None = None
    for encoding in encodings:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError as exc:
            error = exc
            continue
        if "\x00" in text:  # no text file holds NUL (and PostgreSQL refuses to store it)
            line = text[: text.index("\x00")].count("\n") + 1
            raise InputError(f"{name}: line {line}: a NUL character; is this a text file?")
        return text
    assert error is not None
    line = data[: error.start].count(b"\n") + 1
    raise InputError(
        f"{name}: cannot decode the file as {' or '.join(encodings)} (line {line});"
        " save it as 'CSV UTF-8' (or UTF-8 text)"
    ) from error


def _clean(value: str) -> str:
    """Strip a value and turn Windows / old-Mac line ends into ``\\n``."""
    value = value.strip()
    if "\r" in value:
        value = _CARRIAGE_RETURN.sub("\n", value)
    return value


def _unquote(value: str) -> str:
    """Clean a cell and undo the export's formula-protection ``'``."""
    value = _clean(value)
    if _QUOTED.match(value):
        return value[1:]
    return value


def protect_cell(value: str) -> str:
    """Protect a text cell from being run as a spreadsheet formula (see the module doc);
    every CSV/XLSX export of the project writes its text cells through this."""
    if _NEEDS_QUOTE.match(value):
        return "'" + value
    return value


def split_tags(value: str) -> tuple[str, ...]:
    """Split a tags cell on ``;`` ``；`` ``,`` ``，``: trimmed, empties and repeats removed."""
    tags = (tag.strip() for tag in _TAG_SEPARATORS.split(value))
    return tuple(dict.fromkeys(tag for tag in tags if tag))


def _vocabulary(value: str, allowed: Sequence[str], aliases: dict[str, str]) -> str:
    """Map ``Welcome``, ``follow-up`` or a Chinese label onto the vocabulary; else keep."""
    if value in allowed:
        return value
    key = _HEADER_SPACE.sub("_", value.lower())
    if key in allowed:
        return key
    return aliases.get(value, value)


def _make_script(
    line: int, raw: dict[str, str], tags: tuple[str, ...], issues: Sequence[LintIssue]
) -> ParsedScript:
    record = ScriptRecord(
        id=raw.get("id", ""),
        title=raw.get("title", ""),
        category=_vocabulary(raw.get("category", ""), CATEGORIES, _CATEGORY_ALIASES),
        stage=_vocabulary(raw.get("stage", ""), STAGES, _STAGE_ALIASES),
        industry=raw.get("industry", ""),
        body=raw.get("body", ""),
        tags=tags,
        status=_vocabulary(raw.get("status", ""), STATUSES, {}) or DEFAULT_STATUS,
        version=1,
        variant_group=raw.get("variant_group") or None,
    )
    fixed = tuple(
        LintIssue(i.line, record.id, i.field, i.message, i.severity) if not i.script_id else i
        for i in issues
    )
    return ParsedScript(line=line, record=record, raw=raw, issues=fixed)


def _normalize_header(cell: str) -> str:
    return _HEADER_SPACE.sub("_", cell.strip().lstrip("\ufeff").strip().lower())


def _parse_header(cells: list[str], name: str, line: int) -> dict[str, int]:
    columns: dict[str, int] = {}
    for index, cell in enumerate(cells):
        column = _normalize_header(cell)
        if not column:
            continue
        if column in columns:
            raise InputError(f"{name}: line {line}: column {column!r} appears twice in the header")
        columns[column] = index
    missing = [column for column in COLUMNS if column not in columns]
    if missing:
        noun = "column" if len(missing) == 1 else "columns"
        raise InputError(
            f"{name}: missing {noun} {', '.join(missing)} (line {line});"
            f" the header must have {','.join(COLUMNS)}"
            f" and may have {','.join(OPTIONAL_COLUMNS)}"
        )
    unknown = [column for column in columns if column not in _KNOWN_COLUMNS]
    if unknown:
        log.info("%s: ignoring unknown columns %s", name, ", ".join(unknown))
    return columns


def _rows_to_scripts(rows: Iterable[tuple[int, list[str]]], name: str) -> list[ParsedScript]:
    """Turn (line, cells) rows of a CSV or a sheet into scripts; the first row is the header."""
    columns: dict[str, int] | None = None
    named: set[int] = set()
    scripts: list[ParsedScript] = []
    for line, cells in rows:
        cells = [cell.strip() for cell in cells]
        if not any(cells):
            continue
        if columns is None:
            columns = _parse_header(cells, name, line)
            named = set(columns.values())
            continue
        width = len(cells)
        raw = {
            column: (_unquote(cells[index]) if index < width else "")
            for column, index in columns.items()
        }
        issues: list[LintIssue] = []
        stray = [cell for index, cell in enumerate(cells) if cell and index not in named]
        if stray:
            issues.append(
                LintIssue(
                    line,
                    "",
                    "row",
                    f"{len(stray)} cell(s) outside the named columns, starting {stray[0][:20]!r};"
                    " a cell containing a comma must be quoted",
                )
            )
        scripts.append(_make_script(line, raw, split_tags(raw["tags"]), issues))
    return scripts


def _read_csv(text: str, name: str) -> list[ParsedScript]:
    delimiter = ","
    for first in io.StringIO(text, newline=""):
        if first.strip():
            # Excel's "Unicode Text" export is tab-separated.
            if "\t" in first and "," not in first:
                delimiter = "\t"
            break
    return _rows_to_scripts(_csv_rows(text, name, delimiter), name)


def _csv_rows(text: str, name: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    start = 1
    try:
        for row in reader:
            yield start, row
            start = reader.line_num + 1
    except csv.Error as exc:
        raise InputError(
            f"{name}: the row starting on line {start} is not valid CSV ({exc});"
            ' a cell that starts with " must end with ", and a " inside it is written ""'
        ) from exc


def _read_xlsx(path: Path) -> list[ParsedScript]:
    import openpyxl  # imported here: it pulls in numpy, and only XLSX needs it

    from bot.tabular import xlsx_errors

    rows: list[tuple[int, list[str]]] = []
    try:
        with warnings.catch_warnings():
            # openpyxl warns about workbook features it ignores (validation, styles…)
            warnings.simplefilter("ignore")
            workbook = openpyxl.load_workbook(path, read_only=True, data_only=False)
            try:
                sheet: Any = workbook.worksheets[0]
                sheet.reset_dimensions()  # the stored dimension may be stale
                for number, values in enumerate(
                    sheet.iter_rows(min_row=1, values_only=True), start=1
                ):
                    rows.append((number, [_cell_text(value) for value in values]))
            finally:
                workbook.close()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the file ({exc.strerror or exc})") from exc
    except xlsx_errors() as exc:
        raise InputError(f"{path.name}: not a readable .xlsx workbook ({one_line(exc)})") from exc
    return _rows_to_scripts(rows, path.name)


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        if value.time() == dt.time():
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


#: YAML nested deeper than this is refused before it is composed: PyYAML's composer
#: recurses once per level (a RecursionError in Python; libyaml's C composer overflows
#: the C stack and kills the process), and its scanner slows down quadratically with
#: the depth of ``[[[…`` flow collections. Real files nest a few levels.
MAX_YAML_DEPTH = 64


def check_yaml_depth(text: str, name: str) -> None:
    """Raise ``InputError`` if ``text`` nests lists / mappings over ``MAX_YAML_DEPTH`` deep.

    Reads only parser events (which needs no recursion) and stops at the first level
    too deep. Syntax errors propagate as ``yaml.YAMLError`` for the caller to report.
    """
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    depth = 0
    for event in yaml.parse(text, Loader=loader):
        if isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
            depth += 1
            if depth > MAX_YAML_DEPTH:
                line = event.start_mark.line + 1 if event.start_mark else 0
                raise InputError(
                    f"{name}: line {line}: lists / mappings nested more than"
                    f" {MAX_YAML_DEPTH} levels deep"
                )
        elif isinstance(event, yaml.SequenceEndEvent | yaml.MappingEndEvent):
            depth -= 1


def load_yaml_file(path: Path, *, what: str) -> Any:
    """The data of a small YAML file (a tag taxonomy, follow-up rules), read like every
    import file: UTF-8 (BOM optional), GB18030/GBK or UTF-16 with a BOM; nesting checked
    before parsing; every problem an ``InputError`` naming the file. ``what`` names the
    kind of file in the not-found message."""
    from knowledge.loaders import decode_text

    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise InputError(f"{what} file not found: {path}") from exc
    except OSError as exc:
        raise InputError(f"{path}: cannot read the file ({exc.strerror or exc})") from exc
    text = decode_text(data, name=path.name)
    try:
        check_yaml_depth(text, path.name)
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(f"{path.name}: not valid YAML ({one_line(exc)})") from exc


def _read_yaml(text: str, name: str) -> list[ParsedScript]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml is much faster
    try:
        check_yaml_depth(text, name)
        root = yaml.compose(text, Loader=loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}: " if mark is not None else ""
        raise InputError(f"{name}: {where}invalid YAML ({exc.problem or exc.context})") from exc
    except yaml.YAMLError as exc:  # a ReaderError (a forbidden character) spans lines
        raise InputError(f"{name}: invalid YAML ({one_line(exc)})") from exc
    if root is None:
        return []
    if not isinstance(root, yaml.SequenceNode):
        raise InputError(
            f"{name}: line {root.start_mark.line + 1}: expected a list of scripts"
            f" (each starting with '- id: …'), found {_node_kind(root)}"
        )
    scripts: list[ParsedScript] = []
    not_scripts: list[str] = []
    for item in root.value:
        line = item.start_mark.line + 1
        if isinstance(item, yaml.ScalarNode) and item.tag == _YAML_NULL:
            continue  # an empty "-" item, like a blank row
        if not isinstance(item, yaml.MappingNode):
            not_scripts.append(
                f"line {line}: expected a mapping with keys {', '.join(COLUMNS)},"
                f" found {_node_kind(item)}"
            )
            continue
        script = _yaml_item(item, line)
        if script is not None:
            scripts.append(script)
    if not_scripts:
        noun = "item is" if len(not_scripts) == 1 else "items are"
        raise InputError(f"{name}: {len(not_scripts)} list {noun} not a script", not_scripts)
    return scripts


def _yaml_item(item: yaml.MappingNode, line: int) -> ParsedScript | None:
    raw: dict[str, str] = {}
    tags: tuple[str, ...] = ()
    issues: list[LintIssue] = []
    for key_node, value_node in item.value:
        key_line = key_node.start_mark.line + 1
        if not isinstance(key_node, yaml.ScalarNode):
            issues.append(LintIssue(key_line, "", "row", "a key must be plain text"))
            continue
        key = _normalize_header(key_node.value)
        if key in raw:
            issues.append(LintIssue(key_line, "", key, f"{key!r} is given twice"))
            continue
        if key == "tags":
            tags, problem = _yaml_tags(value_node)
            raw[key] = ";".join(tags)
        else:
            raw[key], problem = _yaml_text(value_node)
        if problem:
            issues.append(LintIssue(key_line, "", key, problem))
    if not issues and not any(raw.values()):
        return None  # an empty mapping, like a blank row
    return _make_script(line, raw, tags, issues)


def _yaml_text(node: yaml.Node) -> tuple[str, str | None]:
    if isinstance(node, yaml.ScalarNode):
        return ("" if node.tag == _YAML_NULL else _clean(str(node.value))), None
    return "", f"expected text, found {_node_kind(node)}"


def _yaml_tags(node: yaml.Node) -> tuple[tuple[str, ...], str | None]:
    if isinstance(node, yaml.ScalarNode):
        return split_tags("" if node.tag == _YAML_NULL else _clean(str(node.value))), None
    if isinstance(node, yaml.SequenceNode):
        tags: list[str] = []
        for element in node.value:
            if not isinstance(element, yaml.ScalarNode):
                return (), f"each tag must be text, found {_node_kind(element)}"
            if element.tag != _YAML_NULL:
                tags.append(_clean(str(element.value)))
        return tuple(dict.fromkeys(tag for tag in tags if tag)), None
    return (), f"expected a list of tags or a ';'-separated text, found {_node_kind(node)}"


def _node_kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return f"the text {str(node.value)[:30]!r}"


# Writing ----------------------------------------------------------------------------


def write_scripts(records: Sequence[ScriptRecord], path: Path) -> None:
    """Write ``records`` to a ``.csv``, ``.xlsx`` or ``.yaml``/``.yml`` file.

    CSV is UTF-8 with a BOM (Excel on Chinese Windows opens it correctly); XLSX has a
    bold, frozen header row; YAML is block style with Chinese written as is (no escapes).
    CSV and XLSX cells are protected against formula injection (see the module doc).
    The file is replaced atomically: a failure never leaves a half-written file.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    writer: Callable[[Sequence[ScriptRecord], Path], None]
    if suffix == _CSV:
        writer = _write_csv
    elif suffix == _XLSX:
        writer = _write_xlsx
    elif suffix in _YAML:
        writer = _write_yaml
    else:
        raise InputError(f"{path.name}: unsupported file type {suffix or '(none)'!r}; {_SUPPORTED}")
    try:
        replace_atomically(path, lambda tmp: writer(records, tmp))
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from exc


def replace_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """Write ``path`` through ``write(tmp)`` on a temporary file in the same directory,
    then rename it over ``path``: readers see the old file or the whole new one."""
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = 0o644
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


def _cells(record: ScriptRecord) -> list[str]:
    return [
        record.id,
        record.title,
        record.category,
        record.stage,
        record.industry,
        ";".join(record.tags),
        record.body,
        record.status,
        record.variant_group or "",
    ]


def _write_csv(records: Sequence[ScriptRecord], path: Path) -> None:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    for record in records:
        writer.writerow([protect_cell(cell) for cell in _cells(record)])
    _write_bytes(path, buffer.getvalue().encode("utf-8-sig"))


_XLSX_WIDTHS = {
    "id": 16,
    "title": 28,
    "category": 14,
    "stage": 10,
    "industry": 12,
    "tags": 24,
    "body": 80,
    "status": 10,
    "variant_group": 16,
}


#: Characters an XLSX cell cannot hold: the C0 controls but tab and line ends, which
#: openpyxl refuses (its ILLEGAL_CHARACTERS_RE), and U+FFFE / U+FFFF, which XML does not
#: allow either (lxml raises ValueError on them).
_NOT_IN_XLSX = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _write_xlsx(records: Sequence[ScriptRecord], path: Path) -> None:
    import openpyxl
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    workbook = openpyxl.Workbook()
    sheet: Any = workbook.active
    sheet.title = "scripts"
    sheet.append(list(EXPORT_COLUMNS))
    bold = Font(bold=True)
    for cell in sheet[1]:
        cell.font = bold
    for index, column in enumerate(EXPORT_COLUMNS, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = _XLSX_WIDTHS[column]
    sheet.freeze_panes = "A2"
    dropped = 0
    for record in records:
        row = []
        for cell in _cells(record):
            clean, count = _NOT_IN_XLSX.subn("", cell)
            dropped += count
            row.append(protect_cell(clean))
        sheet.append(row)
    wrap = Alignment(wrap_text=True, vertical="top")
    body_column = EXPORT_COLUMNS.index("body") + 1
    for (cell,) in sheet.iter_rows(min_row=2, min_col=body_column, max_col=body_column):
        cell.alignment = wrap
    if dropped:
        log.warning("%s: dropped %d control characters that XLSX cannot store", path, dropped)
    workbook.save(path)


class _YamlDumper(yaml.SafeDumper):
    """Writes multi-line text as ``|`` blocks, which operators can read and edit."""


_YAML_ODD_BREAKS = re.compile("[\r\x85\u2028\u2029]")


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    # The emitter falls back to a quoted style when a block cannot hold the text exactly.
    # YAML 1.1 also breaks lines on NEL / LS / PS, which PyYAML folds or normalizes in
    # every style but double quotes (where they are escaped): use that style for them.
    style: str | None = None
    if _YAML_ODD_BREAKS.search(data):
        style = '"'
    elif "\n" in data:
        style = "|"
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_YamlDumper.add_representer(str, _represent_str)


def _write_yaml(records: Sequence[ScriptRecord], path: Path) -> None:
    items = [
        {
            "id": record.id,
            "title": record.title,
            "category": record.category,
            "stage": record.stage,
            "industry": record.industry,
            "tags": list(record.tags),
            "body": record.body,
            "status": record.status,
            "variant_group": record.variant_group,
        }
        for record in records
    ]
    text = yaml.dump(
        items,
        Dumper=_YamlDumper,
        allow_unicode=True,
        sort_keys=False,
        default_flow_style=False,
        width=1_000_000,
    )
    _write_bytes(path, text.encode("utf-8"))


def _write_bytes(path: Path, data: bytes) -> None:
    with open(path, "wb") as file:
        file.write(data)
