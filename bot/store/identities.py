"""OneID: customers and their identities written in bulk (the CSV/XLSX importer)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.domain import UNASSIGNED_ADVISER
from bot.errors import InputError
from bot.store import campaigns as campaigns_repo
from bot.store import fields as fields_repo
from bot.store import referrals as referrals_repo
from bot.store.advisers import adviser_names
from bot.store.customers import ensure_adviser
from bot.store.fields import Parsed
from bot.store.models import (
    AuditLog,
    CampaignCode,
    Customer,
    CustomerTag,
    Event,
    Identity,
    Tag,
    TagCategory,
)
from bot.store.records import aware
from knowledge.rows import Problem, refuse
from knowledge.text import echo

#: The rule an import line's entry code breaks when it is another adviser's.
OWN_CODES_ONLY = "只能归到客户自己顾问的渠道码"
#: A line whose customer id is another person's: another name, and another value of an
#: identity kind the line gives (the customer is not named: the importer may not see them).
FOREIGN_ID = (
    "客户编号 {customer_id} 的姓名和手机号等身份都与这一行不同，像是另一位客户；"
    "从别的系统导出的表请先删掉 customer_id（客户编号）和 referred_by 两列，按身份匹配"
)


@dataclass(frozen=True, slots=True)
class CustomerRow:
    """One validated line of an import file."""

    line: int
    customer_id: int | None = None
    #: Profile fields to set (only non-empty cells): name, adviser_id, industry, stage …
    fields: dict[str, str | date] = field(default_factory=dict)
    identities: tuple[tuple[str, str], ...] = ()
    tags: tuple[str, ...] = ()
    added_at: datetime | None = None
    #: Declared profile fields' values.
    field_values: Mapping[str, Parsed] = field(default_factory=dict)
    #: The referrer: a customer id or any identity value (possibly of another line).
    referred_by: str | None = None
    #: The campaign entry code the contact came by.
    campaign_code: str | None = None
    #: A line the reading refused (its problems are the reading's): only its tags are
    #: checked against the taxonomy, so that one run reports every problem of the line.
    refused: bool = False


@dataclass(frozen=True, slots=True)
class ImportStats:
    created: int
    #: Lines of customers already stored that changed something (a profile field, an
    #: identity, a tag, a profile field value, the referrer or the entry code) …
    updated: int
    identities_added: int
    tags_added: int
    #: Profile field values written (a value the customer already holds is not).
    fields_set: int = 0
    referrals: int = 0
    attributed: int = 0
    #: … and those that changed nothing (a file imported again).
    unchanged: int = 0
    #: Things the importer should know (an industry nothing else uses …).
    warnings: tuple[str, ...] = ()


def import_customers(
    *,
    session: Session,
    rows: Sequence[CustomerRow],
    actor: str,
    source_name: str,
    problems: Sequence[Problem] = (),
) -> ImportStats:
    """Create or update customers with their identities and tags; all or nothing.

    A row is matched to a customer by ``customer_id`` or else by any of its identities.
    Every problem is collected and raised at the end as one ``InputError``, in line
    order, together with the ``problems`` the file's reading found in its other lines (so
    one run reports them all); the caller's transaction then writes nothing. A customer
    this file would create is named by its line, never by an id that will not exist.
    """
    found: list[Problem] = list(problems)

    def problem(line: int, message: str) -> None:
        found.append(Problem(line, "", message))

    created = idents = tags_added = 0
    tag_ids = _tag_index(session)
    imported: list[tuple[CustomerRow, int]] = []
    new_lines: dict[int, int] = {}  # customer created by this file -> its line
    matched: list[int] = []  # lines of customers stored before this file
    changed: set[int] = set()  # … of those, the lines that changed something
    for row in rows:
        if row.refused:
            given = row.fields.get("industry")
            industry = given if isinstance(given, str) else None
            for name in row.tags:
                # the customer is not known: a tag of several industries is checked only
                # against the line's own industry
                if name not in tag_ids or industry is not None:
                    _tag_of(tag_ids, name, industry, partial(problem, row.line))
            continue
        owners: dict[int, list[str]] = {}
        for kind, value in row.identities:
            owner = session.scalar(
                select(Identity.customer_id).where(Identity.kind == kind, Identity.value == value)
            )
            if owner is not None:
                owners.setdefault(owner, []).append(f"{kind} {value}")
        customer: Customer | None = None
        if row.customer_id is not None:
            customer = session.get(Customer, row.customer_id)
            if customer is None:
                problem(row.line, f"客户 {row.customer_id} 不存在")
                continue
            if _another_person(session, customer, row):
                problem(row.line, FOREIGN_ID.format(customer_id=row.customer_id))
                continue
            others = {k: v for k, v in owners.items() if k != row.customer_id}
            if others:
                cid, what = next(iter(others.items()))
                problem(
                    row.line,
                    f"{what[0]} 已属于客户 {cid}；"
                    f"请先合并（siyu customers merge {row.customer_id} {cid}）",
                )
                continue
        elif len(owners) > 1:
            (a, wa), (b, wb) = list(owners.items())[:2]
            problem(
                row.line,
                f"{wa[0]} 属于客户 {a}，而 {wb[0]} 属于客户 {b}；"
                f"请先合并（siyu customers merge {a} {b}）",
            )
            continue
        elif owners:
            customer = session.get_one(Customer, next(iter(owners)))
        if customer is not None and customer.merged_into_id is not None:
            problem(row.line, f"客户 {customer.id} 已合并到客户 {customer.merged_into_id}")
            continue
        adviser = row.fields.get("adviser_id")
        if isinstance(adviser, str):
            ensure_adviser(session=session, adviser_id=adviser)
        if customer is None:
            customer = Customer(**row.fields)
            if row.added_at is not None:
                customer.created_at = row.added_at
            session.add(customer)
            session.flush()
            event = Event(customer_id=customer.id, type="contact_added", payload={"via": "import"})
            if row.added_at is not None:
                event.occurred_at = row.added_at
            session.add(event)
            created += 1
            new_lines[customer.id] = row.line
        else:
            matched.append(row.line)
            for attr, field_value in row.fields.items():
                if getattr(customer, attr) != field_value:
                    setattr(customer, attr, field_value)
                    changed.add(row.line)
        for kind, value in row.identities:
            if customer.id not in owners or f"{kind} {value}" not in owners[customer.id]:
                session.add(Identity(customer_id=customer.id, kind=kind, value=value))
                idents += 1
                changed.add(row.line)
        for name in row.tags:
            tag_id = _tag_of(tag_ids, name, customer.industry, partial(problem, row.line))
            if tag_id is None:
                continue
            existing = session.scalar(
                select(CustomerTag).where(
                    CustomerTag.customer_id == customer.id, CustomerTag.tag_id == tag_id
                )
            )
            if existing is None:
                session.add(
                    CustomerTag(
                        customer_id=customer.id,
                        tag_id=tag_id,
                        source="manual",
                        status="confirmed",
                        evidence=f"导入 {source_name} 第 {row.line} 行",
                        reviewer=actor,
                    )
                )
                tags_added += 1
                changed.add(row.line)
        session.flush()
        imported.append((row, customer.id))
    # Second pass: a referrer may be on a later line of the file.
    growth = _import_growth(
        session, imported, actor=actor, source_name=source_name, new_lines=new_lines
    )
    found += growth.problems
    if found:
        refuse(source_name, found)
    updated = sum(line in changed or line in growth.changed for line in matched)
    unchanged = len(matched) - updated
    session.add(
        AuditLog(
            actor=actor,
            action="customers.import",
            target_type="file",
            target_id=source_name[:64],
            detail={
                "created": created,
                "updated": updated,
                "unchanged": unchanged,
                "identities": idents,
            },
        )
    )
    session.flush()
    return ImportStats(
        created,
        updated,
        idents,
        tags_added,
        fields_set=growth.fields_set,
        referrals=growth.referrals,
        attributed=growth.attributed,
        unchanged=unchanged,
    )


@dataclass
class _Growth:
    problems: list[Problem] = field(default_factory=list)
    fields_set: int = 0
    referrals: int = 0
    attributed: int = 0
    #: The lines that wrote something.
    changed: set[int] = field(default_factory=set)


def _import_growth(
    session: Session,
    imported: Sequence[tuple[CustomerRow, int]],
    *,
    actor: str,
    source_name: str,
    new_lines: Mapping[int, int],
) -> _Growth:
    """Profile field values, entry codes and referrers of the imported rows
    (``new_lines``: the customers the file creates, by line)."""
    out = _Growth()

    def who(customer_id: int) -> str:
        line = new_lines.get(customer_id)
        return f"第 {line} 行的客户" if line else f"客户 {customer_id}"

    for row, customer_id in imported:
        evidence = f"导入 {source_name} 第 {row.line} 行"
        held = (
            {v.field: v for v in fields_repo.field_values(session=session, customer_id=customer_id)}
            if row.field_values
            else {}
        )
        for name, parsed in row.field_values.items():
            had = held.get(name)
            if had is not None and (had.value, had.number, had.day) == (
                parsed.value,
                parsed.number,
                parsed.day,
            ):
                continue  # the value the customer holds: kept with where it came from
            fields_repo.set_value(
                session=session,
                customer_id=customer_id,
                field=name,
                parsed=parsed,
                source="import",
                evidence=evidence,
                actor=actor,
            )
            out.fields_set += 1
            out.changed.add(row.line)
        if row.campaign_code:
            code = campaigns_repo.find_code(session=session, code=row.campaign_code)
            customer = session.get_one(Customer, customer_id)
            if code is None:
                out.problems.append(Problem(row.line, "", f"未知的渠道码 {row.campaign_code}"))
            elif customer.entry_code_id == code.id:
                pass  # credited already (a file exported and read back): nothing changes
            elif not campaigns_repo.own_code(code, customer.adviser_id):
                out.problems.append(
                    Problem(row.line, "", _not_own_code(session, code, customer.adviser_id))
                )
            else:
                campaigns_repo.attribute(
                    session=session,
                    customer_id=customer_id,
                    code_id=code.id,
                    method="import",
                    evidence=evidence,
                    actor=actor,
                )
                out.attributed += 1
                out.changed.add(row.line)
        if row.referred_by:
            referrer = _customer_by_ref(session, row.referred_by)
            if referrer is None:
                out.problems.append(Problem(row.line, "", f"找不到介绍人 {row.referred_by}"))
                continue
            chain = referrals_repo.ancestors(session=session, customer_id=referrer)
            if customer_id in {p.id for p in chain}:
                out.problems.append(
                    Problem(
                        row.line,
                        "",
                        f"介绍人 {row.referred_by}：{who(customer_id)}已是{who(referrer)}的"
                        "上级介绍人，不能形成循环",
                    )
                )
                continue
            if session.get_one(Customer, customer_id).referred_by_id == referrer:
                continue
            try:
                referrals_repo.set_referrer(
                    session=session,
                    customer_id=customer_id,
                    referrer_id=referrer,
                    method="import",
                    evidence=evidence,
                    actor=actor,
                )
            except InputError as exc:
                out.problems.append(Problem(row.line, "", f"介绍人 {row.referred_by}：{exc}"))
                continue
            out.referrals += 1
            out.changed.add(row.line)
    return out


def _not_own_code(session: Session, code: campaigns_repo.CodeRecord, adviser_id: str | None) -> str:
    """Why an import line may not credit its customer to ``code``: it is another
    adviser's than the customer's own (``adviser_id``: the line's, else the stored
    customer's), both named as colleagues know them."""
    if adviser_id is None or adviser_id == UNASSIGNED_ADVISER:
        whose = "这位客户还没有顾问（请填顾问列 adviser_id）"
    else:
        name = adviser_names(session=session, adviser_ids=(adviser_id,)).get(adviser_id)
        whose = f"这位客户的顾问是 {echo(name or adviser_id)}"
    return f"渠道码 {code.code} 属于顾问 {echo(code.adviser_name)}，{whose}：{OWN_CODES_ONLY}"


def _customer_by_ref(session: Session, ref: str) -> int | None:
    """A visible customer by id, or by any identity value (a phone as written)."""
    ref = ref.strip()
    if ref.isascii() and ref.isdigit() and len(ref) <= 10:
        found = session.get(Customer, int(ref))
        if found is not None and found.merged_into_id is None:
            return found.id
    digits = "".join(ch for ch in ref if ch.isdigit())
    for value in dict.fromkeys([ref, digits[-11:] if len(digits) >= 11 else ref]):
        owner = session.scalar(select(Identity.customer_id).where(Identity.value == value).limit(1))
        if owner is not None:
            return int(owner)
    return None


def _tag_of(
    tag_ids: Mapping[str, Mapping[str, int]],
    name: str,
    industry: str | None,
    problem: Callable[[str], None],
) -> int | None:
    """The tag ``name`` of a customer of ``industry`` (``_tag_index``), or None after
    saying why there is none: an unknown tag, or one of several industries."""
    candidates = tag_ids.get(name, {})
    tag_id = candidates.get(industry or "") or (
        next(iter(candidates.values())) if len(candidates) == 1 else None
    )
    if tag_id is None:
        problem(
            f"未知的标签 {name!r}"
            if not candidates
            else f"标签 {name!r} 在多个行业里都有"
            f"（{'、'.join(sorted(candidates))}）；请填写客户的行业"
        )
    return tag_id


def _tag_index(session: Session) -> dict[str, dict[str, int]]:
    """Active tag -> {industry: tag id}, the tag named alone (``重疾险``) and after its
    category (``险种兴趣/重疾险``, as the product shows it)."""
    index: dict[str, dict[str, int]] = {}
    stmt = (
        select(Tag.name, TagCategory.name, TagCategory.industry, Tag.id)
        .join(TagCategory, TagCategory.id == Tag.category_id)
        .where(Tag.active.is_(True))
    )
    for name, category, industry, tag_id in session.execute(stmt):
        index.setdefault(name, {})[industry] = tag_id
        index.setdefault(f"{category}/{name}", {})[industry] = tag_id
    return index


@dataclass(frozen=True, slots=True)
class TableRow:
    """One customer as a line of the import format (``siyu customers export-table``)."""

    customer_id: int
    profile: dict[str, str]
    identities: tuple[tuple[str, str], ...]
    tags: tuple[str, ...]
    fields: dict[str, str]
    referred_by: int | None
    campaign_code: str | None


def customer_table(
    *,
    session: Session,
    adviser_ids: tuple[str, ...] | None,
    customer_ids: Sequence[int] | None = None,
    timezone: str = "UTC",
) -> list[TableRow]:
    """Visible customers (of ``adviser_ids``; only ``customer_ids`` when given) with their
    identities, confirmed tags, profile field values, referrer and entry code; the time
    each was added in ``timezone`` (with its offset, so it reads back exactly)."""
    stmt = select(Customer).where(Customer.merged_into_id.is_(None)).order_by(Customer.id)
    if adviser_ids is not None:
        stmt = stmt.where(Customer.adviser_id.in_(adviser_ids))
    if customer_ids is not None:
        stmt = stmt.where(Customer.id.in_(list(customer_ids)))
    customers = list(session.scalars(stmt))
    ids = [c.id for c in customers]
    idents: dict[int, list[tuple[str, str]]] = {}
    tags: dict[int, list[str]] = {}
    codes = {cid: code for cid, code in session.execute(select(CampaignCode.id, CampaignCode.code))}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for cid, kind, value in session.execute(
            select(Identity.customer_id, Identity.kind, Identity.value)
            .where(Identity.customer_id.in_(chunk))
            .order_by(Identity.id)
        ):
            idents.setdefault(cid, []).append((kind, value))
        for cid, name in session.execute(
            select(CustomerTag.customer_id, Tag.name)
            .join(Tag, Tag.id == CustomerTag.tag_id)
            .where(CustomerTag.customer_id.in_(chunk), CustomerTag.status == "confirmed")
            .order_by(CustomerTag.id)
        ):
            tags.setdefault(cid, []).append(name)
    values = fields_repo.values_of(session=session, customer_ids=ids)
    out = []
    for c in customers:
        profile = {
            "name": c.name,
            "adviser_id": c.adviser_id or "",
            "industry": c.industry or "",
            "stage": c.stage,
            "product": c.product or "",
            "city": c.city or "",
            "source": c.source or "",
            "birthday": c.birthday.isoformat() if c.birthday else "",
            "added_at": aware(c.created_at)
            .astimezone(ZoneInfo(timezone))
            .isoformat(timespec="seconds"),
        }
        out.append(
            TableRow(
                customer_id=c.id,
                profile=profile,
                identities=tuple(idents.get(c.id, ())),
                tags=tuple(tags.get(c.id, ())),
                fields={k: v.value for k, v in values.get(c.id, {}).items()},
                referred_by=c.referred_by_id,
                campaign_code=codes.get(c.entry_code_id) if c.entry_code_id else None,
            )
        )
    return out


def _another_person(session: Session, customer: Customer, row: CustomerRow) -> bool:
    """Whether ``row`` (which names ``customer`` by id) is someone else: another name, and
    for a kind of identity the line gives, the customer holds another value and not the
    line's (a table exported from another store numbers its own customers). A customer
    without that kind of identity yet, or a new name alone, is an update."""
    name = row.fields.get("name")
    if not isinstance(name, str) or not customer.name or name == customer.name:
        return False
    held: dict[str, set[str]] = {}
    for kind, value in session.execute(
        select(Identity.kind, Identity.value).where(Identity.customer_id == customer.id)
    ):
        held.setdefault(kind, set()).add(value)
    given = [(kind, value) for kind, value in row.identities if kind in held]
    return bool(given) and all(value not in held[kind] for kind, value in given)
