"""NICEPay tables: merchants, transactions, cancellations, payment-page sessions, and the
claims on open VA / CVS numbers.

Revision ID: 0003 (the first of the nicepay branch, after the core's 0001)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0001"
branch_labels = ("nicepay",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "nicepay_merchants",
        sa.Column("imid", sa.String(32), primary_key=True),
        sa.Column("merchant_key", sa.Text, nullable=False),
    )
    op.create_table(
        "nicepay_transactions",
        sa.Column("t_xid", sa.String(40), primary_key=True),
        sa.Column("imid", sa.String(32), nullable=False),
        sa.Column("pay_method", sa.String(2), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reference_no", sa.String(40), nullable=False),
        sa.Column("amt", sa.BigInteger, nullable=False),
        sa.Column("amt_text", sa.String(12), nullable=False),
        sa.Column("cancel_amt", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("goods_nm", sa.String(100), nullable=False),
        sa.Column("billing_nm", sa.String(100), nullable=False),
        sa.Column("description", sa.String(100), nullable=True),
        sa.Column("db_process_url", sa.Text, nullable=False),
        sa.Column("request", sa.Text, nullable=False),
        sa.Column("cart_data", sa.Text, nullable=False),
        sa.Column("vat", sa.String(12), nullable=True),
        sa.Column("fee", sa.String(12), nullable=True),
        sa.Column("notax_amt", sa.String(12), nullable=True),
        sa.Column("bank_cd", sa.String(4), nullable=True),
        sa.Column("vacct_no", sa.String(20), nullable=True),
        sa.Column("mitra_cd", sa.String(4), nullable=True),
        sa.Column("pay_no", sa.String(12), nullable=True),
        sa.Column("valid_until_us", sa.BigInteger, nullable=True),
        sa.Column("instmnt_type", sa.String(2), nullable=True),
        sa.Column("instmnt_mon", sa.String(2), nullable=True),
        sa.Column("recurr_opt", sa.String(2), nullable=True),
        sa.Column("m_ref_no", sa.String(18), nullable=True),
        sa.Column("created_at_us", sa.BigInteger, nullable=False),
        sa.Column("updated_at_us", sa.BigInteger, nullable=False),
        sa.Column("paid_at_us", sa.BigInteger, nullable=True),
        sa.Column("paid_amt", sa.BigInteger, nullable=True),
        sa.Column("match_cl", sa.String(1), nullable=True),
        sa.Column("auth_no", sa.String(10), nullable=True),
        sa.Column("card_no_masked", sa.String(20), nullable=True),
        sa.Column("card_exp_yymm", sa.String(4), nullable=True),
        sa.Column("receipt_code", sa.String(20), nullable=True),
    )
    op.create_index("ix_nicepay_tx_merchant", "nicepay_transactions", ["imid", "created_at_us"])
    op.create_index("ix_nicepay_tx_vacct", "nicepay_transactions", ["bank_cd", "vacct_no"])
    op.create_index("ix_nicepay_tx_payno", "nicepay_transactions", ["mitra_cd", "pay_no"])
    # One row per open VA / CVS number: the primary key makes two open numbers of one bank (or
    # one store chain) equal impossible, even for racing registrations on PostgreSQL. Claimed
    # when the number is issued, released when its transaction is paid, cancelled or expired.
    op.create_table(
        "nicepay_open_numbers",
        sa.Column("scope", sa.String(8), nullable=False),
        sa.Column("number", sa.String(20), nullable=False),
        sa.Column("t_xid", sa.String(40), nullable=True),
        sa.PrimaryKeyConstraint("scope", "number"),
    )
    op.create_index("ix_nicepay_open_numbers_tx", "nicepay_open_numbers", ["t_xid"])
    op.create_table(
        "nicepay_cancels",
        sa.Column("cancel_txid", sa.String(40), primary_key=True),
        sa.Column("t_xid", sa.String(40), nullable=False),
        sa.Column("cancel_type", sa.String(2), nullable=False),
        sa.Column("amt", sa.BigInteger, nullable=False),
        sa.Column("cancel_msg", sa.String(255), nullable=True),
        sa.Column("at_us", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_nicepay_cancels_tx", "nicepay_cancels", ["t_xid", "at_us"])
    op.create_table(
        "nicepay_sessions",
        sa.Column("session_id", sa.String(64), primary_key=True),
        sa.Column("t_xid", sa.String(40), nullable=False),
        sa.Column("call_back_url", sa.Text, nullable=False),
        sa.Column("card_no_masked", sa.String(20), nullable=True),
        sa.Column("card_exp_yymm", sa.String(4), nullable=True),
        sa.Column("card_holder_nm", sa.String(50), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at_us", sa.BigInteger, nullable=False),
        sa.Column("finished_at_us", sa.BigInteger, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("nicepay_sessions")
    op.drop_table("nicepay_cancels")
    op.drop_table("nicepay_open_numbers")
    op.drop_table("nicepay_transactions")
    op.drop_table("nicepay_merchants")
