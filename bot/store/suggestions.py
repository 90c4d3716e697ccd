"""Every suggestion shown, kept with its candidates (the raw material for learning)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.store.models import Suggestion
from bot.store.records import SuggestionRecord, aware


def save_suggestion(
    *,
    session: Session,
    message_id: int | None,
    customer_id: int | None,
    adviser_id: str | None,
    mode: str,
    reply: str | None,
    candidates: dict[str, Any],
    latency_ms: float,
) -> SuggestionRecord:
    row = Suggestion(
        message_id=message_id,
        customer_id=customer_id,
        adviser_id=adviser_id,
        mode=mode,
        reply=reply,
        candidates=candidates,
        latency_ms=latency_ms,
    )
    session.add(row)
    session.flush()
    return suggestion_record(row)


def list_suggestions(
    *, session: Session, customer_id: int | None = None, limit: int = 50
) -> list[SuggestionRecord]:
    stmt = select(Suggestion).order_by(Suggestion.id.desc()).limit(limit)
    if customer_id is not None:
        stmt = stmt.where(Suggestion.customer_id == customer_id)
    return [suggestion_record(s) for s in session.scalars(stmt)]


def shown_scripts(
    *, session: Session, customer_id: int, before: datetime, since: datetime
) -> set[str]:
    """Ids of the scripts suggested for the customer's messages in ``[since, before]``."""
    stmt = select(Suggestion.candidates).where(
        Suggestion.customer_id == customer_id,
        Suggestion.created_at >= since,
        Suggestion.created_at <= before,
    )
    return {
        str(s.get("id"))
        for candidates in session.scalars(stmt)
        for s in (candidates or {}).get("scripts", [])
        if s.get("id")
    }


def suggestion_record(row: Suggestion) -> SuggestionRecord:
    return SuggestionRecord(
        id=row.id,
        message_id=row.message_id,
        customer_id=row.customer_id,
        mode=row.mode,
        reply=row.reply,
        candidates=dict(row.candidates or {}),
        latency_ms=row.latency_ms,
        created_at=aware(row.created_at),
    )
