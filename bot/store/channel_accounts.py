"""The live state of each channel account (table ``channel_accounts``), written by the
process serving it: connection state, login, the QR code awaiting a scan, counters.
Read by ``siyu bot --status`` and the web console (login QR code, logout banner)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.store.models import ChannelAccount
from bot.store.records import aware

#: Columns ``save_state`` may set.
_FIELDS = frozenset(
    {
        "channel",
        "adviser_id",
        "endpoint",
        "state",
        "user_id",
        "user_name",
        "qr_code",
        "connections",
        "drops",
        "error",
        "pid",
        "logged_in_at",
        "logged_out_at",
        "last_event_at",
    }
)


@dataclass(frozen=True, slots=True)
class AccountStateRecord:
    account: str
    channel: str
    adviser_id: str | None
    endpoint: str
    state: str
    user_id: str | None
    user_name: str
    qr_code: str | None
    connections: int
    drops: int
    error: str | None
    pid: int | None
    logged_in_at: datetime | None
    logged_out_at: datetime | None
    last_event_at: datetime | None
    updated_at: datetime


def _opt(value: datetime | None) -> datetime | None:
    return aware(value) if value else None


def _record(row: ChannelAccount) -> AccountStateRecord:
    return AccountStateRecord(
        account=row.account,
        channel=row.channel,
        adviser_id=row.adviser_id,
        endpoint=row.endpoint,
        state=row.state,
        user_id=row.user_id,
        user_name=row.user_name,
        qr_code=row.qr_code,
        connections=row.connections,
        drops=row.drops,
        error=row.error,
        pid=row.pid,
        logged_in_at=_opt(row.logged_in_at),
        logged_out_at=_opt(row.logged_out_at),
        last_event_at=_opt(row.last_event_at),
        updated_at=aware(row.updated_at),
    )


def save_state(*, session: Session, account: str, now: datetime, **values: Any) -> None:
    """Create or update one account's row with ``values`` (column names of the table)."""
    unknown = set(values) - _FIELDS
    if unknown:
        raise ValueError(f"unknown account state fields: {sorted(unknown)}")
    row = session.get(ChannelAccount, account)
    if row is None:
        row = ChannelAccount(account=account, updated_at=now)
        session.add(row)
    for name, value in values.items():
        setattr(row, name, value)
    row.updated_at = now
    session.flush()


def list_states(*, session: Session) -> list[AccountStateRecord]:
    return [
        _record(r) for r in session.scalars(select(ChannelAccount).order_by(ChannelAccount.account))
    ]


def get_state(*, session: Session, account: str) -> AccountStateRecord | None:
    row = session.get(ChannelAccount, account)
    return _record(row) if row else None
