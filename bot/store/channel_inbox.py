"""The channel's durable inbox (table ``channel_inbox``): every message / friend-request
event of a channel account is written here first, then processed per contact in arrival
order by ``bot.channels.inbox``.

Statuses: ``received`` (only the event id is known) -> ``ready`` (payload fetched and
converted; ``contact_key`` set) -> ``logged`` (in ``messages``, a suggestion is due) ->
``done``; ``skipped`` (never logged: the adviser's note target, …); ``parked`` (gave up
after the retry limit; ``stage`` tells where). The payload (customer text) is cleared
when a row is done or skipped; parked rows keep it for the operator.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.store.models import ChannelInbox, Identity
from bot.store.records import aware

#: Statuses still to be processed, in pipeline order.
UNFINISHED = ("received", "ready", "logged")
FINISHED = ("done", "skipped")
#: The stage a parked row goes back to when requeued.
_REQUEUE_STATUS = {"resolve": "received", "log": "ready", "suggest": "logged", "greet": "logged"}


@dataclass(frozen=True, slots=True)
class InboxItem:
    id: int
    account: str
    kind: str
    event_id: str
    status: str
    stage: str | None
    contact_key: str | None
    payload: dict[str, Any] | None
    attempts: int
    error: str | None
    message_id: int | None
    customer_id: int | None
    received_at: datetime
    logged_at: datetime | None


@dataclass(frozen=True, slots=True)
class NewEvent:
    account: str
    kind: str
    event_id: str
    received_at: datetime


@dataclass(frozen=True, slots=True)
class AccountCounts:
    account: str
    #: Rows not yet processed (received, ready or logged).
    backlog: int
    parked: int
    last_message_at: datetime | None


def _item(row: ChannelInbox) -> InboxItem:
    return InboxItem(
        id=row.id,
        account=row.account,
        kind=row.kind,
        event_id=row.event_id,
        status=row.status,
        stage=row.stage,
        contact_key=row.contact_key,
        payload=row.payload,
        attempts=row.attempts,
        error=row.error,
        message_id=row.message_id,
        customer_id=row.customer_id,
        received_at=aware(row.received_at),
        logged_at=aware(row.logged_at) if row.logged_at else None,
    )


def add_events(*, session: Session, events: Sequence[NewEvent]) -> list[int]:
    """Insert the events not seen before (per account and event id), in order; returns
    the ids of the new rows. A repeated delivery adds nothing."""
    if not events:
        return []
    seen: set[tuple[str, str]] = set()
    for account in {e.account for e in events}:
        event_ids = [e.event_id for e in events if e.account == account]
        for chunk in _chunks(event_ids, 500):
            found = session.scalars(
                select(ChannelInbox.event_id).where(
                    ChannelInbox.account == account, ChannelInbox.event_id.in_(chunk)
                )
            )
            seen |= {(account, event_id) for event_id in found}
    rows = []
    for e in events:
        key = (e.account, e.event_id)
        if key in seen:
            continue
        seen.add(key)
        rows.append(
            {
                "account": e.account,
                "kind": e.kind,
                "event_id": e.event_id,
                "status": "received",
                "attempts": 0,
                "received_at": e.received_at,
                "updated_at": e.received_at,
            }
        )
    if not rows:
        return []
    # One multi-row INSERT (the ORM's unit of work costs ~0.2 ms a row); ids come back in
    # the order given, which is arrival order.
    stmt = insert(ChannelInbox).returning(ChannelInbox.id, sort_by_parameter_order=True)
    try:
        with session.begin_nested():
            return list(session.scalars(stmt, rows))
    except IntegrityError:  # another writer raced us: one row at a time, skipping theirs
        ids: list[int] = []
        for row in rows:
            try:
                with session.begin_nested():
                    ids.append(
                        session.scalars(
                            insert(ChannelInbox).returning(ChannelInbox.id), [row]
                        ).one()
                    )
            except IntegrityError:
                continue
        return ids


def unfinished(
    *,
    session: Session,
    account: str,
    status: str,
    exclude: Iterable[int] = (),
    after_id: int = 0,
    limit: int = 500,
) -> list[InboxItem]:
    """Rows of one account in ``status``, oldest first, leaving out ``exclude``."""
    skip = set(exclude)
    stmt = (
        select(ChannelInbox)
        .where(
            ChannelInbox.account == account,
            ChannelInbox.status == status,
            ChannelInbox.id > after_id,
        )
        .order_by(ChannelInbox.id)
        .limit(limit + len(skip))
    )
    rows = [_item(r) for r in session.scalars(stmt) if r.id not in skip]
    return rows[:limit]


def mark_ready(
    *, session: Session, rows: Sequence[tuple[int, str, dict[str, Any]]], now: datetime
) -> None:
    """``(id, contact_key, payload)``: the payload was fetched and converted."""
    for row_id, contact_key, payload in rows:
        session.execute(
            update(ChannelInbox)
            .where(ChannelInbox.id == row_id)
            .values(
                status="ready", contact_key=contact_key, payload=payload, error=None, updated_at=now
            )
        )


def mark_skipped(*, session: Session, ids: Sequence[int], now: datetime) -> None:
    if ids:
        session.execute(
            update(ChannelInbox)
            .where(ChannelInbox.id.in_(ids))
            .values(status="skipped", payload=None, error=None, updated_at=now)
        )


def mark_logged(
    *,
    session: Session,
    item_id: int,
    message_id: int | None,
    customer_id: int | None,
    done: bool,
    now: datetime,
    payload: dict[str, Any] | None = None,
) -> None:
    """Logged in ``messages`` (or a new friend recorded); ``done``: nothing else is due,
    so the payload is cleared at once; otherwise ``payload``, when given, replaces it
    (what the next stage needs)."""
    values: dict[str, Any] = {
        "status": "done" if done else "logged",
        "message_id": message_id,
        "customer_id": customer_id,
        "logged_at": now,
        "error": None,
        "updated_at": now,
    }
    if done:
        values["payload"] = None
    elif payload is not None:
        values["payload"] = payload
    session.execute(update(ChannelInbox).where(ChannelInbox.id == item_id).values(**values))


def save_payload(*, session: Session, item_id: int, payload: dict[str, Any]) -> None:
    """Record the progress of a row still being processed (a new friend accepted)."""
    session.execute(update(ChannelInbox).where(ChannelInbox.id == item_id).values(payload=payload))


def mark_done(*, session: Session, item_id: int, now: datetime) -> None:
    session.execute(
        update(ChannelInbox)
        .where(ChannelInbox.id == item_id)
        .values(status="done", payload=None, error=None, updated_at=now)
    )


def record_failure(
    *, session: Session, item_id: int, stage: str, error: str, park: bool, now: datetime
) -> int:
    """Count one failed try; ``park``: give up (the row keeps its payload). Returns the
    number of tries so far."""
    row = session.get_one(ChannelInbox, item_id)
    row.attempts += 1
    row.stage = stage
    row.error = error[:2000]
    row.updated_at = now
    if park:
        row.status = "parked"
    session.flush()
    return row.attempts


def parked(
    *, session: Session, account: str | None = None, limit: int | None = 100
) -> list[InboxItem]:
    """Parked rows, oldest first."""
    stmt = select(ChannelInbox).where(ChannelInbox.status == "parked")
    if account is not None:
        stmt = stmt.where(ChannelInbox.account == account)
    return [_item(r) for r in session.scalars(stmt.order_by(ChannelInbox.id).limit(limit))]


def requeue(*, session: Session, ids: Sequence[int] | None, now: datetime) -> int:
    """Parked rows (all when ``ids`` is None) go back to the stage that failed, with their
    tries reset; the running bot picks them up at its next sweep. Returns how many."""
    stmt = select(ChannelInbox).where(ChannelInbox.status == "parked")
    if ids is not None:
        stmt = stmt.where(ChannelInbox.id.in_(ids))
    count = 0
    for row in session.scalars(stmt):
        row.status = _REQUEUE_STATUS.get(row.stage or "resolve", "received")
        if row.status == "ready" and row.payload is None:
            row.status = "received"
        row.attempts = 0
        row.updated_at = now
        count += 1
    session.flush()
    return count


def discard(*, session: Session, ids: Sequence[int], now: datetime) -> int:
    """Parked rows given up by an operator: never processed, and their payload (the
    customer's text) cleared; a message already logged stays logged. Returns how many."""
    result = session.execute(
        update(ChannelInbox)
        .where(ChannelInbox.status == "parked", ChannelInbox.id.in_(list(ids)))
        .values(status="skipped", payload=None, error=DISCARDED, updated_at=now)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


#: The error of a parked row an operator discarded.
DISCARDED = "已丢弃"


def counts(*, session: Session) -> dict[str, AccountCounts]:
    """Backlog, parked rows and the last message received, per account."""
    by_status: dict[str, dict[str, int]] = {}
    for account, status, n in session.execute(
        select(ChannelInbox.account, ChannelInbox.status, func.count())
        .where(ChannelInbox.status.in_((*UNFINISHED, "parked")))
        .group_by(ChannelInbox.account, ChannelInbox.status)
    ):
        by_status.setdefault(account, {})[status] = int(n)
    last = dict(
        session.execute(
            select(ChannelInbox.account, func.max(ChannelInbox.received_at))
            .where(ChannelInbox.kind == "message")
            .group_by(ChannelInbox.account)
        ).all()
    )
    result = {}
    for account in set(by_status) | set(last):
        statuses = by_status.get(account, {})
        when = last.get(account)
        result[account] = AccountCounts(
            account=account,
            backlog=sum(statuses.get(s, 0) for s in UNFINISHED),
            parked=statuses.get("parked", 0),
            last_message_at=aware(when) if when else None,
        )
    return result


def purge_finished(*, session: Session, before: datetime) -> int:
    """Delete done / skipped rows last touched before ``before``; returns how many."""
    result = session.execute(
        delete(ChannelInbox).where(
            ChannelInbox.status.in_(FINISHED), ChannelInbox.updated_at < before
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


def link_parked(*, session: Session) -> int:
    """Parked rows whose customer is known by now get their ``customer_id`` (so that
    forgetting the customer erases them, bot/store/ownership.py); returns how many."""
    rows = session.scalars(
        select(ChannelInbox).where(
            ChannelInbox.status == "parked",
            ChannelInbox.customer_id.is_(None),
            ChannelInbox.payload.is_not(None),
        )
    ).all()
    linked = 0
    for row in rows:
        body = (row.payload or {}).get("message") or (row.payload or {}).get("contact") or {}
        contact, channel = body.get("contact_id"), body.get("channel")
        if not contact or not channel:
            continue
        customer = session.scalar(
            select(Identity.customer_id).where(
                Identity.kind == f"{channel}_contact", Identity.value == contact
            )
        )
        if customer is not None:
            row.customer_id = customer
            linked += 1
    session.flush()
    return linked


def utcnow() -> datetime:
    return datetime.now(UTC)


def _chunks(values: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
