"""Schema creation and upgrades, run on every start, through Alembic.

Revisions live in ``store/migrations/versions`` (one chain: core, then each provider). On
PostgreSQL the upgrade holds a transaction-level advisory lock, so several server processes
starting at once against one database migrate it exactly once.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from .db import _libpq_url

_MIGRATIONS = Path(__file__).with_name("migrations")
_ADVISORY_KEY = 0x7061_7973  # "pays"


def sqlalchemy_url(url: str) -> str:
    """Our database URL in SQLAlchemy's spelling (psycopg 3 driver for PostgreSQL)."""
    if url.startswith(("postgresql", "postgres")):
        return _libpq_url(url).replace("postgresql://", "postgresql+psycopg://", 1)
    path = url.removeprefix("sqlite:///").removeprefix("sqlite://") or "paysandbox.db"
    return f"sqlite:///{path}"


def upgrade(url: str) -> None:
    """Bring the schema at ``url`` to the newest revision."""
    engine = sa.create_engine(sqlalchemy_url(url), poolclass=sa.pool.NullPool)
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_KEY})
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    finally:
        engine.dispose()
