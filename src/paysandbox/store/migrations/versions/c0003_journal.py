"""Request journal and API faults (shared by every server process on one database).

``sandbox_requests``: one row per provider request / customer-page action, secrets already
redacted; capped by count and age by the journal writer. ``sandbox_faults``: fault injection
rules; ``remaining`` is decremented atomically (one winner per remaining use).

Revision ID: c0003 (the core branch, after c0002)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "c0003"
down_revision = "c0002"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "sandbox_requests",
        sa.Column("seq", BigId, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(40), nullable=False),  # no index: see below
        sa.Column("at_us", sa.BigInteger, nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("account", sa.String(128), nullable=True),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("route", sa.String(255), nullable=True),
        sa.Column("status", sa.Integer, nullable=True),
        sa.Column("latency_ms", sa.Float, nullable=False),
        # " id1 id2 " so that one id is found with LIKE '% id %'
        sa.Column("object_ids", sa.Text, nullable=False),
        sa.Column("fault_id", sa.String(40), nullable=True),
        sa.Column("exchange", sa.Text, nullable=False),
    )
    # No index on id or at_us: the table is capped (10,000 rows by default); a scan for one
    # id, ?since= or the age prune costs less than an index update on every insert.
    op.create_table(
        "sandbox_faults",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("spec", sa.Text, nullable=False),
        sa.Column("remaining", sa.Integer, nullable=True),
        sa.Column("hits", sa.Integer, nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("created_at_us", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sandbox_faults")
    op.drop_table("sandbox_requests")
