"""Raw rows behind script effectiveness (bot.learning.effectiveness aggregates them in Python).

Three flat reads, no per-script queries: the scripts each suggestion showed (from its
``candidates`` JSON), the outcomes recorded against suggestions, and the customers'
conversions (orders and conversion events).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, case, func, or_, select
from sqlalchemy.orm import Session

from bot.store.conversions import CONVERSION_TYPES
from bot.store.models import Customer, Event, Outcome, Suggestion, Transaction
from bot.store.records import aware
from bot.vocab import OutcomeKind


@dataclass(frozen=True, slots=True)
class ShownRow:
    """One suggestion: which scripts were shown, to whom, in what context."""

    suggestion_id: int
    customer_id: int | None
    adviser_id: str | None
    industry: str | None  # the customer's industry (None when unknown)
    stage: str | None  # the customer's current stage
    script_ids: tuple[str, ...]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class OutcomeRow:
    suggestion_id: int
    kind: OutcomeKind
    script_id: str | None
    final_text: str | None
    customer_replied: bool | None
    converted: bool | None
    created_at: datetime
    #: The name of the customer the adviser wrote to (to mask it in reports).
    customer_name: str | None = None


def shown_rows(
    *,
    session: Session,
    since: datetime | None = None,
    adviser_ids: Sequence[str] | None = None,
) -> list[ShownRow]:
    """Suggestions (of ``adviser_ids`` only, when given), oldest first."""
    stmt = (
        select(
            Suggestion.id,
            Suggestion.customer_id,
            Suggestion.adviser_id,
            Customer.industry,
            Customer.stage,
            Suggestion.candidates,
            Suggestion.created_at,
        )
        .outerjoin(Customer, Suggestion.customer_id == Customer.id)
        .order_by(Suggestion.id)
    )
    if since is not None:
        stmt = stmt.where(Suggestion.created_at >= since)
    if adviser_ids is not None:
        stmt = stmt.where(Suggestion.adviser_id.in_(adviser_ids))
    out = []
    for sid, cid, adviser, industry, stage, candidates, created in session.execute(stmt):
        scripts = (candidates or {}).get("scripts", [])
        ids = tuple(str(s["id"]) for s in scripts if isinstance(s, dict) and s.get("id"))
        out.append(
            ShownRow(
                suggestion_id=sid,
                customer_id=cid,
                adviser_id=adviser,
                industry=industry,
                stage=stage,
                script_ids=ids,
                created_at=aware(created),
            )
        )
    return out


def outcome_rows(
    *,
    session: Session,
    since: datetime | None = None,
    adviser_ids: Sequence[str] | None = None,
) -> list[OutcomeRow]:
    """Outcomes (of the suggestions of ``adviser_ids`` only, when given), with the name of
    the customer each was about."""
    stmt = (
        select(Outcome, Customer.name)
        .join(Suggestion, Outcome.suggestion_id == Suggestion.id)
        .outerjoin(Customer, Suggestion.customer_id == Customer.id)
        .order_by(Outcome.id)
    )
    if since is not None:
        stmt = stmt.where(Outcome.created_at >= since)
    if adviser_ids is not None:
        stmt = stmt.where(Suggestion.adviser_id.in_(adviser_ids))
    return [
        OutcomeRow(
            suggestion_id=o.suggestion_id,
            kind=o.kind,
            script_id=o.script_id,
            final_text=o.final_text,
            customer_replied=o.customer_replied,
            converted=o.converted,
            created_at=aware(o.created_at),
            customer_name=name,
        )
        for o, name in session.execute(stmt)
    ]


def conversion_times(
    *, session: Session, since: datetime | None = None
) -> dict[int, list[datetime]]:
    """Each customer's conversion times (orders and conversion events), oldest first."""
    orders = select(Transaction.customer_id, Transaction.occurred_at)
    events = select(Event.customer_id, Event.occurred_at).where(Event.type.in_(CONVERSION_TYPES))
    if since is not None:
        orders = orders.where(Transaction.occurred_at >= since)
        events = events.where(Event.occurred_at >= since)
    out: dict[int, list[datetime]] = {}
    for stmt in (orders, events):
        for cid, at in session.execute(stmt):
            out.setdefault(cid, []).append(aware(at))
    return {cid: sorted(times) for cid, times in out.items()}


def reply_counts(
    *, session: Session, silent_before: datetime | None = None
) -> dict[str, tuple[int, int]]:
    """Per script: (replied, outcomes with a known reply) over adopted or edited uses, one
    grouped query (the suggest path's in-memory cache). With ``silent_before``, a use
    recorded before it and still waiting for a reply counts as not replied."""
    known: ColumnElement[bool] = Outcome.customer_replied.is_not(None)
    if silent_before is not None:
        known = or_(known, Outcome.created_at < silent_before)
    stmt = (
        select(
            Outcome.script_id,
            func.sum(case((Outcome.customer_replied.is_(True), 1), else_=0)),
            func.sum(case((known, 1), else_=0)),
        )
        .where(Outcome.kind.in_(("adopted", "edited")), Outcome.script_id.is_not(None))
        .group_by(Outcome.script_id)
    )
    return {
        str(sid): (int(replied or 0), int(n or 0))
        for sid, replied, n in session.execute(stmt)
        if sid is not None
    }
