"""Data-subject requests: export what is held about one person, or erase it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from bot.pipeline.runtime import Runtime
from bot.services import audit
from bot.services.access import Principal, check_customer, require
from bot.store import Database, erasure
from bot.store import customers as customers_repo
from bot.store import examples as examples_repo
from bot.store import suggestions as suggestions_repo
from bot.store.db import Purged
from bot.store.records import CustomerProfile, SuggestionRecord

#: Audit action of every export of one customer's data, from any front.
EXPORT_ACTION = "customer.export"
#: At most this many timeline entries and suggestions in a profile export.
EXPORT_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class Forgotten:
    #: Rows deleted or stripped, per kind (the audit log keeps these counts).
    counts: dict[str, int]
    #: What was done to the database files afterwards.
    purged: Purged


@dataclass(frozen=True, slots=True)
class ProfileExport:
    profile: CustomerProfile
    suggestions: list[SuggestionRecord]


def export_profile(session: Session, principal: Principal, customer_id: int) -> ProfileExport:
    """The profile with its whole timeline and every suggestion made for the customer
    (``GET /api/customers/{id}/export``)."""
    check_customer(session, principal, customer_id)
    found = customers_repo.customer_profile(
        session=session, customer_id=customer_id, timeline_limit=EXPORT_LIMIT
    )
    suggestions = suggestions_repo.list_suggestions(
        session=session, customer_id=customer_id, limit=EXPORT_LIMIT
    )
    audit.record(session, principal, EXPORT_ACTION, "customer", customer_id)
    return ProfileExport(profile=found, suggestions=suggestions)


def export_everything(session: Session, principal: Principal, customer_id: int) -> dict[str, Any]:
    """Every row held about one customer, JSON-ready (``siyu customers export``); the
    store writes the ``customer.export`` audit row with the principal's name."""
    check_customer(session, principal, customer_id)
    return erasure.export_customer(
        session=session, customer_id=customer_id, actor=principal.username
    )


def forget(db: Database, principal: Principal, customer_id: int, *, full: bool = True) -> Forgotten:
    """Erase one person's personal data and messages, keeping anonymous aggregates (the
    store writes the ``customer.forget`` audit row); once committed, purge the database
    files of it (``Database.purge``; ``full``: VACUUM FULL on PostgreSQL)."""
    require(principal)
    with db.session() as session:
        check_customer(session, principal, customer_id)
        counts = erasure.erase_customer(
            session=session, customer_id=customer_id, actor=principal.username
        )
    return Forgotten(counts=counts, purged=db.purge(erasure.erased_tables(counts), full=full))


def forget_everywhere(
    rt: Runtime, principal: Principal, customer_id: int, *, full: bool = True
) -> Forgotten:
    """``forget``, and the vectors of the examples learned from the person's messages
    dropped from the running index (another running process drops them at its next
    start or library change, when its index is synced with the database)."""
    with rt.db.session() as session:
        learned = examples_repo.learned_ids_of_customer(session=session, customer_id=customer_id)
    forgotten = forget(rt.db, principal, customer_id, full=full)
    rt.library.triggers.remove(learned)
    return forgotten
