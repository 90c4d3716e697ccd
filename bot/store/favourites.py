"""The scripts each console user starred (the sidebar's library search)."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from bot.store.models import ScriptFavourite


def favourite_ids(*, session: Session, user_id: int) -> set[str]:
    """Ids of the scripts the user starred."""
    stmt = select(ScriptFavourite.script_id).where(ScriptFavourite.user_id == user_id)
    return set(session.scalars(stmt))


def set_favourite(*, session: Session, user_id: int, script_id: str, on: bool) -> bool:
    """Star (``on``) or unstar a script; whether anything changed."""
    stmt = select(ScriptFavourite).where(
        ScriptFavourite.user_id == user_id, ScriptFavourite.script_id == script_id
    )
    found = session.scalars(stmt).first()
    if on and found is None:
        session.add(ScriptFavourite(user_id=user_id, script_id=script_id))
        session.flush()
        return True
    if not on and found is not None:
        session.execute(delete(ScriptFavourite).where(ScriptFavourite.id == found.id))
        return True
    return False
