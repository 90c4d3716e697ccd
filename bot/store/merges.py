"""OneID merges: move every row of one customer to another, remember which, undo.

A merge never deletes: the merged profile stays as a hidden row (``merged_into_id``)
and ``customer_merges.moved`` holds the ids of the rows moved per table, so an undo
moves exactly those rows back (and the messages that came to the merged profile's
conversations meanwhile) and restores the kept profile's fields.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session, aliased

from bot.errors import InputError, NotFoundError
from bot.store import ownership
from bot.store.models import AuditLog, Conversation, Customer, CustomerMerge, Identity, Message
from bot.store.ownership import Move, Owned
from bot.store.records import MergeRecord, StrongIdentity, aware

#: Profile fields the kept customer takes from the merged one when it has none.
_FILLED = (
    "name",
    "adviser_id",
    "industry",
    "product",
    "city",
    "birthday",
    "source",
    "referred_by_id",
    "entry_code_id",
)
_SNAPSHOT = (*_FILLED, "created_at", "last_message_at")


def merge_customers(
    *, session: Session, kept_id: int, merged_id: int, actor: str, reason: str = ""
) -> MergeRecord:
    """Move everything of ``merged_id`` to ``kept_id``; returns the merge (undoable)."""
    if kept_id == merged_id:
        raise InputError("不能把客户合并到自己")
    kept = _live_customer(session, kept_id)
    merged = _live_customer(session, merged_id)
    moved: dict[str, list[int]] = {}
    for owned in ownership.OWNED:
        if isinstance(owned.merge, Move):
            ids = _movable(session, owned, owned.merge, merged_id, kept_id)
            moved[owned.merge.key] = ids
            _move(session, owned, ids, merged_id, kept_id)
    before = {f: _dump(getattr(kept, f)) for f in _SNAPSHOT}
    referrer_before = kept.referred_by_id
    for f in _FILLED:
        if getattr(kept, f) in (None, "") and getattr(merged, f) not in (None, ""):
            setattr(kept, f, getattr(merged, f))
    if kept.referred_by_id in (kept_id, merged_id):  # one person cannot refer themself
        kept.referred_by_id = referrer_before
    if aware(merged.created_at) < aware(kept.created_at):
        kept.created_at = merged.created_at
    if merged.last_message_at and (
        kept.last_message_at is None or aware(merged.last_message_at) > aware(kept.last_message_at)
    ):
        kept.last_message_at = merged.last_message_at
    merged.merged_into_id = kept_id
    row = CustomerMerge(
        kept_id=kept_id,
        merged_id=merged_id,
        actor=actor,
        reason=reason,
        moved=moved,
        kept_before=before,
    )
    session.add(row)
    session.flush()
    session.add(
        AuditLog(
            actor=actor,
            action="customer.merge",
            target_type="customer",
            target_id=str(kept_id),
            detail={"merge_id": row.id, "merged_id": merged_id, "reason": reason}
            | {"moved": {k: len(v) for k, v in moved.items()}},
        )
    )
    session.flush()
    return merge_record(row)


def unmerge(*, session: Session, merge_id: int, actor: str) -> MergeRecord:
    """Undo a merge: move its rows back, restore the kept profile, show the merged one."""
    row = session.get(CustomerMerge, merge_id)
    if row is None:
        raise NotFoundError(f"合并记录 {merge_id} 不存在")
    if row.undone_at is not None:
        raise InputError(f"合并记录 {merge_id} 已经撤销过了")
    later = session.scalar(
        select(CustomerMerge.id)
        .where(
            CustomerMerge.id > merge_id,
            CustomerMerge.undone_at.is_(None),
            (CustomerMerge.kept_id.in_((row.kept_id, row.merged_id)))
            | (CustomerMerge.merged_id.in_((row.kept_id, row.merged_id))),
        )
        .order_by(CustomerMerge.id.desc())
        .limit(1)
    )
    if later is not None:
        raise InputError(f"合并记录 {later} 在这之后，且涉及同样的客户：请先撤销它")
    kept = session.get_one(Customer, row.kept_id)
    merged = session.get_one(Customer, row.merged_id)
    for key, ids in row.moved.items():
        _move(session, ownership.moved(key), list(ids), row.kept_id, row.merged_id)
    _follow_conversations(session, kept_id=row.kept_id, merged_id=row.merged_id)
    for f, value in row.kept_before.items():
        setattr(kept, f, _load(f, value))
    merged.merged_into_id = None
    row.undone_at = datetime.now(UTC)
    row.undone_by = actor
    session.add(
        AuditLog(
            actor=actor,
            action="customer.unmerge",
            target_type="customer",
            target_id=str(row.kept_id),
            detail={"merge_id": row.id, "merged_id": row.merged_id},
        )
    )
    session.flush()
    return merge_record(row)


def _follow_conversations(session: Session, *, kept_id: int, merged_id: int) -> None:
    """Messages logged while the merge stood were the kept customer's, in the merged
    one's conversations (its contact identities led there): they go back with their
    conversation, and the rows about them (suggestions, tags, examples …) with them.
    Before, they stayed on the kept customer's timeline, in a conversation now another's."""
    back = select(Conversation.id).where(Conversation.customer_id == merged_id)
    session.execute(
        update(Message)
        .where(Message.customer_id == kept_id, Message.conversation_id.in_(back))
        .values(customer_id=merged_id)
    )
    theirs = select(Message.id).where(Message.customer_id == merged_id)
    for owned in ownership.OWNED:
        if not isinstance(owned.merge, Move) or owned.model is Message:
            continue
        owner = ownership.owner_column(owned)
        for ref in owned.refs:
            if ownership.referenced(owned, ref) is Message:
                model: Any = owned.model
                session.execute(
                    update(model)
                    .where(owner == kept_id, getattr(model, ref.column).in_(theirs))
                    .values({owner.key: merged_id})
                )


def list_merges(
    *,
    session: Session,
    customer_id: int | None = None,
    adviser_ids: tuple[str, ...] | None = None,
) -> list[MergeRecord]:
    """Merges (undone ones too), oldest first; with ``adviser_ids`` (a scope) only those
    whose two customers both belong to those advisers."""
    stmt = select(CustomerMerge).order_by(CustomerMerge.id)
    if customer_id is not None:
        stmt = stmt.where(
            (CustomerMerge.kept_id == customer_id) | (CustomerMerge.merged_id == customer_id)
        )
    if adviser_ids is not None:
        in_scope = select(Customer.id).where(Customer.adviser_id.in_(adviser_ids))
        stmt = stmt.where(
            CustomerMerge.kept_id.in_(in_scope), CustomerMerge.merged_id.in_(in_scope)
        )
    return [merge_record(r) for r in session.scalars(stmt)]


def get_merge(*, session: Session, merge_id: int) -> MergeRecord | None:
    row = session.get(CustomerMerge, merge_id)
    return merge_record(row) if row else None


def strong_identities(
    *, session: Session, kinds: tuple[str, ...], adviser_ids: tuple[str, ...] | None = None
) -> list[StrongIdentity]:
    """Identities of the given kinds on visible (not merged-away) customers, of the
    advisers ``adviser_ids`` (a scope) when given."""
    stmt = (
        select(Identity.customer_id, Customer.name, Identity.kind, Identity.value)
        .join(Customer, Customer.id == Identity.customer_id)
        .where(Identity.kind.in_(kinds), Customer.merged_into_id.is_(None))
        .order_by(Identity.customer_id, Identity.id)
    )
    if adviser_ids is not None:
        stmt = stmt.where(Customer.adviser_id.in_(adviser_ids))
    return [
        StrongIdentity(customer_id=c, customer_name=n, kind=k, value=v)
        for c, n, k, v in session.execute(stmt)
    ]


def merge_record(row: CustomerMerge) -> MergeRecord:
    return MergeRecord(
        id=row.id,
        kept_id=row.kept_id,
        merged_id=row.merged_id,
        actor=row.actor,
        reason=row.reason,
        moved={k: len(v) for k, v in row.moved.items()},
        created_at=aware(row.created_at),
        undone_at=aware(row.undone_at) if row.undone_at else None,
        undone_by=row.undone_by,
    )


def _live_customer(session: Session, customer_id: int) -> Customer:
    row = session.get(Customer, customer_id)
    if row is None:
        raise NotFoundError(f"客户 {customer_id} 不存在")
    if row.merged_into_id is not None:
        raise InputError(f"客户 {customer_id} 已合并到客户 {row.merged_into_id}，请改用该客户")
    return row


def _movable(session: Session, owned: Owned, move: Move, src: int, dst: int) -> list[int]:
    """Ids of ``src``'s rows that can move to ``dst``: not those that would duplicate one of
    ``dst``'s rows on the ``move.unique`` columns (``dst``'s row wins)."""
    model: Any = owned.model
    column = ownership.owner_column(owned)
    stmt = select(model.id).where(column == src)
    if owned.model is Customer:  # the kept customer, referred by the merged one, stays so
        stmt = stmt.where(model.id != dst)
    if move.unique:
        theirs: Any = aliased(owned.model)
        stmt = stmt.where(
            ~exists().where(
                getattr(theirs, column.key) == dst,
                *(getattr(theirs, c) == getattr(model, c) for c in move.unique),
            )
        )
    return sorted(session.scalars(stmt))


def _move(session: Session, owned: Owned, ids: list[int], src: int, dst: int) -> None:
    model: Any = owned.model
    column = ownership.owner_column(owned)
    for start in range(0, len(ids), 500):  # stay under SQLite's bound-parameter limit
        chunk = ids[start : start + 500]
        session.execute(
            update(model)
            .where(model.id.in_(chunk), column == src)
            .values({column.key: dst})
            .execution_options(synchronize_session=False)
        )
    session.expire_all()


def _dump(value: object) -> object:
    if isinstance(value, datetime):
        return aware(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def _load(field: str, value: Any) -> object:
    if value is None:
        return None
    if field in ("created_at", "last_message_at"):
        return datetime.fromisoformat(value)
    if field == "birthday":
        return date.fromisoformat(value)
    return value
