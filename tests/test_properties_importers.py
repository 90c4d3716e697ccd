"""Property-based tests (hypothesis) of every importer (issue 7, "Bad input").

Two properties for each of them:

* **Any bytes**: an importer returns what it parsed or raises an expected error
  (``bot.errors.EXPECTED_ERRORS``) whose first line names the file: never another
  exception, never a hang, and an all-or-nothing import that fails leaves the database
  as it was.
* **Round trip**: rows of Chinese / any text written as UTF-8, UTF-8 with a BOM,
  UTF-16 and UTF-32 (both byte orders, with the BOM) and GB18030 read back as the same rows
  (and as XLSX where the importer takes XLSX).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import yaml
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text
from store_backends import BACKENDS, backend_url

from bot.crm.conversions import import_orders
from bot.crm.followups import ACTIONS, MATCH_FIELDS, MAX_OFFSET_DAYS, Rule, load_rules
from bot.crm.oneid import import_customer_file, read_customer_file
from bot.errors import EXPECTED_ERRORS, InputError
from bot.pipeline.tagging import parse_taxonomy
from bot.store import Database
from bot.store.models import (
    Base,
    Customer,
    FollowUp,
    Identity,
    Script,
    Tag,
    TagCategory,
    Transaction,
)
from bot.store.tags import CategorySpec, TagSpec
from knowledge.chunking import chunk_document
from knowledge.files import MAX_YAML_DEPTH, read_table
from knowledge.loaders import Section, load_document
from scripts_lib import (
    CATEGORIES,
    STAGES,
    STATUSES,
    ScriptRecord,
    load_scripts,
    read_scripts,
    write_scripts,
)
from scripts_lib.lint import MAX_FIELD_CHARS
from scripts_lib.model import HEADER_LABELS, canonical_industry

# --- strategies --------------------------------------------------------------------------

#: Anything but surrogates (no file holds them), controls (tested on their own) and
#: U+FFFE / U+FFFF (XML, hence XLSX, cannot hold them; CSV can: tested on their own).
_CHARS = st.characters(exclude_categories=("Cs", "Cc"), exclude_characters="\ufffe\uffff")
_CJK = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)
#: A stripped cell: Chinese most of the time, any text otherwise.
CELL = st.one_of(
    st.text(_CJK, min_size=1, max_size=12),
    st.text(st.one_of(_CJK, _CHARS), max_size=20),
    st.text(_CHARS, max_size=20),
).map(str.strip)
WORD = CELL.filter(bool)
#: Lines inside a cell (CSV quotes them; the readers keep them).
MULTILINE = st.lists(WORD, min_size=1, max_size=3).map("\n".join)
#: What every reader decodes. UTF-16 and UTF-32 are written with their BOM (Python's
#: "utf-16" / "utf-32" codecs write the platform's byte order; "-be" gets the BOM added).
ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", "utf-16-be", "utf-32", "utf-32-be", "gb18030")
ENCODING = st.sampled_from(ENCODINGS)

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def encode(content: str, encoding: str) -> bytes:
    if encoding == "utf-16-be":
        return codecs.BOM_UTF16_BE + content.encode("utf-16-be")
    if encoding == "utf-32-be":
        return codecs.BOM_UTF32_BE + content.encode("utf-32-be")
    return content.encode(encoding)


def readable_as(data: bytes, content: str) -> bool:
    """False for GB18030 bytes that happen to be valid UTF-8 as well: every reader tries
    UTF-8 first, and no reader can tell such (short) bytes apart."""
    try:
        return data.decode("utf-8-sig") == content
    except UnicodeDecodeError:
        return True


@contextmanager
def scratch() -> Iterator[Path]:
    """A fresh folder per hypothesis example (the body runs many times per test)."""
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder)


def write_encoded(path: Path, content: str, encoding: str) -> Path:
    data = encode(content, encoding)
    assume(readable_as(data, content))
    path.write_bytes(data)
    return path


def csv_text(rows: list[list[str]], delimiter: str = ",") -> str:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()


def write_xlsx(path: Path, rows: list[list[str]]) -> Path:
    book = openpyxl.Workbook()
    sheet: Any = book.active
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row, start=1):
            cell = sheet.cell(row=r, column=c, value=value)
            cell.data_type = "s"  # "=…" is text here, not a formula
    book.save(path)
    return path


def first_line(exc: BaseException) -> str:
    return str(exc.args[0]) if exc.args else ""


def check_error(exc: BaseException, path: Path) -> None:
    """A user error: one line that names the file (details may follow in ``problems``)."""
    head = first_line(exc)
    assert "\n" not in head, head
    assert path.name in head, head


# --- any bytes ----------------------------------------------------------------------------


def _valid_xlsx(deflate: bool) -> bytes:
    book = openpyxl.Workbook()
    sheet: Any = book.active
    sheet.append(["id", "title", "category", "stage", "industry", "tags", "body"])
    sheet.append(["q", "问题", "answer", "答案", "name", "phone", "13800000000"])
    sheet.append(["question", "answer", "name", "phone"])
    sheet.append(["等待期多久", "90天", "王芳", 13800000001, 1.5, None, True])
    buffer = io.BytesIO()
    book.save(buffer)
    if deflate:
        return buffer.getvalue()
    stored = io.BytesIO()  # uncompressed, so that a changed byte changes the XML itself
    with (
        zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as src,
        zipfile.ZipFile(stored, "w", zipfile.ZIP_STORED) as dst,
    ):
        for name in src.namelist():
            dst.writestr(name, src.read(name))
    return stored.getvalue()


_XLSX = {deflate: _valid_xlsx(deflate) for deflate in (True, False)}


@st.composite
def damaged_xlsx(draw: st.DrawFn) -> bytes:
    """A real workbook with a few bytes changed, or cut short."""
    data = bytearray(_XLSX[draw(st.booleans())])
    for _ in range(draw(st.integers(1, 4))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.sampled_from(b'<>"/= a1x\x00\xff'))
    cut = draw(st.none() | st.integers(0, len(data)))
    return bytes(data[:cut])


@st.composite
def text_file(draw: st.DrawFn) -> bytes:
    """Plausible text: a header the importers know, lines of any text, any encoding."""
    header = draw(
        st.sampled_from(
            [
                "id,title,category,stage,industry,tags,body",
                "question,answer",
                "name,phone,customer_id,birthday,added_at,id:x",
                "customer,amount,time,order_id",
                "version: 1\ncategories:",
                "rules:",
                "- id:",
                "# 标题",
                "",
            ]
        )
    )
    lines = draw(st.lists(st.text(max_size=40), max_size=6))
    return encode("\n".join([header, *lines]), draw(ENCODING))


ANY_BYTES = st.one_of(
    st.binary(max_size=400),
    text_file(),
    st.text().map(lambda t: t.encode("utf-8", "surrogatepass")),
    damaged_xlsx(),
)
#: Files every importer must refuse or read: empty, BOM only, odd-length UTF-16, NULs,
#: a control-character soup, a PNG, a zip that is no workbook, deep YAML nesting.
ODD_FILES = [
    b"",
    codecs.BOM_UTF8,
    codecs.BOM_UTF16_LE,
    codecs.BOM_UTF16_LE + b"a",
    codecs.BOM_UTF16_BE + "问".encode("utf-16-be") + b"\x00",
    b"\x00" * 64,
    bytes(range(32)) * 4,
    b"\x89PNG\r\n\x1a\n" + bytes(100),
    b"PK\x05\x06" + bytes(18),
    b"[" * 100_000,
    b"- " * 5_000 + b"x",
    b"a: &a [x, x]\nb: &b [*a, *a, *a]\nc: [*b, *b, *b]\n",
    "问题,答案\n\x1b[31m,\x7f\n".encode("gb18030"),
]


def _chunked(path: Path) -> object:
    doc = load_document(path)
    chunks = chunk_document(doc, max_chars=120, overlap=30)
    assert all(0 < len(c.text) <= 120 for c in chunks)
    return chunks


IMPORTERS: dict[str, tuple[Callable[[Path], object], tuple[str, ...]]] = {
    "read_scripts": (read_scripts, (".csv", ".xlsx", ".yaml")),
    "load_scripts": (load_scripts, (".csv", ".yaml")),
    "load_document": (_chunked, (".md", ".txt", ".csv", ".xlsx")),
    "parse_taxonomy": (parse_taxonomy, (".yaml",)),
    "load_rules": (load_rules, (".yaml",)),
    "read_customer_file": (read_customer_file, (".csv", ".xlsx")),
    "read_table": (read_table, (".csv", ".xlsx")),
}
CASES = [(name, suffix) for name, (_, suffixes) in IMPORTERS.items() for suffix in suffixes]


def _with_odd_files(test: Callable[..., None]) -> Callable[..., None]:
    for data in ODD_FILES:
        test = example(data=data)(test)
    return test


@pytest.mark.parametrize(("importer", "suffix"), CASES)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=ANY_BYTES)
@_with_odd_files
def test_any_bytes_are_parsed_or_refused_with_the_file_name(
    importer: str, suffix: str, data: bytes
) -> None:
    read, _ = IMPORTERS[importer]
    with scratch() as folder:
        path = folder / f"输入 file{suffix}"
        path.write_bytes(data)
        try:
            read(path)
        except EXPECTED_ERRORS as exc:
            check_error(exc, path)


# --- all-or-nothing imports ----------------------------------------------------------------


@pytest.fixture(scope="module", params=BACKENDS)
def db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    """Customers 1-3 (phones 1380000000N), on SQLite and on PostgreSQL when configured
    (which, unlike SQLite, refuses text longer than its column)."""
    for url in backend_url(request.param, tmp_path_factory.mktemp("db")):
        database = Database(url)
        database.migrate()
        with database.session() as s:
            seeded = [Customer(name=f"客户{n}") for n in range(1, 4)]
            s.add_all(seeded)
            s.flush()
            assert [c.id for c in seeded] == [1, 2, 3]
            for c in seeded:
                s.add(Identity(customer_id=c.id, kind="phone", value=f"1380000000{c.id}"))
        yield database
        database.dispose()


def dump(db: Database) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, ordered by primary key."""
    tables = {}
    with db.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            order = ", ".join(c.name for c in table.primary_key.columns)
            rows = conn.execute(text(f"SELECT * FROM {table.name} ORDER BY {order}"))
            tables[table.name] = [tuple(r) for r in rows]
    return tables


