"""customers who bought are in the 服务 stage

A purchase or a ``converted`` event now moves a customer still being courted (引流,
承接, 转化) to 服务 (``retain``: bot/store/conversions.py ``add_conversion``); this does
the same to the customers who bought before. A stage set by hand after the purchase
(a later ``stage_changed`` event) is kept; one set by a customer-table import's 阶段
column leaves no event, and a buyer's is moved like any other.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 10:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.get_bind().execute(
        sa.text(
            "UPDATE customers SET stage = 'retain'"
            " WHERE stage IN ('acquire', 'engage', 'convert')"
            " AND EXISTS (SELECT 1 FROM events b WHERE b.customer_id = customers.id"
            "   AND b.type IN ('purchase', 'converted')"
            "   AND NOT EXISTS (SELECT 1 FROM events s WHERE s.customer_id = customers.id"
            "     AND s.type = 'stage_changed' AND s.occurred_at > b.occurred_at))"
        )
    )


def downgrade() -> None:
    """Nothing to undo: which customers were moved is not recorded (the stage is one a
    person could have set)."""
