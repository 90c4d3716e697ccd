"""Which live events (bot/pipeline/live.py) an open event stream may still send.

A stream (``GET /api/events``) lives for hours, longer than the login it was opened
with. It keeps the credential it was opened with (``users.Credential``) and, before it
sends anything — a batch of events or a keep-alive — asks ``visible`` again: a logout, a
password change, a deactivation or a revoked token ends the stream, and every event is
judged by the viewer's scope at that moment (an adviser moved out of a manager's team
stops showing at once, one moved in starts). ``could_see`` is the cheap filter run on the
publisher's thread for every event, before that check.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from bot.pipeline.live import LiveEvent
from bot.services import users
from bot.services.access import CUSTOMER_VIEWERS, Principal, customer_scope, scope_of


def could_see(viewer: Principal, event: LiveEvent) -> bool:
    """False when ``event`` can never be in ``viewer``'s scope while the stream lasts: an
    adviser's scope is their own adviser id (``visible`` ends the stream should it
    change); a manager's team can gain advisers at any time, so every event is a
    candidate for a manager."""
    if viewer.role == "adviser":
        return customer_scope(viewer, None).allows(event.adviser_id)
    return viewer.role in CUSTOMER_VIEWERS


def _same_viewer(now: Principal, opened: Principal) -> bool:
    """The same user with the same role and adviser id (a team may change: the scope
    follows it)."""
    return (now.user_id, now.role, now.adviser_id) == (
        opened.user_id,
        opened.role,
        opened.adviser_id,
    )


def visible(
    session: Session,
    credential: users.Credential,
    opened: Principal,
    events: Sequence[LiveEvent],
) -> list[LiveEvent] | None:
    """The ``events`` the stream opened by ``opened`` with ``credential`` may send now, in
    order; None when the stream must end: the credential no longer authenticates (token
    revoked, session ended, user deactivated) or it now stands for another role or
    adviser. Without events this is only the credential check (the user by primary key;
    a token by its unique digest first); with them a manager's team is read too (by an
    indexed column)."""
    now = users.authenticate(session, credential, touch=False)
    if now is None or now.role not in CUSTOMER_VIEWERS or not _same_viewer(now, opened):
        return None
    if not events:
        return []
    scope = scope_of(session, now)
    return [event for event in events if scope.allows(event.adviser_id)]
