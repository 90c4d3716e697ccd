"""OneID: one customer, many identities. Import from CSV/XLSX, merge, undo, and merge
suggestions on strong identifiers.

Strong identifiers (the same phone number, the same WeChat unionid) identify a person;
a shared name does not, so it never produces a suggestion, let alone a merge. Merges
are always made by a person (``siyu customers merge``) and can be undone.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from sqlalchemy import String
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import KeyedColumnElement

from bot.crm.dates import parse_birthday, parse_datetime
from bot.crm.fields import parse_value
from bot.errors import InputError
from bot.labels import identity_label
from bot.store import fields as fields_repo
from bot.store import identities as identities_repo
from bot.store import merges as merges_repo
from bot.store.fields import FieldSpec, Parsed
from bot.store.identities import CustomerRow, ImportStats, TableRow
from bot.store.models import Customer, Identity
from bot.store.records import MergeRecord
from knowledge import files
from knowledge.files import read_table
from knowledge.rows import Problem, problems_of, stripped_text
from knowledge.text import echo
from scripts_lib import canonical_industry, stage_code

#: Identity kinds an import file may carry, as columns. ``id:KIND`` columns add any other
#: kind (e.g. ``id:memory_contact``). Channel contacts are ``<channel>_contact``.
IDENTITY_COLUMNS: dict[str, str] = {
    "wechaty_contact": "微信联系人 ID",
    "wecom_external_userid": "WeCom external_userid",
    "unionid": "WeChat unionid",
    "phone": "手机号",
    "member_id": "会员号",
    "crm_id": "CRM 编号",
}
#: Kinds that identify one person: two profiles sharing one are suggested for merging.
STRONG_KINDS: tuple[str, ...] = ("phone", "unionid")
PROFILE_COLUMNS = ("name", "adviser_id", "industry", "stage", "product", "city", "source")
OTHER_COLUMNS = ("customer_id", "birthday", "tags", "added_at")
#: Growth columns: the referrer (a customer id or any identity value, of a customer in the
#: store or on another line of the file) and the campaign entry code the contact came by.
GROWTH_COLUMNS = ("referred_by", "campaign_code")
#: Other names of the columns (after lower-casing, spaces as ``_``): the English
#: shorthands and the Chinese headers a CRM or a spreadsheet uses.
_ALIASES = {
    "id": "customer_id",
    "adviser": "adviser_id",
    "mobile": "phone",
    "wechat": "wechaty_contact",
    "wecom": "wecom_external_userid",
    "external_userid": "wecom_external_userid",
    "客户编号": "customer_id",
    "客户id": "customer_id",
    "编号": "customer_id",
    "姓名": "name",
    "客户姓名": "name",
    "名字": "name",
    "称呼": "name",
    "客户称呼": "name",
    "手机号": "phone",
    "手机": "phone",
    "手机号码": "phone",
    "电话": "phone",
    "生日": "birthday",
    "出生日期": "birthday",
    "顾问": "adviser_id",
    "顾问id": "adviser_id",
    "顾问编号": "adviser_id",
    "负责顾问": "adviser_id",
    "行业": "industry",
    "阶段": "stage",
    "客户阶段": "stage",
    "产品": "product",
    "意向产品": "product",
    "关注产品": "product",
    "城市": "city",
    "所在城市": "city",
    "来源": "source",
    "渠道": "source",
    "获客渠道": "source",
    "添加时间": "added_at",
    "添加日期": "added_at",
    "加入时间": "added_at",
    "标签": "tags",
    "微信号": "wechaty_contact",
    "微信id": "wechaty_contact",
    "企业微信": "wecom_external_userid",
    "企微id": "wecom_external_userid",
    "会员号": "member_id",
    "会员编号": "member_id",
    "会员id": "member_id",
    "crm编号": "crm_id",
    "介绍人": "referred_by",
    "推荐人": "referred_by",
    "渠道码": "campaign_code",
    "entry_code": "campaign_code",
}
#: Every column name (and alias) an import file gives a meaning: a profile field may not
#: be called one of these.
IMPORT_COLUMN_NAMES: tuple[str, ...] = (
    *PROFILE_COLUMNS,
    *OTHER_COLUMNS,
    *GROWTH_COLUMNS,
    *IDENTITY_COLUMNS,
    *_ALIASES,
)
_DIGITS = re.compile(r"\d+")


def _max_chars(column: KeyedColumnElement[Any]) -> int:
    kind = column.type
    assert isinstance(kind, String) and kind.length is not None
    return kind.length


#: Largest customer id (a 32-bit INTEGER column on PostgreSQL).
MAX_CUSTOMER_ID = 2**31 - 1
#: Longest value of each profile column and of an identity's kind and value: the
#: database's limits (PostgreSQL refuses longer text; SQLite would store it).
_MAX_CHARS: dict[str, int] = {
    name: _max_chars(Customer.__table__.c[name]) for name in PROFILE_COLUMNS
} | {name: _max_chars(Identity.__table__.c[name]) for name in ("kind", "value")}


def normalize_identity(kind: str, value: str) -> str:
    """Phones lose separators and the +86 / 0086 prefix; other values are stripped."""
    value = value.strip()
    if kind != "phone":
        return value
    digits = "".join(_DIGITS.findall(value.translate(_FULLWIDTH)))
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            digits = digits[len(prefix) :]
    return digits


_FULLWIDTH = str.maketrans("０１２３４５６７８９＋", "0123456789+")


# --------------------------------------------------------------------------- import
def _customer_id(text: object) -> object:
    value = parse_customer_id(text) if isinstance(text, str) else None
    if value is None:
        raise ValueError(f"customer_id {text!r} 不是数字")
    return value


def _birthday(text: object) -> object:
    return parse_birthday(str(text), date.today())


#: What a phone number is written with besides digits (+86, separators, brackets).
_PHONE_MARKS = frozenset(" +-()（）.－—\u3000")


def _phone(text: object) -> object:
    stray = sorted({c for c in str(text).translate(_FULLWIDTH) if not c.isdigit()} - _PHONE_MARKS)
    if stray:  # 「1390000000x」 would be stored as the 10 digits left
        shown = "、".join(f"「{c}」" for c in stray[:3])
        raise ValueError(f"手机号 {echo(str(text))!r} 里有不是数字的字符：{shown}")
    value = normalize_identity("phone", str(text))
    if len(value) > _MAX_CHARS["value"]:
        raise ValueError(f"手机号超过 {_MAX_CHARS['value']} 个字符")
    if not 5 <= len(value) <= 20:
        raise ValueError(f"手机号 {text!r} 不是手机号码")
    return value


def _tags(text: object) -> object:
    """``有孩子;险种兴趣/重疾险``: tag names, each alone or after its category and ``/``
    (as the product shows them), separated by ``;`` or ``；``."""
    return tag_names(text) if isinstance(text, str) else text


def tag_names(text: str) -> tuple[str, ...]:
    """The tags of a ``tags`` cell, as the store names them."""
    tags = (re.sub(r"\s*[/／]\s*", "/", t.strip()) for t in re.split(r"[;；]", text))
    return tuple(t for t in tags if t)


def _stage(text: object) -> object:
    """A stage by its code or its Chinese name (引流 / 承接 / 转化 / 服务)."""
    return stage_code(text) if isinstance(text, str) else text


def _industry(text: object) -> object:
    """``all``, ``通用`` … are ``general``."""
    return canonical_industry(text) if isinstance(text, str) else text


Stage = Literal["acquire", "engage", "convert", "retain"]
IdentityValue = Annotated[
    str, BeforeValidator(stripped_text), StringConstraints(max_length=_MAX_CHARS["value"])
]


class CustomerFileRow(BaseModel):
    """One line of a customer import file, its empty cells left out. Unknown columns are
    refused for the whole file before any line is validated; ``id:KIND`` columns are the
    extra fields (``model_extra``)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    __pydantic_extra__: dict[str, IdentityValue] = Field(init=False)

    customer_id: Annotated[int, BeforeValidator(_customer_id)] | None = None
    name: Annotated[str, StringConstraints(max_length=_MAX_CHARS["name"])] | None = None
    adviser_id: Annotated[str, StringConstraints(max_length=_MAX_CHARS["adviser_id"])] | None = None
    industry: (
        Annotated[
            str, BeforeValidator(_industry), StringConstraints(max_length=_MAX_CHARS["industry"])
        ]
        | None
    ) = None
    stage: Annotated[Stage, BeforeValidator(_stage)] | None = None
    product: Annotated[str, StringConstraints(max_length=_MAX_CHARS["product"])] | None = None
    city: Annotated[str, StringConstraints(max_length=_MAX_CHARS["city"])] | None = None
    source: Annotated[str, StringConstraints(max_length=_MAX_CHARS["source"])] | None = None
    birthday: Annotated[date, BeforeValidator(_birthday)] | None = None
    #: Local time when naive (the import's time zone, in the validation context "tz").
    added_at: datetime | None = None
    tags: Annotated[tuple[str, ...], BeforeValidator(_tags)] = ()
    wechaty_contact: IdentityValue | None = None
    wecom_external_userid: IdentityValue | None = None
    unionid: IdentityValue | None = None
    phone: Annotated[str, BeforeValidator(_phone)] | None = None
    member_id: IdentityValue | None = None
    crm_id: IdentityValue | None = None

    @field_validator("added_at", mode="before")
    @classmethod
    def _local_time(cls, text: object, info: ValidationInfo) -> object:
        tz = (info.context or {}).get("tz", ZoneInfo("UTC"))
        try:
            added = parse_datetime(str(text), tz)
        except ValueError:
            raise ValueError(f"添加时间 {text!r} 不是日期或日期时间") from None
        if added > datetime.now(UTC) + timedelta(days=1):  # 2099: a customer added in 2098
            raise ValueError(f"添加时间 {text} 在将来")
        return added


