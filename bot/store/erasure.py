"""Data-subject requests: export everything held about one person, or erase it.

Both walk the registry of customer-owned tables, bot/store/ownership.py, which says table
by table what is exported, deleted, or kept for the aggregates with what identifies the
person blanked. ``export_customer`` returns every row about a customer as plain JSON-ready
data. ``erase_customer`` ("forget") removes what identifies or describes the person and
keeps anonymous aggregates, so funnel, revenue and script-effectiveness figures do not
change:

- deleted: identities, messages (theirs, and the adviser's in their 1:1 chats), 1:1
  conversations, customer tags, the examples learned from their messages, profile field
  values and their suggestions, follow-ups and their occurrences, merge records (they
  hold copies of profile fields and the free-text reason), and the profiles that were
  merged into this one (erased the same way first, then deleted);
- kept, stripped: the customer row (name, city, birthday, product cleared; industry,
  stage, source, lifecycle, adviser, dates, referrer and entry code kept), suggestions
  (draft reply and any text in the candidates removed; script ids and scores kept),
  outcomes (the adviser's final text removed; kind, edit distance, replied, converted
  kept), events (payload removed — the evidence of an attribution or a referral too;
  type and time kept), transactions (order number removed; product, amount and time
  kept), script uses (kept whole: which script, how similar, when; the message pointer
  goes with the message), the audit log (a merge's reason removed);
- others' rows pointing at a deleted message lose the pointer (and a tag its evidence);
  the customers this one referred stay referred by the anonymised profile.

Both are recorded in the audit log by the caller's actor.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, insert, inspect, select, update
from sqlalchemy.orm import Session

from bot.errors import InputError
from bot.store import audit, ownership
from bot.store.models import Base, Customer, ErasedMessage, Message
from bot.store.ownership import (
    Anonymise,
    Export,
    ForgetProfiles,
    Keep,
    Owned,
    Remove,
    ScrubDetail,
    Target,
)


def export_customer(*, session: Session, customer_id: int, actor: str) -> dict[str, Any]:
    """Everything held about one customer, as JSON-ready data (audit-logged)."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        raise InputError(f"客户 {customer_id} 不存在")
    data: dict[str, Any] = {"customer": _row(customer)}
    for owned in ownership.OWNED:
        if isinstance(owned.export, Export):
            data[owned.export.key] = _export(session, owned, owned.export, customer_id)
    audit.record(
        session=session,
        actor=actor,
        action="customer.export",
        target_type="customer",
        target_id=customer_id,
    )
    return data


def erase_customer(*, session: Session, customer_id: int, actor: str) -> dict[str, int]:
    """Forget one customer (see the module docstring). Returns counts per kind of row
    deleted or stripped; the audit log keeps those counts, never the erased data."""
    if session.get(Customer, customer_id) is None:
        raise InputError(f"客户 {customer_id} 不存在")
    counts = _erase(session, customer_id)
    order = [_count_name(owned.erase) for owned in ownership.OWNED]
    counts = {name: counts[name] for name in order if name is not None and name in counts}
    audit.record(
        session=session,
        actor=actor,
        action="customer.forget",
        target_type="customer",
        target_id=customer_id,
        detail=counts,
    )
    return counts


def erased_tables(counts: dict[str, int]) -> list[str]:
    """The tables an erasure with these ``counts`` (``erase_customer``'s) wrote to, for
    ``Database.purge``: every table of the registry, the audit log only when a merge
    (whose reason it held) was removed; the customers' own table always."""
    tables = [Customer.__tablename__]
    for owned in ownership.OWNED:
        if isinstance(owned.erase, ScrubDetail):
            if counts.get(_MERGES):
                tables.append(owned.table)
        else:
            tables.append(owned.table)
    return list(dict.fromkeys(tables))


