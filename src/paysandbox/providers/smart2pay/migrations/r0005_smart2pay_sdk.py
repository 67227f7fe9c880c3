"""Smart2Pay, for its published SDKs: answers stored per ``RequestId`` (idempotent retries),
the payment's billing country (the ``country`` list filter), and the payment's 3-D Secure flag
(payments that wait on paysandbox's 3-D Secure page or hosted card form).

Revision ID: s0005 (smart2pay branch, after 0004)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "s0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "smart2pay_requests",
        sa.Column("site_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("request_id", sa.String(128), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("http_status", sa.Integer, nullable=False),
        sa.Column("answer", sa.Text, nullable=False),
        sa.Column("created_at_us", sa.BigInteger, nullable=False),
    )
    op.add_column("smart2pay_payments", sa.Column("country", sa.String(2), nullable=True))
    op.add_column("smart2pay_payments", sa.Column("three_d_secure", sa.Boolean, nullable=True))
    op.add_column("smart2pay_payments", sa.Column("card_form", sa.Boolean, nullable=True))
    op.add_column("smart2pay_payments", sa.Column("redirect_key", sa.String(32), nullable=True))
    op.add_column("smart2pay_payments", sa.Column("redirect_url", sa.Text, nullable=True))
    op.create_index(
        "smart2pay_payments_redirect_key", "smart2pay_payments", ["redirect_key"], unique=True
    )


def downgrade() -> None:
    op.drop_index("smart2pay_payments_redirect_key", "smart2pay_payments")
    with op.batch_alter_table("smart2pay_payments") as batch:
        batch.drop_column("redirect_url")
        batch.drop_column("redirect_key")
        batch.drop_column("card_form")
        batch.drop_column("three_d_secure")
        batch.drop_column("country")
    op.drop_table("smart2pay_requests")
