"""script deadlines, one knowledge document per name, "every industry" spelled one way

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 09:00:00.000000

Data changes (none can be undone by ``downgrade``, which only drops the columns):

- documents are named by their file name: a document ingested from two folders, or
  ingested and uploaded in the console, was stored twice; the newest copy stays, the
  others are deleted with their chunks (the indexes drop them at the next start);
- an industry written as a synonym of "every industry" (``all``, ``通用``, ``全部`` …) is
  stored as ``general``, which is what every filter means by it (a taxonomy category
  that would then clash with an existing ``general`` one of the same name is left as is);
- advisers stored with the old default name 「顾问」 (a role, not a name: scripts read
  「保险顾问顾问」) get an empty name, so scripts show 【待填:顾问称呼】 until they have one.
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# The synonyms of scripts_lib.model.GENERAL_SYNONYMS at the time of this migration.
_GENERAL = (
    "all",
    "any",
    "*",
    "通用",
    "全部",
    "所有",
    "通用行业",
    "全行业",
    "全部行业",
    "所有行业",
    "不限",
    "不限行业",
)
_OLD_DEFAULT_ADVISER_NAME = "顾问"


def upgrade() -> None:
    with op.batch_alter_table("scripts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deadline", sa.Date(), nullable=True))
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("origin", sa.String(length=1000), nullable=False, server_default="")
        )
    bind = op.get_bind()
    _documents_by_name(bind)
    _general_industry(bind)
    bind.execute(
        sa.text("UPDATE advisers SET name = '' WHERE name = :old"),
        {"old": _OLD_DEFAULT_ADVISER_NAME},
    )


def _name(source: str) -> str:
    return re.split(r"[\\/]", source)[-1] or source


def _documents_by_name(bind: sa.Connection) -> None:
    rows = bind.execute(
        sa.text("SELECT id, source, updated_at FROM documents ORDER BY updated_at, id")
    ).all()
    newest: dict[str, tuple[int, str]] = {}
    for doc_id, source, _updated in rows:  # oldest first: the last one of a name wins
        newest[_name(source)] = (doc_id, source)
    keep = {doc_id for doc_id, _ in newest.values()}
    for doc_id, _source, _updated in rows:
        if doc_id not in keep:
            bind.execute(sa.text("DELETE FROM chunks WHERE document_id = :d"), {"d": doc_id})
            bind.execute(sa.text("DELETE FROM documents WHERE id = :d"), {"d": doc_id})
    for name, (doc_id, source) in newest.items():
        bind.execute(
            sa.text("UPDATE documents SET source = :name, origin = :origin WHERE id = :d"),
            {"name": name, "origin": source[:1000], "d": doc_id},
        )


def _general_industry(bind: sa.Connection) -> None:
    synonyms = _GENERAL
    for table in ("scripts", "documents"):
        for value in synonyms:
            bind.execute(
                sa.text(f"UPDATE {table} SET industry = 'general' WHERE lower(industry) = :v"),
                {"v": value},
            )
    rows = bind.execute(sa.text("SELECT id, name, industry FROM tag_categories")).all()
    taken = {(name, industry) for _id, name, industry in rows}
    for cat_id, name, industry in rows:
        if industry.lower() in synonyms and (name, "general") not in taken:
            bind.execute(
                sa.text("UPDATE tag_categories SET industry = 'general' WHERE id = :c"),
                {"c": cat_id},
            )
            taken.add((name, "general"))


def downgrade() -> None:
    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.drop_column("origin")
    with op.batch_alter_table("scripts", schema=None) as batch_op:
        batch_op.drop_column("deadline")
