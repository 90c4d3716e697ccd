"""Tag taxonomy and customer tags (suggested -> confirmed / rejected)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from bot.errors import NotFoundError, one_of
from bot.store import changes
from bot.store.messages import external_msg_id
from bot.store.models import (
    Conversation,
    Customer,
    CustomerTag,
    Message,
    Tag,
    TagCategory,
    TagExample,
)
from bot.store.records import CustomerTagRecord, TagExampleRecord, TagRecord, aware
from bot.vocab import REVIEW_STATUSES, ExampleOrigin, TagSource
from scripts_lib.model import matching_industries


@dataclass(frozen=True, slots=True)
class TagSpec:
    name: str
    description: str = ""
    keywords: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()


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
    #: Tags listed as they already were.
    unchanged: int = 0
    #: Things the importer should know (an industry no script, document or customer uses).
    warnings: tuple[str, ...] = ()


def replace_taxonomy(*, session: Session, categories: Sequence[CategorySpec]) -> TaxonomyStats:
    """Make the active taxonomy equal to ``categories``.

    Tags are matched by (category, industry, name). Tags no longer listed are
    deactivated, not deleted, so the customer tags that use them keep their history.
    """
    added = updated = unchanged = 0
    described = False  # a category's description changed
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
        described |= cat.description != spec.description
        cat.description = spec.description
        session.flush()
        for tspec in spec.tags:
            tag = session.scalar(
                select(Tag).where(Tag.category_id == cat.id, Tag.name == tspec.name)
            )
            wanted = (tspec.description, list(tspec.keywords), list(tspec.examples), True)
            if tag is None:
                tag = Tag(category_id=cat.id, name=tspec.name)
                session.add(tag)
                added += 1
            elif (tag.description, list(tag.keywords), list(tag.examples), tag.active) == wanted:
                unchanged += 1
            else:
                updated += 1
            tag.description, tag.keywords, tag.examples, tag.active = wanted
            session.flush()
            seen.add(tag.id)
    deactivated = 0
    for tag in session.scalars(select(Tag).where(Tag.active.is_(True))):
        if tag.id not in seen:
            tag.active = False
            deactivated += 1
    session.flush()
    if added or updated or deactivated or described:
        changes.bump(session=session, topic="tags")
    return TaxonomyStats(
        categories=len(categories),
        added=added,
        updated=updated,
        deactivated=deactivated,
        unchanged=unchanged,
    )


def list_tags(*, session: Session, industry: str | None = None) -> list[TagRecord]:
    """Active tags; with ``industry``, that industry's tags plus the general ones."""
    stmt = select(Tag).join(TagCategory).where(Tag.active.is_(True)).order_by(Tag.id)
    if industry is not None:
        stmt = stmt.where(TagCategory.industry.in_(matching_industries(industry)))
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
        raise NotFoundError(f"客户标签 {customer_tag_id} 不存在")
    row.status, row.reviewer, row.reviewed_at = decided, reviewer, datetime.now(UTC)
    if row.evidence_message_id is not None:
        label_message(
            session=session,
            tag_id=row.tag_id,
            customer_id=row.customer_id,
            message_id=row.evidence_message_id,
            positive=decided == "confirmed",
            origin=decided,
            reviewer=reviewer,
        )
    session.flush()
    return _record(session, row)


def add_customer_tag(
    *,
    session: Session,
    customer_id: int,
    tag_id: int,
    message_id: int | None,
    evidence: str,
    reviewer: str,
) -> tuple[CustomerTagRecord, bool]:
    """A person says the customer has the tag (shown by ``message_id``, if given): the
    tag is confirmed (added, or a suggestion or rejection of it overturned) and the
    message becomes a positive example of it. Returns the tag and whether it was not
    confirmed before."""
    row = session.scalar(
        select(CustomerTag).where(
            CustomerTag.customer_id == customer_id, CustomerTag.tag_id == tag_id
        )
    )
    now = datetime.now(UTC)
    changed = row is None or row.status != "confirmed"
    if row is None:
        row = CustomerTag(
            customer_id=customer_id,
            tag_id=tag_id,
            source="manual",
            status="confirmed",
            evidence=evidence,
            evidence_message_id=message_id,
            score=1.0,
            reviewer=reviewer,
            reviewed_at=now,
        )
        session.add(row)
    elif changed:
        row.status, row.reviewer, row.reviewed_at = "confirmed", reviewer, now
        if message_id is not None:
            row.evidence, row.evidence_message_id = evidence, message_id
    session.flush()
    if message_id is not None:
        label_message(
            session=session,
            tag_id=tag_id,
            customer_id=customer_id,
            message_id=message_id,
            positive=True,
            origin="added",
            reviewer=reviewer,
        )
    return _record(session, row), changed


def label_message(
    *,
    session: Session,
    tag_id: int,
    customer_id: int,
    message_id: int,
    positive: bool,
    origin: ExampleOrigin,
    reviewer: str,
) -> None:
    """Record that the message shows the tag (``positive``) or not; the latest word of a
    person about a (tag, message) pair is kept."""
    row = session.scalar(
        select(TagExample).where(TagExample.tag_id == tag_id, TagExample.message_id == message_id)
    )
    if row is None:
        row = TagExample(tag_id=tag_id, message_id=message_id)
        session.add(row)
    row.customer_id, row.positive, row.origin = customer_id, positive, origin
    row.reviewer, row.created_at = reviewer, datetime.now(UTC)
    # What the tagger learns from changed: other processes reload it (bot/pipeline/changes.py).
    changes.bump(session=session, topic="tags")
    session.flush()


