"""The registry of customer-owned tables (bot/store/ownership.py) is complete and coherent,
read from the SQLAlchemy metadata: a table added with a foreign key to a customer, or to a
row a customer owns, fails here until merge, delete, forget and export know about it."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from sqlalchemy import UniqueConstraint, select
from store_backends import log_inbound

from bot.crm import oneid
from bot.store import Database, customers, erasure, messages, tags
from bot.store.models import Base, Customer
from bot.store.ownership import (
    OWNED,
    PROFILE_ERASE,
    Anonymise,
    Detach,
    Direct,
    Export,
    Move,
    Owned,
    Through,
)


def named_columns(owned: Owned) -> set[str]:
    """The foreign-key columns an entry accounts for: owners, ``Through`` and refs."""
    names = {ref.column for ref in owned.refs}
    if isinstance(owned.owner, Direct):
        names.update(owned.owner.columns)
    elif isinstance(owned.owner, Through):
        names.add(owned.owner.column)
    return names


def missing(registry: Sequence[Owned]) -> list[str]:
    """Foreign keys to ``customers.id`` or to a table of ``registry`` that no entry names."""
    owned_tables = {"customers"} | {o.table for o in registry}
    named = {(o.table, c) for o in registry for c in named_columns(o)}
    return sorted(
        f"{table.name}.{fk.parent.name} -> {fk.target_fullname}"
        for table in Base.metadata.sorted_tables
        for fk in table.foreign_keys
        if fk.column.table.name in owned_tables and (table.name, fk.parent.name) not in named
    )


def test_every_foreign_key_to_a_customer_or_their_rows_is_in_the_registry() -> None:
    assert missing(OWNED) == []


@pytest.mark.parametrize("left_out", [o for o in OWNED if named_columns(o)], ids=lambda o: o.table)
def test_the_check_notices_a_forgotten_table(left_out: Owned) -> None:
    assert missing([o for o in OWNED if o is not left_out])


def test_the_check_notices_a_forgotten_reference() -> None:
    tags = next(o for o in OWNED if o.table == "customer_tags")
    without_refs = Owned(tags.model, tags.owner, tags.merge, tags.delete, tags.erase, tags.export)
    assert missing([without_refs if o is tags else o for o in OWNED]) == [
        "customer_tags.evidence_message_id -> messages.id"
    ]


def test_every_entry_comes_after_the_tables_it_points_at() -> None:
    position = {o.table: i for i, o in enumerate(OWNED)}
    for i, owned in enumerate(OWNED):
        columns = owned.model.__table__.columns
        for name in named_columns(owned):
            (fk,) = columns[name].foreign_keys
            target = fk.column.table.name
            if target != "customers":
                assert position[target] < i, f"{owned.table}.{name} points at a later entry"


def test_merges_move_by_one_column_and_respect_unique_constraints() -> None:
    keys = [o.merge.key for o in OWNED if isinstance(o.merge, Move)]
    assert len(keys) == len(set(keys))
    for owned in OWNED:
        if not isinstance(owned.merge, Move):
            continue
        assert isinstance(owned.owner, Direct) and len(owned.owner.columns) == 1, owned.table
        (owner,) = owned.owner.columns
        for constraint in owned.model.__table__.constraints:
            if isinstance(constraint, UniqueConstraint) and owner in constraint.columns:
                others = {c.name for c in constraint.columns} - {owner}
                assert set(owned.merge.unique) == others, owned.table


@pytest.mark.parametrize(
    ("owned", "policy"),
    [(o, o.erase) for o in OWNED if isinstance(o.erase, Anonymise)]
    + [(next(o for o in OWNED if o.model is Customer), PROFILE_ERASE)],
    ids=lambda x: x.table if isinstance(x, Owned) else "",
)
def test_forget_decides_for_every_column_it_keeps(owned: Owned, policy: Anonymise) -> None:
    """Anonymised rows: each column is kept, blanked or stripped (or a key) — a new column
    of free text cannot stay readable after a forget without someone deciding so."""
    decided = [*policy.keeps, *policy.blank, *policy.strip]
    assert len(decided) == len(set(decided))
    keys = {c.name for c in owned.model.__table__.primary_key.columns}
    if owned.model is not Customer:
        keys |= named_columns(owned)
    columns = {c.name for c in owned.model.__table__.columns}
    assert set(decided) | keys == columns
    assert not set(decided) & keys


def test_detached_references_can_be_detached() -> None:
    for owned in OWNED:
        for ref in owned.refs:
            if isinstance(ref.on_remove, Detach):
                assert ref.on_remove.values.get(ref.column, "missing") is None
                assert owned.model.__table__.columns[ref.column].nullable


def test_export_and_forget_names_are_distinct() -> None:
    exports = [o.export.key for o in OWNED if isinstance(o.export, Export)]
    assert len(exports) == len(set(exports)) and "customer" not in exports


# --------------------------------------------------------------------------- behaviour
REASON = "同一人：手机 13812345678"


@pytest.mark.parametrize("forget", ["kept", "merged", "merged after undo"])
def test_a_merge_reason_does_not_survive_forget(db: Database, forget: str) -> None:
    with db.session() as s:
        a, _ = customers.find_or_create_customer(
            session=s, identity_kind="phone", identity_value="13812345678", name="张丽"
        )
        b, _ = customers.find_or_create_customer(
            session=s, identity_kind="wechaty_contact", identity_value="wx-b", name="丽"
        )
        merge = oneid.merge(session=s, keep=a.id, merge=b.id, actor="boss", reason=REASON)
        if forget == "merged after undo":
            oneid.unmerge(session=s, merge_id=merge.id, actor="boss")
        target = a.id if forget == "kept" else b.id
    assert REASON in everything(db)
    with db.session() as s:
        erasure.erase_customer(session=s, customer_id=target, actor="dpo")
    assert REASON not in everything(db)
    with db.session() as s:  # the merge itself is still on record, without its reason
        entries = s.scalars(select(Base.metadata.tables["audit_log"].c.action)).all()
    assert "customer.merge" in entries


def everything(db: Database) -> str:
    """Every value of every row of every table, as one text."""
    with db.engine.connect() as conn:
        return "\n".join(
            repr(tuple(row))
            for table in Base.metadata.sorted_tables
            for row in conn.execute(table.select())
        )


def test_deleting_a_customer_detaches_what_others_point_at(db: Database) -> None:
    """Another customer's tag cites this customer's message (a merge undone can leave one):
    delete keeps that tag, without the pointer or the quoted evidence."""
    with db.session() as s:
        a, a_msg, _ = log_inbound(s, "wx-a", "m-wx-a", "我家孩子三岁")
        b, _, _ = log_inbound(s, "wx-b", "m-wx-b")
        tags.replace_taxonomy(
            session=s,
            categories=[tags.CategorySpec("家庭", "general", tags=(tags.TagSpec("有孩子"),))],
        )
        (tag,) = tags.list_tags(session=s)
        tags.suggest_customer_tag(
            session=s,
            customer_id=b,
            tag_id=tag.id,
            evidence="我家孩子三岁",
            score=1.0,
            message_id=a_msg.id,
        )
    with db.session() as s:
        assert customers.delete_customer(session=s, customer_id=a)
    with db.session() as s:
        (left,) = tags.list_customer_tags(session=s)
        assert (left.customer_id, left.evidence) == (b, "")
        assert messages.get_message(session=s, msg_id="m-wx-a") is None
        assert messages.get_message(session=s, msg_id="m-wx-b") is not None
