"""Customers: the adviser's conversation list, the list of customers, one profile, the
customer import (OneID), lifecycle stages, and removing a customer."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

from sqlalchemy.orm import Session

from bot.crm import oneid
from bot.crm import reports as crm_reports
from bot.crm import segments as crm_segments
from bot.crm.dates import parse_birthday
from bot.errors import InputError
from bot.services import audit
from bot.services.access import CUSTOMER_VIEWERS, Principal, check_customer, require, scope_of
from bot.services.advisers import advisers_as_known, new_advisers_warning
from bot.services.industries import unused_warnings
from bot.store import customers as customers_repo
from bot.store import fields as fields_repo
from bot.store import identities as identities_repo
from bot.store import inbox as inbox_repo
from bot.store import records
from bot.store.identities import ImportStats
from bot.store.industries import LIBRARY_USES, as_known

CustomerProfile = records.CustomerProfile
CustomerRecord = records.CustomerRecord

#: The audit action of opening a profile; the conversation list counts a customer's
#: messages since the viewer's last one as unread.
VIEW_ACTION = inbox_repo.VIEW_ACTION
MERGED_NOTICE = "已合并到客户 #{id}"


def inbox(
    session: Session, principal: Principal, *, customer_ids: Collection[int] | None = None
) -> list[inbox_repo.InboxRow]:
    """The conversation list: customers in scope (only ``customer_ids`` when given) with
    unread count and waiting time."""
    require(principal, *CUSTOMER_VIEWERS)
    scope = scope_of(session, principal)
    rows = inbox_repo.conversation_list(
        session=session,
        adviser_ids=scope.adviser_ids,
        viewer=principal.username,
        customer_ids=customer_ids,
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


def _as_stored(
    row: identities_repo.CustomerRow, industries: dict[str, str], advisers: dict[str, str]
) -> identities_repo.CustomerRow:
    """``row`` with its industry and adviser as the store names them."""
    update: dict[str, str | date] = {}
    if isinstance(v := row.fields.get("industry"), str) and industries.get(v, v) != v:
        update["industry"] = industries[v]
    if isinstance(v := row.fields.get("adviser_id"), str) and v in advisers:
        update["adviser_id"] = advisers[v]
    return replace(row, fields=row.fields | update) if update else row


def import_file(
    session: Session, principal: Principal, *, path: Path, timezone: str, dry_run: bool = False
) -> ImportStats:
    """Import customers and identities from CSV / XLSX, all or nothing (the store writes
    the audit row ``customers.import``). The stats warn about an industry no script,
    document or tag uses (a misspelt one matches no script). ``dry_run``: every check
    of a real import, against the store too (the same problems, each with its line),
    and what it would do, but nothing written."""
    require(principal)
    rows, problems = oneid.parse_customer_file(
        path, timezone=timezone, profile_fields=fields_repo.list_fields(session=session)
    )
    named = [v for r in rows if isinstance(v := r.fields.get("industry"), str)]
    stored = as_known(session=session, values=named)  # 保险 → insurance
    # An adviser by a name only they go by is read as their id; one nobody knows is
    # created (without a team: its customers are nobody's to see), so it is pointed out.
    advisers, new_advisers = advisers_as_known(
        session, {v for r in rows if isinstance(v := r.fields.get("adviser_id"), str)}
    )
    rows = [_as_stored(r, stored, advisers) for r in rows]
    warnings = [
        *unused_warnings(
            session,
            list(stored.values()),
            what="客户",
            uses=LIBRARY_USES,
        ),
        *filter(None, [new_advisers_warning(new_advisers)]),
    ]

    def run() -> ImportStats:
        return identities_repo.import_customers(
            session=session,
            rows=rows,
            actor=principal.username,
            source_name=path.name,
            problems=problems,
        )

    if dry_run:
        with session.begin_nested() as trial:
            stats = run()
            trial.rollback()  # checked and counted against the store: nothing kept
    else:
        stats = run()
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
    timezone: str = "UTC",
) -> int:
    """Write the customers in scope (one adviser's, one segment's) in the import format,
    with their profile fields, referrer (left blank when outside the scope: another
    adviser's customer is not named, not even by id) and entry code, the time each was
    added in ``timezone``; audited. How many were written."""
    require(principal, *CUSTOMER_VIEWERS)
    scope = scope_of(session, principal)
    members = crm_segments.members(session=session, name=segment) if segment else None
    rows = identities_repo.customer_table(
        session=session,
        adviser_ids=scope.narrow(adviser_id),
        customer_ids=members,
        timezone=timezone,
    )
    if scope.adviser_ids is not None:
        referrers = {r.referred_by for r in rows if r.referred_by is not None}
        hidden = {
            i
            for i in referrers
            if not scope.allows(inbox_repo.customer_adviser(session=session, customer_id=i)[1])
        }
        rows = [replace(r, referred_by=None) if r.referred_by in hidden else r for r in rows]
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


#: The profile's own fields an adviser edits on the profile card, with their labels.
BASIC_LABELS = {"city": "城市", "product": "意向产品", "birthday": "生日"}
BASIC_MAX_CHARS = {"city": 50, "product": 100}


def set_basics(
    session: Session, principal: Principal, *, customer_id: int, values: Mapping[str, str]
) -> CustomerRecord:
    """Set the city, product and birthday of a customer in scope (an empty value clears
    one); every value is checked before anything is written (audited)."""
    require(principal, *CUSTOMER_VIEWERS)
    check_customer(session, principal, customer_id)
    problems: list[str] = []
    parsed: dict[str, str | date | None] = {}
    for name, raw in values.items():
        label = BASIC_LABELS.get(name)
        if label is None:
            problems.append(f"没有这个资料项：{name}")
            continue
        text = " ".join(raw.split())
        if not text:
            parsed[name] = None
        elif name == "birthday":
            try:
                parsed[name] = parse_birthday(text, date.today())
            except ValueError as exc:
                problems.append(str(exc))
        elif len(text) > BASIC_MAX_CHARS[name]:
            problems.append(f"{label}最多 {BASIC_MAX_CHARS[name]} 字")
        else:
            parsed[name] = text
    if problems:
        raise InputError(f"{len(problems)} 项资料有问题，没有保存", problems)
    record = customers_repo.set_basics(session=session, customer_id=customer_id, values=parsed)
    audit.record(
        session, principal, "customer.basics.set", "customer", customer_id, fields=list(parsed)
    )
    return record


def names(session: Session, principal: Principal, customer_ids: Sequence[int]) -> dict[int, str]:
    """Customer id -> name (「客户 12」 without one) for the customers in scope among
    ``customer_ids``; the others are left out."""
    require(principal, *CUSTOMER_VIEWERS)
    scope = scope_of(session, principal)
    out: dict[int, str] = {}
    for customer_id in dict.fromkeys(customer_ids):
        exists, adviser_id = inbox_repo.customer_adviser(session=session, customer_id=customer_id)
        if exists and scope.allows(adviser_id):
            found = customers_repo.get_customer(session=session, customer_id=customer_id)
            out[customer_id] = found.name or f"客户 {customer_id}"
    audit.record(session, principal, "customers.names", "customer", "", count=len(out))
    return out
