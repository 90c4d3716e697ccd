"""Customers: the adviser's conversation list, the list of customers, one profile, the
customer import (OneID), lifecycle stages, and removing a customer."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from bot.crm import oneid
from bot.crm import reports as crm_reports
from bot.crm import segments as crm_segments
from bot.services import audit
from bot.services.access import CUSTOMER_VIEWERS, Principal, check_customer, require, scope_of
from bot.services.industries import unused_warnings
from bot.store import customers as customers_repo
from bot.store import fields as fields_repo
from bot.store import identities as identities_repo
from bot.store import inbox as inbox_repo
from bot.store import records
from bot.store.identities import ImportStats

CustomerProfile = records.CustomerProfile
CustomerRecord = records.CustomerRecord

#: The audit action of opening a profile; the conversation list counts a customer's
#: messages since the viewer's last one as unread.
VIEW_ACTION = inbox_repo.VIEW_ACTION
MERGED_NOTICE = "已合并到客户 #{id}"


def inbox(session: Session, principal: Principal) -> list[inbox_repo.InboxRow]:
    """The conversation list: customers in scope with unread count and waiting time."""
    require(principal, *CUSTOMER_VIEWERS)
    scope = scope_of(session, principal)
    rows = inbox_repo.conversation_list(
        session=session, adviser_ids=scope.adviser_ids, viewer=principal.username
    )
    audit.record(session, principal, "inbox.view", "customer", "", count=len(rows))
    return rows


def list_customers(
    session: Session, principal: Principal, *, adviser_id: str | None = None
) -> list[CustomerRecord]:
    """Customers in scope (only ``adviser_id``'s when given), most recently active first."""
    require(principal, *CUSTOMER_VIEWERS)
    advisers = scope_of(session, principal).narrow(adviser_id)
    rows = customers_repo.list_customers(session=session, adviser_ids=advisers)
    audit.record(
        session, principal, "customers.list", "customer", "", count=len(rows), adviser=adviser_id
    )
    return rows


def merged_notice(customer: CustomerRecord) -> str | None:
    """「已合并到客户 #12」 for a profile merged into another (None otherwise): where its
    identities, messages and tags went."""
    if customer.merged_into_id is None:
        return None
    return MERGED_NOTICE.format(id=customer.merged_into_id)


def profile(
    session: Session, principal: Principal, customer_id: int, *, timeline_limit: int = 50
) -> CustomerProfile:
    """One customer's identities, tags and timeline. A profile merged into another is
    still shown (``merged_notice`` says where everything went)."""
    check_customer(session, principal, customer_id)
    found = customers_repo.customer_profile(
        session=session, customer_id=customer_id, timeline_limit=timeline_limit
    )
    audit.record(session, principal, VIEW_ACTION, "customer", customer_id)
    return found


def import_file(
    session: Session, principal: Principal, *, path: Path, timezone: str
) -> ImportStats:
    """Import customers and identities from CSV / XLSX, all or nothing (the store writes
    the audit row ``customers.import``). The stats warn about an industry no script,
    document or tag uses (a misspelt one matches no script)."""
    require(principal)
    rows = oneid.read_customer_file(
        path, timezone=timezone, profile_fields=fields_repo.list_fields(session=session)
    )
    named = [r.fields.get("industry") for r in rows]
    warnings = unused_warnings(
        session,
        [v for v in named if isinstance(v, str)],
        what="客户",
        uses=("scripts", "documents", "taxonomy"),
    )
    stats = identities_repo.import_customers(
        session=session, rows=rows, actor=principal.username, source_name=path.name
    )
    return replace(stats, warnings=tuple(warnings))


def refresh_lifecycles(
    session: Session, principal: Principal, *, now: datetime, silent_after_days: int
) -> dict[str, int]:
    """Recompute every customer's lifecycle stage; the count per stage."""
    require(principal)
    counts = crm_reports.refresh_lifecycles(
        session=session, now=now, silent_after_days=silent_after_days
    )
    audit.record(session, principal, "customers.lifecycle", "customer", "", **counts)
    return counts


def delete_by_identity(session: Session, principal: Principal, *, kind: str, value: str) -> bool:
    """Delete the customer holding this identity, with everything of theirs (the demo
    starts its customers afresh); False when there is none."""
    require(principal)
    deleted = customers_repo.delete_customer_by_identity(
        session=session, identity_kind=kind, identity_value=value
    )
    if deleted:
        audit.record(session, principal, "customer.delete", "identity", f"{kind}:{value}")
    return deleted


def export_table(
    session: Session,
    principal: Principal,
    *,
    path: Path,
    adviser_id: str | None = None,
    segment: str | None = None,
) -> int:
    """Write the customers in scope (one adviser's, one segment's) in the import format,
    with their profile fields, referrer and entry code; audited. How many were written."""
    require(principal, *CUSTOMER_VIEWERS)
    advisers = scope_of(session, principal).narrow(adviser_id)
    members = crm_segments.members(session=session, name=segment) if segment else None
    rows = identities_repo.customer_table(
        session=session, adviser_ids=advisers, customer_ids=members
    )
    names = [f.name for f in fields_repo.list_fields(session=session)]
    oneid.write_customer_file(path, rows, fields=names)
    audit.record(
        session,
        principal,
        "customers.export",
        "customer",
        "",
        count=len(rows),
        adviser=adviser_id,
        segment=segment,
    )
    return len(rows)
