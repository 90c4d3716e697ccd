"""Outcomes recorded from the web console: the adviser clicked "use" (adopted) or
edited a suggestion and used the edited text (edited)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.errors import InputError, NotFoundError
from bot.store.models import Outcome, Script, Suggestion

WEB_OUTCOME_KINDS = ("adopted", "edited")


def record_adoption(
    *,
    session: Session,
    suggestion_id: int,
    script_id: str | None,
    final_text: str,
    kind: str,
) -> int:
    """Store one outcome row; returns its id. ``script_id`` is None when the adviser
    used the drafted reply rather than a script."""
    if kind not in WEB_OUTCOME_KINDS:
        raise InputError(f"kind must be one of {', '.join(WEB_OUTCOME_KINDS)}")
    if session.get(Suggestion, suggestion_id) is None:
        raise NotFoundError(f"suggestion {suggestion_id} not found")
    if script_id is not None and session.get(Script, script_id) is None:
        raise NotFoundError(f"script {script_id} not found")
    row = Outcome(
        suggestion_id=suggestion_id,
        kind=kind,
        script_id=script_id,
        final_text=final_text,
    )
    session.add(row)
    session.flush()
    return row.id
