"""Journal writers that hold entries back, and the reads that ask them to store those.

A journal writer process holds entries back while every processor of its machine is busy
(``observe/writer.py``, ``Backlog``). So that a read through one server process still sees
what another process's writer holds, a writer holding entries keeps a row in
``sandbox_journal_holds`` (its id, the last ``sandbox_journal_sync.gen`` it answered, when it
last said so), and a read adds one to ``gen`` and waits until no live holder is behind it;
every holder looks at ``gen`` while it holds, and stores what it holds when ``gen`` moves.

Revision ID: c0007 (core, after c0006)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "c0007"
down_revision = "c0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    sync = op.create_table(
        "sandbox_journal_sync",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("gen", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(sync, [{"id": 1, "gen": 0}])
    op.create_table(
        "sandbox_journal_holds",
        sa.Column("writer", sa.String(128), primary_key=True),
        sa.Column("gen", sa.BigInteger, nullable=False),
        sa.Column("seen_us", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sandbox_journal_holds")
    op.drop_table("sandbox_journal_sync")
