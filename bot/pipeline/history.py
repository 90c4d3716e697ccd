"""Chat-history import: the archive a team already has (a WeCom 会话存档 export, a CRM's chat
log) logged into the same profiles, identities and tag suggestions as the live channel, and
learned from (uses of scripts, examples), without suggesting anything for past messages.

The file (JSONL, or CSV with the same columns; format in the README) is validated whole
first: every problem with its line, nothing imported on error. Then its messages are
logged in time order, a chunk per transaction, idempotent on ``msg_id``: a run that was
interrupted resumes where it stopped, and nothing is logged or learned twice. Each
customer message is embedded once (for its tags and, when an adviser answered it with a
script, as an example), by the worker processes of ``knowledge.parallel`` while the
chunks before it are being written.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import AfterValidator, BeforeValidator, StringConstraints, ValidationError
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.crm.dates import SHEET_TIME, sheet_time
from bot.domain import (
    MAX_MESSAGE_CHARS,
    TIME_EXAMPLE,
    UNASSIGNED_ADVISER,
    IncomingMessage,
    plausible_time,
)
from bot.errors import InputError
from bot.pipeline.assistant import Context, ensure_contact, store_tags
from bot.pipeline.replies import learn_from_reply
from bot.pipeline.runtime import Runtime
from bot.store import customers as customers_repo
from bot.store import messages as messages_repo
from bot.store.examples import ExampleRecord
from bot.store.messages import api_source_id
from bot.store.records import CustomerRecord, MessageRecord
from knowledge.errors import os_reason
from knowledge.files import decode_text, read_bytes, table_rows
from knowledge.rows import RowModel, problems_of, scalar_text, stripped_text
from knowledge.text import UNSTORABLE, clip

log = logging.getLogger(__name__)

#: The channel (and identity kind ``<channel>_contact``) of imported messages by default.
DEFAULT_CHANNEL = "history"
FIELDS = ("msg_id", "contact_id", "contact_name", "adviser_id", "industry", "direction")
COLUMNS = (*FIELDS, "text", "sent_at")
REQUIRED = ("msg_id", "contact_id", "direction", "text", "sent_at")
#: Messages written per transaction (a killed import loses at most one chunk's work).
CHUNK = 500
#: Customer messages of this run whose vectors are kept for the uses that answer them.
SAID_KEPT = 20_000
#: Files larger than this are refused before they are read (about a million messages).
MAX_FILE_BYTES = 512 * 1024 * 1024
#: Problems listed at most (the summary still counts them all).
MAX_PROBLEMS = 200

Progress = Callable[[int, int], None]


def _when(value: object) -> object:
    if isinstance(value, int | float):  # a JSON number would be read as seconds since 1970
        raise ValueError(f"sent_at 要写成时间文本（例如 {TIME_EXAMPLE}），不能是数字 {value}")
    if not isinstance(value, str):
        return value
    text = value.strip()
    sheet = SHEET_TIME.fullmatch(text)
    try:
        if sheet:
            return sheet_time(sheet)
        if text[-1:] in ("Z", "z"):  # UTC; RFC 3339 allows the lower case too
            text = text[:-1] + "+00:00"
        return datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"sent_at {value!r} 不是可识别的时间（例如 {TIME_EXAMPLE}）") from None


def _text(value: object) -> object:
    value = scalar_text(value)
    if isinstance(value, str) and UNSTORABLE.search(value):
        return UNSTORABLE.sub("\ufffd", value)
    return value


#: ``direction`` as a Chinese export may write it (发送 / 接收: as the adviser's account
#: saw the message).
DIRECTIONS = {
    "客户": "in",
    "收": "in",
    "收到": "in",
    "接收": "in",
    "顾问": "out",
    "发": "out",
    "发出": "out",
    "发送": "out",
}


def _direction(value: object) -> object:
    if not isinstance(value, str):
        return value
    value = value.strip()
    return DIRECTIONS.get(value, value.lower())


def _said(value: str) -> str:
    if not value.strip():
        raise ValueError("消息内容为空（图片、语音等请写成文字，如 [图片]）")
    return value


#: Ids as the store keeps them (``messages.msg_id``, ``identities.value``).
Id = Annotated[str, BeforeValidator(stripped_text), StringConstraints(min_length=1, max_length=200)]
#: Optional texts, as long as their columns (``customers.name``, ``advisers.id``,
#: ``customers.industry``).
Name = Annotated[str, BeforeValidator(stripped_text), StringConstraints(max_length=100)]
AdviserId = Annotated[str, BeforeValidator(stripped_text), StringConstraints(max_length=64)]
Industry = Annotated[str, BeforeValidator(stripped_text), StringConstraints(max_length=50)]


class HistoryRow(RowModel):
    """One message of the archive."""

    msg_id: Id
    contact_id: Id
    contact_name: Name = ""
    adviser_id: AdviserId = ""
    industry: Industry = ""
    direction: Annotated[Literal["in", "out"], BeforeValidator(_direction)]
    #: As long as ``POST /api/messages`` takes one (``MAX_MESSAGE_CHARS``).
    text: Annotated[
        str,
        BeforeValidator(_text),
        StringConstraints(max_length=MAX_MESSAGE_CHARS),
        AfterValidator(_said),
    ]
    #: Without an offset only until ``read_history`` applies the team's time zone.
    sent_at: Annotated[datetime, BeforeValidator(_when)]


@dataclass(frozen=True, slots=True)
class HistoryLine:
    line: int
    row: HistoryRow
    #: ``sent_at`` had no offset and is read in the team's time zone.
    zoned: bool = False
    #: The earlier line this one repeats as it is (0: none); not imported twice.
    repeat_of: int = 0


def repeat_warning(lines: Sequence[HistoryLine]) -> str | None:
    """The warning for lines that repeat an earlier one as it is (skipped)."""
    repeats = [h for h in lines if h.repeat_of]
    if not repeats:
        return None
    h = repeats[0]
    more = f"等 {len(repeats)} 行" if len(repeats) > 1 else ""
    return f"第 {h.line} 行{more}与前面的行完全相同（如第 {h.repeat_of} 行），只导入一次"


def naive_warning(lines: Sequence[HistoryLine], zone: tzinfo, *, dry_run: bool) -> str | None:
    """The warning for lines whose time had no offset (``None`` when every one had)."""
    count = sum(h.zoned for h in lines)
    if not count:
        return None
    done = "将按" if dry_run else "已按"
    return f"{count} 行的发送时间没有写时区，{done} {zone} 的时间导入（设置项 timezone）"


def shared_warning(shared: dict[str, tuple[str, ...]]) -> str | None:
    """The warning for contact ids found in the chats of several advisers."""
    if not shared:
        return None
    contact, advisers = next(iter(shared.items()))
    owner, *others = advisers
    return (
        f"{len(shared)} 个联系人 ID 出现在多位顾问的聊天里（如 {contact}："
        f"{'、'.join(advisers[:5])}）：每位顾问的聊天各导入为一位客户，"
        f"{contact} 归 {owner}，{'、'.join(others[:5])} 的聊天各成一位新客户"
        "（联系人 ID 前加上顾问 ID，与 API 提交的消息一样）；确是同一人的，导入后可用 "
        "siyu customers merge 合并"
    )


@dataclass
class HistoryReport:
    """What an import did (or, for a dry run, would do)."""

    lines: int = 0
    #: Messages logged by this run (a dry run: that would be).
    logged: int = 0
    #: Messages skipped: their ``msg_id`` was logged before (an earlier or interrupted run).
    skipped: int = 0
    #: Lines that repeat an earlier line of the file as it is (imported once).
    repeated: int = 0
    #: Messages not logged because they were erased with their customer before.
    erased: int = 0
    contacts: int = 0
    customer_messages: int = 0
    adviser_messages: int = 0
    #: Adviser messages recognised as scripts, and the examples they added.
    uses: int = 0
    examples: int = 0
    #: Tags newly suggested on the profiles (a customer's tag suggested again is not).
    tags: int = 0
    seconds: float = 0.0
    #: Industries of the file nothing else uses (a misspelt one matches no script).
    warnings: tuple[str, ...] = ()
    dry_run: bool = False
    advisers: set[str] = field(default_factory=set)
    #: Contact ids in the chats of several advisers: contact id -> its advisers, the one
    #: keeping the id first (the others' chats are imported as customers of their own).
    shared: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        """Messages logged per second over the run (those skipped do not count)."""
        return self.logged / self.seconds if self.seconds > 0 else 0.0


# ----------------------------------------------------------------------------- reading
#: File types read: JSON lines (or one JSON array), CSV / tab-separated text, XLSX.
SUFFIXES = (".jsonl", ".json", ".csv", ".tsv", ".txt", ".xlsx")


def read_history(path: Path, *, zone: tzinfo | None = None) -> list[HistoryLine]:
    """Every line of a history file, validated; all problems at once, with their line
    numbers, in one ``InputError`` (nothing is imported).

    A ``sent_at`` without an offset (a spreadsheet's date cell) is a time in ``zone``, the
    team's time zone; without ``zone`` it is a problem of its line. A line repeated as it
    is (same ``msg_id``, same content) is kept with ``repeat_of`` (the import skips it);
    the same ``msg_id`` with other content is a problem."""
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise InputError(
            f"{path.name}：不支持的文件类型 {suffix or '(无)'}，请用 .jsonl、.csv 或 .xlsx"
        )
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InputError(f"{path}：无法读取文件（{os_reason(exc)}）") from exc
    if size > MAX_FILE_BYTES:
        raise InputError(f"{path.name} 超过 {MAX_FILE_BYTES // (1024 * 1024)} MB，请拆分后导入")
    written: dict[str, str] = {}  # a column as the file's header names it (联系人ID)
    raw = _json(path) if suffix in (".jsonl", ".json") else _table(path, written)
    problems: list[str] = []
    lines: list[HistoryLine] = []
    first: dict[str, HistoryLine] = {}
    for line, data in raw:
        if isinstance(data, str):  # the reader's own problem with this line
            problems.append(f"第 {line} 行：{data}")
            continue
        try:
            row = HistoryRow.model_validate(data)
        except ValidationError as exc:
            problems += [f"第 {line} 行：{_chinese(p.message, written)}" for p in problems_of(exc)]
            continue
        written_at = row.sent_at.isoformat()
        zoned = row.sent_at.tzinfo is None or row.sent_at.utcoffset() is None
        if zoned:
            if zone is None:
                problems.append(
                    f"第 {line} 行：{_chinese('sent_at', written)} 缺少时区，例如 {TIME_EXAMPLE}"
                )
                continue
            row = row.model_copy(update={"sent_at": row.sent_at.replace(tzinfo=zone)})
        try:  # the API's rule: 2000 to tomorrow
            plausible_time(row.sent_at, "sent_at")
        except ValueError as exc:
            problems.append(f"第 {line} 行：{_chinese(str(exc), written)}，不是 {written_at}")
            continue
        earlier = first.get(row.msg_id)
        if earlier is not None and earlier.row != row:
            problems.append(
                f"第 {line} 行：{_chinese('msg_id', written)} {row.msg_id!r} "
                f"与第 {earlier.line} 行重复，内容却不同"
            )
            continue
        repeat_of = earlier.line if earlier is not None else 0
        lines.append(HistoryLine(line, row, zoned, repeat_of))
        first.setdefault(row.msg_id, lines[-1])
    if problems:
        shown = problems[:MAX_PROBLEMS]
        if len(problems) > MAX_PROBLEMS:
            shown.append(f"……另有 {len(problems) - MAX_PROBLEMS} 处问题")
        raise InputError(f"{path.name}：{len(problems)} 处问题，未导入任何消息", shown)
    if not lines:
        raise InputError(f"{path.name}：没有消息")
    return lines


def _json(path: Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """JSON lines, or a whole file holding one JSON array of messages (as many tools
    export ``.json``); each message with the line it starts on."""
    text = decode_text(read_bytes(path), name=path.name)
    if text.lstrip().startswith("["):
        yield from _json_array(text)
        return
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, f"不是合法的 JSON（{_json_problem(exc)}，第 {exc.colno} 列）"
            continue
        except RecursionError:  # the parser recurses once per level: [[[[… 100,000 deep
            yield number, TOO_DEEP
            continue
        if not isinstance(data, dict):
            yield number, "每行应是一个 JSON 对象 {...}"
            continue
        yield number, data


def _json_array(text: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    decoder = json.JSONDecoder()
    pos = text.index("[") + 1
    while True:
        while pos < len(text) and (text[pos].isspace() or text[pos] == ","):
            pos += 1
        line = text.count("\n", 0, pos) + 1
        if pos >= len(text):
            yield line, "JSON 数组没有以 ] 结束"
            return
        if text[pos] == "]":
            if text[pos + 1 :].strip():
                yield line, "JSON 数组的 ] 之后还有内容"
            return
        try:
            data, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            yield exc.lineno, f"不是合法的 JSON（{_json_problem(exc)}，第 {exc.colno} 列）"
            return
        except RecursionError:
            yield line, TOO_DEEP
            return
        if not isinstance(data, dict):
            yield line, "数组的每一项应是一个 JSON 对象 {...}"
            continue
        yield line, data


#: A JSON value nested deeper than the parser goes (Python's recursion limit, about a
#: thousand levels; a message is an object of texts, one level).
TOO_DEEP = "JSON 嵌套层数过多（一条消息应是一个只含文本的 JSON 对象）"

#: What the JSON parser says, in Chinese (the rest as it says it).
JSON_PROBLEMS = {
    "Expecting value": "缺少值",
    "Extra data": "一行里有多余的内容",
    "Expecting property name enclosed in double quotes": "键要用双引号",
    "Expecting ',' delimiter": "缺少逗号",
    "Expecting ':' delimiter": "缺少冒号",
    "Unterminated string starting at": "引号没有闭合",
    "Invalid control character at": "文本里有控制字符",
}


def _json_problem(exc: json.JSONDecodeError) -> str:
    return JSON_PROBLEMS.get(exc.msg, exc.msg)


#: Chinese column names a spreadsheet may use instead (as a CRM's export writes them).
HEADER_NAMES: dict[str, str] = {
    "消息id": "msg_id",
    "消息编号": "msg_id",
    "联系人id": "contact_id",
    "客户id": "contact_id",
    "联系人": "contact_name",
    "客户名称": "contact_name",
    "客户姓名": "contact_name",
    "顾问id": "adviser_id",
    "顾问": "adviser_id",
    "行业": "industry",
    "方向": "direction",
    "内容": "text",
    "消息内容": "text",
    "发送时间": "sent_at",
    "时间": "sent_at",
}


def _table(path: Path, written: dict[str, str]) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """The rows of a CSV or XLSX file as column -> cell; ``written`` gets each column as
    the header wrote it. Title lines above the header (a merged 「聊天记录导出」 cell) are
    passed over."""
    header: list[str] | None = None
    for line, cells in table_rows(path):
        cells = [c.strip() for c in cells]
        if not any(cells):
            continue
        if header is None:
            given = [c.lstrip("\ufeff").strip() for c in cells]
            header = [HEADER_NAMES.get(h.lower(), h.lower()) for h in given]
            unknown = [c for c in header if c and c not in COLUMNS]
            missing = [c for c in REQUIRED if c not in header]
            if missing and sum(1 for c in given if c) < len(REQUIRED):
                header = None  # a title above the table
                continue
            if unknown or missing:
                parts = []
                if missing:
                    parts.append(f"缺少列 {', '.join(missing)}")
                if unknown:
                    parts.append(f"未知列 {', '.join(unknown)}")
                raise InputError(
                    f"{path.name}：第 {line} 行表头{'；'.join(parts)}；表头应为 "
                    f"{','.join(COLUMNS)}（或中文：{'、'.join(HEADER_COLUMNS)}）"
                )
            written.update((h, g) for h, g in zip(header, given, strict=True) if h and h != g)
            continue
        extra = [c for i, c in enumerate(cells) if c and (i >= len(header) or not header[i])]
        if extra:
            yield line, f"有单元格不在任何列下（{extra[0][:20]!r}）；含逗号的单元格要加引号"
            continue
        yield line, {h: cells[i] for i, h in enumerate(header) if h and i < len(cells)}
    if header is None:
        raise InputError(f"{path.name}：文件是空的")


#: The Chinese header of each column, as the error about a wrong header lists them.
HEADER_COLUMNS = ("消息ID", "联系人ID", "联系人", "顾问", "行业", "方向", "内容", "发送时间")

_PROBLEMS: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"^(\w+) 只能是 'in' 或 'out'，不是 (.+)$"),
        r"\1 必须是 in 或 out（或 客户 / 顾问），而不是 \2",
    ),
)
_FIELD = re.compile(r"\b(" + "|".join(COLUMNS) + r")\b")


def _chinese(message: str, written: dict[str, str]) -> str:
    """A row model's problem in the user's language, its columns named as the file's
    header names them."""
    for pattern, replacement in _PROBLEMS:
        if pattern.match(message):
            message = pattern.sub(replacement, message)
            break
    return _FIELD.sub(lambda m: written.get(m.group(1), m.group(1)), message)


# ----------------------------------------------------------------------------- importing
def import_history(
    rt: Runtime,
    lines: Sequence[HistoryLine],
    *,
    channel: str = DEFAULT_CHANNEL,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> HistoryReport:
    """Log ``lines`` (validated by ``read_history``) in time order; see the module doc."""
    started = time.perf_counter()
    report = HistoryReport(lines=len(lines), dry_run=dry_run)
    with rt.db.session() as session:
        lines, report.shared = _split_shared_contacts(session, lines, channel)
    ordered = sorted((h for h in lines if not h.repeat_of), key=lambda h: (h.row.sent_at, h.line))
    with rt.db.session() as session:
        ids = [h.row.msg_id for h in ordered]
        done = messages_repo.logged_texts(session=session, msg_ids=ids)
        erased = messages_repo.erased_msg_ids(session=session, msg_ids=ids)
    _refuse_reused_ids(lines, done)
    todo = [h for h in ordered if h.row.msg_id not in done and h.row.msg_id not in erased]
    report.erased = len(erased)
    report.repeated = sum(1 for h in lines if h.repeat_of)
    report.skipped = len(ordered) - len(todo) - report.erased
    report.contacts = len({h.row.contact_id for h in lines})
    report.advisers = {h.row.adviser_id or UNASSIGNED_ADVISER for h in lines}
    if dry_run:
        report.logged = len(todo)
        report.customer_messages = sum(1 for h in todo if h.row.direction == "in")
        report.adviser_messages = len(todo) - report.customer_messages
        report.seconds = time.perf_counter() - started
        return report
    importer = _Importer(rt, channel, report, names=_latest_names(lines))
    importer.run(todo, progress)
    report.seconds = time.perf_counter() - started
    log.info(
        "history import: %d lines, %d logged, %d skipped, %d uses in %.1fs",
        report.lines,
        report.logged,
        report.skipped,
        report.uses,
        report.seconds,
    )
    return report


#: The longest contact id the store keeps (``identities.value``, ``conversations.external_id``).
MAX_CONTACT_ID = 200


def _split_shared_contacts(
    session: Session, lines: Sequence[HistoryLine], channel: str
) -> tuple[list[HistoryLine], dict[str, tuple[str, ...]]]:
    """``lines`` with each contact id that several advisers chat with kept by one of them,
    and the others' lines moved to contact ids of their own, namespaced by the adviser as
    ``POST /api/messages`` namespaces them (``api_source_id``): two advisers' chats never
    land in one customer and conversation. The id stays with the adviser of the customer
    that already holds it (an earlier import), else with the adviser of its earliest line.
    Lines without an adviser stay with the id. Returns the lines and, per contact id moved,
    its advisers (the keeper first); an ``InputError`` listing the lines whose namespaced
    id would be longer than the store keeps."""
    advisers: dict[str, list[str]] = {}
    for h in sorted(lines, key=lambda h: (h.row.sent_at, h.line)):
        adviser = h.row.adviser_id
        if adviser and adviser != UNASSIGNED_ADVISER:
            seen = advisers.setdefault(h.row.contact_id, [])
            if adviser not in seen:
                seen.append(adviser)
    stored = customers_repo.identity_owners(
        session=session, kind=f"{channel}_contact", values=advisers
    )
    keeper: dict[str, str] = {}
    for contact, named in advisers.items():
        owner = stored.get(contact)
        keeper[contact] = owner if owner and owner != UNASSIGNED_ADVISER else named[0]
    shared: dict[str, tuple[str, ...]] = {}
    out: list[HistoryLine] = []
    too_long: list[str] = []
    for h in lines:
        contact, adviser = h.row.contact_id, h.row.adviser_id
        if not adviser or adviser == UNASSIGNED_ADVISER or adviser == keeper[contact]:
            out.append(h)
            continue
        own = api_source_id(adviser, contact)
        if len(own) > MAX_CONTACT_ID:
            too_long.append(
                f"第 {h.line} 行：contact_id {clip(contact, 20)!r} 也出现在别的顾问的聊天里，"
                f"需要加上顾问前缀（{adviser}）区分，加上后超过 {MAX_CONTACT_ID} 个字符"
            )
            continue
        others = [a for a in advisers[contact] if a != keeper[contact]]
        shared.setdefault(contact, (keeper[contact], *others))
        out.append(replace(h, row=h.row.model_copy(update={"contact_id": own})))
    if too_long:
        raise InputError(
            f"{len(too_long)} 行的 contact_id 太长，未导入任何消息", too_long[:MAX_PROBLEMS]
        )
    return out, shared


def _latest_names(lines: Sequence[HistoryLine]) -> dict[str, str]:
    """Each contact id's name as its latest line (by ``sent_at``) that names it says: a
    contact renamed along the archive is created under their newest name."""
    names: dict[str, str] = {}
    for h in sorted(lines, key=lambda h: (h.row.sent_at, h.line)):
        if h.row.contact_name:
            names[h.row.contact_id] = h.row.contact_name
    return names


def _refuse_reused_ids(lines: Sequence[HistoryLine], logged: dict[str, str]) -> None:
    """An ``InputError`` listing the lines whose ``msg_id`` is logged with another text: two
    sources that number their messages alike (1001, 1002 …) would otherwise lose one of
    the two messages without a word."""
    reused = [
        f"第 {h.line} 行：msg_id {h.row.msg_id!r} 已有一条内容不同的消息"
        f"（「{clip(logged[h.row.msg_id], 20)}」）"
        for h in lines
        if logged.get(h.row.msg_id, "").strip()  # "": its text was erased (retention)
        and logged[h.row.msg_id].strip() != h.row.text.strip()
    ]
    if reused:
        raise InputError(
            f"{len(reused)} 条消息的 msg_id 已被别的消息用过，未导入任何消息；"
            "不同来源的记录请给 msg_id 加上来源前缀（如 crm-1001）",
            reused[:MAX_PROBLEMS],
        )


class _Vectors:
    """The customer messages' vectors, embedded ahead by the worker processes, in the
    order the import needs them."""

    def __init__(self, rt: Runtime, texts: list[str]) -> None:
        self._texts = texts
        self._stream = iter(rt.embedder.embed_stream(texts)) if texts else iter(())
        self._by_text: dict[str, np.ndarray] = {}
        self._next = 0

    def of(self, text: str) -> np.ndarray:
        while text not in self._by_text:
            batch = next(self._stream)
            for vector in batch:
                self._by_text[self._texts[self._next]] = vector
                self._next += 1
        return self._by_text[text]

    def release(self, texts: Sequence[str]) -> None:
        """Forget vectors no later message needs (keeps memory flat on big files)."""
        for text in texts:
            self._by_text.pop(text, None)


@dataclass(frozen=True, slots=True)
class _Said:
    """A customer message of this run, until the adviser answers it."""

    message_id: int
    text: str
    sent_at: datetime
    vector: np.ndarray


class _Importer:
    def __init__(
        self, rt: Runtime, channel: str, report: HistoryReport, *, names: dict[str, str]
    ) -> None:
        self.rt = rt
        self.channel = channel
        self.report = report
        #: Each contact id's latest name (``_latest_names``): the name a customer is
        #: created with, whichever of its lines is logged first.
        self.names = names
        self.settings = rt.settings
        #: Each contact's customer messages since the adviser's last message (this run).
        self.waiting: dict[str, list[_Said]] = defaultdict(list)
        #: (contact, adviser) -> the customer and conversation its first message logged.
        self.contacts: dict[tuple[str, str], tuple[CustomerRecord, int]] = {}
        #: The latest customer messages of this run, by message id: a use's examples
        #: reuse their vectors.
        self.said: OrderedDict[int, _Said] = OrderedDict()

    def run(self, todo: Sequence[HistoryLine], progress: Progress | None) -> None:
        texts = [_query(h.row.text) for h in todo if h.row.direction == "in"]
        texts = [t for t in texts if t]
        last_needed = {text: i for i, text in enumerate(texts)}
        vectors = _Vectors(self.rt, list(dict.fromkeys(texts)))
        total = len(todo)
        if progress is not None:
            progress(0, total)
        embedded = 0
        for start in range(0, total, CHUNK):
            chunk = [h.row for h in todo[start : start + CHUNK]]
            learned: list[tuple[ExampleRecord, np.ndarray | None]] = []
            with self.rt.db.session() as session:
                for row, logged, customer in self._log(session, chunk):
                    self._learn(session, row, logged, customer, vectors, learned)
            # Committed: the examples join the index (a crash here is repaired by the
            # next start's sync, which embeds what SQL has and the index lacks).
            if learned:
                examples = [e for e, _ in learned]
                self.rt.library.triggers.add(examples, self._vectors_of(learned))
            chunk_texts = [_query(r.text) for r in chunk if r.direction == "in"]
            chunk_texts = [t for t in chunk_texts if t]
            embedded += len(chunk_texts)
            vectors.release([t for t in chunk_texts if last_needed[t] < embedded])
            self.report.logged += len(chunk)
            if progress is not None:
                progress(start + len(chunk), total)

    def _log(
        self, session: Session, rows: Sequence[HistoryRow]
    ) -> list[tuple[HistoryRow, MessageRecord, CustomerRecord]]:
        """Log a chunk of messages in one statement (several times faster than one by
        one); each contact's customer and conversation are found or created once per run.
        Returns the rows this run logged, with their records, in order."""
        prepared: list[tuple[HistoryRow, IncomingMessage, CustomerRecord, int]] = []
        for row in rows:
            message = IncomingMessage(
                msg_id=row.msg_id,
                channel=self.channel,
                contact_id=row.contact_id,
                contact_name=self.names.get(row.contact_id, row.contact_name),
                text=row.text,
                adviser_id=row.adviser_id or UNASSIGNED_ADVISER,
                direction=row.direction,
                industry=row.industry or None,
                sent_at=row.sent_at,
            )
            key = (message.contact_id, message.adviser_id)
            if key not in self.contacts:
                self.contacts[key] = ensure_contact(session, message)
            customer, conversation_id = self.contacts[key]
            prepared.append((row, message, customer, conversation_id))
        try:
            logged = messages_repo.log_messages(
                session=session,
                messages=[
                    messages_repo.NewMessage(
                        msg_id=m.msg_id,
                        conversation_id=conversation_id,
                        customer_id=customer.id,
                        adviser_id=m.adviser_id,
                        direction=m.direction,
                        text=m.text,
                        sent_at=m.sent_at,
                    )
                    for _, m, customer, conversation_id in prepared
                ],
            )
        except IntegrityError:  # another process logged some of them meanwhile
            out = []
            for row, message, customer, conversation_id in prepared:
                record, created = messages_repo.log_message(
                    session=session,
                    msg_id=message.msg_id,
                    conversation_id=conversation_id,
                    customer_id=customer.id,
                    adviser_id=message.adviser_id,
                    direction=message.direction,
                    text=message.text,
                    sent_at=message.sent_at,
                    status="done",  # a past message: no suggestion
                )
                if created:
                    out.append((row, record, customer))
            return out
        return [(p[0], record, p[2]) for p, record in zip(prepared, logged, strict=True)]

    def _vectors_of(self, learned: list[tuple[ExampleRecord, np.ndarray | None]]) -> np.ndarray:
        """The examples' vectors: their message's, or embedded now (an example from an
        earlier run, or one whose text lost personal data to masking)."""
        missing = [i for i, (_, v) in enumerate(learned) if v is None]
        out = [v for _, v in learned]
        if missing:
            embedded = self.rt.embedder.embed([learned[i][0].text for i in missing])
            for i, vector in zip(missing, embedded, strict=True):
                out[i] = vector
        return np.stack([v for v in out if v is not None])

    def _learn(
        self,
        session: Session,
        row: HistoryRow,
        logged: MessageRecord,
        customer: CustomerRecord,
        vectors: _Vectors,
        learned: list[tuple[ExampleRecord, np.ndarray | None]],
    ) -> None:
        """A customer's message: its tags. An adviser's: a use of a script, if it is one."""
        waiting = self.waiting[row.contact_id]
        if row.direction == "in":
            self.report.customer_messages += 1
            text = _query(row.text)
            if not text:
                return
            vector = vectors.of(text)
            ctx = Context(
                industry=customer.industry or row.industry or self.rt.assistant.default_industry(),
                customer=customer,
                recent=self._context(waiting, row.sent_at),
            )
            tags = self.rt.assistant.tags_for(text, ctx, vector=vector)
            self.report.tags += store_tags(
                session, customer_id=customer.id, message_id=logged.id, tags=tags
            )
            said = _Said(logged.id, text, row.sent_at, vector)
            waiting.append(said)
            self.said[logged.id] = said
            while len(self.said) > SAID_KEPT:
                self.said.popitem(last=False)
            return
        self.report.adviser_messages += 1
        waiting.clear()  # answered: no longer context
        result = learn_from_reply(
            session=session,
            library=self.rt.library,
            settings=self.settings.learning,
            message_id=logged.id,
            text=row.text,
            sent_at=row.sent_at,
            customer_id=customer.id,
            adviser_id=logged.adviser_id,
        )
        if result is None:
            return
        self.report.uses += 1
        self.report.examples += len(result.examples)
        for example in result.examples:
            source = self.said.get(example.message_id or 0)
            same = source is not None and source.text == example.text
            learned.append((example, source.vector if same and source else None))

    def _context(self, waiting: list[_Said], at: datetime) -> tuple[tuple[int, str], ...]:
        """The context of a customer message: ``[context]`` over this run's messages."""
        settings = self.settings.context
        if settings.messages <= 0:
            return ()
        since = at - timedelta(minutes=settings.minutes)
        recent = [(s.message_id, s.text) for s in waiting if s.sent_at >= since]
        return tuple(recent[-settings.messages :])


def _query(text: str) -> str:
    """A customer message as it is tagged and embedded (the assistant's query)."""
    return text.strip()[:2000]
