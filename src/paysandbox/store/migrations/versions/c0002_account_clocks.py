"""Account clocks: an offset per account (partner, merchant, site) on top of the sandbox clock.

Revision ID: c0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "c0002"
down_revision = "0001"
branch_labels = ("core",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "account_clocks",
        sa.Column("provider", sa.String(32), primary_key=True),
        sa.Column("account_id", sa.String(64), primary_key=True),
        sa.Column("offset_us", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("account_clocks")