def _import_customers(db: Database, path: Path) -> object:
    with db.session() as s:
        return import_customer_file(session=s, path=path, actor="test")


def _import_orders(db: Database, path: Path) -> object:
    with db.session() as s:
        return import_orders(session=s, path=path, timezone="Asia/Shanghai")


DB_IMPORTERS = {"customers": _import_customers, "orders": _import_orders}


@pytest.mark.parametrize("importer", sorted(DB_IMPORTERS))
@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=ANY_BYTES)
@_with_odd_files
def test_a_failed_import_writes_nothing(
    db: Database, importer: str, suffix: str, data: bytes
) -> None:
    before = dump(db)
    with scratch() as folder:
        path = folder / f"导入{suffix}"
        path.write_bytes(data)
        try:
            DB_IMPORTERS[importer](db, path)
        except EXPECTED_ERRORS as exc:
            check_error(exc, path)
            assert dump(db) == before


# --- the shared table reader ------------------------------------------------------------------

HEADER_NAME = st.one_of(
    st.from_regex(r"[a-z][a-z0-9_]{0,7}", fullmatch=True), st.text(_CJK, min_size=1, max_size=4)
)


@st.composite
def table(draw: st.DrawFn) -> list[list[str]]:
    header = draw(st.lists(HEADER_NAME, min_size=1, max_size=4, unique=True))
    row = st.lists(st.one_of(CELL, MULTILINE), min_size=len(header), max_size=len(header))
    return [header, *draw(st.lists(row, max_size=5))]


