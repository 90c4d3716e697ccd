"""Which industries the data uses: scripts, knowledge documents, tag categories and
customers (the names an ``--industry`` option or a file may refer to)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.store.models import Customer, Document, Script, Tag, TagCategory

#: Where an industry can be used, as the keys of ``industries_in_use``.
USES = ("scripts", "documents", "taxonomy", "customers")


def industries_in_use(*, session: Session) -> dict[str, set[str]]:
    """The industry names each kind of data uses (``USES``), empty values left out."""
    active_categories = (
        select(TagCategory.industry)
        .join(Tag, Tag.category_id == TagCategory.id)
        .where(Tag.active.is_(True))
        .distinct()
    )
    queries = {
        "scripts": select(Script.industry).distinct(),
        "documents": select(Document.industry).distinct(),
        "taxonomy": active_categories,
        "customers": select(Customer.industry).where(Customer.merged_into_id.is_(None)).distinct(),
    }
    return {
        use: {value for value in session.scalars(stmt) if value} for use, stmt in queries.items()
    }
