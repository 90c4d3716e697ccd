"""Saved customer segments (named filters) and their sizes."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from bot.crm import segments as crm_segments
from bot.services import audit
from bot.services.access import Principal, require
from bot.store import segments as segments_repo


def save(
    session: Session,
    principal: Principal,
    *,
    name: str,
    filters: Sequence[str],
    description: str = "",
) -> int:
    """Save (or replace) a segment; how many customers it holds now."""
    require(principal)
    crm_segments.add_segment(
        session=session,
        name=name,
        filters=filters,
        description=description,
        actor=principal.username,
    )
    audit.record(session, principal, "segment.save", "segment", name.strip(), filters=list(filters))
    return crm_segments.count(session=session, name=name.strip())


def size(session: Session, principal: Principal, *, name: str) -> int:
    require(principal)
    return crm_segments.count(session=session, name=name)


def list_segments(
    session: Session, principal: Principal
) -> list[tuple[segments_repo.SegmentRecord, int]]:
    """Every saved segment with its current size."""
    require(principal)
    return [
        (s, crm_segments.count(session=session, name=s.name))
        for s in segments_repo.list_segments(session=session)
    ]
