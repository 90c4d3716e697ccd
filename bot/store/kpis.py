"""Per-adviser KPIs for the manager's dashboard."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.store.models import Adviser, Message, Outcome, Suggestion


@dataclass(frozen=True, slots=True)
class AdviserKpi:
    adviser_id: str
    name: str
    messages_in: int
    messages_out: int
    suggestions: int
    adopted: int
    edited: int

    @property
    def adoption_rate(self) -> float:
        """Share of suggestions used as is or edited."""
        return (self.adopted + self.edited) / self.suggestions if self.suggestions else 0.0


def adviser_kpis(*, session: Session, adviser_ids: tuple[str, ...] | None) -> list[AdviserKpi]:
    stmt = select(Adviser).order_by(Adviser.id)
    if adviser_ids is not None:
        stmt = stmt.where(Adviser.id.in_(adviser_ids))
    advisers = list(session.scalars(stmt))
    ids = [a.id for a in advisers]
    if not ids:
        return []
    msgs: dict[tuple[str | None, str], int] = {
        (a, d): n
        for a, d, n in session.execute(
            select(Message.adviser_id, Message.direction, func.count())
            .where(Message.adviser_id.in_(ids))
            .group_by(Message.adviser_id, Message.direction)
        ).all()
    }
    sugg = dict(
        session.execute(
            select(Suggestion.adviser_id, func.count())
            .where(Suggestion.adviser_id.in_(ids))
            .group_by(Suggestion.adviser_id)
        ).all()
    )
    used: dict[tuple[str | None, str], int] = {
        (a, k): n
        for a, k, n in session.execute(
            select(Suggestion.adviser_id, Outcome.kind, func.count(func.distinct(Suggestion.id)))
            .join(Suggestion, Suggestion.id == Outcome.suggestion_id)
            .where(Suggestion.adviser_id.in_(ids))
            .group_by(Suggestion.adviser_id, Outcome.kind)
        ).all()
    }
    return [
        AdviserKpi(
            adviser_id=a.id,
            name=a.name,
            messages_in=msgs.get((a.id, "in"), 0),
            messages_out=msgs.get((a.id, "out"), 0),
            suggestions=int(sugg.get(a.id, 0)),
            adopted=used.get((a.id, "adopted"), 0),
            edited=used.get((a.id, "edited"), 0),
        )
        for a in advisers
    ]
