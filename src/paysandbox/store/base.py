"""What repository code and the engines share: the ``Conn`` a repository function receives,
the ``Database`` that runs it, and the spelling of PostgreSQL URLs."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any, Protocol, TypeVar

T = TypeVar("T")

Row = Mapping[str, Any]


#: PostgreSQL connections a server pools (per event loop; see ``store/pg.py``). Measured
#: against 8 and 32 for one process; ``serve --workers N`` shares it out (``workers.py``).
PG_POOL_SIZE = 16


class Conn(Protocol):
    """What repository functions may do with a connection."""

    dialect: str

    def one(self, sql: str, *args: Any) -> Row | None: ...
    def all(self, sql: str, *args: Any) -> list[Row]: ...
    def exec(self, sql: str, *args: Any) -> int: ...
    def insert_many(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        """Insert ``rows`` (values in ``columns`` order) as cheaply as the driver allows:
        SQLite and asyncpg run one prepared ``INSERT`` per row (``executemany``), psycopg
        streams them with ``COPY … FROM STDIN``."""
        ...


@lru_cache(maxsize=256)
def insert_sql(table: str, columns: tuple[str, ...], ignore_conflict: bool = False) -> str:
    """``INSERT INTO table (columns) VALUES (?, …)`` [``ON CONFLICT DO NOTHING``] (names are
    code constants). Cached: each shape's text is built once, and the same string object then
    finds the engines' statement caches by its already computed hash."""
    marks = ", ".join("?" for _ in columns)
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
    return sql + " ON CONFLICT DO NOTHING" if ignore_conflict else sql


class Database(Protocol):
    """A place to run repository functions; see the module docstring."""

    dialect: str
    url: str

    async def read(self, fn: Callable[..., T], *args: Any) -> T: ...
    async def read_one(self, fn: Callable[..., T], *args: Any) -> T:
        """Like ``read`` for a function that reads with exactly ONE plain ``SELECT`` (its own
        snapshot): on SQLite without ``BEGIN``/``COMMIT``; a second statement, or one that
        is not a plain ``SELECT``, raises ``RuntimeError`` (see db.py)."""
        ...

    async def write(self, fn: Callable[..., T], *args: Any) -> T: ...
    async def write_one(self, fn: Callable[..., T], *args: Any) -> T:
        """Like ``write`` for a function that changes the database with exactly ONE statement
        (it may read before it): on PostgreSQL without ``BEGIN``/``COMMIT`` (see db.py)."""
        ...

    async def write_joined(self, fn: Callable[[Conn, list[Any]], list[T]], item: Any) -> T:
        """``write_one`` for many callers at once: ``fn(conn, items)`` changes the database
        with ONE statement for all its items and returns one result per item, in order.
        Calls of one turn of the event loop with the same ``fn`` may be given to it together
        (PostgreSQL: one round trip for them all); SQLite runs ``fn(conn, [item])`` as a
        ``write``. Should a joined call raise, each item is run on its own (see db.py)."""
        ...

    def problem(self) -> str | None:
        """Why changes cannot be kept right now (shown by the health check), or None."""
        ...

    def close(self) -> None: ...


def sqlite_path(url: str) -> str:
    """The file of a SQLite database URL (``sqlite:///path``, or a bare path; empty: the
    default ``paysandbox.db``), with a leading ``~`` / ``~user`` expanded as a shell would.
    Every reader of a SQLite URL (the start-up check, the engine, the migrations, the journal
    writer) goes through here: one of them expanding ``~`` while the others did not checked
    the home folder and then created a folder named ``~`` in the working directory."""
    path = url.removeprefix("sqlite:///").removeprefix("sqlite://") or "paysandbox.db"
    return os.path.expanduser(path)


def sqlite_url(url: str) -> str:
    """A ``sqlite:`` URL with its path as ``sqlite_path`` reads it (any other URL as given:
    a bare path is expanded when it is opened, an unknown scheme is refused by start-up)."""
    if not url.startswith("sqlite:"):
        return url
    return f"sqlite:///{sqlite_path(url)}"


def libpq_url(url: str) -> str:
    """Accept SQLAlchemy-style ``postgresql+psycopg://`` as well as plain libpq URLs."""
    return re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", url)


_LOCKING = (" FOR UPDATE", " FOR NO KEY UPDATE", " FOR SHARE", " FOR KEY SHARE", "PG_ADVISORY")


@lru_cache(maxsize=2048)
def plain_select(sql: str) -> bool:
    """A statement that only reads and locks nothing: it may run outside a transaction."""
    s = sql.lstrip().upper()
    return s.startswith("SELECT") and not any(word in s for word in _LOCKING)
