"""Outcomes matched from the adviser's own messages and the customer's replies."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.errors import NotFoundError, one_of
from bot.store.models import Message, Outcome, Script, Suggestion
from bot.store.records import SuggestionRecord, aware
from bot.store.suggestions import suggestion_record
from bot.vocab import WEB_OUTCOME_KINDS, OutcomeKind, WebOutcomeKind


@dataclass(frozen=True, slots=True)
class OutcomeRecord:
    id: int
    suggestion_id: int
    message_id: int | None
    kind: OutcomeKind
    script_id: str | None
    final_text: str | None
    edit_distance: int | None
    customer_replied: bool | None
    replied_at: datetime | None
    created_at: datetime


def latest_open_suggestion(
    *, session: Session, customer_id: int, before: datetime, since: datetime
) -> tuple[SuggestionRecord, OutcomeRecord | None] | None:
    """The customer's newest suggestion created in ``[since, before]`` that no adviser
    message has been matched to yet, with an outcome recorded without a message (the
    adviser clicked "use" in the web console), if any."""
    stmt = (
        select(Suggestion)
        .where(Suggestion.customer_id == customer_id)
        .order_by(Suggestion.id.desc())
        .limit(1)
    )
    row = session.scalar(stmt)
    if row is None or not (aware(since) <= aware(row.created_at) <= aware(before)):
        return None
    outcomes = session.scalars(select(Outcome).where(Outcome.suggestion_id == row.id)).all()
    if any(o.message_id is not None for o in outcomes):
        return None
    unlinked = next((o for o in outcomes if o.message_id is None), None)
    return suggestion_record(row), outcome_record(unlinked) if unlinked else None


def add_outcome(
    *,
    session: Session,
    suggestion_id: int,
    message_id: int | None,
    kind: OutcomeKind,
    script_id: str | None,
    final_text: str | None,
    edit_distance: int | None,
) -> OutcomeRecord:
    row = Outcome(
        suggestion_id=suggestion_id,
        message_id=message_id,
        kind=kind,
        script_id=script_id,
        final_text=final_text,
        edit_distance=edit_distance,
    )
    session.add(row)
    session.flush()
    return outcome_record(row)


def link_message(*, session: Session, outcome_id: int, message_id: int) -> OutcomeRecord:
    """Attach the adviser's sent message to an outcome recorded from the web console."""
    row = session.get_one(Outcome, outcome_id)
    row.message_id = message_id
    session.flush()
    return outcome_record(row)


def awaiting_reply(
    *, session: Session, customer_id: int, before: datetime
) -> list[tuple[OutcomeRecord, datetime]]:
    """Outcomes of this customer's adviser messages sent before ``before`` whose reply is
    not recorded yet, with the time the adviser's message was sent."""
    stmt = (
        select(Outcome, Message.sent_at)
        .join(Message, Outcome.message_id == Message.id)
        .where(Message.customer_id == customer_id, Outcome.customer_replied.is_(None))
        .order_by(Outcome.id)
    )
    rows = [(outcome_record(o), aware(sent)) for o, sent in session.execute(stmt).all()]
    return [(o, sent) for o, sent in rows if sent <= aware(before)]


def set_reply(
    *, session: Session, outcome_id: int, replied: bool, replied_at: datetime
) -> OutcomeRecord:
    row = session.get_one(Outcome, outcome_id)
    row.customer_replied = replied
    row.replied_at = replied_at
    session.flush()
    return outcome_record(row)


def list_outcomes(*, session: Session, customer_id: int | None = None) -> list[OutcomeRecord]:
    stmt = select(Outcome).order_by(Outcome.id)
    if customer_id is not None:
        stmt = stmt.join(Suggestion, Outcome.suggestion_id == Suggestion.id).where(
            Suggestion.customer_id == customer_id
        )
    return [outcome_record(o) for o in session.scalars(stmt)]


def outcome_record(row: Outcome) -> OutcomeRecord:
    return OutcomeRecord(
        id=row.id,
        suggestion_id=row.suggestion_id,
        message_id=row.message_id,
        kind=row.kind,
        script_id=row.script_id,
        final_text=row.final_text,
        edit_distance=row.edit_distance,
        customer_replied=row.customer_replied,
        replied_at=aware(row.replied_at) if row.replied_at else None,
        created_at=aware(row.created_at),
    )


def web_uses(*, session: Session, suggestion_id: int) -> dict[str, str]:
    """What the adviser used of one suggestion in the console: script id ("" for the
    drafted reply) -> adopted / edited."""
    rows = session.execute(
        select(Outcome.script_id, Outcome.kind)
        .where(Outcome.suggestion_id == suggestion_id, Outcome.kind.in_(WEB_OUTCOME_KINDS))
        .order_by(Outcome.id)
    )
    return {script_id or "": kind for script_id, kind in rows}


def record_adoption(
    *,
    session: Session,
    suggestion_id: int,
    script_id: str | None,
    final_text: str,
    kind: WebOutcomeKind,
) -> int:
    """The adviser clicked "use" (adopted) or used an edited text (edited) in the web
    console. Returns the outcome id; the message the adviser then sends is linked to it
    by ``link_message``. ``script_id`` is None for the drafted reply.

    One suggestion's script (or draft) is used once: clicking again (after a reload, or
    to copy it again) updates that outcome with the latest text instead of adding one,
    so an adoption rate never counts a shown script twice."""
    kind = one_of(WEB_OUTCOME_KINDS, kind, "kind")  # callers may pass user input
    if session.get(Suggestion, suggestion_id) is None:
        raise NotFoundError(f"建议 {suggestion_id} 不存在")
    if script_id is not None and session.get(Script, script_id) is None:
        raise NotFoundError(f"话术 {script_id} 不存在")
    earlier = session.scalars(
        select(Outcome)
        .where(
            Outcome.suggestion_id == suggestion_id,
            Outcome.script_id.is_(None) if script_id is None else Outcome.script_id == script_id,
            Outcome.kind.in_(WEB_OUTCOME_KINDS),
        )
        .order_by(Outcome.id)
        .limit(1)
    ).first()
    if earlier is not None:
        earlier.kind = kind
        earlier.final_text = final_text
        session.flush()
        return earlier.id
    row = Outcome(
        suggestion_id=suggestion_id,
        kind=kind,
        script_id=script_id,
        final_text=final_text,
    )
    session.add(row)
    session.flush()
    return row.id
