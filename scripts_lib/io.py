"""Reading and writing the script library's interchange files: CSV, XLSX and YAML.

The format is a public contract (README.md, "Interchange formats"): a header
``id,title,category,stage,industry,tags,body`` plus the optional ``status``,
``variant_group``, ``deadline`` and ``examples`` columns; YAML is a list of mappings with
the same keys (``tags`` and ``examples`` also as lists).

Files are read and written through ``knowledge.files``, like every data file of the
project. Reading is forgiving about what Chinese Excel users produce (UTF-8 with or
without BOM, GBK/GB18030, UTF-16 / UTF-32 with BOM, header names in any case, tags
separated by ``;`` ``；`` ``,`` or ``，``) and strict about everything else: problems are
reported with the line they are on, all at once, and ``load_scripts`` imports nothing
unless the whole file is clean.

Exports are safe to open in a spreadsheet: in CSV a text cell that would start with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return is prefixed with ``'`` so it is
never run as a formula (``knowledge.files.protect_cell``), and reading strips that one
``'`` again, so export -> import is exact; XLSX stores text cells as text
(``knowledge.files.write_xlsx``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import date
from pathlib import Path

import yaml

from knowledge.errors import InputError, one_line, os_reason
from knowledge.files import (
    RawRow,
    check_yaml_depth,
    decode_text,
    read_bytes,
    replace_atomically,
    table_rows,
    unprotect_cell,
    write_csv,
    write_xlsx,
)
from scripts_lib.lint import lint
from scripts_lib.model import (
    CATEGORIES,
    CATEGORY_LABELS,
    CATEGORY_SYNONYMS,
    COLUMNS,
    HEADER_LABELS,
    HEADER_SYNONYMS,
    OPTIONAL_COLUMNS,
    STAGE_LABELS,
    STAGE_SYNONYMS,
    STAGES,
    STATUS_LABELS,
    STATUS_SYNONYMS,
    STATUSES,
    LintIssue,
    ParsedScript,
    ScriptRecord,
    canonical_industry,
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
_SUPPORTED = "请用 .csv、.xlsx、.yaml 或 .yml"

_TAG_SEPARATORS = re.compile(r"[;；,，]")
#: Examples are whole customer messages, which contain commas: only semicolons separate.
_EXAMPLE_SEPARATORS = re.compile(r"[;；]")
_CARRIAGE_RETURN = re.compile(r"\r\n?")
_HEADER_SPACE = re.compile(r"[\s\-]+")
_YAML_NULL = "tag:yaml.org,2002:null"
_KNOWN_COLUMNS = frozenset(EXPORT_COLUMNS)


def _aliases(labels: dict[str, str], synonyms: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """Chinese name (lower-cased) -> code, from the display labels and their synonyms."""
    out = {label.lower(): code for code, label in labels.items()}
    for code, names in synonyms.items():
        out.update((name.lower(), code) for name in names)
    return out


_CATEGORY_ALIASES = _aliases(CATEGORY_LABELS, CATEGORY_SYNONYMS)
_STAGE_ALIASES = _aliases(STAGE_LABELS, STAGE_SYNONYMS)
_STATUS_ALIASES = _aliases(STATUS_LABELS, STATUS_SYNONYMS)
_HEADER_ALIASES = _aliases(HEADER_LABELS, HEADER_SYNONYMS)
# A date cell: 2026-12-06, 2026/12/6, 2026.12.6, 2026年12月6日, 20261206 (or an XLSX
# date-time cell, 2026-12-06 00:00).
_DATE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?")
_DATE_TIME = re.compile(r"(\d{4})-(\d{2})-(\d{2})[ T]\d{1,2}:\d{2}(:\d{2})?")
_COMPACT_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})")

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
        raise InputError(f"{path.name}：不支持的文件类型 {suffix or '（无）'!r}；{_hint(suffix)}")
    try:
        size = path.stat().st_size
    except FileNotFoundError as exc:
        raise InputError(f"{path}：文件不存在") from exc
    except OSError as exc:
        raise InputError(f"{path}：无法读取文件（{os_reason(exc)}）") from exc
    if not path.is_file():
        raise InputError(f"{path}：不是文件")
    if size > MAX_FILE_BYTES:
        raise InputError(
            f"{path.name} 有 {_format_size(size)}；上限是 {_format_size(MAX_FILE_BYTES)}"
            "——请拆成几个小文件"
        )
    if suffix in (_CSV, _XLSX):
        scripts = _rows_to_scripts(table_rows(path), path.name)
    else:
        scripts = _read_yaml(decode_text(read_bytes(path), name=path.name), path.name)
    if not scripts:
        raise InputError(f"{path.name} 里没有话术")
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
    parsed, found = check_scripts(path, known_industries=known_industries)
    return [item.record for item in parsed], found


def check_scripts(
    path: Path, *, known_industries: Collection[str] | None = None, today: date | None = None
) -> tuple[list[ParsedScript], list[LintIssue]]:
    """Read and lint a script file: the scripts as read (with the optional columns each
    row sets, ``ParsedScript.given``) and the warnings; ``InputError`` listing every
    error if there is one (see ``load_scripts``). ``today`` enables the check for
    deadlines that have passed."""
    path = Path(path)
    parsed = read_scripts(path)
    issues = lint(parsed, known_industries=known_industries, today=today)
    errors = [issue for issue in issues if issue.severity == "error"]
    if errors:
        raise InputError(
            f"{path.name}：{len(errors)} 处问题，没有导入任何内容",
            problems=[str(issue) for issue in errors],
        )
    found = [issue for issue in issues if issue.severity != "error"]
    log.info("%s: %d scripts read, %d warnings", path.name, len(parsed), len(found))
    return parsed, found


def _hint(suffix: str) -> str:
    if suffix == ".xls":
        return "不支持旧的 .xls 格式：请在 Excel 里「另存为」→「Excel 工作簿 (.xlsx)」"
    return _SUPPORTED


def _format_size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    if size >= 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size} 字节"


def _clean(value: str) -> str:
    """Strip a value and turn Windows / old-Mac line ends into ``\\n``."""
    value = value.strip()
    if "\r" in value:
        value = _CARRIAGE_RETURN.sub("\n", value)
    return value


def split_tags(value: str) -> tuple[str, ...]:
    """Split a tags cell on ``;`` ``；`` ``,`` ``，``: trimmed, empties and repeats removed."""
    tags = (tag.strip() for tag in _TAG_SEPARATORS.split(value))
    return tuple(dict.fromkeys(tag for tag in tags if tag))


def split_examples(value: str) -> tuple[str, ...]:
    """Split an examples cell on ``;`` ``；``: trimmed, empties and repeats removed."""
    examples = (e.strip() for e in _EXAMPLE_SEPARATORS.split(value))
    return tuple(dict.fromkeys(e for e in examples if e))


def _vocabulary(value: str, allowed: Sequence[str], aliases: dict[str, str]) -> str:
    """Map ``Welcome``, ``follow-up`` or a Chinese name (``报价``, ``价格/报价``,
    ``促成``) onto the vocabulary; else keep."""
    if value in allowed:
        return value
    key = _HEADER_SPACE.sub("_", value.lower())
    if key in allowed:
        return key
    return aliases.get(value.lower(), aliases.get(value.replace(" ", "").lower(), value))


def category_code(value: str) -> str:
    """The category code ``value`` names (a code, ``Follow-Up``, ``报价``, ``价格/报价``,
    ``促成`` …); an unknown name is returned as is (lint reports it)."""
    return _vocabulary(value.strip(), CATEGORIES, _CATEGORY_ALIASES)


def stage_code(value: str) -> str:
    """The stage code ``value`` names (a code, ``引流``, ``承接``, ``转化``, ``服务`` …)."""
    return _vocabulary(value.strip(), STAGES, _STAGE_ALIASES)


def status_code(value: str) -> str:
    """The status code ``value`` names (a code, ``草稿``, ``已审核``, ``待审核`` …)."""
    return _vocabulary(value.strip(), STATUSES, _STATUS_ALIASES)


def parse_deadline(value: str) -> date:
    """A whole date: ``2026-12-06``, ``2026/12/6``, ``2026.12.6``, ``2026年12月6日``,
    ``20261206`` (or an XLSX date cell). ``ValueError`` for anything else — a date
    without its year (``12月6日``) included: the year must be written."""
    text = value.strip()
    match = _DATE.fullmatch(text) or _DATE_TIME.fullmatch(text) or _COMPACT_DATE.fullmatch(text)
    if match is None:
        raise ValueError(text)
    return date(int(match[1]), int(match[2]), int(match[3]))


def _make_script(
    line: int,
    raw: dict[str, str],
    tags: tuple[str, ...],
    issues: Sequence[LintIssue],
    columns: Collection[str],
    examples: tuple[str, ...] = (),
) -> ParsedScript:
    """A script from a row; ``columns`` are the columns (YAML: keys) the row has."""
    found = list(issues)
    deadline: date | None = None
    if raw.get("deadline"):
        try:
            deadline = parse_deadline(raw["deadline"])
        except ValueError:
            found.append(
                LintIssue(
                    line,
                    "",
                    "deadline",
                    f"截止日期 {raw['deadline']!r} 不是完整的日期：请写成 2026-12-06"
                    "（年份不能省略）",
                )
            )
    given = {name for name in OPTIONAL_COLUMNS if name in columns}
    if not raw.get("status"):
        given.discard("status")  # an empty status cell keeps the stored status
    record = ScriptRecord(
        id=raw.get("id", ""),
        title=raw.get("title", ""),
        category=_vocabulary(raw.get("category", ""), CATEGORIES, _CATEGORY_ALIASES),
        stage=_vocabulary(raw.get("stage", ""), STAGES, _STAGE_ALIASES),
        industry=canonical_industry(raw.get("industry", "")),
        body=raw.get("body", ""),
        tags=tags,
        status=_vocabulary(raw.get("status", ""), STATUSES, _STATUS_ALIASES) or DEFAULT_STATUS,
        version=1,
        variant_group=raw.get("variant_group") or None,
        deadline=deadline,
        examples=examples,
    )
    fixed = tuple(
        LintIssue(i.line, record.id, i.field, i.message, i.severity) if not i.script_id else i
        for i in found
    )
    return ParsedScript(line=line, record=record, raw=raw, issues=fixed, given=frozenset(given))


def _normalize_header(cell: str) -> str:
    """A header cell as a column name: ``Variant Group`` is ``variant_group``, ``分类``
    is ``category``."""
    name = _HEADER_SPACE.sub("_", cell.strip().lstrip("\ufeff").strip().lower())
    return _HEADER_ALIASES.get(name, name)


def _parse_header(cells: list[str], name: str, line: int) -> dict[str, int]:
    columns: dict[str, int] = {}
    for index, cell in enumerate(cells):
        column = _normalize_header(cell)
        if not column:
            continue
        if column in columns:
            raise InputError(f"{name}：第 {line} 行：表头里列 {column!r} 出现了两次")
        columns[column] = index
    missing = [column for column in COLUMNS if column not in columns]
    if missing:
        labels = "、".join(f"{column}（{HEADER_LABELS[column]}）" for column in missing)
        raise InputError(
            f"{name}：第 {line} 行的表头缺少 {labels}；表头须有 {','.join(COLUMNS)}"
            f"（或 {','.join(HEADER_LABELS[c] for c in COLUMNS)}），"
            f"可选 {','.join(OPTIONAL_COLUMNS)}"
            f"（{','.join(HEADER_LABELS[c] for c in OPTIONAL_COLUMNS)}）"
        )
    unknown = [column for column in columns if column not in _KNOWN_COLUMNS]
    if unknown:
        log.info("%s: ignoring unknown columns %s", name, ", ".join(unknown))
    return columns


def _rows_to_scripts(rows: Iterable[RawRow], name: str) -> list[ParsedScript]:
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
            column: (unprotect_cell(_clean(cells[index])) if index < width else "")
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
                    f"{len(stray)} 个单元格在表头的列之外，从 {stray[0][:20]!r} 开始；"
                    "含逗号的单元格要加引号",
                )
            )
        examples = split_examples(raw.get("examples", ""))
        scripts.append(_make_script(line, raw, split_tags(raw["tags"]), issues, columns, examples))
    return scripts


def _read_yaml(text: str, name: str) -> list[ParsedScript]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml is much faster
    try:
        check_yaml_depth(text, name)
        root = yaml.compose(text, Loader=loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"第 {mark.line + 1} 行：" if mark is not None else ""
        raise InputError(f"{name}：{where}YAML 格式有误（{exc.problem or exc.context}）") from exc
    except yaml.YAMLError as exc:  # a ReaderError (a forbidden character) spans lines
        raise InputError(f"{name}：YAML 格式有误（{one_line(exc)}）") from exc
    if root is None:
        return []
    if not isinstance(root, yaml.SequenceNode):
        raise InputError(
            f"{name}：第 {root.start_mark.line + 1} 行：应为话术列表"
            f"（每条以 '- id: …' 开头），实际是 {_node_kind(root)}"
        )
    scripts: list[ParsedScript] = []
    not_scripts: list[str] = []
    for item in root.value:
        line = item.start_mark.line + 1
        if isinstance(item, yaml.ScalarNode) and item.tag == _YAML_NULL:
            continue  # an empty "-" item, like a blank row
        if not isinstance(item, yaml.MappingNode):
            not_scripts.append(
                f"第 {line} 行：应为含 {', '.join(COLUMNS)} 这些键的映射，实际是{_node_kind(item)}"
            )
            continue
        script = _yaml_item(item, line)
        if script is not None:
            scripts.append(script)
    if not_scripts:
        raise InputError(f"{name}：列表里有 {len(not_scripts)} 项不是话术", not_scripts)
    return scripts


def _yaml_item(item: yaml.MappingNode, line: int) -> ParsedScript | None:
    raw: dict[str, str] = {}
    tags: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()
    issues: list[LintIssue] = []
    for key_node, value_node in item.value:
        key_line = key_node.start_mark.line + 1
        if not isinstance(key_node, yaml.ScalarNode):
            issues.append(LintIssue(key_line, "", "row", "键必须是普通文本"))
            continue
        key = _normalize_header(key_node.value)
        if key in raw:
            issues.append(LintIssue(key_line, "", key, f"{key!r} 出现了两次"))
            continue
        if key == "tags":
            tags, problem = _yaml_list(value_node, split_tags, "标签")
            raw[key] = ";".join(tags)
        elif key == "examples":
            examples, problem = _yaml_list(value_node, split_examples, "例句")
            raw[key] = ";".join(examples)
        else:
            raw[key], problem = _yaml_text(value_node)
        if problem:
            issues.append(LintIssue(key_line, "", key, problem))
    if not issues and not any(raw.values()):
        return None  # an empty mapping, like a blank row
    return _make_script(line, raw, tags, issues, raw.keys(), examples)


def _yaml_text(node: yaml.Node) -> tuple[str, str | None]:
    if isinstance(node, yaml.ScalarNode):
        return ("" if node.tag == _YAML_NULL else _clean(str(node.value))), None
    return "", f"应为文本，实际是{_node_kind(node)}"


def _yaml_list(
    node: yaml.Node, split: Callable[[str], tuple[str, ...]], what: str
) -> tuple[tuple[str, ...], str | None]:
    """A YAML list of texts, or one text ``split`` into items (tags, examples)."""
    if isinstance(node, yaml.ScalarNode):
        return split("" if node.tag == _YAML_NULL else _clean(str(node.value))), None
    if isinstance(node, yaml.SequenceNode):
        items: list[str] = []
        for element in node.value:
            if not isinstance(element, yaml.ScalarNode):
                return (), f"每个{what}都应为文本，实际是{_node_kind(element)}"
            if element.tag != _YAML_NULL:
                items.append(_clean(str(element.value)))
        return tuple(dict.fromkeys(item for item in items if item)), None
    return (), f"应为{what}的列表或用「;」分隔的文本，实际是{_node_kind(node)}"


def _node_kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "映射"
    if isinstance(node, yaml.SequenceNode):
        return "列表"
    return f"文本 {str(node.value)[:30]!r}"


# Writing ----------------------------------------------------------------------------


def write_scripts(records: Sequence[ScriptRecord], path: Path, *, chinese: bool = False) -> None:
    """Write ``records`` to a ``.csv``, ``.xlsx`` or ``.yaml``/``.yml`` file.

    CSV is UTF-8 with a BOM (Excel on Chinese Windows opens it correctly); XLSX has a
    bold, frozen header row; YAML is block style with Chinese written as is (no escapes).
    CSV and XLSX cells are protected against formula injection (see the module doc).
    The file is replaced atomically: a failure never leaves a half-written file.
    ``chinese`` writes the Chinese headers (``HEADER_LABELS``) and the Chinese names of
    categories, stages and statuses instead of the codes; an import reads both.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    rows = [_cells(record, chinese=chinese) for record in records]
    header = tuple(HEADER_LABELS[c] for c in EXPORT_COLUMNS) if chinese else EXPORT_COLUMNS
    if suffix == _CSV:
        write_csv(path, header, rows)
    elif suffix == _XLSX:
        widths = {h: _XLSX_WIDTHS[c] for h, c in zip(header, EXPORT_COLUMNS, strict=True)}
        body = HEADER_LABELS["body"] if chinese else "body"
        write_xlsx(path, header, rows, title="scripts", widths=widths, wrap=(body,))
    elif suffix in _YAML:
        replace_atomically(path, lambda tmp: _write_yaml(records, tmp, chinese=chinese))
    else:
        raise InputError(f"{path.name}：不支持的文件类型 {suffix or '（无）'!r}；{_SUPPORTED}")


