"""Read a CSV or XLSX table into (line number, {column: text}) rows; write report CSVs.

CSV bytes are decoded like the knowledge loaders (UTF-8 with or without BOM, GBK/GB18030,
UTF-16); tab-separated text (Excel's "Unicode Text") works too. Header names are
lower-cased with spaces turned into ``_``. Blank rows are skipped; line numbers are the
file's (CSV) or the sheet's row numbers (XLSX), as a spreadsheet user sees them.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import warnings
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from bot.errors import InputError, one_line

Row = tuple[int, dict[str, str]]

_SPACE = re.compile(r"\s+")


def read_table(path: Path, *, aliases: dict[str, str] | None = None) -> list[Row]:
    """Rows of the first sheet / the CSV; the first non-blank row is the header."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv", ".txt"):
        raw = _csv_rows(path)
    elif suffix in (".xlsx", ".xlsm"):
        raw = _xlsx_rows(path)
    else:
        raise InputError(f"{path.name}: unsupported file type {suffix!r}; use .csv or .xlsx")
    header: list[str] | None = None
    rows: list[Row] = []
    for line, cells in raw:
        cells = [c.strip() for c in cells]
        if not any(cells):
            continue
        if header is None:
            header = [_column(c, aliases or {}) for c in cells]
            seen: set[str] = set()
            for c in header:
                if c and c in seen:
                    raise InputError(f"{path.name}: line {line}: column {c!r} appears twice")
                seen.add(c)
            continue
        extra = [c for i, c in enumerate(cells) if c and (i >= len(header) or not header[i])]
        if extra:
            raise InputError(
                f"{path.name}: line {line}: a cell outside the named columns ({extra[0][:20]!r});"
                " a cell containing a comma must be quoted"
            )
        rows.append((line, {h: cells[i] for i, h in enumerate(header) if h and i < len(cells)}))
    if header is None:
        raise InputError(f"{path.name}: the file is empty")
    return rows


def _column(cell: str, aliases: dict[str, str]) -> str:
    name = _SPACE.sub("_", cell.strip().lstrip("\ufeff").strip().lower())
    return aliases.get(name, name)


def _csv_rows(path: Path) -> list[tuple[int, list[str]]]:
    from knowledge.loaders import decode_text

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the file ({exc.strerror})") from exc
    text = decode_text(data, name=path.name)
    first = next((ln for ln in text.split("\n") if ln.strip()), "")
    delimiter = "\t" if "\t" in first and "," not in first else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for row in reader:
            rows.append((start, row))
            start = reader.line_num + 1
    except csv.Error as exc:
        raise InputError(
            f"{path.name}: the row starting on line {start} is not valid CSV ({exc})"
        ) from exc
    return rows


def xlsx_errors() -> tuple[type[Exception], ...]:
    """What reading a damaged or non-XLSX file with openpyxl can raise.

    openpyxl validates little itself: a broken zip surfaces as ``BadZipFile``, ``zlib.error``
    (a corrupt deflate stream), ``EOFError`` (a truncated member) or ``NotImplementedError``
    (an unknown zip version); broken XML as ``SyntaxError`` (lxml / ElementTree parse
    errors); a well-formed but wrong part as ``TypeError`` (an unknown attribute),
    ``KeyError`` / ``IndexError`` (a missing part or sheet) or ``ValueError``. Every XLSX
    reader turns these into an ``InputError`` naming the file.
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
    )


def _xlsx_rows(path: Path) -> list[tuple[int, list[str]]]:
    import openpyxl  # heavy: only XLSX needs it

    rows: list[tuple[int, list[str]]] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # openpyxl warns about features it ignores
            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
            try:
                sheet: Any = book.worksheets[0]
                sheet.reset_dimensions()
                for n, values in enumerate(sheet.iter_rows(values_only=True), start=1):
                    rows.append((n, [_cell(v) for v in values]))
            finally:
                book.close()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the file ({exc.strerror or exc})") from exc
    except xlsx_errors() as exc:
        raise InputError(f"{path.name}: not a readable .xlsx workbook ({one_line(exc)})") from exc
    return rows


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """Write a report table as CSV that Excel / WPS open as UTF-8 (BOM), atomically.

    Text cells are protected against formula injection (a name such as ``=HYPERLINK(…)``
    or ``+86…`` is written with a leading ``'``); numbers are written as numbers.
    """
    from scripts_lib import protect_cell, replace_atomically

    def cell(value: object) -> object:
        return protect_cell(value) if isinstance(value, str) else value

    def write(tmp: Path) -> None:
        with tmp.open("w", encoding="utf-8-sig", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow([cell(h) for h in header])
            writer.writerows([cell(v) for v in row] for row in rows)

    try:
        replace_atomically(path, write)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from exc