def expected_table(rows: list[list[str]], *, xlsx: bool) -> list[tuple[int, dict[str, str]]]:
    """What ``read_table`` must return: blank rows skipped, line numbers as a user sees
    them (a CSV cell with line breaks spans several lines)."""
    header, *body = rows
    out = []
    line = 2
    for cells in body:
        if any(cells):
            out.append((line, dict(zip(header, cells, strict=True))))
        line += 1 if xlsx else 1 + sum(c.count("\n") for c in cells)
    return out


@FAST
@given(rows=table(), encoding=ENCODING, tabs=st.booleans())
def test_read_table_reads_every_encoding_alike(
    rows: list[list[str]], encoding: str, tabs: bool
) -> None:
    # Tab-separated is Excel's "Unicode Text" (UTF-16); told apart by a header with a tab.
    delimiter = "\t" if tabs and len(rows[0]) > 1 else ","
    with scratch() as folder:
        path = write_encoded(folder / "t.csv", csv_text(rows, delimiter), encoding)
        assert read_table(path) == expected_table(rows, xlsx=False)


@FAST
@given(rows=table())
def test_read_table_reads_xlsx_like_csv(rows: list[list[str]]) -> None:
    with scratch() as folder:
        path = write_xlsx(folder / "t.xlsx", rows)
        assert read_table(path) == expected_table(rows, xlsx=True)


_CONTROL = st.sampled_from([chr(c) for c in (*range(1, 9), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F)])
_BINARY_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f]")


