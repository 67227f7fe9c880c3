"""An index of deliveries by merchant endpoint (account, URL, state): the claim's "is this
endpoint busy?" test looked at every pending delivery for every candidate — quadratic: one
claim took 1 s with 2,000 pending deliveries and 26 s with 10,000 (SQLite, on the event loop:
the whole server stalled), over 3 minutes with 37,000 on PostgreSQL while it held the claim
lock. With the index each test is one lookup.

Revision ID: c0004 (core, after c0003)
"""

from __future__ import annotations

from alembic import op

revision = "c0004"
down_revision = "c0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_deliveries_endpoint", "deliveries", ["account_id", "url", "state"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_endpoint", "deliveries")
