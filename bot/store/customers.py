"""Customers, their identities (OneID) and advisers."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import UTC, date, datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.domain import UNASSIGNED_ADVISER, UNASSIGNED_ADVISER_NAME
from bot.errors import NotFoundError
from bot.store import ownership
from bot.store.db import insert_or_get
from bot.store.models import (
    Adviser,
    Customer,
    CustomerTag,
    Event,
    Identity,
    Message,
    Tag,
    utcnow,
)
from bot.store.ownership import Owned
from bot.store.records import (
    AdviserRecord,
    CustomerProfile,
    CustomerRecord,
    IdentityRecord,
    TimelineEntry,
    aware,
)
from bot.store.tags import customer_tag_record
from bot.vocab import Stage

#: The profile's own columns a person edits on the profile card (city, product, birthday).
BASIC_COLUMNS = ("city", "product", "birthday")


def ensure_adviser(*, session: Session, adviser_id: str, name: str = "") -> AdviserRecord:
    """The adviser ``adviser_id``, created if unknown: the paths that meet an adviser by
    id (a channel's message, the chat-history import, the customer import, a campaign
    code) come here, so an adviser is named alike whichever came first (a console user
    brings a name of its own: ``bot/store/users.py``).

    ``name`` is the channel account's own name (``advisers.name``) as the channel reports
    it, and replaces a stored one that differs. A file knows only the adviser's id, and
    a bare id is no name: an adviser created with none is shown by their console name,
    persona or, lacking all, the id (``bot/store/advisers.py``, ``adviser_names``), and
    an empty ``name``, or the id itself, never overwrites a name."""
    if name == adviser_id:
        name = ""
    row, created = insert_or_get(
        session, Adviser(id=adviser_id, name=name), lambda: session.get(Adviser, adviser_id)
    )
    if not created and name and row.name != name:
        row.name = name
    session.flush()
    return adviser_record(row)


def get_adviser(*, session: Session, adviser_id: str) -> AdviserRecord | None:
    row = session.get(Adviser, adviser_id)
    return adviser_record(row) if row else None


def adviser_record(row: Adviser) -> AdviserRecord:
    return AdviserRecord(
        id=row.id,
        name=UNASSIGNED_ADVISER_NAME
        if row.id == UNASSIGNED_ADVISER and row.name in ("", row.id)
        else row.name,
        team=row.team,
        persona_name=row.persona_name or None,
        signature=row.signature or "",
        tone=row.tone or "",
    )


def find_or_create_customer(
    *,
    session: Session,
    identity_kind: str,
    identity_value: str,
    name: str = "",
    adviser_id: str | None = None,
    industry: str | None = None,
    first_seen: datetime | None = None,
) -> tuple[CustomerRecord, bool]:
    """The customer owning this identity, created (with the identity) if new.

    ``first_seen``: when the customer first wrote or was written to (a message's
    ``sent_at``): a new customer is added as of then, not of now, so an imported archive
    of last year's chats does not count as today's new contacts. Never later than now.

    Returns ``(customer, created)``.
    """
    stmt = select(Identity).where(Identity.kind == identity_kind, Identity.value == identity_value)
    ident = session.scalar(stmt)
    if ident is None:
        try:
            added = (
                utcnow() if first_seen is None else min(aware(first_seen).astimezone(UTC), utcnow())
            )
            with session.begin_nested():
                customer = Customer(
                    name=name, adviser_id=adviser_id, industry=industry, created_at=added
                )
                session.add(customer)
                session.flush()
                session.add(
                    Identity(
                        customer_id=customer.id,
                        kind=identity_kind,
                        value=identity_value,
                        display_name=name or None,
                    )
                )
                session.add(
                    Event(
                        customer_id=customer.id,
                        type="contact_added",
                        payload={"via": identity_kind},
                        occurred_at=added,
                    )
                )
                session.flush()
            return customer_record(customer), True
        except IntegrityError:
            ident = session.scalar(stmt)  # another worker created it first
            if ident is None:
                raise
    customer = session.get_one(Customer, ident.customer_id)
    if first_seen is not None:
        _added_by(session, customer, aware(first_seen).astimezone(UTC))
    if name and not customer.name:
        customer.name = name
    if adviser_id and not customer.adviser_id:
        customer.adviser_id = adviser_id
    if industry and not customer.industry:
        customer.industry = industry
    return customer_record(customer), False


def _added_by(session: Session, customer: Customer, seen: datetime) -> None:
    """An earlier message of a known customer (an older archive imported after a newer
    one) moves when they were added back to it, with their 添加好友 event."""
    if seen >= aware(customer.created_at):
        return
    added = session.scalar(
        select(Event)
        .where(Event.customer_id == customer.id, Event.type == "contact_added")
        .order_by(Event.occurred_at)
        .limit(1)
    )
    if added is not None and aware(added.occurred_at) > seen:
        added.occurred_at = seen
    customer.created_at = seen


def identity_owner(*, session: Session, kind: str, value: str) -> str | None:
    """The adviser of the customer holding this identity (None: no such identity, or the
    customer has no adviser yet)."""
    stmt = (
        select(Customer.adviser_id)
        .join(Identity, Identity.customer_id == Customer.id)
        .where(Identity.kind == kind, Identity.value == value)
    )
    return session.scalar(stmt)


def identity_owners(
    *, session: Session, kind: str, values: Collection[str]
) -> dict[str, str | None]:
    """``identity_owner`` of many values at once: value -> the adviser of its customer
    (None: the customer has no adviser); values no customer holds are left out."""
    owners: dict[str, str | None] = {}
    listed = list(values)
    for start in range(0, len(listed), 5000):
        stmt = (
            select(Identity.value, Customer.adviser_id)
            .join(Customer, Identity.customer_id == Customer.id)
            .where(Identity.kind == kind, Identity.value.in_(listed[start : start + 5000]))
        )
        owners.update((value, adviser) for value, adviser in session.execute(stmt))
    return owners


def identities_of_kind(*, session: Session, kind: str) -> dict[int, str]:
    """Customer id -> the value of its identity of ``kind`` (e.g. ``history_contact``)."""
    stmt = select(Identity.customer_id, Identity.value).where(Identity.kind == kind)
    return {customer_id: value for customer_id, value in session.execute(stmt)}


def get_customer(*, session: Session, customer_id: int) -> CustomerRecord:
    row = session.get(Customer, customer_id)
    if row is None:
        raise NotFoundError(f"客户 {customer_id} 不存在")
    return customer_record(row)


def update_customer(
    *,
    session: Session,
    customer_id: int,
    name: str | None = None,
    industry: str | None = None,
    stage: Stage | None = None,
    product: str | None = None,
    city: str | None = None,
) -> CustomerRecord:
    row = session.get(Customer, customer_id)
    if row is None:
        raise NotFoundError(f"客户 {customer_id} 不存在")
    for attr, value in (
        ("name", name),
        ("industry", industry),
        ("stage", stage),
        ("product", product),
        ("city", city),
    ):
        if value is not None:
            setattr(row, attr, value)
    session.flush()
    return customer_record(row)


def set_basics(
    *, session: Session, customer_id: int, values: Mapping[str, str | date | None]
) -> CustomerRecord:
    """Set the profile's own columns among ``BASIC_COLUMNS`` (None clears one)."""
    row = session.get(Customer, customer_id)
    if row is None:
        raise NotFoundError(f"客户 {customer_id} 不存在")
    for attr, value in values.items():
        if attr not in BASIC_COLUMNS:
            raise KeyError(attr)
        setattr(row, attr, value)
    session.flush()
    return customer_record(row)