def read_customer_file(
    path: Path,
    *,
    timezone: str = "Asia/Shanghai",
    profile_fields: Sequence[FieldSpec] = (),
) -> list[CustomerRow]:
    """Parse and validate an import file (one ``CustomerFileRow`` per line, the declared
    ``profile_fields`` as columns too); every problem is reported at once, with its
    line."""
    rows, problems = parse_customer_file(path, timezone=timezone, profile_fields=profile_fields)
    if problems:
        raise InputError(
            f"{path.name}：{len(problems)} 行有错，没有导入任何内容",
            [str(p) for p in problems],
        )
    return rows


def parse_customer_file(
    path: Path,
    *,
    timezone: str = "Asia/Shanghai",
    profile_fields: Sequence[FieldSpec] = (),
) -> tuple[list[CustomerRow], list[Problem]]:
    """``read_customer_file``'s rows, and the problems of the lines, for the import to
    check the rows against the store too and report everything in one run: a line with
    problems is a ``refused`` row holding only what the store checks of it (its tags,
    with its industry). A file it cannot read as a table at all is an ``InputError``."""
    declared = {f.name: f for f in profile_fields}
    aliases = _ALIASES | {
        f.name.lower(): f.name for f in profile_fields if f.name.lower() != f.name
    }
    rows = read_table(path, aliases=aliases)
    tz = ZoneInfo(timezone)
    problems: list[Problem] = []
    parsed: list[CustomerRow] = []
    seen: dict[tuple[str, str], int] = {}
    known = (
        set(PROFILE_COLUMNS)
        | set(OTHER_COLUMNS)
        | set(GROWTH_COLUMNS)
        | set(IDENTITY_COLUMNS)
        | set(declared)
    )
    columns = {c for _, cells in rows for c in cells}  # a short row lacks the last ones
    unknown = sorted(c for c in columns if c not in known and not c.startswith("id:") and c)
    if unknown:
        everything = [*OTHER_COLUMNS, *PROFILE_COLUMNS, *GROWTH_COLUMNS, *IDENTITY_COLUMNS]
        raise InputError(
            f"{path.name}：未知的列 {'、'.join(unknown)}；可用的列："
            f"{'、'.join([*map(_with_chinese_name, everything), *declared])}、id:类型"
        )
    bad_kinds = sorted(
        c for c in columns if c.startswith("id:") and not 0 < len(c) - 3 <= _MAX_CHARS["kind"]
    )
    if bad_kinds:
        raise InputError(
            f"{path.name}：列 {', '.join(map(repr, bad_kinds))}：id:类型 列的类型"
            f"需 1 到 {_MAX_CHARS['kind']} 个字符"
        )
    for line, cells in rows:
        given = {column: value for column, value in cells.items() if value}
        values: dict[str, Parsed] = {}
        for name in [c for c in given if c in declared]:
            text = given.pop(name)
            try:
                values[name] = parse_value(declared[name], text)
            except InputError as exc:
                problems.append(Problem(line, "", str(exc)))
        growth = {c: given.pop(c) for c in GROWTH_COLUMNS if c in given}
        if "campaign_code" in growth:
            growth["campaign_code"] = growth["campaign_code"].strip().upper().replace("-", "")
        row: CustomerFileRow | None = None
        failed: set[object] = set()
        try:
            row = CustomerFileRow.model_validate(given, context={"tz": tz})
        except ValidationError as exc:
            problems += problems_of(exc, line=line)
            failed = {error["loc"][0] for error in exc.errors() if error["loc"]}
        if "customer_id" not in given and not any(map(_is_identity, given)):
            problems.append(Problem(line, "", "需要 customer_id 或至少一个身份列的值"))
        identities: list[tuple[str, str]] = []
        for column, raw in given.items():  # in the file's column order
            if not _is_identity(column) or column in failed:
                continue
            kind = column.removeprefix("id:")
            value = normalize_identity(kind, raw)
            if (kind, value) in seen:
                also = f"{kind} {value} 在第 {seen[kind, value]} 行也出现了"
                problems.append(Problem(line, "", also))
                failed.add(column)
                continue
            seen[kind, value] = line
            identities.append((kind, value))
        if row is None or failed:
            # The line is refused, but its tags are still checked against the taxonomy
            # (the store's part of the import): one run names every problem of the line.
            industry = given.get("industry") if "industry" not in failed else None
            parsed.append(
                CustomerRow(
                    line=line,
                    fields={"industry": canonical_industry(industry)} if industry else {},
                    tags=tag_names(given.get("tags", "")),
                    refused=True,
                )
            )
            continue
        fields: dict[str, str | date] = {
            column: value
            for column in (*PROFILE_COLUMNS, "birthday")
            if (value := getattr(row, column)) is not None
        }
        parsed.append(
            CustomerRow(
                line=line,
                customer_id=row.customer_id,
                fields=fields,
                identities=tuple(identities),
                tags=row.tags,
                added_at=row.added_at,
                field_values=values,
                referred_by=growth.get("referred_by"),
                campaign_code=growth.get("campaign_code"),
            )
        )
    return parsed, problems


