"""Indexes the delivery claim walks instead of reading every pending delivery.

The claim took the first due delivery of every merchant endpoint with a window function over
ALL due pending deliveries, and asked for each whether its endpoint had one in flight through
``ix_deliveries_endpoint`` (account, URL, state) — which still read every pending row of that
endpoint: one claim took ~0.2 s with 10,000 pending on 100 endpoints and 9 s with 10,000 on
one endpoint (SQLite; measured by hand). Now:

* ``ix_deliveries_queue`` (state, next attempt, created, id): the claim walks the pending
  deliveries in the order it picks them, a few at a time, and stops once it has enough (it
  replaces ``ix_deliveries_due``, its prefix);
* ``ix_deliveries_account_queue`` (state, account, next attempt, created, id): the same walk
  for one account whose own clock is ahead (replaces ``ix_deliveries_endpoint``);
* ``ix_deliveries_in_flight`` (account, URL) and ``ix_deliveries_lease`` (lease end), both only
  of the deliveries in flight (``WHERE lease_token IS NOT NULL``; a handful): "is this endpoint
  busy?" and "whose lease ran out?" are lookups in them.

Revision ID: c0005 (core, after c0004)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "c0005"
down_revision = "c0004"
branch_labels = None
depends_on = None

_LEASED = sa.text("lease_token IS NOT NULL")


def upgrade() -> None:
    op.create_index(
        "ix_deliveries_queue",
        "deliveries",
        ["state", "next_attempt_at_us", "created_at_us", "id"],
    )
    op.drop_index("ix_deliveries_due", "deliveries")
    op.create_index(
        "ix_deliveries_account_queue",
        "deliveries",
        ["state", "account_id", "next_attempt_at_us", "created_at_us", "id"],
    )
    op.drop_index("ix_deliveries_endpoint", "deliveries")
    op.create_index(
        "ix_deliveries_in_flight",
        "deliveries",
        ["account_id", "url"],
        sqlite_where=_LEASED,
        postgresql_where=_LEASED,
    )
    op.create_index(
        "ix_deliveries_lease",
        "deliveries",
        ["lease_until_real_us"],
        sqlite_where=_LEASED,
        postgresql_where=_LEASED,
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_lease", "deliveries")
    op.drop_index("ix_deliveries_in_flight", "deliveries")
    op.create_index("ix_deliveries_endpoint", "deliveries", ["account_id", "url", "state"])
    op.drop_index("ix_deliveries_account_queue", "deliveries")
    op.create_index("ix_deliveries_due", "deliveries", ["state", "next_attempt_at_us"])
    op.drop_index("ix_deliveries_queue", "deliveries")