@FAST
@given(
    rows=st.lists(
        st.lists(
            st.text(st.one_of(_CJK, _CONTROL, _CHARS), max_size=12).map(str.strip),
            min_size=2,
            max_size=2,
        ),
        max_size=4,
    ),
    encoding=ENCODING,
)
def test_control_characters_in_cells_are_kept_or_the_file_is_called_binary(
    rows: list[list[str]], encoding: str
) -> None:
    rows = [["a", "b"], *rows]
    content = csv_text(rows)
    with scratch() as folder:
        path = write_encoded(folder / "t.csv", content, encoding)
        controls = len(_BINARY_CONTROL.findall(content))
        if controls > max(8, len(content) // 100):  # knowledge.files.decode_text's rule
            with pytest.raises(InputError, match="是二进制文件"):
                read_table(path)
        else:
            assert read_table(path) == expected_table(rows, xlsx=False)


def test_a_100k_character_cell_reads_back_whole(tmp_path: Path) -> None:
    long = ("重疾险等待期九十天，" * 10_000)[:100_000]
    path = tmp_path / "t.csv"
    path.write_bytes(encode(csv_text([["name", "note"], ["王芳", long]]), "utf-16"))
    assert read_table(path) == [(2, {"name": "王芳", "note": long})]
    qa = tmp_path / "qa.csv"
    qa.write_bytes(encode(csv_text([["问题", "答案"], ["多久", long]]), "gb18030"))
    [section] = load_document(qa).sections
    assert section == Section(title="多久", text=f"问：多久\n答：{long}")
    chunks = chunk_document(load_document(qa), max_chars=300, overlap=50)
    assert all(0 < len(c.text) <= 300 for c in chunks)
    assert sum(c.text.count("等待期") for c in chunks) >= 10_000
    record = ScriptRecord(
        id="a",
        title="长",
        category="care",
        stage="retain",
        industry="general",
        body=long,
        examples=(),
    )
    scripts = tmp_path / "lib.csv"
    write_scripts([record], scripts)
    assert read_scripts(scripts)[0].record == record
    with pytest.raises(InputError, match=r"lib\.csv：1 处问题，没有导入任何内容"):
        load_scripts(scripts)  # a body is at most 500 characters


# --- scripts -------------------------------------------------------------------------------------

_TAG = WORD.filter(lambda t: not re.search(r"[;；,，]", t))
SCRIPT = st.builds(
    ScriptRecord,
    id=WORD,
    title=CELL,
    category=st.sampled_from(CATEGORIES),
    stage=st.sampled_from(STAGES),
    # a synonym of "every industry" (全部, all …) is read back as general
    industry=CELL.filter(lambda s: canonical_industry(s) == s),
    body=st.one_of(CELL, MULTILINE),
    tags=st.lists(_TAG, unique=True, max_size=3).map(tuple),
    status=st.sampled_from(STATUSES),
    variant_group=st.none() | WORD,
    # an export always writes the examples column: a file read back has a tuple
    examples=st.lists(
        CELL.filter(lambda t: t and not re.search(r"[;；]", t)), unique=True, max_size=3
    ).map(tuple),
)


@pytest.mark.parametrize("suffix", [".csv", ".yaml"])
@FAST
@given(scripts=st.lists(SCRIPT, min_size=1, max_size=4), encoding=ENCODING)
def test_scripts_read_the_same_in_every_encoding(
    suffix: str, scripts: list[ScriptRecord], encoding: str
) -> None:
    with scratch() as folder:
        exported = folder / f"export{suffix}"
        write_scripts(scripts, exported)
        content = exported.read_bytes().decode("utf-8-sig")
        path = write_encoded(folder / f"lib{suffix}", content, encoding)
        assert [p.record for p in read_scripts(path)] == scripts


@FAST
@given(scripts=st.lists(SCRIPT, min_size=1, max_size=4))
def test_scripts_xlsx_round_trip(scripts: list[ScriptRecord]) -> None:
    with scratch() as folder:
        path = folder / "lib.xlsx"
        write_scripts(scripts, path)
        assert [p.record for p in read_scripts(path)] == scripts


def test_scripts_xlsx_export_drops_what_xml_cannot_hold() -> None:
    # U+FFFE / U+FFFF made lxml raise ValueError out of write_scripts.
    record = ScriptRecord(
        id="a", title="x\uffffy\x1b", category="welcome", stage="acquire", industry="general",
        body="您好\ufffe！", examples=(),
    )  # fmt: skip
    with scratch() as folder:
        path = folder / "lib.xlsx"
        write_scripts([record], path)
        [back] = read_scripts(path)
        assert (back.record.title, back.record.body) == ("xy", "您好！")
        csv_path = folder / "lib.csv"  # CSV holds them all
        write_scripts([record], csv_path)
        assert read_scripts(csv_path)[0].record == record


def test_a_nul_in_a_script_file_is_refused_with_its_line() -> None:
    with scratch() as folder:
        path = folder / "lib.csv"
        path.write_bytes(
            b"id,title,category,stage,industry,tags,body\na,b,welcome,acquire,x,,y\x00\n"
        )
        with pytest.raises(InputError, match=r"lib\.csv：第 2 行：含 NUL 字符"):
            read_scripts(path)


@pytest.mark.parametrize("field", sorted(MAX_FIELD_CHARS))
def test_script_fields_longer_than_the_store_holds_are_errors(field: str, tmp_path: Path) -> None:
    # They passed lint, then the import failed on PostgreSQL (SQLite stores anything).
    limit = MAX_FIELD_CHARS[field]
    assert Script.__table__.c[field].type.length == limit  # type: ignore[attr-defined]
    good = ScriptRecord(
        id="a", title="标题", category="care", stage="retain", industry="general", body="您好"
    )
    path = tmp_path / "lib.yaml"
    write_scripts([replace(good, **{field: "长" * limit})], path)
    assert load_scripts(path)
    write_scripts([replace(good, **{field: "长" * (limit + 1)})], path)
    with pytest.raises(InputError) as info:
        load_scripts(path)
    named = HEADER_LABELS[field]
    assert f"{named}：{named}有 {limit + 1} 个字符；上限是 {limit}" in str(info.value)


@pytest.mark.parametrize("reader", [read_scripts, parse_taxonomy, load_rules])
@pytest.mark.parametrize("nesting", ["[" * 100_000, "{a: " * 100_000, "- " * 100_000 + "x"])
def test_deeply_nested_yaml_is_refused_quickly(
    reader: Callable[[Path], object], nesting: str, tmp_path: Path
) -> None:
    # libyaml's composer overflowed the C stack here and killed the whole process;
    # PyYAML's raised RecursionError (and its scanner is quadratic in the depth).
    # Newer PyYAML releases refuse some of these themselves, in their own words: assert the
    # behaviour (a one-line error naming the file, the process alive), not the wording.
    path = tmp_path / "deep.yaml"
    path.write_text(nesting, encoding="utf-8")
    with pytest.raises(InputError) as info:
        reader(path)
    message = str(info.value)
    assert message.startswith("deep.yaml") or str(path) in message
    assert "\n" not in message


@pytest.mark.parametrize("reader", [read_scripts, parse_taxonomy, load_rules])
@pytest.mark.parametrize(
    "nest", [lambda n: "[" * n + "]" * n, lambda n: "".join("  " * i + "-\n" for i in range(n))]
)
def test_yaml_nested_past_our_limit_is_refused_by_us(
    reader: Callable[[Path], object], nest: Callable[[int], str], tmp_path: Path
) -> None:
    # Past MAX_YAML_DEPTH but well inside what any YAML parser accepts: our own check.
    path = tmp_path / "deep.yaml"
    path.write_text(nest(MAX_YAML_DEPTH + 1), encoding="utf-8")
    with pytest.raises(InputError, match=f"嵌套超过 {MAX_YAML_DEPTH} 层"):
        reader(path)
    path.write_text(nest(MAX_YAML_DEPTH - 2), encoding="utf-8")
    try:
        reader(path)
    except InputError as exc:  # refused for its content, never for its depth
        assert "levels deep" not in str(exc)


# --- knowledge files ----------------------------------------------------------------------------

DOCUMENT = st.lists(
    st.one_of(
        CELL,
        MULTILINE,
        st.builds(lambda level, title: "#" * level + " " + title, st.integers(1, 3), WORD),
        st.just(""),
    ),
    max_size=8,
).map("\n".join)


def _no_space(value: str) -> str:
    return "".join(value.split())


@pytest.mark.parametrize("suffix", [".md", ".txt"])
@FAST
@given(content=DOCUMENT, encoding=ENCODING)
def test_documents_read_the_same_in_every_encoding(
    suffix: str, content: str, encoding: str
) -> None:
    with scratch() as folder:
        (folder / "a").mkdir()
        (folder / "b").mkdir()  # the same name: a section without heading is titled by it
        reference = load_document(write_encoded(folder / "a" / f"doc{suffix}", content, "utf-8"))
        doc = load_document(write_encoded(folder / "b" / f"doc{suffix}", content, encoding))
        assert doc.sections == reference.sections
        if suffix == ".txt":  # one section holding all the text
            assert _no_space("".join(s.text for s in doc.sections)) == _no_space(content)
        chunks = chunk_document(doc, max_chars=60, overlap=15)
        assert all(0 < len(c.text) <= 60 for c in chunks)
        assert {c.section for c in chunks} == {s.title for s in doc.sections if s.text.strip()}


QA = st.lists(st.tuples(WORD, st.one_of(WORD, MULTILINE)), max_size=5)


@FAST
@given(
    pairs=QA, encoding=ENCODING, header=st.sampled_from([("question", "answer"), ("问题", "答案")])
)
def test_qa_tables_read_the_same_in_every_encoding(
    pairs: list[tuple[str, str]], encoding: str, header: tuple[str, str]
) -> None:
    rows = [list(header), *[[q, a] for q, a in pairs]]
    expected = [Section(title=q, text=f"问：{q}\n答：{a}") for q, a in pairs]
    with scratch() as folder:
        path = write_encoded(folder / "qa.csv", csv_text(rows), encoding)
        assert load_document(path).sections == expected
        assert load_document(write_xlsx(folder / "qa.xlsx", rows)).sections == expected


# --- taxonomy and follow-up rules (YAML) --------------------------------------------------------

_NAME = WORD.filter(lambda t: len(t) <= 40)
TAXONOMY = st.lists(
    st.builds(
        CategorySpec,
        name=_NAME,
        industry=st.sampled_from(["insurance", "kaoyan", "general"]),
        description=CELL,
        tags=st.lists(
            st.builds(
                TagSpec,
                name=_NAME,
                description=CELL,
                keywords=st.lists(WORD, max_size=3).map(tuple),
            ),
            min_size=1,
            max_size=3,
            unique_by=lambda t: t.name,
        ).map(tuple),
    ),
    min_size=1,
    max_size=3,
    unique_by=lambda c: (c.name, c.industry),
)


class _QuotedDumper(yaml.SafeDumper):
    """Every string double-quoted: the one YAML style that keeps any text exactly."""


_QuotedDumper.add_representer(
    str, lambda d, s: d.represent_scalar("tag:yaml.org,2002:str", s, style='"')
)


def _taxonomy_yaml(categories: list[CategorySpec]) -> str:
    data = {
        "version": 1,
        "categories": [
            {
                "name": c.name,
                "industry": c.industry,
                "description": c.description,
                "tags": [
                    {"name": t.name, "description": t.description, "keywords": list(t.keywords)}
                    for t in c.tags
                ],
            }
            for c in categories
        ],
    }
    return yaml.dump(data, Dumper=_QuotedDumper, allow_unicode=True, sort_keys=False)


@FAST
@given(categories=TAXONOMY, encoding=ENCODING)
def test_taxonomy_reads_the_same_in_every_encoding(
    categories: list[CategorySpec], encoding: str
) -> None:
    with scratch() as folder:
        path = write_encoded(folder / "tags.yaml", _taxonomy_yaml(categories), encoding)
        assert parse_taxonomy(path) == categories


RULES = st.lists(
    st.builds(
        Rule,
        id=_NAME,
        anchor=st.one_of(st.sampled_from(["birthday", "added"]), WORD.map(lambda t: f"event:{t}")),
        offset_days=st.integers(-MAX_OFFSET_DAYS, MAX_OFFSET_DAYS),
        match=st.dictionaries(
            st.sampled_from(MATCH_FIELDS), st.one_of(WORD, st.lists(WORD, max_size=2)), max_size=2
        ),
        event_payload=st.dictionaries(WORD, WORD, max_size=2),
        action=st.sampled_from(ACTIONS),
        script=st.none() | WORD,
        note=CELL,
    ),
    min_size=1,
    max_size=3,
    unique_by=lambda r: r.id,
)


def _rules_yaml(rules: list[Rule]) -> str:
    data = {
        "rules": [
            {
                "id": r.id,
                "anchor": r.anchor,
                "offset_days": r.offset_days,
                "match": dict(r.match),
                "event_payload": dict(r.event_payload),
                "action": r.action,
                "script": r.script,
                "note": r.note,
            }
            for r in rules
        ]
    }
    return yaml.dump(data, Dumper=_QuotedDumper, allow_unicode=True, sort_keys=False)


@FAST
@given(rules=RULES, encoding=ENCODING)
def test_follow_up_rules_read_the_same_in_every_encoding(rules: list[Rule], encoding: str) -> None:
    with scratch() as folder:
        path = write_encoded(folder / "rules.yaml", _rules_yaml(rules), encoding)
        assert load_rules(path) == rules


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        ("{id: a, anchor: added, offset_days: 99999999999}", "offset_days 需在"),
        ("{id: a, anchor: added, match: {tags: [[x]]}}", "tags 应为一个值或一组值"),
        ("{id: a, anchor: added, match: {city: {a: b}}}", "city 应为一个值或一组值"),
    ],
)
def test_rules_that_would_crash_a_run_are_refused(rule: str, problem: str, tmp_path: Path) -> None:
    # Both loaded before, then broke `followups run` (OverflowError, TypeError).
    path = tmp_path / "rules.yaml"
    path.write_text(f"rules:\n  - {rule}\n", encoding="utf-8")
    with pytest.raises(InputError) as info:
        load_rules(path)
    assert problem in str(info.value)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (f"version: 1\ncategories:\n  - name: {'长' * 101}\n    tags: [{{name: a}}]\n",
         "第 3 行：categories[1]：name 超过 100 个字符"),
        (f"version: 1\ncategories:\n  - {{name: a, industry: {'x' * 51}, tags: [{{name: a}}]}}\n",
         "第 3 行：categories[1]：industry 超过 50 个字符"),
        (f"version: 1\ncategories:\n  - name: a\n    tags: [{{name: {'长' * 101}}}]\n",
         "第 4 行：categories[1].tags[1]：name 超过 100 个字符"),
        (f"rules:\n  - {{id: {'长' * 101}, anchor: added}}\n",
         "第 2 行：规则 1（长长长"),
        (f"rules:\n  - {{id: {'长' * 101}, anchor: added}}\n",
         "）：id 超过 100 个字符"),
    ],
)  # fmt: skip
def test_names_longer_than_the_store_holds_are_refused(
    content: str, problem: str, tmp_path: Path
) -> None:
    # They were accepted, then the import failed on PostgreSQL (SQLite stores anything).
    assert (TagCategory.__table__.c.name.type.length, Tag.__table__.c.name.type.length) == (
        100,
        100,
    )  # type: ignore[attr-defined]
    assert TagCategory.__table__.c.industry.type.length == 50  # type: ignore[attr-defined]
    assert FollowUp.__table__.c.rule.type.length == 100  # type: ignore[attr-defined]
    path = tmp_path / "file.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError) as info:
        (load_rules if content.startswith("rules") else parse_taxonomy)(path)
    check_error(info.value, path)
    assert problem in str(info.value)