def _with_chinese_name(column: str) -> str:
    """``phone（手机号）``: a column with the first Chinese header read as it."""
    chinese = next((a for a, c in _ALIASES.items() if c == column and not a.isascii()), None)
    return f"{column}（{chinese}）" if chinese else column


def _is_identity(column: str) -> bool:
    return column in IDENTITY_COLUMNS or column.startswith("id:")


def import_customer_file(
    *, session: Session, path: Path, actor: str, timezone: str = "Asia/Shanghai"
) -> ImportStats:
    declared = fields_repo.list_fields(session=session)
    rows, problems = parse_customer_file(path, timezone=timezone, profile_fields=declared)
    return identities_repo.import_customers(
        session=session, rows=rows, actor=actor, source_name=path.name, problems=problems
    )


def parse_customer_id(text: str) -> int | None:
    """A customer id written as ASCII digits, or None. (``str.isdigit`` alone accepts
    ``²`` and other digits ``int`` refuses, and no id is past ``MAX_CUSTOMER_ID``.)"""
    text = text.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 10:
        return None
    value = int(text)
    return value if value <= MAX_CUSTOMER_ID else None


# --------------------------------------------------------------------------- merges
@dataclass(frozen=True, slots=True)
class MergeSuggestion:
    """Two visible profiles sharing a strong identifier."""

    keep_id: int
    merge_id: int
    keep_name: str
    merge_name: str
    evidence: tuple[str, ...]


