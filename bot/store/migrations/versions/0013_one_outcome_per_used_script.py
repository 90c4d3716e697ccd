"""one outcome per used script of a suggestion

Before, each click on 使用 for the same suggestion's script stored another adopted /
edited outcome (an adoption rate of 400% after four clicks). Today a click updates the
first one (bot/store/outcomes.py ``record_adoption``); this does the same to the rows
written before: per suggestion and script, the first outcome stays, with the latest
click's kind and text and whatever reply, conversion and message any of them had; the
others go.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 23:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

#: Kept from any of the duplicates when the first has none.
FILLED = ("message_id", "edit_distance", "customer_replied", "replied_at", "converted")


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(
        sa.text(
            "SELECT id, suggestion_id, script_id, kind, final_text, message_id, edit_distance,"
            " customer_replied, replied_at, converted FROM outcomes"
            " WHERE kind IN ('adopted', 'edited') ORDER BY id"
        )
    ).mappings()
    groups: dict[tuple[int, str | None], list[dict[str, object]]] = {}
    for row in rows:
        groups.setdefault((row["suggestion_id"], row["script_id"]), []).append(dict(row))
    for same in groups.values():
        if len(same) < 2:
            continue
        first, latest = same[0], same[-1]
        values: dict[str, object] = {"kind": latest["kind"], "final_text": latest["final_text"]}
        for column in FILLED:
            values[column] = next((r[column] for r in same if r[column] is not None), None)
        assignments = ", ".join(f"{column} = :{column}" for column in values)
        conn.execute(
            sa.text(f"UPDATE outcomes SET {assignments} WHERE id = :id"),  # fixed column names
            {**values, "id": first["id"]},
        )
        conn.execute(
            sa.text("DELETE FROM outcomes WHERE id IN :ids").bindparams(
                sa.bindparam("ids", expanding=True)
            ),
            {"ids": [r["id"] for r in same[1:]]},
        )


def downgrade() -> None:
    pass  # the removed duplicates said nothing the kept row does not
