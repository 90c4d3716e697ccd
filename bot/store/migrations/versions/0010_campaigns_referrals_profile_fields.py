"""campaigns, entry codes, referrals, profile fields, adviser persona

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 08:42:03.923091
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "profile_fields",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=10), nullable=False),
        sa.Column("industry", sa.String(length=50), nullable=False),
        sa.Column("unit", sa.String(length=20), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("choices", sa.JSON(), nullable=False),
        sa.Column("choice_keywords", sa.JSON(), nullable=False),
        sa.Column("keywords", sa.JSON(), nullable=False),
        sa.Column("patterns", sa.JSON(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_profile_fields")),
        sa.UniqueConstraint("name", name=op.f("uq_profile_fields_name")),
    )
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("channel", sa.String(length=30), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("cost", sa.Float(), nullable=False),
        sa.Column("segment", sa.String(length=100), nullable=True),
        sa.Column("welcome_script_id", sa.String(length=64), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["welcome_script_id"],
            ["scripts.id"],
            name=op.f("fk_campaigns_welcome_script_id_scripts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
        sa.UniqueConstraint("name", name=op.f("uq_campaigns_name")),
    )
    op.create_table(
        "campaign_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("adviser_id", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("target_added", sa.Integer(), nullable=True),
        sa.Column("target_converted", sa.Integer(), nullable=True),
        sa.Column("target_revenue", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["adviser_id"], ["advisers.id"], name=op.f("fk_campaign_codes_adviser_id_advisers")
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name=op.f("fk_campaign_codes_campaign_id_campaigns")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_codes")),
        sa.UniqueConstraint(
            "campaign_id", "adviser_id", name=op.f("uq_campaign_codes_campaign_id")
        ),
        sa.UniqueConstraint("code", name=op.f("uq_campaign_codes_code")),
    )
    with op.batch_alter_table("campaign_codes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_campaign_codes_adviser_id"), ["adviser_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_campaign_codes_campaign_id"), ["campaign_id"], unique=False
        )

    op.create_table(
        "customer_field_values",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("number", sa.Float(), nullable=True),
        sa.Column("day", sa.Date(), nullable=True),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("set_by", sa.String(length=64), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_customer_field_values_customer_id_customers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_field_values")),
        sa.UniqueConstraint(
            "customer_id", "field", name=op.f("uq_customer_field_values_customer_id")
        ),
    )
    with op.batch_alter_table("customer_field_values", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_customer_field_values_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_customer_field_values_field"), ["field"], unique=False)

    op.create_table(
        "profile_suggestions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("field", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.Column("evidence_message_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("reviewer", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_profile_suggestions_customer_id_customers"),
        ),
        sa.ForeignKeyConstraint(
            ["evidence_message_id"],
            ["messages.id"],
            name=op.f("fk_profile_suggestions_evidence_message_id_messages"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_profile_suggestions")),
        sa.UniqueConstraint(
            "customer_id", "field", "value", name=op.f("uq_profile_suggestions_customer_id")
        ),
    )
    with op.batch_alter_table("profile_suggestions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_profile_suggestions_customer_id"), ["customer_id"], unique=False
        )

    with op.batch_alter_table("advisers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("persona_name", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("signature", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("tone", sa.Text(), nullable=True))

    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("referred_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("entry_code_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_customers_entry_code_id"), ["entry_code_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_customers_referred_by_id"), ["referred_by_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_customers_referred_by_id_customers"),
            "customers",
            ["referred_by_id"],
            ["id"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_customers_entry_code_id_campaign_codes"),
            "campaign_codes",
            ["entry_code_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_customers_entry_code_id_campaign_codes"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_customers_referred_by_id_customers"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_customers_referred_by_id"))
        batch_op.drop_index(batch_op.f("ix_customers_entry_code_id"))
        batch_op.drop_column("entry_code_id")
        batch_op.drop_column("referred_by_id")

    with op.batch_alter_table("advisers", schema=None) as batch_op:
        batch_op.drop_column("tone")
        batch_op.drop_column("signature")
        batch_op.drop_column("persona_name")

    with op.batch_alter_table("profile_suggestions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_profile_suggestions_customer_id"))

    op.drop_table("profile_suggestions")
    with op.batch_alter_table("customer_field_values", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customer_field_values_field"))
        batch_op.drop_index(batch_op.f("ix_customer_field_values_customer_id"))

    op.drop_table("customer_field_values")
    with op.batch_alter_table("campaign_codes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_campaign_codes_campaign_id"))
        batch_op.drop_index(batch_op.f("ix_campaign_codes_adviser_id"))

    op.drop_table("campaign_codes")
    op.drop_table("campaigns")
    op.drop_table("profile_fields")
