"""K PLUS tables: partners, payment tokens, and used partnerTxnUid values.

Revision ID: 0002 (the first of the kplus branch, after the core's 0001)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = ("kplus",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "kplus_partners",
        sa.Column("partner_id", sa.String(64), primary_key=True),
        sa.Column("partner_secret", sa.String(256), nullable=False),
        sa.Column("callback_url", sa.Text, nullable=True),
        sa.Column("token_ttl_seconds", sa.Integer, nullable=False),
        sa.Column("faults", sa.Text, nullable=False),
    )
    op.create_table(
        "kplus_tokens",
        sa.Column("token_id", sa.String(64), primary_key=True),
        sa.Column("partner_id", sa.String(64), nullable=False),
        sa.Column("partner_txn_uid", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("request_dt", sa.String(40), nullable=True),
        sa.Column("reference1", sa.String(64), nullable=False),
        sa.Column("reference2", sa.String(64), nullable=True),
        sa.Column("total_amount", sa.BigInteger, nullable=False),
        sa.Column("shipping_fee", sa.BigInteger, nullable=False),
        sa.Column("currency_code", sa.String(3), nullable=False),
        sa.Column("currency_exponent", sa.Integer, nullable=False),
        sa.Column("shop_name", sa.String(255), nullable=False),
        sa.Column("shop_image_url", sa.Text, nullable=False),
        sa.Column("partner_icon_url", sa.Text, nullable=True),
        sa.Column("os_platform", sa.String(16), nullable=False),
        sa.Column("items", sa.Text, nullable=False),
        sa.Column("buyer_name", sa.String(255), nullable=True),
        sa.Column("partner_token", sa.String(255), nullable=True),
        sa.Column("promotion_code", sa.String(64), nullable=True),
        sa.Column("additional_info1", sa.String(255), nullable=True),
        sa.Column("additional_info2", sa.String(255), nullable=True),
        sa.Column("additional_info3", sa.String(255), nullable=True),
        sa.Column("created_at_us", sa.BigInteger, nullable=False),
        sa.Column("expires_at_us", sa.BigInteger, nullable=False),
        sa.Column("updated_at_us", sa.BigInteger, nullable=False),
        sa.Column("paid_at_us", sa.BigInteger, nullable=True),
        sa.Column("payment_reference_id", sa.String(64), nullable=True),
        sa.Column("payment_account", sa.String(32), nullable=True),
        sa.Column("slip_image", sa.Text, nullable=True),
    )
    op.create_index("ix_kplus_tokens_partner", "kplus_tokens", ["partner_id", "created_at_us"])
    op.create_table(
        "kplus_request_uids",
        sa.Column("partner_id", sa.String(64), primary_key=True),
        sa.Column("partner_txn_uid", sa.String(64), primary_key=True),
        sa.Column("operation", sa.String(32), nullable=False),
        sa.Column("at_us", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("kplus_request_uids")
    op.drop_table("kplus_tokens")
    op.drop_table("kplus_partners")
