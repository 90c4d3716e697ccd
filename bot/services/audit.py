"""The audit log as the services write it: one row per read or export of customer data
and per change, naming the acting principal."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from bot.services.access import Principal
from bot.store import audit as audit_repo


def record(
    session: Session,
    principal: Principal,
    action: str,
    target_type: str = "",
    target_id: str | int = "",
    **detail: Any,
) -> None:
    audit_repo.record(
        session=session,
        actor=principal.username,
        action=action,
        target_type=target_type,
        target_id=target_id,
        detail=detail,
    )
