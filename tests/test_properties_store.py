"""Any text a user or a customer may send is stored, on SQLite and PostgreSQL, by the rule
messages follow: NUL and lone surrogates become U+FFFD, nothing else changes (issue 13).
PostgreSQL refuses NUL and neither backend encodes a lone surrogate, so without the rule
an outcome's final text, an order's product or id, a merge's reason … fail with a 500.
Every write path of the services that stores free text is driven with such text."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.services import conversions, merges, segments, suggestions, users
from bot.services.access import cli_principal
from bot.store import Database
from bot.store import customers as customers_repo
from bot.store import scripts as scripts_repo
from bot.store import suggestions as suggestions_repo
from bot.store.models import (
    ApiToken,
    AuditLog,
    CustomerMerge,
    Event,
    Outcome,
    Script,
    Segment,
    Transaction,
    User,
)
from knowledge.text import storable
from scripts_lib.model import ScriptRecord

_ODD = st.sampled_from(["\x00", "\ud800", "\udfff", "\ud83d", "\x1b", "\u202e", "张", "a", " "])
TEXT = st.text(st.one_of(_ODD, st.characters()), min_size=1, max_size=30)
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
ADMIN = cli_principal("dpo")
_n = itertools.count()
SCRIPT = ScriptRecord(
    id="S-1", title="问候", category="welcome", stage="acquire", industry="general", body="您好"
)
SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _customer(db: Database, name: str = "客户") -> tuple[int, int]:
    """A new customer of adviser a1 with one suggestion showing script S-1."""
    with db.session() as s:
        if s.get(Script, "S-1") is None:
            scripts_repo.upsert_scripts(session=s, records=[SCRIPT])
        customers_repo.ensure_adviser(session=s, adviser_id="a1", name="李顾问")
        customer, _ = customers_repo.find_or_create_customer(
            session=s, identity_kind="wechat", identity_value=f"wx-{next(_n)}", name=name
        )
        saved = suggestions_repo.save_suggestion(
            session=s,
            message_id=None,
            customer_id=customer.id,
            adviser_id="a1",
            mode="retrieval",
            reply=None,
            candidates={"scripts": [{"id": "S-1", "text": "您好"}]},
            latency_ms=1.0,
        )
    return customer.id, saved.id


def test_storable_replaces_only_what_no_database_keeps() -> None:
    assert storable("a\x00b\ud800c\udfff张\x1b\u202e") == "a\ufffdb\ufffdc\ufffd张\x1b\u202e"


@SETTINGS
@given(text=TEXT)
@example(text="最终\x00文本\ud83d")
def test_an_edited_outcome_keeps_the_final_text(db: Database, text: str) -> None:
    _, suggestion_id = _customer(db)
    with db.session() as s:
        outcome_id = suggestions.record_outcome(
            s, ADMIN, suggestion_id=suggestion_id, kind="edited", final_text=text, script_id="S-1"
        )
    with db.session() as s:
        assert s.get_one(Outcome, outcome_id).final_text == storable(text)


@SETTINGS
@given(product=TEXT, order=TEXT)
@example(product="安心保\x00", order="SO-\x00-1")
def test_an_order_keeps_its_product_and_number(db: Database, product: str, order: str) -> None:
    customer_id, _ = _customer(db)
    order_id = f"{next(_n)}-{order}"
    with db.session() as s:
        recorded = conversions.record(
            s,
            ADMIN,
            customer=str(customer_id),
            type="purchase",
            occurred_at=datetime.now(UTC),
            amount=100.0,
            product=product,
            order_id=order_id,
        )
    assert recorded.conversion is not None
    with db.session() as s:
        tx = s.get_one(Transaction, recorded.conversion.transaction_id)
        event = s.get_one(Event, recorded.conversion.event_id)
    assert (tx.product, tx.external_id) == (storable(product), storable(order_id))
    assert event.payload["product"] == storable(product)
    assert event.payload["order_id"] == storable(order_id)
    with db.session() as s:  # the same order id again is found, not stored twice
        again = conversions.record(
            s,
            ADMIN,
            customer=str(customer_id),
            type="purchase",
            occurred_at=datetime.now(UTC),
            amount=100.0,
            order_id=order_id,
        )
    assert again.conversion is None


@SETTINGS
@given(reason=TEXT)
@example(reason="同一人\x00\udc00")
def test_a_merge_keeps_its_reason(db: Database, reason: str) -> None:
    keep, _ = _customer(db, "甲")
    merge, _ = _customer(db, "乙")
    with db.session() as s:
        record = merges.merge(s, ADMIN, keep_id=keep, merge_id=merge, reason=reason)
    with db.session() as s:
        row = s.get_one(CustomerMerge, record.id)
        entry = s.scalars(
            select(AuditLog).where(AuditLog.action == "customer.merge").order_by(AuditLog.id)
        ).all()[-1]
    assert row.reason == storable(reason)
    assert entry.detail["reason"] == storable(reason)


@SETTINGS
@given(name=TEXT, description=TEXT)
@example(name="宝妈\x00", description="\ud800")
def test_a_segment_keeps_its_name_and_description(
    db: Database, name: str, description: str
) -> None:
    unique = f"{next(_n)}{name}"
    if not unique.strip():
        return
    with db.session() as s:
        segments.save(s, ADMIN, name=unique, filters=["stage=acquire"], description=description)
    with db.session() as s:
        row = s.scalars(select(Segment).order_by(Segment.id.desc())).first()
    assert row is not None
    assert (row.name, row.description) == (storable(unique.strip()), storable(description))


@SETTINGS
@given(display=TEXT, token_name=TEXT)
@example(display="张\x00丽", token_name="\udfffCRM")
def test_a_user_keeps_their_display_name_and_token_name(
    db: Database, display: str, token_name: str
) -> None:
    username = f"u{next(_n)}"
    with db.session() as s:
        users.add(
            s,
            ADMIN,
            username=username,
            password="Qz8!vR2#mLp9-long",
            role="operator",
            display_name=display,
        )
        users.issue_token(s, ADMIN, username=username, name=token_name)
    with db.session() as s:
        user = s.scalars(select(User).where(User.username == username)).one()
        token = s.scalars(select(ApiToken).where(ApiToken.user_id == user.id)).one()
    assert user.display_name == storable(display)
    assert token.name == storable(token_name)


@pytest.mark.parametrize("text", ["\x00", "a\ud800", "\udc00\x00"])
def test_a_lookup_with_unstorable_text_finds_the_stored_row(db: Database, text: str) -> None:
    customer_id, _ = _customer(db)
    with db.session() as s:
        conversions.record(
            s,
            ADMIN,
            customer=str(customer_id),
            type="purchase",
            occurred_at=datetime.now(UTC),
            amount=1.0,
            order_id=f"dup{text}",
        )
    with db.session() as s:
        again = conversions.record(
            s,
            ADMIN,
            customer=str(customer_id),
            type="purchase",
            occurred_at=datetime.now(UTC),
            amount=1.0,
            order_id=f"dup{text}",
        )
        stored = s.scalars(select(Transaction.external_id)).all()
    assert again.conversion is None, "the same order id (as stored) is not stored twice"
    assert not any(_UNSTORABLE.search(v or "") for v in stored)
