"""XLSX workbooks that unpack to far more than they weigh ("zip bombs"), built in memory:
a few hundred KB however much they unpack to, and nothing unpacked is ever written."""

from __future__ import annotations

import io
import struct
import zipfile
from typing import Any

import openpyxl

SHEET = "xl/worksheets/sheet1.xml"
_ROW = b'<row><c t="inlineStr"><is><t>0</t></is></c></row>'


def workbook(rows: list[list[Any]]) -> bytes:
    """A real workbook of ``rows`` (openpyxl's own), as bytes."""
    book = openpyxl.Workbook()
    sheet: Any = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def xlsx_bomb(unpacked: int, *, row: bytes = _ROW) -> bytes:
    """A workbook openpyxl reads, whose first sheet is ``row`` repeated to about
    ``unpacked`` bytes: deflate packs it about a thousand times (a 300 MB sheet weighs
    about 300 KB). Streamed into the archive a MB at a time."""
    base = zipfile.ZipFile(io.BytesIO(workbook([["问题", "答案"]])))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bomb:
        for info in base.infolist():
            if info.filename != SHEET:
                bomb.writestr(info.filename, base.read(info.filename))
                continue
            with bomb.open(SHEET, "w", force_zip64=True) as sheet:
                sheet.write(
                    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                    b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/'
                    b'main"><sheetData>'
                )
                chunk = row * (1024 * 1024 // len(row))
                for _ in range(max(1, unpacked // len(chunk))):
                    sheet.write(chunk)
                sheet.write(b"</sheetData></worksheet>")
    return out.getvalue()


def many_parts(count: int) -> bytes:
    """A workbook with ``count`` extra (tiny) parts."""
    base = zipfile.ZipFile(io.BytesIO(workbook([["问题", "答案"]])))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for info in base.infolist():
            archive.writestr(info.filename, base.read(info.filename))
        for n in range(count):
            archive.writestr(f"customXml/item{n}.xml", b"<a/>")
    return out.getvalue()


def declared_sizes(data: bytes, sizes: dict[str, tuple[int, int]]) -> bytes:
    """``data`` (a zip without zip64 records) with the central directory declaring
    ``{part: (compressed, unpacked)}`` sizes instead of the real ones: what a forged
    archive says about itself, which is all a check of the directory sees."""
    out = bytearray(data)
    start = out.rfind(b"PK\x05\x06")
    (directory,) = struct.unpack_from("<I", out, start + 16)
    pos = directory
    while out[pos : pos + 4] == b"PK\x01\x02":
        name_len, extra_len, comment_len = struct.unpack_from("<HHH", out, pos + 28)
        name = bytes(out[pos + 46 : pos + 46 + name_len]).decode()
        if name in sizes:
            struct.pack_into("<II", out, pos + 20, *sizes[name])
        pos += 46 + name_len + extra_len + comment_len
    return bytes(out)
