"""The audit log: every view and export of customer data, every administrative change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.store.db import durable
from bot.store.models import AuditLog
from bot.store.records import aware


@dataclass(frozen=True, slots=True)
class AuditRecord:
    id: int
    at: datetime
    actor: str
    action: str
    target_type: str
    target_id: str
    detail: dict[str, Any]


def record(
    *,
    session: Session,
    actor: str,
    action: str,
    target_type: str = "",
    target_id: str | int = "",
    detail: dict[str, Any] | None = None,
) -> None:
    session.add(
        AuditLog(
            actor=actor,
            action=action,
            target_type=target_type,
            target_id=str(target_id),
            detail=dict(detail or {}),
        )
    )
    session.flush()


def record_durable(
    *,
    session: Session,
    actor: str,
    action: str,
    target_type: str = "",
    target_id: str | int = "",
    detail: dict[str, Any] | None = None,
) -> None:
    """``record``, kept even when the unit of work is rolled back (a refused request)."""

    def write(s: Session) -> None:
        record(
            session=s,
            actor=actor,
            action=action,
            target_type=target_type,
            target_id=target_id,
            detail=detail,
        )

    durable(session, write)


def list_entries(
    *,
    session: Session,
    actor: str | None = None,
    action: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    limit: int = 200,
) -> list[AuditRecord]:
    """Newest first."""
    stmt = select(AuditLog).order_by(AuditLog.id.desc()).limit(limit)
    if actor is not None:
        stmt = stmt.where(AuditLog.actor == actor)
    if action is not None:
        stmt = stmt.where(AuditLog.action == action)
    if target_type is not None:
        stmt = stmt.where(AuditLog.target_type == target_type)
    if target_id is not None:
        stmt = stmt.where(AuditLog.target_id == target_id)
    return [
        AuditRecord(
            id=r.id,
            at=aware(r.at),
            actor=r.actor,
            action=r.action,
            target_type=r.target_type,
            target_id=r.target_id,
            detail=dict(r.detail or {}),
        )
        for r in session.scalars(stmt)
    ]
