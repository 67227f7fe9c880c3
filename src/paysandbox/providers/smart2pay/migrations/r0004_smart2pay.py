"""Smart2Pay tables: sites, card tokens, customers/addresses (for their ids), payments,
captures and refunds.

Card data: only the brand, last four digits, expiry, holder name and issuing country are kept;
the full card number and the security code have no column anywhere.

Revision ID: 0004 (the first of the smart2pay branch, after the core's 0001)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0001"
branch_labels = ("smart2pay",)
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "smart2pay_sites",
        sa.Column("site_id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("api_key", sa.String(256), nullable=False),
        sa.Column("notification_url", sa.Text, nullable=True),
        sa.Column("faults", sa.Text, nullable=False),
    )
    op.create_table(
        "smart2pay_tokens",
        sa.Column("value", sa.String(32), primary_key=True),
        sa.Column("site_id", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("holder_name", sa.String(255), nullable=True),
        sa.Column("brand", sa.String(16), nullable=False),
        sa.Column("last4", sa.String(4), nullable=False),
        sa.Column("exp_month", sa.String(2), nullable=False),
        sa.Column("exp_year", sa.String(4), nullable=False),
        sa.Column("issuing_bank_country", sa.String(2), nullable=True),
        sa.Column("customer", sa.Text, nullable=True),
        sa.Column("billing_address", sa.Text, nullable=True),
        sa.Column("origin", sa.String(64), nullable=False),
        sa.Column("created_at_us", sa.BigInteger, nullable=False),
        sa.Column("updated_at_us", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "smart2pay_customers",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("site_id", sa.BigInteger, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("created_at_us", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "smart2pay_addresses",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("site_id", sa.BigInteger, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("created_at_us", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "smart2pay_payments",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("site_id", sa.BigInteger, nullable=False),
        sa.Column("merchant_transaction_id", sa.String(50), nullable=False),
        sa.Column("originator_transaction_id", sa.String(50), nullable=True),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("captured_amount", sa.BigInteger, nullable=False),
        sa.Column("refunded_amount", sa.BigInteger, nullable=False),
        sa.Column("open_refund_amount", sa.BigInteger, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("reasons", sa.Text, nullable=False),
        sa.Column("pending_status", sa.String(32), nullable=True),
        sa.Column("pending_at_us", sa.BigInteger, nullable=True),
        sa.Column("pending_changes", sa.Text, nullable=True),
        sa.Column("capture_flag", sa.Boolean, nullable=False),
        sa.Column("generate_token", sa.Boolean, nullable=False),
        sa.Column("moto", sa.Boolean, nullable=False),
        sa.Column("return_url", sa.Text, nullable=True),
        sa.Column("description", sa.String(255), nullable=True),
        sa.Column("statement_descriptor", sa.String(255), nullable=True),
        sa.Column("client_ip", sa.String(15), nullable=True),
        sa.Column("skin_id", sa.BigInteger, nullable=True),
        sa.Column("customer", sa.Text, nullable=True),
        sa.Column("billing_address", sa.Text, nullable=True),
        sa.Column("shipping_address", sa.Text, nullable=True),
        sa.Column("card", sa.Text, nullable=False),
        sa.Column("token_value", sa.String(32), nullable=True),
        sa.Column("capture_details", sa.Text, nullable=True),
        sa.Column("created_at_us", sa.BigInteger, nullable=False),
        sa.Column("updated_at_us", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("site_id", "merchant_transaction_id", name="uq_s2p_payment_mtid"),
    )
    op.create_index("ix_s2p_payments_site", "smart2pay_payments", ["site_id", "id"])
    op.create_table(
        "smart2pay_captures",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("payment_id", sa.BigInteger, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("created_at_us", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "smart2pay_refunds",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("payment_id", sa.BigInteger, nullable=False),
        sa.Column("site_id", sa.BigInteger, nullable=False),
        sa.Column("merchant_transaction_id", sa.String(50), nullable=False),
        sa.Column("originator_transaction_id", sa.String(50), nullable=True),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("description", sa.String(255), nullable=True),
        sa.Column("statement_descriptor", sa.String(255), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reasons", sa.Text, nullable=False),
        sa.Column("created_at_us", sa.BigInteger, nullable=False),
        sa.Column("updated_at_us", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("site_id", "merchant_transaction_id", name="uq_s2p_refund_mtid"),
    )
    op.create_index("ix_s2p_refunds_payment", "smart2pay_refunds", ["payment_id", "id"])


def downgrade() -> None:
    op.drop_table("smart2pay_refunds")
    op.drop_table("smart2pay_captures")
    op.drop_table("smart2pay_payments")
    op.drop_table("smart2pay_addresses")
    op.drop_table("smart2pay_customers")
    op.drop_table("smart2pay_tokens")
    op.drop_table("smart2pay_sites")
