"""Schema creation and upgrades, run on every start, through Alembic.

The core's revisions live in ``store/migrations/versions``; every provider keeps its own
Alembic branch in ``providers/<name>/migrations`` (rooted on the core's first revision), so two
providers never share a chain. ``upgrade`` applies every head, all inside ONE transaction that
it owns, so a crash at any point leaves either the old schema or the new one, and processes
starting at once migrate exactly once:

* PostgreSQL: the transaction first takes a transaction-level advisory lock; DDL is
  transactional.
* SQLite: DDL is transactional too, but the pysqlite driver's legacy transaction handling
  issues ``BEGIN`` only before INSERT/UPDATE/DELETE, so every ``CREATE TABLE`` used to run in
  autocommit (a ``kill -9`` mid-migration left half a schema that no later start could get
  past). Here the driver is in autocommit mode and the transaction is ours:
  ``BEGIN EXCLUSIVE`` … ``COMMIT``. ``journal_mode=WAL`` is set before it. Both wait for
  another starting process with a bounded busy timeout (``STARTUP_LOCK_SECONDS``), then find
  the schema current and do nothing.

When ``alembic_version`` already lists exactly the scripts' heads (read from the revision files
with ``ast``, and from the table with the plain drivers), ``upgrade`` returns at once without
importing SQLAlchemy or Alembic: most of a start-up's time on a current database.
"""

from __future__ import annotations

import ast
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .base import libpq_url, sqlite_path
from .db import STARTUP_LOCK_SECONDS

if TYPE_CHECKING:
    import sqlalchemy as sa

_MIGRATIONS = Path(__file__).with_name("migrations")
_ADVISORY_KEY = 0x7061_7973  # "pays"

#: Before providers had branches of their own, 0001 → 0002 → 0003 → 0004 (the core, then the
#: first three providers' tables) was one chain and ``alembic_version`` held only its tip. The
#: same revisions are now branch roots; a database stamped with a tip of the old chain is
#: restamped with every revision that tip stood for, so it migrates forward without recreating
#: a table.
_LINEAR_TIPS = {"0003": ("0002", "0003"), "0004": ("0002", "0003", "0004")}


def sqlalchemy_url(url: str) -> str:
    """Our database URL in SQLAlchemy's spelling (psycopg 3 driver for PostgreSQL)."""
    if url.startswith(("postgresql", "postgres")):
        return libpq_url(url).replace("postgresql://", "postgresql+psycopg://", 1)
    return f"sqlite:///{sqlite_path(url)}"


def _sqlite_engine(url: str) -> sa.Engine:
    import sqlalchemy as sa

    engine = sa.create_engine(
        url, poolclass=sa.pool.NullPool, connect_args={"timeout": STARTUP_LOCK_SECONDS}
    )

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # the driver never opens or commits on its own
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={int(STARTUP_LOCK_SECONDS * 1000)}")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN EXCLUSIVE")

    return engine


def _restamp_linear(conn: sa.Connection) -> None:
    import sqlalchemy as sa

    if not sa.inspect(conn).has_table("alembic_version"):
        return
    stamped = [r[0] for r in conn.execute(sa.text("SELECT version_num FROM alembic_version"))]
    if len(stamped) == 1 and stamped[0] in _LINEAR_TIPS:
        conn.execute(sa.text("DELETE FROM alembic_version"))
        for rev in _LINEAR_TIPS[stamped[0]]:
            conn.execute(
                sa.text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": rev}
            )


def _code_heads(folders: Sequence[Path]) -> set[str] | None:
    """The head revisions of the migration scripts in ``folders``, read without importing
    Alembic (each file's ``revision`` / ``down_revision`` / ``depends_on``); None when unsure."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for folder in folders:
        for path in Path(folder).glob("*.py"):
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
    """The revisions in ``alembic_version``; None when unknown (no table, no file, an error)."""
    try:
        if url.startswith(("postgresql", "postgres")):
            import psycopg

            with psycopg.connect(libpq_url(url), connect_timeout=10) as c:
                if c.execute("SELECT to_regclass('alembic_version')").fetchone() == (None,):
                    return None
                rows = c.execute("SELECT version_num FROM alembic_version").fetchall()
        else:
            path = sqlalchemy_url(url).removeprefix("sqlite:///")
            if path == ":memory:" or not Path(path).is_file():
                return None
            lite = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
            try:
                rows = lite.execute("SELECT version_num FROM alembic_version").fetchall()
            finally:
                lite.close()
    except Exception:  # any doubt means: let Alembic look
        return None
    return {str(r[0]) for r in rows}


def is_current(url: str, locations: Sequence[Path] = ()) -> bool:
    """True when the database at ``url`` has exactly the scripts' heads."""
    heads = _code_heads([_MIGRATIONS / "versions", *locations])
    return heads is not None and heads == _db_heads(url)


def upgrade(url: str, locations: Sequence[Path] = (), targets: Sequence[str] = ("heads",)) -> None:
    """Bring the schema at ``url`` to every head: the core's and those in ``locations`` (the
    providers' migration folders), atomically. ``targets`` (other revisions) is for tests that
    build an older schema."""
    if tuple(targets) == ("heads",) and is_current(url, locations):
        return
    import sqlalchemy as sa
    from alembic import command
    from alembic.config import Config

    sa_url = sqlalchemy_url(url)
    if sa_url.startswith("sqlite"):
        engine = _sqlite_engine(sa_url)
    else:
        engine = sa.create_engine(sa_url, poolclass=sa.pool.NullPool)
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.set_main_option("path_separator", "os")
    folders = [_MIGRATIONS / "versions", *locations]
    cfg.set_main_option("version_locations", os.pathsep.join(str(f) for f in folders))
    try:
        with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_KEY})
            _restamp_linear(conn)
            cfg.attributes["connection"] = conn
            for target in targets:
                command.upgrade(cfg, target)
    finally:
        engine.dispose()