def list_tag_examples(*, session: Session) -> list[TagExampleRecord]:
    """Labelled messages of active tags, oldest first (messages whose text was erased are
    left out)."""
    stmt = (
        select(
            TagExample.id,
            TagExample.tag_id,
            TagExample.message_id,
            Message.text,
            TagExample.positive,
        )
        .join(Message, Message.id == TagExample.message_id)
        .join(Tag, Tag.id == TagExample.tag_id)
        .where(Tag.active.is_(True), Message.text != "")
        .order_by(TagExample.id)
    )
    return [
        TagExampleRecord(id=id_, tag_id=tag_id, message_id=msg, text=text, positive=positive)
        for id_, tag_id, msg, text, positive in session.execute(stmt)
    ]


def find_tags(*, session: Session, name: str, category: str | None = None) -> list[TagRecord]:
    """Active tags named ``name`` (in ``category``, if given)."""
    stmt = (
        select(Tag).join(TagCategory).where(Tag.active.is_(True), Tag.name == name).order_by(Tag.id)
    )
    if category is not None:
        stmt = stmt.where(TagCategory.name == category)
    return [tag_record(t) for t in session.scalars(stmt)]


@dataclass(frozen=True, slots=True)
class TagPrecision:
    """How the suggestions of one tag fared in review."""

    tag: TagRecord
    confirmed: int
    rejected: int
    waiting: int

    @property
    def reviewed(self) -> int:
        return self.confirmed + self.rejected

    @property
    def precision(self) -> float | None:
        """Confirmed / reviewed; None before any review."""
        return self.confirmed / self.reviewed if self.reviewed else None


def tag_precision(
    *, session: Session, adviser_ids: tuple[str, ...] | None = None
) -> list[TagPrecision]:
    """Per tag, the suggestions (not the tags people added) confirmed, rejected and still
    waiting, for the customers of ``adviser_ids`` (None: everyone's); most reviewed first."""

    def count(status: str) -> Any:
        return func.sum(case((CustomerTag.status == status, 1), else_=0))

    stmt = (
        select(CustomerTag.tag_id, count("confirmed"), count("rejected"), count("suggested"))
        .join(Customer, Customer.id == CustomerTag.customer_id)
        .where(CustomerTag.source != "manual")
        .group_by(CustomerTag.tag_id)
    )
    if adviser_ids is not None:
        stmt = stmt.where(Customer.adviser_id.in_(adviser_ids))
    counts = {
        tag_id: (int(c or 0), int(r or 0), int(w or 0)) for tag_id, c, r, w in session.execute(stmt)
    }
    tags = list(session.scalars(select(Tag).where(Tag.id.in_(counts)))) if counts else []
    rows = [TagPrecision(tag_record(t), *counts[t.id]) for t in tags]
    rows.sort(key=lambda r: (-r.reviewed, -r.waiting, r.tag.category, r.tag.name))
    return rows


def customer_tag_statuses(
    *, session: Session, ids: Sequence[int], adviser_ids: tuple[str, ...] | None = None
) -> dict[int, str]:
    """The status of each of ``ids`` (of customers of ``adviser_ids`` only, when given)."""
    stmt = (
        select(CustomerTag.id, CustomerTag.status)
        .join(Customer, Customer.id == CustomerTag.customer_id)
        .where(CustomerTag.id.in_(list(ids)))
    )
    if adviser_ids is not None:
        stmt = stmt.where(Customer.adviser_id.in_(adviser_ids))
    return {int(i): str(status) for i, status in session.execute(stmt)}


def list_customer_tags(
    *,
    session: Session,
    status: str | None = None,
    customer_id: int | None = None,
    adviser_id: str | None = None,
    adviser_ids: tuple[str, ...] | None = None,
    limit: int | None = 200,
) -> list[CustomerTagRecord]:
    """Customer tags, oldest first, with the message each came from; ``limit`` None: all."""
    stmt = (
        select(CustomerTag, Customer.name, Message.msg_id, Message.adviser_id, Conversation.channel)
        .join(Customer, Customer.id == CustomerTag.customer_id)
        .outerjoin(Message, Message.id == CustomerTag.evidence_message_id)
        .outerjoin(Conversation, Conversation.id == Message.conversation_id)
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
    return [
        customer_tag_record(
            row,
            name,
            source_msg_id=None
            if msg_id is None
            else external_msg_id(msg_id, channel=channel, adviser_id=msg_adviser),
        )
        for row, name, msg_id, msg_adviser, channel in session.execute(stmt)
    ]


def _record(session: Session, row: CustomerTag) -> CustomerTagRecord:
    customer = session.get_one(Customer, row.customer_id)
    source_msg_id = None
    if row.evidence_message_id is not None:
        message = session.get_one(Message, row.evidence_message_id)
        channel = session.get_one(Conversation, message.conversation_id).channel
        source_msg_id = external_msg_id(
            message.msg_id, channel=channel, adviser_id=message.adviser_id
        )
    return customer_tag_record(row, customer.name, source_msg_id=source_msg_id)


def tag_record(tag: Tag) -> TagRecord:
    return TagRecord(
        id=tag.id,
        name=tag.name,
        category=tag.category.name,
        industry=tag.category.industry,
        description=tag.description,
        keywords=tuple(tag.keywords or ()),
        examples=tuple(tag.examples or ()),
    )


def customer_tag_record(
    row: CustomerTag, customer_name: str, *, source_msg_id: str | None = None
) -> CustomerTagRecord:
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
        source_msg_id=source_msg_id,
    )
