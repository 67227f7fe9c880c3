"""Smart2Pay: a payment's ``PaymentTokenLifetime`` (minutes), as the request gave it or, for a
payment that waits on the customer (3-D Secure page or hosted card form), the default. Its
expiry itself is the pending transition to ``Expired`` (``pending_status`` / ``pending_at_us``),
so it needs no column of its own.

Revision ID: s0007 (smart2pay branch, after s0006)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "s0007"
down_revision = "s0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "smart2pay_payments", sa.Column("token_lifetime_minutes", sa.Integer, nullable=True)
    )


def downgrade() -> None:
    with op.batch_alter_table("smart2pay_payments") as batch:
        batch.drop_column("token_lifetime_minutes")