# --- customers ------------------------------------------------------------------------------------

_CUSTOMER_HEADER = ["name", "phone", "unionid", "city", "source", "birthday", "added_at"]
#: A cell that makes a whole customer file fail: (column, value, problem).
BAD_CUSTOMER_CELLS = {
    "short phone": ("phone", "123", "手机号 '123' 不是手机号码"),
    "letter in phone": ("phone", "1390000000x", "手机号 '1390000000x' 里有不是数字的字符：「x」"),
    "bad date": ("birthday", "1990-02-30", "生日 '1990-02-30' 不是日期"),
    "unborn": ("birthday", "2099-05-03", "生日 2099-05-03 还没到"),
    "year 1": ("added_at", "0001-01-01", "添加时间 '0001-01-01' 不是日期"),
    "added later": ("added_at", "2099-01-01", "添加时间 2099-01-01 在将来"),
    "long name": ("name", "名" * 101, "name 超过 100 个字符"),
    "long unionid": ("unionid", "u" * 201, "unionid 超过 200 个字符"),
    "long source": ("source", "x" * 51, "source 超过 50 个字符"),
}


@st.composite
def customers(draw: st.DrawFn) -> list[list[str]]:
    count = draw(st.integers(1, 4))
    # Not the seeded customers' 1380000000N.
    phones = draw(st.lists(st.integers(13_900_000_000, 19_999_999_999), min_size=count,
                           max_size=count, unique=True))  # fmt: skip
    unionids = draw(st.lists(WORD, min_size=count, max_size=count, unique=True))
    rows = []
    for phone, unionid in zip(phones, unionids, strict=True):
        spelled = [str(phone), f"+86 {phone}", f"{str(phone)[:3]}-{str(phone)[3:]}"]
        rows.append(
            [
                draw(_NAME),
                draw(st.sampled_from(spelled)),
                unionid,
                draw(CELL.filter(lambda t: len(t) <= 50)),
                draw(CELL.filter(lambda t: len(t) <= 50)),
                draw(st.dates(date(1930, 1, 1), date(2020, 12, 31))).isoformat(),  # plausible
                draw(st.datetimes(datetime(2000, 1, 1), datetime(2026, 1, 1))).isoformat(" "),
            ]
        )
    return [_CUSTOMER_HEADER, *rows]


