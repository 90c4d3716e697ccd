"""Advisers as people: their persona (the name customers know, a signature, tone notes)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.errors import NotFoundError
from bot.store.customers import adviser_record
from bot.store.models import Adviser, User
from bot.store.records import AdviserRecord

NO_ADVISER = "顾问不存在"


def list_advisers(
    *, session: Session, adviser_ids: tuple[str, ...] | None = None
) -> list[AdviserRecord]:
    """Advisers (only ``adviser_ids`` when given), by id."""
    stmt = select(Adviser).order_by(Adviser.id)
    if adviser_ids is not None:
        stmt = stmt.where(Adviser.id.in_(adviser_ids))
    return [adviser_record(r) for r in session.scalars(stmt)]


def adviser_names(
    *, session: Session, adviser_ids: tuple[str, ...] | None = None
) -> dict[str, str]:
    """What a colleague calls each adviser (only ``adviser_ids`` when given): the display
    name of their console account, else their persona's name, else the channel account's
    name; the id only when there is none of these."""
    names = {
        a.id: a.persona_name or a.name or a.id
        for a in list_advisers(session=session, adviser_ids=adviser_ids)
    }
    stmt = (
        select(User.adviser_id, User.display_name)
        .where(User.adviser_id.is_not(None), User.display_name != "")
        .order_by(User.id)
    )
    for adviser_id, display_name in session.execute(stmt):
        if adviser_id in names:
            names[adviser_id] = display_name
    return names


def ids_by_name(*, session: Session, values: Iterable[str]) -> dict[str, str]:
    """Of ``values`` that are not adviser ids, those that only one adviser goes by (the
    console name, persona or account name) -> that adviser's id."""
    known = list_advisers(session=session)
    ids = {a.id for a in known}
    names = adviser_names(session=session)
    owners: dict[str, set[str]] = {}
    for a in known:
        for name in {a.persona_name, a.name, names.get(a.id)}:
            if name:
                owners.setdefault(name, set()).add(a.id)
    return {
        value: next(iter(owners[value]))
        for value in values
        if value and value not in ids and len(owners.get(value, ())) == 1
    }


def set_persona(
    *,
    session: Session,
    adviser_id: str,
    persona_name: str | None = None,
    signature: str | None = None,
    tone: str | None = None,
) -> AdviserRecord:
    """Change the persona fields given (an empty text clears one)."""
    row = session.get(Adviser, adviser_id)
    if row is None:
        raise NotFoundError(NO_ADVISER, ref=adviser_id)
    if persona_name is not None:
        row.persona_name = persona_name.strip() or None
    if signature is not None:
        row.signature = signature.strip() or None
    if tone is not None:
        row.tone = tone.strip() or None
    session.flush()
    return adviser_record(row)
