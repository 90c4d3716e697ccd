"""OneID: customers and their identities written in bulk (the CSV/XLSX importer)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.errors import InputError
from bot.store.models import (
    Adviser,
    AuditLog,
    Customer,
    CustomerTag,
    Event,
    Identity,
    Tag,
    TagCategory,
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


@dataclass(frozen=True, slots=True)
class ImportStats:
    created: int
    updated: int
    identities_added: int
    tags_added: int
    #: Things the importer should know (an industry nothing else uses …).
    warnings: tuple[str, ...] = ()


def import_customers(
    *, session: Session, rows: Sequence[CustomerRow], actor: str, source_name: str
) -> ImportStats:
    """Create or update customers with their identities and tags; all or nothing.

    A row is matched to a customer by ``customer_id`` or else by any of its identities.
    Every problem is collected and raised at the end as one ``InputError`` (the caller's
    transaction then writes nothing).
    """
    problems: list[str] = []
    created = updated = idents = tags_added = 0
    tag_ids = _tag_index(session)
    for row in rows:
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
                problems.append(f"line {row.line}: customer {row.customer_id} does not exist")
                continue
            others = {k: v for k, v in owners.items() if k != row.customer_id}
            if others:
                cid, what = next(iter(others.items()))
                problems.append(
                    f"line {row.line}: {what[0]} already belongs to customer {cid};"
                    f" merge them first (siyu customers merge {row.customer_id} {cid})"
                )
                continue
        elif len(owners) > 1:
            (a, wa), (b, wb) = list(owners.items())[:2]
            problems.append(
                f"line {row.line}: {wa[0]} belongs to customer {a} but {wb[0]} to customer {b};"
                f" merge them first (siyu customers merge {a} {b})"
            )
            continue
        elif owners:
            customer = session.get_one(Customer, next(iter(owners)))
        if customer is not None and customer.merged_into_id is not None:
            problems.append(
                f"line {row.line}: customer {customer.id} was merged into"
                f" customer {customer.merged_into_id}"
            )
            continue
        adviser = row.fields.get("adviser_id")
        if isinstance(adviser, str) and session.get(Adviser, adviser) is None:
            session.add(Adviser(id=adviser, name=adviser))
            session.flush()
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
        else:
            for attr, field_value in row.fields.items():
                setattr(customer, attr, field_value)
            updated += 1
        for kind, value in row.identities:
            if customer.id not in owners or f"{kind} {value}" not in owners[customer.id]:
                session.add(Identity(customer_id=customer.id, kind=kind, value=value))
                idents += 1
        for name in row.tags:
            candidates = tag_ids.get(name, {})
            tag_id = candidates.get(customer.industry or "") or (
                next(iter(candidates.values())) if len(candidates) == 1 else None
            )
            if tag_id is None:
                problems.append(
                    f"line {row.line}: unknown tag {name!r}"
                    if not candidates
                    else f"line {row.line}: tag {name!r} exists in several industries"
                    f" ({', '.join(sorted(candidates))}); set the customer's industry"
                )
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
                        evidence=f"import {source_name}",
                        reviewer=actor,
                    )
                )
                tags_added += 1
        session.flush()
    if problems:
        raise InputError(f"{source_name}: {len(problems)} problem(s), nothing imported", problems)
    session.add(
        AuditLog(
            actor=actor,
            action="customers.import",
            target_type="file",
            target_id=source_name[:64],
            detail={"created": created, "updated": updated, "identities": idents},
        )
    )
    session.flush()
    return ImportStats(created, updated, idents, tags_added)


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
