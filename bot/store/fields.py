"""Profile fields: their declarations (the profile fields file), each customer's values,
and the values stated in messages waiting for a person to confirm them (with the
referrers named in greetings, field ``referred_by``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.errors import NotFoundError, one_of
from bot.store.models import Customer, CustomerFieldValue, ProfileField, ProfileSuggestion
from bot.store.records import aware
from bot.vocab import REVIEW_STATUSES, FieldSource, FieldType, TagStatus
from scripts_lib.model import matching_industries

#: The ``field`` of a suggested referrer (a name said in a greeting: 「张丽介绍的」).
REFERRER_FIELD = "referred_by"
NO_SUGGESTION = "资料建议不存在"


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One declared profile field (a row of the profile fields file)."""

    name: str
    type: FieldType
    industry: str = "general"
    unit: str = ""
    description: str = ""
    choices: tuple[str, ...] = ()
    choice_keywords: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    keywords: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FieldsStats:
    added: int
    #: Fields declared before whose declaration the file changes (or brings back) …
    updated: int
    deactivated: int
    #: … and those it declares as they are (a file imported again).
    unchanged: int = 0


@dataclass(frozen=True, slots=True)
class FieldValue:
    """A customer's value of one field, as stored."""

    field: str
    value: str
    number: float | None
    day: date | None
    source: FieldSource
    evidence: str
    set_by: str | None
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Parsed:
    """A value ready to store: its text, and its number or day for comparisons."""

    value: str
    number: float | None = None
    day: date | None = None


@dataclass(frozen=True, slots=True)
class ProfileSuggestionRecord:
    id: int
    customer_id: int
    customer_name: str
    field: str
    value: str
    evidence: str
    status: TagStatus
    reviewer: str | None
    created_at: datetime
    source_msg_id: int | None = None
    #: The value as shown: a referrer's name with their id.
    shown: str = ""


# --------------------------------------------------------------------------- declarations
def replace_fields(*, session: Session, specs: Sequence[FieldSpec]) -> FieldsStats:
    """Make the active fields equal to ``specs`` (matched by name); fields no longer
    listed are deactivated, so the values customers hold stay. A field the file declares
    as it is stored (its place in the file too) counts as unchanged."""
    added = updated = unchanged = 0
    seen: set[int] = set()
    for position, spec in enumerate(specs):
        row = session.scalar(select(ProfileField).where(ProfileField.name == spec.name))
        declared = {
            "type": spec.type,
            "industry": spec.industry,
            "unit": spec.unit,
            "description": spec.description,
            "choices": list(spec.choices),
            "choice_keywords": {k: list(v) for k, v in spec.choice_keywords.items()},
            "keywords": list(spec.keywords),
            "patterns": list(spec.patterns),
            "position": position,
            "active": True,
        }
        if row is None:
            row = ProfileField(name=spec.name)
            session.add(row)
            added += 1
        elif all(getattr(row, k) == v for k, v in declared.items()):
            unchanged += 1
            seen.add(row.id)
            continue
        else:
            updated += 1
        for attr, value in declared.items():
            setattr(row, attr, value)
        session.flush()
        seen.add(row.id)
    deactivated = 0
    for row in session.scalars(select(ProfileField).where(ProfileField.active.is_(True))):
        if row.id not in seen:
            row.active = False
            deactivated += 1
    session.flush()
    return FieldsStats(added=added, updated=updated, deactivated=deactivated, unchanged=unchanged)


def list_fields(*, session: Session, industry: str | None = None) -> list[FieldSpec]:
    """Active fields in file order; with ``industry``, that industry's and the general ones."""
    stmt = (
        select(ProfileField)
        .where(ProfileField.active.is_(True))
        .order_by(ProfileField.position, ProfileField.id)
    )
    if industry is not None:
        stmt = stmt.where(ProfileField.industry.in_(matching_industries(industry)))
    return [
        FieldSpec(
            name=r.name,
            type=r.type,
            industry=r.industry,
            unit=r.unit,
            description=r.description,
            choices=tuple(r.choices or ()),
            choice_keywords={k: tuple(v) for k, v in (r.choice_keywords or {}).items()},
            keywords=tuple(r.keywords or ()),
            patterns=tuple(r.patterns or ()),
        )
        for r in session.scalars(stmt)
    ]


# --------------------------------------------------------------------------- values
def field_values(*, session: Session, customer_id: int) -> list[FieldValue]:
    stmt = (
        select(CustomerFieldValue)
        .where(CustomerFieldValue.customer_id == customer_id)
        .order_by(CustomerFieldValue.id)
    )
    return [_value(r) for r in session.scalars(stmt)]


