"""Uses of scripts: an adviser's sent message recognised as a script of the library."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from bot.store.db import insert_or_get
from bot.store.models import ScriptUse
from bot.store.records import aware
from bot.vocab import UseKind


@dataclass(frozen=True, slots=True)
class UseRecord:
    id: int
    script_id: str
    message_id: int | None
    customer_id: int
    adviser_id: str | None
    kind: UseKind
    similarity: float
    shown: bool
    used_at: datetime


@dataclass(frozen=True, slots=True)
class UseCounts:
    """How often a script was sent: in all, and of those while it was suggested."""

    total: int = 0
    shown: int = 0


def add_use(
    *,
    session: Session,
    script_id: str,
    message_id: int,
    customer_id: int,
    adviser_id: str | None,
    kind: UseKind,
    similarity: float,
    shown: bool,
    used_at: datetime,
) -> tuple[UseRecord, bool]:
    """Record that ``message_id`` used ``script_id``; ``(use, created)`` — a message is
    one use, recorded once."""
    row, created = insert_or_get(
        session,
        ScriptUse(
            script_id=script_id,
            message_id=message_id,
            customer_id=customer_id,
            adviser_id=adviser_id,
            kind=kind,
            similarity=similarity,
            shown=shown,
            used_at=used_at.astimezone(UTC),
        ),
        lambda: session.scalar(select(ScriptUse).where(ScriptUse.message_id == message_id)),
    )
    return use_record(row), created


def use_counts(
    *, session: Session, script_ids: Sequence[str] | None = None
) -> dict[str, UseCounts]:
    """Uses per script (only scripts used at least once)."""
    stmt = select(
        ScriptUse.script_id,
        func.count(),
        func.sum(case((ScriptUse.shown, 1), else_=0)),
    ).group_by(ScriptUse.script_id)
    if script_ids is not None:
        stmt = stmt.where(ScriptUse.script_id.in_(list(script_ids)))
    return {
        script_id: UseCounts(total=int(total), shown=int(shown or 0))
        for script_id, total, shown in session.execute(stmt)
    }


def use_record(row: ScriptUse) -> UseRecord:
    return UseRecord(
        id=row.id,
        script_id=row.script_id,
        message_id=row.message_id,
        customer_id=row.customer_id,
        adviser_id=row.adviser_id,
        kind=row.kind,
        similarity=row.similarity,
        shown=row.shown,
        used_at=aware(row.used_at),
    )
