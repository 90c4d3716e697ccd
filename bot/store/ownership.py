"""What a customer owns: one registry of tables, read by merge, undo, delete, forget, export.

Every table holding a foreign key to ``customers.id`` — directly, or through a row that a
customer owns — has one ``Owned`` entry in ``OWNED`` saying what happens to its rows:

- ``merge``: ``Move`` (to the kept customer, and back on undo) or ``Stay``;
- ``delete``: ``"delete"``, ``"profiles"`` (profiles merged into this one are deleted as
  whole customers first), ``"detach"`` (other people's rows pointing at this customer lose
  the pointer) or ``"keep"``;
- ``erase`` (``siyu customers forget``): ``Remove``, ``Anonymise`` (kept for aggregates,
  what identifies the person blanked), ``ForgetProfiles``, ``ScrubDetail`` or ``Keep``
  (other people's rows, left as they are);
- ``export`` (``siyu customers export``): ``Export`` under a key of the JSON, or
  ``NotExported`` with the reason;
- ``refs``: its other foreign keys to customer-owned rows, and what happens to a row when
  the row it points at is removed (``Detach`` or ``Follow``).

``bot.store.merges`` (merge / undo), ``bot.store.customers.delete_customer`` and
``bot.store.erasure`` (forget / export) only walk this registry. tests/test_ownership.py
fails when a foreign key of the models is missing here, when an entry comes before a table
it points at, or when a column of an anonymised table is neither kept nor blanked.

Adding a table: append an ``Owned`` entry after every table it points at, choose each
policy (every field is required), and run tests/test_ownership.py. Names given to
``Move`` are stored in ``customer_merges.moved``: never rename one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import ColumnElement, exists, false, or_, select, update
from sqlalchemy.orm import Session

from bot.store.models import (
    AuditLog,
    Base,
    ChannelInbox,
    Conversation,
    Customer,
    CustomerFieldValue,
    CustomerMerge,
    CustomerNote,
    CustomerTag,
    Event,
    FollowUp,
    FollowUpOccurrence,
    Identity,
    Message,
    Outcome,
    ProfileSuggestion,
    ScriptExample,
    ScriptUse,
    Suggestion,
    TagExample,
    Transaction,
)


# --------------------------------------------------------------------------- owners
@dataclass(frozen=True, slots=True)
class Direct:
    """Rows whose ``columns`` (any of them) hold the customer's id."""

    columns: tuple[str, ...] = ("customer_id",)


@dataclass(frozen=True, slots=True)
class Through:
    """Rows owned through another owned table: ``column`` points at a row of ``parent``."""

    column: str
    parent: type[Base]


@dataclass(frozen=True, slots=True)
class Target:
    """Rows naming the customer as their target (``target_type`` / ``target_id``)."""

    target_type: str


# --------------------------------------------------------------------------- merge
@dataclass(frozen=True, slots=True)
class Move:
    """Rows move to the kept customer, and back on undo; ``key`` names them in
    ``customer_merges.moved`` (stored: never rename). A row that would duplicate one of the
    kept customer's on the ``unique`` columns stays (the kept customer's row wins)."""

    key: str
    unique: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Stay:
    """Rows are not moved by a merge, for the reason given."""

    why: str


# --------------------------------------------------------------------------- delete
#: ``delete``: the rows are deleted. ``profiles``: the rows are customers merged into this
#: one, each deleted as a whole customer first. ``detach``: the rows belong to other people
#: and stay, their owner column set to None. ``keep``: the rows stay.
DeletePolicy = Literal["delete", "profiles", "detach", "keep"]


# --------------------------------------------------------------------------- erase
@dataclass(frozen=True, slots=True)
class Remove:
    """Rows deleted; ``count`` names them in the forget summary. With ``unless_used``,
    rows still pointed at by rows that stay are kept, with these values instead."""

    count: str
    unless_used: Mapping[str, object] | None = None