def set_value(
    *,
    session: Session,
    customer_id: int,
    field: str,
    parsed: Parsed | None,
    source: FieldSource,
    evidence: str = "",
    actor: str | None = None,
) -> FieldValue | None:
    """Set (``parsed`` None: clear) one field of the customer."""
    row = session.scalar(
        select(CustomerFieldValue).where(
            CustomerFieldValue.customer_id == customer_id, CustomerFieldValue.field == field
        )
    )
    if parsed is None:
        if row is not None:
            session.delete(row)
            session.flush()
        return None
    if row is None:
        row = CustomerFieldValue(customer_id=customer_id, field=field)
        session.add(row)
    row.value, row.number, row.day = parsed.value, parsed.number, parsed.day
    row.source, row.evidence, row.set_by = source, evidence, actor
    row.updated_at = datetime.now(UTC)
    session.flush()
    return _value(row)


def values_of(*, session: Session, customer_ids: Sequence[int]) -> dict[int, dict[str, FieldValue]]:
    """customer id -> field name -> value, for many customers at once."""
    out: dict[int, dict[str, FieldValue]] = {}
    ids = list(customer_ids)
    for start in range(0, len(ids), 500):
        stmt = select(CustomerFieldValue).where(
            CustomerFieldValue.customer_id.in_(ids[start : start + 500])
        )
        for row in session.scalars(stmt):
            out.setdefault(row.customer_id, {})[row.field] = _value(row)
    return out


def _value(row: CustomerFieldValue) -> FieldValue:
    return FieldValue(
        field=row.field,
        value=row.value,
        number=row.number,
        day=row.day,
        source=row.source,
        evidence=row.evidence,
        set_by=row.set_by,
        updated_at=aware(row.updated_at),
    )


# --------------------------------------------------------------------------- suggestions
def suggest(
    *,
    session: Session,
    customer_id: int,
    field: str,
    value: str,
    evidence: str,
    message_id: int | None,
) -> bool:
    """Record a suggested value. One already confirmed or rejected stays as the reviewer
    decided; True when a new suggestion was made."""
    row = session.scalar(
        select(ProfileSuggestion).where(
            ProfileSuggestion.customer_id == customer_id,
            ProfileSuggestion.field == field,
            ProfileSuggestion.value == value,
        )
    )
    if row is not None:
        return False
    session.add(
        ProfileSuggestion(
            customer_id=customer_id,
            field=field,
            value=value,
            evidence=evidence,
            evidence_message_id=message_id,
            status="suggested",
        )
    )
    session.flush()
    return True


def get_suggestion(*, session: Session, suggestion_id: int) -> ProfileSuggestionRecord:
    row = session.execute(
        select(ProfileSuggestion, Customer.name)
        .join(Customer, Customer.id == ProfileSuggestion.customer_id)
        .where(ProfileSuggestion.id == suggestion_id)
    ).first()
    if row is None:
        raise NotFoundError(NO_SUGGESTION, ref=suggestion_id)
    return _suggestion(session, *row)


def review(
    *, session: Session, suggestion_id: int, status: str, reviewer: str
) -> ProfileSuggestionRecord:
    decided = one_of(REVIEW_STATUSES, status, "status")
    row = session.get(ProfileSuggestion, suggestion_id)
    if row is None:
        raise NotFoundError(NO_SUGGESTION, ref=suggestion_id)
    row.status, row.reviewer, row.reviewed_at = decided, reviewer, datetime.now(UTC)
    session.flush()
    return get_suggestion(session=session, suggestion_id=suggestion_id)


def list_suggestions(
    *,
    session: Session,
    status: str | None = "suggested",
    customer_id: int | None = None,
    adviser_ids: tuple[str, ...] | None = None,
    limit: int = 200,
) -> list[ProfileSuggestionRecord]:
    stmt = (
        select(ProfileSuggestion, Customer.name)
        .join(Customer, Customer.id == ProfileSuggestion.customer_id)
        .where(Customer.merged_into_id.is_(None))
        .order_by(ProfileSuggestion.id)
        .limit(limit)
    )
    if status is not None:
        stmt = stmt.where(ProfileSuggestion.status == status)
    if customer_id is not None:
        stmt = stmt.where(ProfileSuggestion.customer_id == customer_id)
    if adviser_ids is not None:
        stmt = stmt.where(Customer.adviser_id.in_(adviser_ids))
    return [_suggestion(session, row, name) for row, name in session.execute(stmt)]


def _suggestion(
    session: Session, row: ProfileSuggestion, customer_name: str
) -> ProfileSuggestionRecord:
    shown = row.value
    if row.field == REFERRER_FIELD and row.value.isascii() and row.value.isdigit():
        referrer = session.get(Customer, int(row.value)) if len(row.value) <= 10 else None
        shown = f"{referrer.name or '客户'} #{referrer.id}" if referrer else f"#{row.value}"
    return ProfileSuggestionRecord(
        id=row.id,
        customer_id=row.customer_id,
        customer_name=customer_name,
        field=row.field,
        value=row.value,
        evidence=row.evidence,
        status=row.status,
        reviewer=row.reviewer,
        created_at=aware(row.created_at),
        source_msg_id=row.evidence_message_id,
        shown=shown,
    )
