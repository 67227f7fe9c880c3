"""Schema creation and upgrades, run on every start, through Alembic.

Revisions live in ``store/migrations/versions`` (one chain: core, then each provider). On
PostgreSQL the upgrade holds a transaction-level advisory lock, so several server processes
starting at once against one database migrate it exactly once.
"""

from __future__ import annotations

import ast
import sqlite3
from pathlib import Path

from .db import _libpq_url

_MIGRATIONS = Path(__file__).with_name("migrations")
_ADVISORY_KEY = 0x7061_7973  # "pays"


def sqlalchemy_url(url: str) -> str:
    """Our database URL in SQLAlchemy's spelling (psycopg 3 driver for PostgreSQL)."""
    if url.startswith(("postgresql", "postgres")):
        return _libpq_url(url).replace("postgresql://", "postgresql+psycopg://", 1)
    path = url.removeprefix("sqlite:///").removeprefix("sqlite://") or "paysandbox.db"
    return f"sqlite:///{path}"


def _code_heads(dirs: list[Path]) -> set[str] | None:
    """The head revisions of the migration scripts, read without importing Alembic (the
    ``revision`` / ``down_revision`` assignments of each file); None when a file is unclear."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for folder in dirs:
        for path in folder.glob("*.py"):
            if path.name.startswith("_"):
                continue
            found: dict[str, object] = {}
            for node in ast.parse(path.read_text("utf-8")).body:
                target = node.targets[0] if isinstance(node, ast.Assign) else None
                if isinstance(node, ast.AnnAssign):
                    target = node.target
                value = getattr(node, "value", None)
                if (
                    isinstance(target, ast.Name)
                    and value is not None
                    and target.id in ("revision", "down_revision", "depends_on")
                ):
                    try:
                        found[target.id] = ast.literal_eval(value)
                    except ValueError:
                        return None
            rev = found.get("revision")
            if not isinstance(rev, str):
                return None
            revisions.add(rev)
            for key in ("down_revision", "depends_on"):
                down = found.get(key)
                if isinstance(down, str):
                    parents.add(down)
                elif isinstance(down, (tuple, list)):
                    parents.update(str(d) for d in down)
    return revisions - parents if revisions else None


def _db_heads(url: str) -> set[str] | None:
    """The revisions recorded in ``alembic_version``; None when unknown (no table, no file)."""
    try:
        if url.startswith(("postgresql", "postgres")):
            import psycopg

            with psycopg.connect(_libpq_url(url), connect_timeout=10) as c:
                if c.execute("SELECT to_regclass('alembic_version')").fetchone() == (None,):
                    return None
                rows = c.execute("SELECT version_num FROM alembic_version").fetchall()
        else:
            path = sqlalchemy_url(url).removeprefix("sqlite:///")
            if path == ":memory:" or not Path(path).is_file():
                return None
            c2 = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
            try:
                rows = c2.execute("SELECT version_num FROM alembic_version").fetchall()
            finally:
                c2.close()
    except Exception:  # any doubt means: let Alembic look
        return None
    return {str(r[0]) for r in rows}


def is_current(url: str) -> bool:
    """True when the database already has every revision: start-up then skips importing
    SQLAlchemy and Alembic (most of the start-up time)."""
    heads = _code_heads([_MIGRATIONS / "versions"])
    return heads is not None and heads == _db_heads(url)


def upgrade(url: str) -> None:
    """Bring the schema at ``url`` to the newest revision."""
    if is_current(url):
        return
    import sqlalchemy as sa
    from alembic import command
    from alembic.config import Config

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
