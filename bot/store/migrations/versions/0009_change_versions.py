"""change versions: the feed every process follows to refresh scripts, knowledge, tags

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 09:00:00.000000
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

#: bot.vocab.CHANGE_TOPICS when this revision was written (a migration never imports
#: the application's current vocabulary).
TOPICS = ("scripts", "knowledge", "tags")


def upgrade() -> None:
    table = op.create_table(
        "change_versions",
        sa.Column("topic", sa.String(length=20), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("topic", name=op.f("pk_change_versions")),
    )
    now = datetime.now(UTC)
    op.bulk_insert(table, [{"topic": t, "version": 0, "changed_at": now} for t in TOPICS])


def downgrade() -> None:
    op.drop_table("change_versions")