def _cells(record: ScriptRecord, *, chinese: bool = False) -> list[str]:
    return [
        record.id,
        record.title,
        CATEGORY_LABELS.get(record.category, record.category) if chinese else record.category,
        STAGE_LABELS.get(record.stage, record.stage) if chinese else record.stage,
        record.industry,
        ";".join(record.tags),
        record.body,
        STATUS_LABELS.get(record.status, record.status) if chinese else record.status,
        record.variant_group or "",
        record.deadline.isoformat() if record.deadline else "",
        ";".join(record.examples),
    ]


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
    "deadline": 12,
    "examples": 40,
}


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


def _write_yaml(records: Sequence[ScriptRecord], path: Path, *, chinese: bool) -> None:
    items = []
    for record in records:
        cells = _cells(record, chinese=chinese)
        item: dict[str, object] = dict(zip(EXPORT_COLUMNS, cells, strict=True))
        item["tags"] = list(record.tags)
        item["variant_group"] = record.variant_group
        item["deadline"] = record.deadline.isoformat() if record.deadline else None
        item["examples"] = list(record.examples)
        items.append({HEADER_LABELS[k] if chinese else k: v for k, v in item.items()})
    text = yaml.dump(
        items,
        Dumper=_YamlDumper,
        allow_unicode=True,
        sort_keys=False,
        default_flow_style=False,
        width=1_000_000,
    )
    path.write_bytes(text.encode("utf-8"))
