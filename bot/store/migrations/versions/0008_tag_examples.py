"""tag examples: messages labelled by review, examples written with the taxonomy

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 08:50:44.465465
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tag_examples",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("positive", sa.Boolean(), nullable=False),
        sa.Column("origin", sa.String(length=10), nullable=False),
        sa.Column("reviewer", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_tag_examples_customer_id_customers")
        ),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_tag_examples_message_id_messages")
        ),
        sa.ForeignKeyConstraint(["tag_id"], ["tags.id"], name=op.f("fk_tag_examples_tag_id_tags")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tag_examples")),
        sa.UniqueConstraint("tag_id", "message_id", name=op.f("uq_tag_examples_tag_id")),
    )
    with op.batch_alter_table("tag_examples", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_tag_examples_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_tag_examples_message_id"), ["message_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_tag_examples_tag_id"), ["tag_id"], unique=False)

    with op.batch_alter_table("tags", schema=None) as batch_op:
        # Existing tags get no examples (the models have no server default; none is compared).
        batch_op.add_column(
            sa.Column("examples", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )


def downgrade() -> None:
    with op.batch_alter_table("tags", schema=None) as batch_op:
        batch_op.drop_column("examples")

    with op.batch_alter_table("tag_examples", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tag_examples_tag_id"))
        batch_op.drop_index(batch_op.f("ix_tag_examples_message_id"))
        batch_op.drop_index(batch_op.f("ix_tag_examples_customer_id"))

    op.drop_table("tag_examples")