def _erase(session: Session, customer_id: int) -> dict[str, int]:
    counts: dict[str, int] = {}

    def add(name: str | None, n: int) -> None:
        if name is not None:
            counts[name] = counts.get(name, 0) + n

    for owned in ownership.OWNED:
        if isinstance(owned.erase, ForgetProfiles):
            for other in ownership.owned_ids(session=session, owned=owned, customer_id=customer_id):
                for name, n in _erase(session, other).items():
                    add(name, n)
                session.execute(delete(Customer).where(Customer.id == other))
                add(owned.erase.count, 1)
    ownership.detach_references(session=session, customer_id=customer_id, removes=_removes)
    _remember_erased_messages(session, customer_id)
    for owned in reversed(ownership.OWNED):  # rows pointing at others' rows go first
        if isinstance(owned.erase, Remove):
            add(owned.erase.count, _remove(session, owned, owned.erase, customer_id))
    for owned in ownership.OWNED:
        if isinstance(owned.erase, Anonymise):
            where = ownership.rows_of(owned, customer_id)
            add(owned.erase.count, _anonymise(session, owned.model, owned.erase, where))
        elif isinstance(owned.erase, ScrubDetail):
            _scrub(session, owned, owned.erase, customer_id)
    _anonymise(session, Customer, ownership.PROFILE_ERASE, Customer.id == customer_id)
    session.flush()
    return counts


#: The count of removed merge records (ownership.OWNED, CustomerMerge).
_MERGES = "merges"


def _remember_erased_messages(session: Session, customer_id: int) -> None:
    """The ids of the messages about to go, so that importing the archive again does not
    bring them back (``erased_messages``)."""
    owned = next(o for o in ownership.OWNED if o.model is Message)
    going = select(Message.msg_id).where(
        ownership.removed_rows(owned, customer_id),
        Message.msg_id.not_in(select(ErasedMessage.msg_id)),
    )
    session.execute(insert(ErasedMessage).from_select(["msg_id"], going))


def _removes(owned: Owned) -> bool:
    return isinstance(owned.erase, Remove)


def _remove(session: Session, owned: Owned, policy: Remove, customer_id: int) -> int:
    model: Any = owned.model
    going = ownership.removed_rows(owned, customer_id)
    if policy.unless_used is None:
        return _rowcount(session.execute(delete(model).where(going)))
    n = _rowcount(session.execute(delete(model).where(going, ~ownership.used(owned.model))))
    session.execute(update(model).where(going).values(dict(policy.unless_used)))
    return n


def _anonymise(session: Session, model: Any, policy: Anonymise, where: Any) -> int:
    if not policy.strip and not policy.blank:  # nothing identifying in the row: it stays
        return len(session.scalars(select(model.id).where(where)).all())
    if not policy.strip:
        return _rowcount(session.execute(update(model).where(where).values(dict(policy.blank))))
    n = 0
    for row in session.scalars(select(model).where(where)):
        for column, value in policy.blank.items():
            setattr(row, column, value)
        for column, strip in policy.strip.items():
            setattr(row, column, strip(getattr(row, column)))
        n += 1
    return n


def _scrub(session: Session, owned: Owned, policy: ScrubDetail, customer_id: int) -> None:
    """Drop ``policy.keys`` from the detail of the entries about the customer. The entries
    naming them only inside the JSON detail are found in Python: few entries have these
    actions, and JSON paths differ between SQLite and PostgreSQL."""
    model: Any = owned.model
    assert isinstance(owned.owner, Target)
    stmt = select(model).where(model.action.in_(policy.actions)).order_by(model.id)
    for row in session.scalars(stmt):
        detail = dict(row.detail or {})
        about = (row.target_type, row.target_id) == (owned.owner.target_type, str(customer_id))
        if not about and not any(detail.get(k) == customer_id for k in policy.named_by):
            continue
        if any(k in detail for k in policy.keys):
            row.detail = {k: v for k, v in detail.items() if k not in policy.keys}


def _export(
    session: Session, owned: Owned, policy: Export, customer_id: int
) -> list[dict[str, Any]]:
    model: Any = owned.model
    stmt = select(model).where(ownership.rows_of(owned, customer_id)).order_by(model.id)
    return [
        _row(r) | {name: value(r) for name, value in policy.names.items()}
        for r in session.scalars(stmt)
    ]


def _count_name(policy: ownership.ErasePolicy) -> str | None:
    return None if isinstance(policy, ScrubDetail | Keep) else policy.count


def _rowcount(result: Any) -> int:
    return int(cast(CursorResult[Any], result).rowcount or 0)


def _row(row: Base) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for attr in inspect(row).mapper.column_attrs:
        value = getattr(row, attr.key)
        out[attr.key] = value.isoformat() if isinstance(value, datetime | date) else value
    return out
