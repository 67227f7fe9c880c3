"""NICEPay: an index of payment-page sessions by transaction. ``sessions_of`` (the dashboard's
transaction page) and a merchant's removal read a transaction's sessions by ``t_xid``, which no
index had: each read scanned every session of every merchant (docs/design.md, "Plans on a
never-analyzed schema").

Revision ID: n0008 (nicepay branch, after n0007)
"""

from __future__ import annotations

from alembic import op

revision = "n0008"
down_revision = "n0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_nicepay_sessions_tx", "nicepay_sessions", ["t_xid"])


def downgrade() -> None:
    op.drop_index("ix_nicepay_sessions_tx", "nicepay_sessions")
