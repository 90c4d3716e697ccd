"""erased messages

The ids of the messages erased with their customer (``siyu customers forget``), so that
importing the same chat history again does not bring them back.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 22:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "erased_messages",
        sa.Column("msg_id", sa.String(length=200), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("msg_id", name=op.f("pk_erased_messages")),
    )


def downgrade() -> None:
    op.drop_table("erased_messages")
