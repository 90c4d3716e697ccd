"""Example customer messages of scripts: learned from uses, or written by operators."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bot.store.models import Message, ScriptExample
from bot.store.records import aware
from bot.vocab import ExampleSource


@dataclass(frozen=True, slots=True)
class ExampleRecord:
    id: int
    script_id: str
    text: str
    source: ExampleSource
    customer_id: int | None
    message_id: int | None
    use_id: int | None
    created_at: datetime
    #: When the customer wrote the message (a learned example; filled by
    #: ``list_examples``, None for an operator's example).
    sent_at: datetime | None = None


def add_learned(
    *,
    session: Session,
    script_id: str,
    use_id: int,
    customer_id: int,
    messages: Sequence[tuple[int, str]],
) -> list[ExampleRecord]:
    """The customer messages ``(message_id, text)`` a use answered become examples of
    the script; a message already an example of that script is skipped."""
    if not messages:
        return []
    known = set(
        session.scalars(
            select(ScriptExample.message_id).where(
                ScriptExample.script_id == script_id,
                ScriptExample.message_id.in_([m for m, _ in messages]),
            )
        )
    )
    rows = [
        ScriptExample(
            script_id=script_id,
            text=text,
            source="learned",
            customer_id=customer_id,
            message_id=message_id,
            use_id=use_id,
        )
        for message_id, text in messages
        if message_id not in known and text.strip()
    ]
    session.add_all(rows)
    session.flush()
    return [example_record(r) for r in rows]


def set_operator_examples(*, session: Session, script_id: str, texts: Sequence[str]) -> bool:
    """Make ``texts`` the script's operator examples (in this order); True if changed."""
    current = session.scalars(
        select(ScriptExample)
        .where(ScriptExample.script_id == script_id, ScriptExample.source == "operator")
        .order_by(ScriptExample.id)
    ).all()
    if [r.text for r in current] == list(texts):
        return False
    for row in current:
        session.delete(row)
    session.add_all(ScriptExample(script_id=script_id, text=t, source="operator") for t in texts)
    session.flush()
    return True


def operator_examples(
    *, session: Session, script_ids: Sequence[str] | None = None
) -> dict[str, tuple[str, ...]]:
    """Each script's operator examples, in the order written."""
    stmt = (
        select(ScriptExample.script_id, ScriptExample.text)
        .where(ScriptExample.source == "operator")
        .order_by(ScriptExample.id)
    )
    if script_ids is not None:
        stmt = stmt.where(ScriptExample.script_id.in_(list(script_ids)))
    out: dict[str, list[str]] = {}
    for script_id, text in session.execute(stmt):
        out.setdefault(script_id, []).append(text)
    return {k: tuple(v) for k, v in out.items()}


def list_examples(*, session: Session, script_id: str) -> list[ExampleRecord]:
    """A script's examples, operators' first, then the learned ones, the customer's most
    recent message first; each learned one with the time the customer wrote it."""
    rows = session.execute(
        select(ScriptExample, Message.sent_at)
        .outerjoin(Message, Message.id == ScriptExample.message_id)
        .where(ScriptExample.script_id == script_id)
        .order_by(
            ScriptExample.source.desc(),
            Message.sent_at.desc().nulls_last(),
            ScriptExample.id.desc(),
        )
    )
    return [example_record(r, sent_at) for r, sent_at in rows]


def all_examples(*, session: Session) -> list[ExampleRecord]:
    """Every example of every script, in id order (retrieval scores with those of
    approved scripts: bot/pipeline/triggers.py)."""
    stmt = select(ScriptExample).order_by(ScriptExample.id)
    return [example_record(r) for r in session.scalars(stmt)]


def get_example(*, session: Session, example_id: int) -> ExampleRecord | None:
    row = session.get(ScriptExample, example_id)
    return example_record(row) if row else None


def delete_example(*, session: Session, example_id: int) -> ExampleRecord | None:
    row = session.get(ScriptExample, example_id)
    if row is None:
        return None
    record = example_record(row)
    session.delete(row)
    session.flush()
    return record


def learned_ids_of_customer(*, session: Session, customer_id: int) -> list[int]:
    """Ids of the examples learned from one customer's messages."""
    stmt = select(ScriptExample.id).where(ScriptExample.customer_id == customer_id)
    return list(session.scalars(stmt))


def delete_learned_before(*, session: Session, before: datetime) -> int:
    """Retention: remove the examples learned from messages sent before ``before``."""
    old = select(Message.id).where(Message.sent_at < before)
    result = session.execute(
        delete(ScriptExample).where(
            ScriptExample.source == "learned", ScriptExample.message_id.in_(old)
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


def counts_by_script(*, session: Session) -> Mapping[str, tuple[int, int]]:
    """``(learned, operator)`` examples per script."""
    out: dict[str, list[int]] = {}
    for script_id, source in session.execute(select(ScriptExample.script_id, ScriptExample.source)):
        pair = out.setdefault(script_id, [0, 0])
        pair[0 if source == "learned" else 1] += 1
    return {k: (v[0], v[1]) for k, v in out.items()}


def example_record(row: ScriptExample, sent_at: datetime | None = None) -> ExampleRecord:
    return ExampleRecord(
        id=row.id,
        script_id=row.script_id,
        text=row.text,
        source=row.source,
        customer_id=row.customer_id,
        message_id=row.message_id,
        use_id=row.use_id,
        created_at=aware(row.created_at),
        sent_at=aware(sent_at) if sent_at is not None else None,
    )
