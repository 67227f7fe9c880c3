"""NICEPay merchants get delivery faults (send each notification twice, delay it, deliver
newer ones first), stored as K PLUS partners and Smart2Pay sites store theirs: a JSON object,
``{}`` for none.

Revision ID: n0007 (nicepay branch, after 0003)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "n0007"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "nicepay_merchants",
        sa.Column("faults", sa.Text, nullable=False, server_default="{}"),
    )


def downgrade() -> None:
    with op.batch_alter_table("nicepay_merchants") as batch:
        batch.drop_column("faults")
