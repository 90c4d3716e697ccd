"""Tags: the taxonomy, and the review of the tags suggested for customers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from sqlalchemy.orm import Session

from bot.errors import InputError, NotFoundError
from bot.pipeline.runtime import Runtime
from bot.pipeline.tagging import parse_taxonomy
from bot.services import audit
from bot.services.access import CUSTOMER_VIEWERS, Principal, check_customer, require, scope_of
from bot.services.industries import unused_warnings
from bot.store import inbox as inbox_repo
from bot.store import tags as tags_repo
from bot.store.records import CustomerTagRecord

#: The decisions of a review.
REVIEWS = ("confirmed", "rejected")
NO_TAG = "标签不存在"


def import_taxonomy(
    rt: Runtime,
    principal: Principal,
    *,
    path: Path,
    progress: Callable[[int, int], None] | None = None,
) -> tags_repo.TaxonomyStats:
    """Replace the taxonomy with the file's (tags missing from it are deactivated) and
    re-embed the tags."""
    require(principal, "operator", "manager")
    categories = parse_taxonomy(path)
    with rt.db.session() as session:
        warnings = unused_warnings(
            session,
            [c.industry for c in categories],
            what="标签分类",
            uses=("scripts", "documents", "customers"),
        )
        stats = tags_repo.replace_taxonomy(session=session, categories=categories)
        stats = replace(stats, warnings=tuple(warnings))
        audit.record(
            session,
            principal,
            "taxonomy.import",
            "taxonomy",
            path.name,
            categories=stats.categories,
            added=stats.added,
            updated=stats.updated,
            deactivated=stats.deactivated,
        )
    rt.reload_tags(progress=progress)
    return stats


def customer_tags(
    session: Session, principal: Principal, *, status: str | None = None
) -> list[CustomerTagRecord]:
    """Tags of customers in scope, by status (all statuses when None)."""
    require(principal, *CUSTOMER_VIEWERS)
    scope = scope_of(session, principal)
    rows = tags_repo.list_customer_tags(
        session=session, status=status, adviser_ids=scope.adviser_ids
    )
    audit.record(
        session, principal, "customer_tags.view", "customer", "", count=len(rows), status=status
    )
    return rows


def review_queue(session: Session, principal: Principal) -> list[inbox_repo.ReviewItem]:
    """Suggested tags of customers in scope waiting for review, with their evidence."""
    require(principal, "manager")
    scope = scope_of(session, principal)
    items = inbox_repo.tag_review_queue(session=session, adviser_ids=scope.adviser_ids)
    audit.record(session, principal, "tag_queue.view", "customer", "", count=len(items))
    return items


def review(
    session: Session, principal: Principal, *, customer_tag_id: int, status: str
) -> CustomerTagRecord:
    """Confirm or reject a tag of a customer in scope; the principal is its reviewer."""
    require(principal, *CUSTOMER_VIEWERS)
    if status not in REVIEWS:
        raise InputError(f"status must be confirmed or rejected, not {status!r}")
    customer_id = inbox_repo.customer_tag_customer(session=session, customer_tag_id=customer_tag_id)
    if customer_id is None:
        raise NotFoundError(NO_TAG, ref=customer_tag_id)
    check_customer(session, principal, customer_id)
    record = tags_repo.review_customer_tag(
        session=session,
        customer_tag_id=customer_tag_id,
        status=status,
        reviewer=principal.username,
    )
    audit.record(
        session, principal, f"tag.{status}", "customer", customer_id, customer_tag=customer_tag_id
    )
    return record
