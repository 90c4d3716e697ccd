"""script uses and examples (learned triggers)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 09:08:27.620639
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "script_uses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("script_id", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("adviser_id", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("similarity", sa.Float(), nullable=False),
        sa.Column("shown", sa.Boolean(), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["adviser_id"], ["advisers.id"], name=op.f("fk_script_uses_adviser_id_advisers")
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_script_uses_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_script_uses_message_id_messages")
        ),
        sa.ForeignKeyConstraint(
            ["script_id"], ["scripts.id"], name=op.f("fk_script_uses_script_id_scripts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_script_uses")),
        sa.UniqueConstraint("message_id", name=op.f("uq_script_uses_message_id")),
    )
    with op.batch_alter_table("script_uses", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_script_uses_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_script_uses_script_id"), ["script_id"], unique=False)

    op.create_table(
        "script_examples",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("script_id", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("use_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_script_examples_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_script_examples_message_id_messages")
        ),
        sa.ForeignKeyConstraint(
            ["script_id"], ["scripts.id"], name=op.f("fk_script_examples_script_id_scripts")
        ),
        sa.ForeignKeyConstraint(
            ["use_id"], ["script_uses.id"], name=op.f("fk_script_examples_use_id_script_uses")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_script_examples")),
        sa.UniqueConstraint("script_id", "message_id", name=op.f("uq_script_examples_script_id")),
    )
    with op.batch_alter_table("script_examples", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_script_examples_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_script_examples_script_id"), ["script_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_script_examples_use_id"), ["use_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("script_examples", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_script_examples_use_id"))
        batch_op.drop_index(batch_op.f("ix_script_examples_script_id"))
        batch_op.drop_index(batch_op.f("ix_script_examples_customer_id"))

    op.drop_table("script_examples")
    with op.batch_alter_table("script_uses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_script_uses_script_id"))
        batch_op.drop_index(batch_op.f("ix_script_uses_customer_id"))

    op.drop_table("script_uses")
