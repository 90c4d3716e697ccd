"""customer notes, script favourites

A private note (备注) on a customer, seen by their adviser and manager (customer-owned:
bot/store/ownership.py), and the scripts each console user starred in the sidebar.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 10:58:20.003710
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "script_favourites",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("script_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["script_id"], ["scripts.id"], name=op.f("fk_script_favourites_script_id_scripts")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_script_favourites_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_script_favourites")),
        sa.UniqueConstraint("user_id", "script_id", name=op.f("uq_script_favourites_user_id")),
    )
    with op.batch_alter_table("script_favourites", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_script_favourites_user_id"), ["user_id"], unique=False)

    op.create_table(
        "customer_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("author_name", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_customer_notes_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_notes")),
    )
    with op.batch_alter_table("customer_notes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_customer_notes_customer_id"), ["customer_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("customer_notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customer_notes_customer_id"))

    op.drop_table("customer_notes")
    with op.batch_alter_table("script_favourites", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_script_favourites_user_id"))

    op.drop_table("script_favourites")