@pytest.mark.parametrize("encoding", [*ENCODINGS, "xlsx"])
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(rows=customers(), bad=st.none() | st.sampled_from(sorted(BAD_CUSTOMER_CELLS)))
def test_customer_files_read_and_import_the_same_in_every_encoding(
    db: Database, encoding: str, rows: list[list[str]], bad: str | None
) -> None:
    with db.session() as s:  # the phones may repeat across examples: start clean
        s.execute(text("DELETE FROM events"))
        s.execute(text("DELETE FROM audit_log"))
        s.execute(text("DELETE FROM identities WHERE customer_id > 3"))
        s.execute(text("DELETE FROM customers WHERE id > 3"))
    if bad is not None:  # one bad line: nothing at all is imported
        column, value, problem = BAD_CUSTOMER_CELLS[bad]
        wrong = list(rows[1])
        wrong[_CUSTOMER_HEADER.index(column)] = value
        if column != "phone":
            wrong[1] = "13999999999"
        rows = [*rows, wrong]
    with scratch() as folder:
        if encoding == "xlsx":
            path = write_xlsx(folder / "c.xlsx", rows)
        else:
            path = write_encoded(folder / "c.csv", csv_text(rows), encoding)
        if bad is not None:
            before = dump(db)
            with pytest.raises(InputError) as info:
                _import_customers(db, path)
            check_error(info.value, path)
            assert f"第 {len(rows)} 行：{problem}" in str(info.value)
            assert dump(db) == before
            return
        parsed = read_customer_file(path)
        assert [r.line for r in parsed] == list(range(2, len(rows) + 1))
        for row, cells in zip(parsed, rows[1:], strict=True):
            name, phone, unionid, city, source, birthday, added_at = cells
            assert row.fields == {
                k: v
                for k, v in {
                    "name": name,
                    "city": city,
                    "source": source,
                    "birthday": date.fromisoformat(birthday),
                }.items()
                if v
            }
            assert dict(row.identities) == {"phone": "".join(re.findall(r"\d", phone))[-11:],
                                            "unionid": unionid}  # fmt: skip
            local = datetime.fromisoformat(added_at) - timedelta(hours=8)  # Asia/Shanghai
            assert row.added_at == local.replace(tzinfo=UTC)
        stats = _import_customers(db, path)
        assert getattr(stats, "created", None) == len(rows) - 1
        with db.session() as s:
            stored = [c.name for c in s.scalars(select(Customer).where(Customer.id > 3))]
        assert sorted(stored) == sorted(r[0] for r in rows[1:])


