"""Private notes (备注) on customers: written by their adviser or a manager, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.errors import NotFoundError
from bot.store.models import CustomerNote
from bot.store.records import aware

NO_NOTE = "备注不存在"


@dataclass(frozen=True, slots=True)
class NoteRecord:
    id: int
    customer_id: int
    text: str
    author: str
    author_name: str
    created_at: datetime


def add_note(
    *, session: Session, customer_id: int, text: str, author: str, author_name: str = ""
) -> NoteRecord:
    row = CustomerNote(
        customer_id=customer_id, text=text, author=author, author_name=author_name or author
    )
    session.add(row)
    session.flush()
    return _record(row)


def list_notes(*, session: Session, customer_id: int) -> list[NoteRecord]:
    """The customer's notes, newest first."""
    rows = session.scalars(
        select(CustomerNote)
        .where(CustomerNote.customer_id == customer_id)
        .order_by(CustomerNote.created_at.desc(), CustomerNote.id.desc())
    )
    return [_record(r) for r in rows]


def get_note(*, session: Session, note_id: int) -> NoteRecord | None:
    row = session.get(CustomerNote, note_id)
    return _record(row) if row is not None else None


def delete_note(*, session: Session, note_id: int) -> None:
    row = session.get(CustomerNote, note_id)
    if row is None:
        raise NotFoundError(NO_NOTE, ref=note_id)
    session.delete(row)
    session.flush()


def _record(row: CustomerNote) -> NoteRecord:
    return NoteRecord(
        id=row.id,
        customer_id=row.customer_id,
        text=row.text,
        author=row.author,
        author_name=row.author_name or row.author,
        created_at=aware(row.created_at),
    )
