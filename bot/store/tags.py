"""Tag taxonomy and customer tags (suggested -> confirmed / rejected)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.errors import NotFoundError, one_of
from bot.store.models import Customer, CustomerTag, Tag, TagCategory
from bot.store.records import CustomerTagRecord, TagRecord, aware
from bot.vocab import REVIEW_STATUSES, TagSource


@dataclass(frozen=True, slots=True)
class TagSpec:
    name: str
    description: str = ""
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CategorySpec:
    name: str
    industry: str
    description: str = ""
    tags: tuple[TagSpec, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class TaxonomyStats:
    categories: int
    added: int
    updated: int
    deactivated: int
    #: Things the importer should know (an industry no script, document or customer uses).
    warnings: tuple[str, ...] = ()


def replace_taxonomy(*, session: Session, categories: Sequence[CategorySpec]) -> TaxonomyStats:
    """Make the active taxonomy equal to ``categories``.

    Tags are matched by (category, industry, name). Tags no longer listed are
    deactivated, not deleted, so the customer tags that use them keep their history.
    """
    added = updated = 0
    seen: set[int] = set()
    for spec in categories:
        cat = session.scalar(
            select(TagCategory).where(
                TagCategory.name == spec.name, TagCategory.industry == spec.industry
            )
        )
        if cat is None:
            cat = TagCategory(name=spec.name, industry=spec.industry)
            session.add(cat)
        cat.description = spec.description
        session.flush()
        for tspec in spec.tags:
            tag = session.scalar(
                select(Tag).where(Tag.category_id == cat.id, Tag.name == tspec.name)
            )
            if tag is None:
                tag = Tag(category_id=cat.id, name=tspec.name)
                session.add(tag)
                added += 1
            else:
                updated += 1
            tag.description = tspec.description
            tag.keywords = list(tspec.keywords)
            tag.active = True
            session.flush()
            seen.add(tag.id)
    deactivated = 0
    for tag in session.scalars(select(Tag).where(Tag.active.is_(True))):
        if tag.id not in seen:
            tag.active = False
            deactivated += 1
    session.flush()
    return TaxonomyStats(
        categories=len(categories), added=added, updated=updated, deactivated=deactivated
    )


def list_tags(*, session: Session, industry: str | None = None) -> list[TagRecord]:
    """Active tags; with ``industry``, that industry's tags plus the general ones."""
    stmt = select(Tag).join(TagCategory).where(Tag.active.is_(True)).order_by(Tag.id)
    if industry is not None:
        stmt = stmt.where(TagCategory.industry.in_([industry, "general"]))
    return [tag_record(t) for t in session.scalars(stmt)]


def suggest_customer_tag(
    *,
    session: Session,
    customer_id: int,
    tag_id: int,
    evidence: str,
    score: float,
    message_id: int | None,
    source: TagSource = "model",
) -> bool:
    """Record a suggested tag. A tag already confirmed or rejected is left as the reviewer
    decided. Returns True if a new suggestion was created."""
    row = session.scalar(
        select(CustomerTag).where(
            CustomerTag.customer_id == customer_id, CustomerTag.tag_id == tag_id
        )
    )
    if row is not None:
        if row.status == "suggested" and score > row.score:
            row.evidence, row.score, row.evidence_message_id = evidence, score, message_id
            session.flush()
        return False
    session.add(
        CustomerTag(
            customer_id=customer_id,
            tag_id=tag_id,
            source=source,
            status="suggested",
            evidence=evidence,
            evidence_message_id=message_id,
            score=score,
        )
    )
    session.flush()
    return True


def review_customer_tag(
    *, session: Session, customer_tag_id: int, status: str, reviewer: str
) -> CustomerTagRecord:
    decided = one_of(REVIEW_STATUSES, status, "status")  # callers pass user input
    row = session.get(CustomerTag, customer_tag_id)
    if row is None:
        raise NotFoundError(f"customer tag {customer_tag_id} not found")
    row.status, row.reviewer, row.reviewed_at = decided, reviewer, datetime.now(UTC)
    session.flush()
    customer = session.get_one(Customer, row.customer_id)
    return customer_tag_record(row, customer.name)


def list_customer_tags(
    *,
    session: Session,
    status: str | None = None,
    customer_id: int | None = None,
    adviser_id: str | None = None,
    adviser_ids: tuple[str, ...] | None = None,
    limit: int = 200,
) -> list[CustomerTagRecord]:
    stmt = (
        select(CustomerTag, Customer.name)
        .join(Customer, Customer.id == CustomerTag.customer_id)
        .order_by(CustomerTag.id)
        .limit(limit)
    )
    if status is not None:
        stmt = stmt.where(CustomerTag.status == status)
    if customer_id is not None:
        stmt = stmt.where(CustomerTag.customer_id == customer_id)
    if adviser_id is not None:
        stmt = stmt.where(Customer.adviser_id == adviser_id)
    if adviser_ids is not None:
        stmt = stmt.where(Customer.adviser_id.in_(adviser_ids))
    return [customer_tag_record(row, name) for row, name in session.execute(stmt)]


def tag_record(tag: Tag) -> TagRecord:
    return TagRecord(
        id=tag.id,
        name=tag.name,
        category=tag.category.name,
        industry=tag.category.industry,
        description=tag.description,
        keywords=tuple(tag.keywords or ()),
    )


def customer_tag_record(row: CustomerTag, customer_name: str) -> CustomerTagRecord:
    return CustomerTagRecord(
        id=row.id,
        customer_id=row.customer_id,
        customer_name=customer_name,
        tag=tag_record(row.tag),
        source=row.source,
        status=row.status,
        evidence=row.evidence,
        score=row.score,
        reviewer=row.reviewer,
        created_at=aware(row.created_at),
    )