@pytest.mark.parametrize(
    ("cells", "problem"),
    [
        # "²".isdigit() is true, but int("²") raised ValueError out of the importer.
        ("²,,", "customer_id '²' 不是数字"),
        # Larger than any id: SQLite raised OverflowError on the lookup.
        ("99999999999999999999999,,", "customer_id '99999999999999999999999' 不是数字"),
        # Local midnight of 0001-01-01 is before year 1 in UTC: OverflowError.
        (",13800000009,0001-01-01", "添加时间 '0001-01-01' 不是日期"),
        (f",13800000009,,{'长' * 101}", "name 超过 100 个字符"),
    ],
)
def test_bad_customer_cells_are_line_errors(
    db: Database, cells: str, problem: str, tmp_path: Path
) -> None:
    path = tmp_path / "c.csv"
    path.write_text(f"customer_id,phone,added_at,name\n{cells}\n", encoding="utf-8")
    before = dump(db)
    with pytest.raises(InputError) as info:
        _import_customers(db, path)
    assert f"第 2 行：{problem}" in str(info.value)
    assert dump(db) == before


def test_an_unknown_column_after_a_short_first_row_is_still_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("phone,colour\n13800000009\n13800000008,red\n", encoding="utf-8")
    with pytest.raises(InputError, match="未知的列"):
        read_customer_file(path)


