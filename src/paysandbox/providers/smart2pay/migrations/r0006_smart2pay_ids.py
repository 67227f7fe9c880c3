"""Smart2Pay ids are never handed out twice on SQLite either: its id tables become
``AUTOINCREMENT`` tables (SQLite otherwise takes the largest id still stored plus one, so after
a reset payment 1 came again, and the request journal, which a reset keeps, showed two
payments under one ID; PostgreSQL's sequences never go back). Nothing changes on PostgreSQL.

Revision ID: s0006 (smart2pay branch, after s0005)
"""

from __future__ import annotations

from alembic import op

revision = "s0006"
down_revision = "s0005"
branch_labels = None
depends_on = None

#: the tables whose ``id`` a client sees (or that keys another's rows)
TABLES = (
    "smart2pay_customers",
    "smart2pay_addresses",
    "smart2pay_payments",
    "smart2pay_refunds",
    "smart2pay_captures",
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in TABLES:
        # rebuilt with its rows and indexes; the sequence starts at the largest id kept
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": True}
        ):
            pass


def downgrade() -> None:
    pass  # AUTOINCREMENT only keeps ids from coming back; nothing to undo
