"""Private notes (备注) on a customer: the adviser's own memory of the person ("怕打扰，
周末再联系"). Seen and written by whoever may see the customer — their adviser and
their manager —, never sent anywhere; erased by ``siyu customers forget`` and moved by
a merge (bot/store/ownership.py). Every read and change is audited."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.errors import NotFoundError, PermissionDenied, RejectedInput
from bot.services import audit
from bot.services.access import CUSTOMER_VIEWERS, Principal, check_customer, require
from bot.store import notes as notes_repo

NoteRecord = notes_repo.NoteRecord
#: The longest note, in characters.
MAX_NOTE_CHARS = 1000
EMPTY_NOTE = "备注不能为空"
LONG_NOTE = f"备注最多 {MAX_NOTE_CHARS} 字"
NOT_YOURS = "只能删除自己写的备注（主管可删除团队的备注）"


def of_customer(session: Session, principal: Principal, customer_id: int) -> list[NoteRecord]:
    """The notes on a customer in scope, newest first."""
    require(principal, *CUSTOMER_VIEWERS)
    check_customer(session, principal, customer_id)
    found = notes_repo.list_notes(session=session, customer_id=customer_id)
    audit.record(session, principal, "notes.view", "customer", customer_id, count=len(found))
    return found


def add(session: Session, principal: Principal, *, customer_id: int, text: str) -> NoteRecord:
    """Write a note on a customer in scope."""
    require(principal, *CUSTOMER_VIEWERS)
    check_customer(session, principal, customer_id)
    text = text.strip()
    if not text:
        raise RejectedInput(EMPTY_NOTE)
    if len(text) > MAX_NOTE_CHARS:
        raise RejectedInput(LONG_NOTE)
    note = notes_repo.add_note(
        session=session,
        customer_id=customer_id,
        text=text,
        author=principal.username,
        author_name=principal.display_name,
    )
    audit.record(session, principal, "note.add", "customer", customer_id, id=note.id)
    return note


def delete(session: Session, principal: Principal, *, note_id: int) -> NoteRecord:
    """Delete a note: its author may, and a manager who sees the customer."""
    require(principal, *CUSTOMER_VIEWERS)
    found = notes_repo.get_note(session=session, note_id=note_id)
    if found is None:
        raise NotFoundError(notes_repo.NO_NOTE, ref=note_id)
    check_customer(session, principal, found.customer_id)
    if found.author != principal.username and principal.role not in ("manager", "admin"):
        raise PermissionDenied(NOT_YOURS)
    notes_repo.delete_note(session=session, note_id=note_id)
    audit.record(session, principal, "note.delete", "customer", found.customer_id, id=note_id)
    return found