def merge_suggestions(
    *,
    session: Session,
    kinds: tuple[str, ...] = STRONG_KINDS,
    adviser_ids: tuple[str, ...] | None = None,
) -> list[MergeSuggestion]:
    """Pairs of profiles sharing a phone number or unionid (after normalisation), among
    the customers of ``adviser_ids`` (a scope) when given.

    The older profile (smaller id) is proposed as the one to keep. Names are never
    evidence."""
    groups: dict[tuple[str, str], dict[int, str]] = {}
    for ident in merges_repo.strong_identities(
        session=session, kinds=kinds, adviser_ids=adviser_ids
    ):
        key = (ident.kind, normalize_identity(ident.kind, ident.value))
        groups.setdefault(key, {})[ident.customer_id] = ident.customer_name
    pairs: dict[tuple[int, int], list[str]] = {}
    names: dict[int, str] = {}
    for (kind, value), owners in groups.items():
        if len(owners) < 2:
            continue
        names.update(owners)
        ids = sorted(owners)
        for other in ids[1:]:
            pairs.setdefault((ids[0], other), []).append(f"{identity_label(kind)} {value}")
    return [
        MergeSuggestion(
            keep_id=a,
            merge_id=b,
            keep_name=names[a],
            merge_name=names[b],
            evidence=tuple(sorted(ev)),
        )
        for (a, b), ev in sorted(pairs.items())
    ]


