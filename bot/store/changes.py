"""The change feed: one version number per kind of shared state (``ChangeTopic``).

Every repository function that changes the script library, the knowledge base or the
tag taxonomy calls ``bump`` in the same transaction, so the new number becomes visible
exactly when the change does; on PostgreSQL the row lock taken by the update orders
concurrent writers, so a higher number always means a later commit. Processes poll
``versions`` (bot/pipeline/changes.py) and refresh the topics whose number moved.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.store.models import ChangeVersion
from bot.vocab import CHANGE_TOPICS, ChangeTopic


def bump(*, session: Session, topic: ChangeTopic) -> None:
    """Count one change of ``topic`` (in the caller's transaction)."""
    result = session.execute(
        update(ChangeVersion)
        .where(ChangeVersion.topic == topic)
        .values(version=ChangeVersion.version + 1, changed_at=datetime.now(UTC))
    )
    if getattr(result, "rowcount", 1):
        return
    # The migration seeds every topic; a topic added since is created on first change.
    try:
        with session.begin_nested():
            session.add(ChangeVersion(topic=topic, version=1, changed_at=datetime.now(UTC)))
    except IntegrityError:  # another writer created it meanwhile: count on its row
        bump(session=session, topic=topic)


def versions(*, session: Session) -> dict[ChangeTopic, int]:
    """The current number of every topic (0 for one never changed)."""
    found = {
        str(topic): int(version)
        for topic, version in session.execute(select(ChangeVersion.topic, ChangeVersion.version))
    }
    return {topic: found.get(topic, 0) for topic in CHANGE_TOPICS}