def list_customers(
    *,
    session: Session,
    adviser_id: str | None = None,
    adviser_ids: tuple[str, ...] | None = None,
    limit: int = 100,
) -> list[CustomerRecord]:
    """Visible customers, most recently active first; ``adviser_ids`` (a scope) limits
    them to those advisers' customers."""
    stmt = (
        select(Customer)
        .where(Customer.merged_into_id.is_(None))  # merged profiles live on in the kept one
        .order_by(Customer.last_message_at.desc(), Customer.id)
        .limit(limit)
    )
    if adviser_id is not None:
        stmt = stmt.where(Customer.adviser_id == adviser_id)
    if adviser_ids is not None:
        stmt = stmt.where(Customer.adviser_id.in_(adviser_ids))
    return [customer_record(row) for row in session.scalars(stmt)]


def customer_profile(
    *, session: Session, customer_id: int, timeline_limit: int = 50
) -> CustomerProfile:
    """Identities, tags and the newest ``timeline_limit`` messages and events, oldest first."""
    row = session.get(Customer, customer_id)
    if row is None:
        raise NotFoundError(f"客户 {customer_id} 不存在")
    identities = tuple(
        IdentityRecord(kind=i.kind, value=i.value, display_name=i.display_name)
        for i in session.scalars(
            select(Identity).where(Identity.customer_id == customer_id).order_by(Identity.id)
        )
    )
    tags = tuple(
        customer_tag_record(ct, row.name)
        for ct in session.scalars(
            select(CustomerTag)
            .join(Tag)
            .where(CustomerTag.customer_id == customer_id)
            .order_by(CustomerTag.id)
        )
    )
    messages = session.scalars(
        select(Message)
        .where(Message.customer_id == customer_id)
        .order_by(Message.sent_at.desc(), Message.id.desc())
        .limit(timeline_limit)
    ).all()
    events = session.scalars(
        select(Event)
        .where(Event.customer_id == customer_id)
        .order_by(Event.occurred_at.desc(), Event.id.desc())
        .limit(timeline_limit)
    ).all()
    entries = [
        TimelineEntry(at=aware(m.sent_at), kind="message", direction=m.direction, text=m.text)
        for m in messages
    ] + [
        TimelineEntry(at=aware(e.occurred_at), kind="event", direction=None, text=e.type)
        for e in events
    ]
    entries.sort(key=lambda e: e.at)
    count = session.scalar(
        select(func.count()).select_from(Message).where(Message.customer_id == customer_id)
    )
    return CustomerProfile(
        customer=customer_record(row),
        identities=identities,
        tags=tags,
        timeline=tuple(entries[-timeline_limit:]),
        message_count=int(count or 0),
    )


