"""Advisers as people: their persona (the name customers know, a signature, tone notes)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.errors import NotFoundError
from bot.store.customers import adviser_record
from bot.store.models import Adviser
from bot.store.records import AdviserRecord

NO_ADVISER = "顾问不存在"


def list_advisers(
    *, session: Session, adviser_ids: tuple[str, ...] | None = None
) -> list[AdviserRecord]:
    """Advisers (only ``adviser_ids`` when given), by id."""
    stmt = select(Adviser).order_by(Adviser.id)
    if adviser_ids is not None:
        stmt = stmt.where(Adviser.id.in_(adviser_ids))
    return [adviser_record(r) for r in session.scalars(stmt)]


def set_persona(
    *,
    session: Session,
    adviser_id: str,
    persona_name: str | None = None,
    signature: str | None = None,
    tone: str | None = None,
) -> AdviserRecord:
    """Change the persona fields given (an empty text clears one)."""
    row = session.get(Adviser, adviser_id)
    if row is None:
        raise NotFoundError(NO_ADVISER, ref=adviser_id)
    if persona_name is not None:
        row.persona_name = persona_name.strip() or None
    if signature is not None:
        row.signature = signature.strip() or None
    if tone is not None:
        row.tone = tone.strip() or None
    session.flush()
    return adviser_record(row)