@dataclass(frozen=True, slots=True)
class Anonymise:
    """Rows kept for the aggregates: the ``keeps`` columns stay as they are, ``blank``
    columns are overwritten, ``strip`` columns rewritten by their function. Every other
    column must be the primary key, an owner column or a ref (tests/test_ownership.py)."""

    count: str | None
    keeps: tuple[str, ...]
    blank: Mapping[str, object]
    strip: Mapping[str, Callable[[Any], Any]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ForgetProfiles:
    """Rows are customers merged into this one: each is forgotten as a whole, then its
    row deleted; ``count`` names them in the forget summary."""

    count: str


@dataclass(frozen=True, slots=True)
class ScrubDetail:
    """Entries of ``actions`` about the customer — as target, or named in the JSON
    detail under one of ``named_by`` — lose the ``keys`` of their detail."""

    actions: tuple[str, ...]
    keys: tuple[str, ...]
    named_by: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Keep:
    """Rows of other people that merely point at the customer: forget leaves them as they
    are (they then point at the anonymised profile), for the reason given."""

    why: str


# --------------------------------------------------------------------------- export
@dataclass(frozen=True, slots=True)
class Export:
    """Rows exported under ``key`` (every column), plus ``names``: extra fields computed
    from the row (a tag's name next to its id)."""

    key: str
    names: Mapping[str, Callable[[Any], object]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NotExported:
    why: str


# --------------------------------------------------------------------------- refs
@dataclass(frozen=True, slots=True)
class Detach:
    """The row stays and gets these values (the foreign key set to None, and any free
    text copied from the removed row blanked)."""

    values: Mapping[str, object]


@dataclass(frozen=True, slots=True)
class Follow:
    """The row is removed with the row it points at, if that row has the ``where``
    values."""

    where: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Ref:
    """A foreign key ``column`` to a row another entry owns, and what happens to this
    row when that one is removed (by delete or forget)."""

    column: str
    on_remove: Detach | Follow


# --------------------------------------------------------------------------- entry
ErasePolicy = Remove | Anonymise | ForgetProfiles | ScrubDetail | Keep


@dataclass(frozen=True, slots=True)
class Owned:
    """One customer-owned table and what each operation does to its rows."""

    model: type[Base]
    owner: Direct | Through | Target
    merge: Move | Stay
    delete: DeletePolicy
    erase: ErasePolicy
    export: Export | NotExported
    refs: tuple[Ref, ...] = ()

    @property
    def table(self) -> str:
        return str(self.model.__tablename__)


#: Keys of suggestion candidates dropped on erasure (their texts may quote the person).
CANDIDATE_TEXT_KEYS = frozenset({"text", "evidence", "reply"})


def strip_texts(value: Any) -> Any:
    """``value`` without the ``CANDIDATE_TEXT_KEYS`` of any dictionary in it."""
    if isinstance(value, dict):
        return {k: strip_texts(v) for k, v in value.items() if k not in CANDIDATE_TEXT_KEYS}
    if isinstance(value, list):
        return [strip_texts(v) for v in value]
    return value


def _tag_name(row: CustomerTag | TagExample) -> str:
    return row.tag.name


#: Every customer-owned table, each after the tables it points at (delete and forget
#: remove rows in the reverse order).
OWNED: tuple[Owned, ...] = (
    Owned(
        Identity,
        Direct(),
        merge=Move("identities"),
        delete="delete",
        erase=Remove("identities"),
        export=Export("identities"),
    ),
    Owned(
        Conversation,
        Direct(),  # 1:1 chats only: a group chat has no customer
        merge=Move("conversations"),
        delete="delete",
        erase=Remove("conversations", unless_used={"customer_id": None}),
        export=Export("conversations"),
    ),
    Owned(
        Message,
        Direct(),
        merge=Move("messages"),
        delete="delete",
        erase=Remove("messages"),
        export=Export("messages"),
        # the adviser's lines in the customer's 1:1 chat go with the chat
        refs=(Ref("conversation_id", Follow(where={"is_group": False})),),
    ),
    Owned(
        ChannelInbox,
        Direct(),  # rows are linked to their customer once logged (or parked and known)
        merge=Move("channel_inbox"),
        delete="delete",
        erase=Remove("channel_inbox"),
        export=Export("channel_inbox"),
    ),
    Owned(
        CustomerTag,
        Direct(),
        merge=Move("customer_tags", unique=("tag_id",)),
        delete="delete",
        erase=Remove("tags"),
        export=Export("tags", names={"tag": _tag_name}),
        refs=(Ref("evidence_message_id", Detach({"evidence_message_id": None, "evidence": ""})),),
    ),
    Owned(
        TagExample,
        Direct(),
        merge=Move("tag_examples"),  # with the messages they label
        delete="delete",
        erase=Remove("tag_examples"),
        export=Export("tag_examples", names={"tag": _tag_name}),
        # a label is about one message: it goes with it
        refs=(Ref("message_id", Follow()),),
    ),
    Owned(
        Suggestion,
        Direct(),
        merge=Move("suggestions"),
        delete="delete",
        erase=Anonymise(
            "suggestions_stripped",
            keeps=("adviser_id", "mode", "latency_ms", "created_at"),
            blank={"reply": None},
            strip={"candidates": strip_texts},  # script ids and scores stay
        ),
        export=Export("suggestions"),
        refs=(Ref("message_id", Detach({"message_id": None})),),
    ),
    Owned(
        Outcome,
        Through("suggestion_id", Suggestion),
        merge=Stay("follows its suggestion"),
        delete="delete",
        erase=Anonymise(
            "outcomes_stripped",
            keeps=(
                "kind",
                "script_id",
                "edit_distance",
                "customer_replied",
                "replied_at",
                "converted",
                "created_at",
            ),
            blank={"final_text": None},
        ),
        export=Export("outcomes"),
        refs=(Ref("message_id", Detach({"message_id": None})),),
    ),
    Owned(
        ScriptUse,
        Direct(),
        merge=Move("script_uses"),
        delete="delete",
        # which script answered, how closely, when: the learning statistics stay
        erase=Anonymise(
            None,
            keeps=(
                "script_id",
                "adviser_id",
                "kind",
                "similarity",
                "shown",
                "used_at",
                "created_at",
            ),
            blank={},
        ),
        export=Export("script_uses"),
        refs=(Ref("message_id", Detach({"message_id": None})),),
    ),
    Owned(
        ScriptExample,
        Direct(),  # learned examples; an operator's examples have no customer
        merge=Move("script_examples"),
        delete="delete",
        erase=Remove("script_examples"),  # the customer's own words
        export=Export("script_examples"),
        refs=(
            Ref("message_id", Follow()),
            Ref("use_id", Detach({"use_id": None})),
        ),
    ),
    Owned(
        Event,
        Direct(),
        merge=Move("events"),
        delete="delete",
        erase=Anonymise("events_stripped", keeps=("type", "occurred_at"), blank={"payload": {}}),
        export=Export("events"),
    ),
    Owned(
        Transaction,
        Direct(),
        merge=Move("transactions"),
        delete="delete",
        erase=Anonymise(
            "transactions_stripped",
            keeps=("product", "amount", "currency", "occurred_at"),
            blank={"external_id": None},  # the order number
        ),
        export=Export("transactions"),
    ),
    Owned(
        FollowUp,
        Direct(),
        merge=Move("follow_ups"),
        delete="delete",
        erase=Remove("follow_ups"),
        export=Export("follow_ups"),
    ),
    Owned(
        FollowUpOccurrence,
        Direct(),
        merge=Move("followup_occurrences", unique=("rule", "occurs_on")),
        delete="delete",
        erase=Remove("follow_up_occurrences"),
        export=NotExported("when a rule fired (idempotency keys); the follow-ups are exported"),
        refs=(Ref("follow_up_id", Detach({"follow_up_id": None})),),
    ),
    Owned(
        CustomerMerge,
        Direct(("kept_id", "merged_id")),
        merge=Stay("the record of a merge"),
        delete="delete",
        erase=Remove("merges"),  # holds copies of profile fields and the free-text reason
        export=Export("merges"),
    ),
    Owned(
        Customer,
        Direct(("merged_into_id",)),
        merge=Stay("a profile merged into the merged one stays there until that is undone"),
        delete="profiles",
        erase=ForgetProfiles("merged_profiles"),
        export=Export("merged_profiles"),
    ),
    Owned(
        Customer,
        Direct(("referred_by_id",)),  # the customers this one referred (老带新)
        merge=Move("referred_customers"),
        delete="detach",
        erase=Keep(
            "other people: they stay referred by the anonymised profile, so the"
            " referral shares do not change"
        ),
        export=NotExported(
            "other people's profiles; the customer's own referrer is in its profile row"
        ),
    ),
    Owned(
        CustomerFieldValue,
        Direct(),
        merge=Move("field_values", unique=("field",)),
        delete="delete",
        erase=Remove("profile_fields"),  # budget, income, occupation … describe the person
        export=Export("profile_fields"),
    ),
    Owned(
        ProfileSuggestion,
        Direct(),
        merge=Move("profile_suggestions", unique=("field", "value")),
        delete="delete",
        erase=Remove("profile_suggestions"),
        export=Export("profile_suggestions"),
        refs=(Ref("evidence_message_id", Detach({"evidence_message_id": None, "evidence": ""})),),
    ),
    Owned(
        CustomerNote,
        Direct(),
        merge=Move("notes"),
        delete="delete",
        erase=Remove("notes"),  # the adviser's private notes describe the person
        export=Export("notes"),
    ),
    Owned(
        AuditLog,
        Target("customer"),
        merge=Stay("the audit trail stays with the id it was written about"),
        delete="keep",
        erase=ScrubDetail(actions=("customer.merge",), keys=("reason",), named_by=("merged_id",)),
        export=Export("audit_log"),
    ),
)

#: Forget: what happens to the customer's own row (kept, so the funnel does not change).
PROFILE_ERASE = Anonymise(
    None,
    keeps=(
        "adviser_id",
        "industry",
        "stage",
        "created_at",
        "last_message_at",
        "source",
        "lifecycle",
        "merged_into_id",
        # where the contact came from stays, so campaign and referral reports do not change
        "referred_by_id",
        "entry_code_id",
    ),
    blank={"name": "", "city": None, "birthday": None, "product": None},
)


def entry(model: type[Base]) -> Owned:
    """The registry entry of ``model`` (for ``Customer``: the first, the profiles merged
    into one; rows pointing at a customer by another column have their own entries)."""
    for owned in OWNED:
        if owned.model is model:
            return owned
    raise KeyError(model.__tablename__)


def moved(key: str) -> Owned:
    """The entry whose rows a merge recorded under ``key``."""
    for owned in OWNED:
        if isinstance(owned.merge, Move) and owned.merge.key == key:
            return owned
    raise KeyError(key)


def owner_column(owned: Owned) -> Any:
    """The one column holding the customer's id, of an entry a merge moves."""
    if not isinstance(owned.owner, Direct) or len(owned.owner.columns) != 1:
        raise TypeError(f"{owned.table}: only rows owned by one column move")
    return getattr(owned.model, owned.owner.columns[0])


def rows_of(owned: Owned, customer_id: int) -> ColumnElement[bool]:
    """Which rows of ``owned`` are about the customer."""
    model: Any = owned.model
    match owned.owner:
        case Direct(columns):
            return or_(*(getattr(model, c) == customer_id for c in columns))
        case Through(column, parent):
            member: ColumnElement[bool] = getattr(model, column).in_(
                select(_id(parent)).where(rows_of(entry(parent), customer_id))
            )
            return member
        case Target(target_type):
            target: ColumnElement[bool] = (model.target_type == target_type) & (
                model.target_id == str(customer_id)
            )
            return target
    raise TypeError(owned.owner)  # pragma: no cover - exhaustive


def removed_rows(owned: Owned, customer_id: int) -> ColumnElement[bool]:
    """The rows that go when the customer is removed: theirs, and the rows that follow a
    removed row (``Follow`` refs)."""
    model: Any = owned.model
    clauses = [rows_of(owned, customer_id)]
    if isinstance(owned.owner, Through):
        parent = owned.owner.parent
        clauses = [
            getattr(model, owned.owner.column).in_(
                select(_id(parent)).where(removed_rows(entry(parent), customer_id))
            )
        ]
    for ref in owned.refs:
        if isinstance(ref.on_remove, Follow):
            parent = referenced(owned, ref)
            where = [getattr(parent, k) == v for k, v in ref.on_remove.where.items()]
            clauses.append(
                getattr(model, ref.column).in_(
                    select(_id(parent)).where(removed_rows(entry(parent), customer_id), *where)
                )
            )
    return or_(*clauses)


def detach_references(
    *, session: Session, customer_id: int, removes: Callable[[Owned], bool]
) -> None:
    """Before the rows of the entries that ``removes`` are deleted: ``Detach`` every row
    (anyone's) still pointing at one of them."""
    for owned in OWNED:
        for ref in owned.refs:
            if not isinstance(ref.on_remove, Detach):
                continue
            target = entry(referenced(owned, ref))
            if not removes(target):
                continue
            going = select(_id(target.model)).where(removed_rows(target, customer_id))
            model: Any = owned.model
            session.execute(
                update(model)
                .where(getattr(model, ref.column).in_(going))
                .values(dict(ref.on_remove.values))
            )


def owned_ids(*, session: Session, owned: Owned, customer_id: int) -> list[int]:
    """Ids of the customer's rows of ``owned``, in id order."""
    model = owned.model
    stmt = select(_id(model)).where(rows_of(owned, customer_id)).order_by(_id(model))
    return list(session.scalars(stmt))


def used(model: type[Base]) -> ColumnElement[bool]:
    """Rows of ``model`` that a row of any table points at (by a foreign key)."""
    table = model.__table__
    clauses: list[ColumnElement[bool]] = []
    for other in Base.metadata.sorted_tables:
        for fk in other.foreign_keys:
            if fk.column.table is table:
                clauses.append(exists().where(fk.parent == fk.column))
    return or_(false(), *clauses)


def referenced(owned: Owned, ref: Ref) -> type[Base]:
    """The model the foreign key ``ref.column`` points at."""
    column = owned.model.__table__.columns[ref.column]
    (fk,) = column.foreign_keys
    for mapper in Base.registry.mappers:
        if mapper.local_table is fk.column.table:
            return mapper.class_
    raise KeyError(fk.column.table.name)  # pragma: no cover - every table is mapped


def _id(model: type[Base]) -> Any:
    return model.id  # type: ignore[attr-defined]