def add_event(
    *,
    session: Session,
    customer_id: int,
    type: str,
    payload: dict[str, object] | None = None,
    occurred_at: datetime | None = None,
) -> None:
    event = Event(customer_id=customer_id, type=type, payload=dict(payload or {}))
    if occurred_at is not None:
        event.occurred_at = occurred_at
    session.add(event)
    session.flush()


def delete_customer(*, session: Session, customer_id: int) -> bool:
    """Delete a customer and everything held about them (the ``delete`` policies of
    bot/store/ownership.py), profiles merged into them included. False if unknown."""
    if session.get(Customer, customer_id) is None:
        return False
    _delete(session, customer_id)
    session.flush()
    return True


def _delete(session: Session, customer_id: int) -> None:
    for owned in ownership.OWNED:
        if owned.delete == "profiles":
            for other in ownership.owned_ids(session=session, owned=owned, customer_id=customer_id):
                _delete(session, other)
    ownership.detach_references(session=session, customer_id=customer_id, removes=_deletes)
    for owned in reversed(ownership.OWNED):  # rows pointing at others' rows go first
        if _deletes(owned):
            session.execute(delete(owned.model).where(ownership.removed_rows(owned, customer_id)))
        elif owned.delete == "detach":
            column = ownership.owner_column(owned)
            session.execute(
                update(owned.model)
                .where(ownership.rows_of(owned, customer_id))
                .values({column.key: None})
                .execution_options(synchronize_session=False)
            )
    session.execute(delete(Customer).where(Customer.id == customer_id))


def _deletes(owned: Owned) -> bool:
    return owned.delete == "delete"


def delete_customer_by_identity(
    *, session: Session, identity_kind: str, identity_value: str
) -> bool:
    customer_id = session.scalar(
        select(Identity.customer_id).where(
            Identity.kind == identity_kind, Identity.value == identity_value
        )
    )
    if customer_id is None:
        return False
    return delete_customer(session=session, customer_id=customer_id)


def customer_record(row: Customer) -> CustomerRecord:
    return CustomerRecord(
        id=row.id,
        name=row.name,
        adviser_id=row.adviser_id,
        industry=row.industry,
        stage=row.stage,
        product=row.product,
        city=row.city,
        created_at=aware(row.created_at),
        last_message_at=aware(row.last_message_at) if row.last_message_at else None,
        birthday=row.birthday,
        source=row.source,
        lifecycle=row.lifecycle,
        merged_into_id=row.merged_into_id,
        referred_by_id=row.referred_by_id,
        entry_code_id=row.entry_code_id,
    )
