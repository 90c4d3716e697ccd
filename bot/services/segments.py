"""Saved customer segments (named filters) and their sizes.

Who may do what: managers save, list and delete segments (the console's 客户分群 page),
and so does the command line's administrator. A segment is one filter for the whole
organisation (a new campaign's 目标人群 names it), but how many customers it holds is
counted in the principal's scope: a manager's team, every customer for the
administrator (``access.scope_of``). Operators see no customers, so no segment sizes;
advisers work their own customers and do not curate the organisation's segments."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from bot.crm import segments as crm_segments
from bot.errors import Conflict, InputError
from bot.services import advisers, audit
from bot.services.access import Principal, Role, require, scope_of
from bot.store import segments as segments_repo
from knowledge.text import echo

#: Who saves, lists and deletes segments (besides the administrator).
SEGMENT_CURATORS: tuple[Role, ...] = ("manager",)


@dataclass(frozen=True, slots=True)
class SegmentRow:
    """A saved segment as the console lists it: its filters as a person reads them and
    its size in the viewer's scope (None, with ``problem``, when a filter no longer
    holds: a profile field removed since it was saved)."""

    id: int
    name: str
    description: str
    conditions: tuple[str, ...]
    size: int | None
    problem: str = ""


def _count(session: Session, principal: Principal, name: str) -> int:
    return crm_segments.count(
        session=session, name=name, adviser_ids=scope_of(session, principal).adviser_ids
    )


def save(
    session: Session,
    principal: Principal,
    *,
    name: str,
    filters: Sequence[str],
    description: str = "",
    replace: bool = True,
) -> int:
    """Save a segment (``replace``: or replace the one of that name; else a name taken
    is refused); how many customers in the principal's scope it holds now."""
    require(principal, *SEGMENT_CURATORS)
    if not replace and name.strip() in {
        s.name for s in segments_repo.list_segments(session=session)
    }:
        raise Conflict(f"分群“{echo(name.strip())}”已经有了：请换一个名称，或先删除原来的")
    crm_segments.add_segment(
        session=session,
        name=name,
        filters=filters,
        description=description,
        actor=principal.username,
    )
    audit.record(session, principal, "segment.save", "segment", name.strip(), filters=list(filters))
    return _count(session, principal, name.strip())


def size(session: Session, principal: Principal, *, name: str) -> int:
    require(principal, *SEGMENT_CURATORS)
    return _count(session, principal, name)


def list_segments(
    session: Session, principal: Principal
) -> list[tuple[segments_repo.SegmentRecord, int]]:
    """Every saved segment with its current size."""
    require(principal, *SEGMENT_CURATORS)
    adviser_ids = scope_of(session, principal).adviser_ids
    return [
        (s, len(crm_segments.matching(session=session, filters=s.filters, adviser_ids=adviser_ids)))
        for s in segments_repo.list_segments(session=session)
    ]


def overview(session: Session, principal: Principal) -> list[SegmentRow]:
    """Every saved segment with its filters in words and its size in the principal's
    scope; a segment whose filters no longer hold is listed with why (so it can still be
    seen and deleted)."""
    require(principal, *SEGMENT_CURATORS)
    fields = crm_segments.declared_fields(session)
    names = advisers.names(session, principal)  # the advisers the principal may see
    adviser_ids = scope_of(session, principal).adviser_ids
    rows = []
    for s in segments_repo.list_segments(session=session):
        try:
            n: int | None = len(
                crm_segments.matching(session=session, filters=s.filters, adviser_ids=adviser_ids)
            )
            problem = ""
        except InputError as exc:
            n, problem = None, "；".join([str(exc), *exc.problems])
        rows.append(
            SegmentRow(
                id=s.id,
                name=s.name,
                description=s.description,
                conditions=tuple(crm_segments.describe(f, fields, names) for f in s.filters),
                size=n,
                problem=problem,
            )
        )
    return rows


def delete(session: Session, principal: Principal, *, name: str) -> None:
    """Delete a saved segment (customers are not touched; campaigns that named it keep
    the name)."""
    require(principal, *SEGMENT_CURATORS)
    record = segments_repo.delete_segment(session=session, name=name)
    audit.record(
        session, principal, "segment.delete", "segment", record.name, filters=list(record.filters)
    )
