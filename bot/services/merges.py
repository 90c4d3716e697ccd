"""OneID merges: suggestions (profiles sharing a phone number or unionid), merge, undo,
and the merge history. The store writes the audit rows of a merge and an undo."""

from __future__ import annotations

from sqlalchemy.orm import Session

from bot.crm import oneid
from bot.errors import NotFoundError
from bot.services import audit
from bot.services.access import Principal, check_customer, require, scope_of
from bot.store import merges as merges_repo
from bot.store.records import MergeRecord

NO_MERGE = "合并记录不存在"


def suggestions(session: Session, principal: Principal) -> list[oneid.MergeSuggestion]:
    """Pairs of profiles in scope sharing a strong identifier (audited: names and
    identifiers are customer data)."""
    require(principal, "manager")
    scope = scope_of(session, principal)
    found = oneid.merge_suggestions(session=session, adviser_ids=scope.adviser_ids)
    audit.record(session, principal, "merge_suggestions.view", "customer", "", count=len(found))
    return found


def merge(
    session: Session, principal: Principal, *, keep_id: int, merge_id: int, reason: str = ""
) -> MergeRecord:
    """Merge ``merge_id`` into ``keep_id``, both in scope."""
    require(principal, "manager")
    check_customer(session, principal, keep_id)
    check_customer(session, principal, merge_id)
    return oneid.merge(
        session=session, keep=keep_id, merge=merge_id, actor=principal.username, reason=reason
    )


def undo(session: Session, principal: Principal, *, merge_id: int) -> MergeRecord:
    """Undo a merge of two customers in scope."""
    require(principal, "manager")
    found = merges_repo.get_merge(session=session, merge_id=merge_id)
    if found is None:
        raise NotFoundError(NO_MERGE, ref=merge_id)
    check_customer(session, principal, found.kept_id)
    check_customer(session, principal, found.merged_id)
    return oneid.unmerge(session=session, merge_id=merge_id, actor=principal.username)


def history(
    session: Session, principal: Principal, *, customer_id: int | None = None
) -> list[MergeRecord]:
    """Merges of customers in scope (undone ones too), oldest first."""
    require(principal, "manager")
    scope = scope_of(session, principal)
    rows = merges_repo.list_merges(
        session=session, customer_id=customer_id, adviser_ids=scope.adviser_ids
    )
    audit.record(session, principal, "merges.view", "customer", customer_id or "", count=len(rows))
    return rows