def merge(*, session: Session, keep: int, merge: int, actor: str, reason: str = "") -> MergeRecord:
    return merges_repo.merge_customers(
        session=session, kept_id=keep, merged_id=merge, actor=actor, reason=reason
    )


def unmerge(*, session: Session, merge_id: int, actor: str) -> MergeRecord:
    return merges_repo.unmerge(session=session, merge_id=merge_id, actor=actor)


# --------------------------------------------------------------------------- export
def write_customer_file(path: Path, rows: Sequence[TableRow], *, fields: Sequence[str]) -> None:
    """Customers in the import format (CSV or XLSX by the suffix): what
    ``siyu customers import`` reads back (text cells formula-protected)."""
    kinds = sorted({kind for r in rows for kind, _ in r.identities})
    identity_columns = [k if k in IDENTITY_COLUMNS else f"id:{k}" for k in kinds]
    header = [
        "customer_id",
        *PROFILE_COLUMNS,
        "birthday",
        "added_at",
        "tags",
        *GROWTH_COLUMNS,
        *identity_columns,
        *fields,
    ]

    def line(r: TableRow) -> list[object]:
        ids: dict[str, list[str]] = {}
        for kind, value in r.identities:
            ids.setdefault(kind, []).append(value)
        return [
            r.customer_id,
            *(r.profile[c] for c in PROFILE_COLUMNS),
            r.profile["birthday"],
            r.profile["added_at"],
            ";".join(r.tags),
            r.referred_by or "",
            r.campaign_code or "",
            *(ids.get(k, [""])[0] for k in kinds),  # one value per kind fits a column
            *(r.fields.get(f, "") for f in fields),
        ]

    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        files.write_xlsx(path, header, (line(r) for r in rows), title="customers")
    elif suffix == ".csv":
        files.write_csv(path, header, (line(r) for r in rows))
    else:
        raise InputError(f"{path.name}：只能导出为 .csv 或 .xlsx")