# --- orders ------------------------------------------------------------------------------------


@st.composite
def orders(draw: st.DrawFn) -> list[list[str]]:
    rows = [["客户", "金额", "时间", "订单号", "商品"]]
    for _ in range(draw(st.integers(1, 4))):
        customer = draw(st.sampled_from(["1", "2", "3", "13800000001", "13800000002"]))
        amount = draw(st.decimals(0, 100_000, places=2, allow_nan=False))
        when = draw(st.datetimes(datetime(2000, 1, 1), datetime(2030, 1, 1)))
        rows.append(
            [
                customer,
                draw(st.sampled_from([f"{amount}", f"¥{amount}", f"{amount:,}"])),
                when.isoformat(),
                draw(WORD.filter(lambda t: len(t) <= 100)),
                draw(CELL.filter(lambda t: len(t) <= 200)),
            ]
        )
    return rows


def _customer_of(cell: str) -> int:
    """The customer an orders row names: its id, or the seeded phone 1380000000N."""
    return int(cell) if len(cell) == 1 else int(cell[-1])


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16", "gb18030", "xlsx"])
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(rows=orders(), bad=st.none() | st.sampled_from(["nan", "inf", "-1", "1e999", "abc"]))
def test_orders_import_all_or_nothing(
    db: Database, encoding: str, rows: list[list[str]], bad: str | None
) -> None:
    with db.session() as s:  # order ids are skipped when already stored: start clean
        s.execute(text("DELETE FROM events"))
        s.execute(text("DELETE FROM transactions"))
    if bad is not None:
        rows = [*rows, ["1", bad, "2026-01-01", "bad-order", ""]]
    with scratch() as folder:
        if encoding == "xlsx":
            path = write_xlsx(folder / "o.xlsx", rows)
        else:
            path = write_encoded(folder / "o.csv", csv_text(rows), encoding)
        before = dump(db)
        if bad is not None:
            # nan / inf were stored; -1 failed half-way with a message naming no file
            with pytest.raises(InputError) as info:
                _import_orders(db, path)
            check_error(info.value, path)
            assert f"第 {len(rows)} 行：金额 {bad!r}" in str(info.value)
            assert dump(db) == before
            return
        owners: dict[str, int] = {}
        for row in rows[1:]:
            owners.setdefault(row[3], _customer_of(row[0]))
        if any(owners[row[3]] != _customer_of(row[0]) for row in rows[1:]):
            # one order id on two customers: refused, nothing written
            with pytest.raises(InputError) as info:
                _import_orders(db, path)
            check_error(info.value, path)
            assert "已记在客户" in str(info.value)
            assert dump(db) == before
            return
        stats = _import_orders(db, path)
    unique: dict[str, list[str]] = {}
    for row in rows[1:]:
        unique.setdefault(row[3], row)  # a repeated order id of the customer is skipped
    assert (getattr(stats, "added", None), getattr(stats, "skipped", None)) == (
        len(unique),
        len(rows) - 1 - len(unique),
    )
    with db.session() as s:
        stored = {t.external_id: t for t in s.scalars(select(Transaction))}
    assert sorted(stored) == sorted(unique)
    for order_id, (customer, amount, when, _, product) in unique.items():
        tx = stored[order_id]
        assert tx.customer_id == _customer_of(customer)
        assert tx.amount == pytest.approx(float(amount.replace("¥", "").replace(",", "")))
        assert tx.product == product
        local = datetime.fromisoformat(when) - timedelta(hours=8)
        assert tx.occurred_at.replace(tzinfo=None) == local.replace(tzinfo=None)
