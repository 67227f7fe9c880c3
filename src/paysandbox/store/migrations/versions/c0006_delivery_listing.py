"""An index of deliveries newest first, for their listings (control API, dashboard).

``GET /_sandbox/deliveries`` and the dashboard's deliveries page list them by
``created_at_us DESC, id`` with a ``LIMIT``: without an index in that order PostgreSQL and
SQLite sorted every delivery for each page — the table is never pruned (5 ms a page with
20,000 deliveries on PostgreSQL, measured with ``EXPLAIN ANALYZE``; docs/design.md, "Plans on a
never-analyzed schema"). ``ix_deliveries_created`` is in exactly that order (``created_at_us``
descending, then ``id``), so a page is read from its start and stops at the ``LIMIT``.

Revision ID: c0006 (core, after c0005)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "c0006"
down_revision = "c0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_deliveries_created", "deliveries", [sa.text("created_at_us DESC"), "id"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_created", "deliveries")
