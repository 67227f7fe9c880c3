"""Database handles for SQLite (default) and PostgreSQL, with one behaviour.

Repository code is plain synchronous functions ``fn(conn, *args)`` over the small ``Conn``
interface. A ``Database`` runs them:

* ``write(fn)`` — in one transaction, committed before the awaitable returns (so an answer is
  never sent before its change is durable). SQLite: inline on the event loop inside
  ``BEGIN IMMEDIATE`` (a transaction is microseconds of work, cheaper than any thread hop; a
  lock held by another process is never waited for on the loop — see ``SqliteDatabase``).
  PostgreSQL: on the event loop through asyncpg, each function in a greenlet (see
  ``store/pg.py``), READ COMMITTED; races are settled by conditional updates and row locks in
  the repository SQL.
* ``write_one(fn)`` — for a function whose change is exactly ONE statement (it may read
  before it; an error it raises must come before that statement or leave nothing changed,
  e.g. a claim that lost). SQLite: the same as ``write``. PostgreSQL: no ``BEGIN``/``COMMIT``
  — every statement runs in autocommit; a single statement is atomic on its own, so the
  result is the same with two round trips fewer. A second statement that is not a plain
  ``SELECT`` raises ``RuntimeError`` (the first one is already committed).
* ``write_joined(fn, item)`` — ``write_one`` for a function that writes MANY callers' items
  with one statement (``fn(conn, items) -> results``). PostgreSQL gives it the items of every
  call of one event-loop turn together: one round trip and one execution for a dozen
  concurrent generate-tokens (``store/pg.py``, ``_Joiner``); should that call raise, each item
  runs on its own, so each caller gets its own answer or error. SQLite: ``fn(conn, [item])``
  as a ``write`` (its group commit already joins the turn's writes in one transaction).
* ``read(fn)`` — the same, in a read transaction (SQLite: one snapshot for all its statements;
  PostgreSQL: each statement in autocommit, which under READ COMMITTED sees the same).
* ``read_one(fn)`` — for a function that reads with exactly ONE plain ``SELECT`` (e.g.
  inquire-token's hot read): one statement is its own snapshot, so SQLite runs it without
  ``BEGIN``/``COMMIT`` (two ``execute`` calls fewer). A second statement, or one that is not a
  plain ``SELECT``, raises ``RuntimeError`` before it runs (on both engines).

Durability (SQLite): ``synchronous=NORMAL`` in WAL mode by default — a committed change survives
a process crash or ``kill -9``; ``FULL`` adds safety against power loss at ~4x the commit cost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .base import (
    PG_POOL_SIZE,
    Conn,
    Database,
    Row,
    T,
    insert_sql,
    libpq_url,
    plain_select,
    sqlite_path,
)

if TYPE_CHECKING:
    from .pg import PostgresDatabase

log = logging.getLogger("paysandbox.db")

__all__ = [
    "PG_POOL_SIZE",
    "Conn",
    "Database",
    "DatabaseGone",
    "Row",
    "SqliteDatabase",
    "libpq_url",
    "open_database",
]

# ---------------------------------------------------------------- SQLite


class _SqliteConn:
    dialect = "sqlite"

    __slots__ = ("_c",)

    def __init__(self, c: sqlite3.Connection) -> None:
        self._c = c

    def one(self, sql: str, *args: Any) -> Row | None:
        row: Row | None = self._c.execute(sql, args).fetchone()
        return row

    def all(self, sql: str, *args: Any) -> list[Row]:
        rows: list[Row] = self._c.execute(sql, args).fetchall()
        return rows

    def exec(self, sql: str, *args: Any) -> int:
        return self._c.execute(sql, args).rowcount

    def insert_many(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        self._c.executemany(insert_sql(table, tuple(columns)), rows)


class _SqliteOneRead(_SqliteConn):
    """The ``Conn`` of ``read_one``: one plain ``SELECT``, then nothing more."""

    __slots__ = ("_used",)

    def __init__(self, c: sqlite3.Connection) -> None:
        self._c = c
        self._used = False

    def _check(self, sql: str) -> None:
        if self._used or not plain_select(sql):
            raise RuntimeError(
                "read_one runs one plain SELECT (its own snapshot), not "
                f"{'a second statement' if self._used else 'this one'}: {sql[:80]!r}; "
                "use Database.read"
            )
        self._used = True

    def one(self, sql: str, *args: Any) -> Row | None:
        self._check(sql)
        row: Row | None = self._c.execute(sql, args).fetchone()
        return row

    def all(self, sql: str, *args: Any) -> list[Row]:
        self._check(sql)
        rows: list[Row] = self._c.execute(sql, args).fetchall()
        return rows

    def exec(self, sql: str, *args: Any) -> int:
        self._check(sql)
        return self._c.execute(sql, args).rowcount

    def insert_many(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        self._check(f"INSERT INTO {table}")


# How long a starting process waits for another one's lock (migration, journal-mode switch).
STARTUP_LOCK_SECONDS = 30.0
#: SQLite's page cache per connection, in KiB (grows only as pages are read).
CACHE_KIB = 65_536
#: The longest pause between two tries for a write lock another process holds. Holders keep
#: it for milliseconds (a group commit, a journal batch): a longer pause only adds latency.
MAX_BUSY_DELAY = 0.004


def _sqlite_connect(path: str, synchronous: str, busy_timeout_ms: int) -> sqlite3.Connection:
    """Open with a bounded busy timeout for the start-up pragmas (``journal_mode=WAL`` needs a
    lock another starting process may hold), then switch to ``busy_timeout_ms`` for serving."""
    c = sqlite3.connect(
        path, isolation_level=None, check_same_thread=False, timeout=STARTUP_LOCK_SECONDS
    )
    c.row_factory = sqlite3.Row
    c.execute(f"PRAGMA busy_timeout={int(STARTUP_LOCK_SECONDS * 1000)}")
    c.execute("PRAGMA journal_mode=WAL")
    c.execute(f"PRAGMA synchronous={synchronous}")
    c.execute("PRAGMA foreign_keys=ON")
    # The page cache keeps the b-trees' inner pages: at ten million tokens a lookup then reads
    # two leaf pages, not six or seven pages through the default 2 MB cache (bench/ table 3).
    c.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
    c.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    return c


class DatabaseGone(sqlite3.OperationalError):
    """The SQLite file was deleted or replaced under the running server (``problem``)."""


def _file_id(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


class SqliteDatabase:
    """SQLite file: reads and writes run inline on the event loop, never waiting on a lock.

    A transaction is a synchronous function with no ``await`` inside, so within one process
    transactions cannot interleave. Between processes, ``BEGIN IMMEDIATE`` with
    ``busy_timeout=0`` fails at once when another process holds the write lock; the
    transaction is then retried after an asynchronous back-off, so the loop keeps serving
    others instead of blocking. WAL checkpoints are SQLite's automatic ones (every 1000 pages):
    measured, a background checkpoint thread let the WAL grow without bound and made commits
    slower (45 µs → 66 µs per transaction).

    Group commit: writes requested during one turn of the event loop run together, each in its
    own ``SAVEPOINT`` inside one ``BEGIN IMMEDIATE … COMMIT``; a transaction that raises is
    rolled back to its savepoint alone. Every caller is answered only after the shared
    ``COMMIT`` succeeded, so "committed before acknowledged" holds, and the commit's cost is
    shared by the batch.
    """

    dialect = "sqlite"

    def __init__(self, path: str, *, synchronous: str = "NORMAL", lock_wait_seconds: float = 15):
        if synchronous.upper() not in {"NORMAL", "FULL", "EXTRA", "OFF"}:
            raise ValueError(f"unknown SQLite synchronous mode {synchronous!r}")
        self.path = path
        self.url = f"sqlite:///{path}"
        self.lock_wait_seconds = lock_wait_seconds
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = _sqlite_connect(path, synchronous.upper(), 0)
        #: the file opened (device, inode): a file deleted or replaced under the running server
        #: would take every later change with it (see ``problem``)
        self._file = None if path == ":memory:" else _file_id(path)
        self._gone_logged = False
        self._batch: list[tuple[Callable[..., Any], Sequence[Any], asyncio.Future[Any]]] = []
        self._flush_loop: asyncio.AbstractEventLoop | None = None
        self._busy_since: float | None = None
        self._busy_delay = 0.0005

    def problem(self) -> str | None:
        """Why changes cannot be kept, or None: the database file was deleted or replaced
        since it was opened (a change would go to a file no one can open again — answered,
        then gone). Checked before every write (one ``stat``)."""
        if self._file is None:
            return None
        try:
            now = _file_id(self.path)
        except OSError:
            now = None
        if now == self._file:
            return None
        why = (
            f"the database file {self.path} was deleted or replaced while the server ran; "
            "changes cannot be kept — restart the server"
        )
        if not self._gone_logged:
            self._gone_logged = True
            log.error("%s", why)
        return why

    def _check_file(self) -> None:
        why = self.problem()
        if why is not None:
            raise DatabaseGone(why)

    def _run(
        self, fn: Callable[..., T], args: Sequence[Any], begin: str, conn: type = _SqliteConn
    ) -> T:
        c = self._conn
        if begin != "BEGIN":
            self._check_file()
        c.execute(begin)
        try:
            result = fn(conn(c), *args)
        except BaseException:
            c.execute("ROLLBACK")
            raise
        c.execute("COMMIT")
        return result

    async def _retrying(
        self, fn: Callable[..., T], args: Sequence[Any], begin: str, conn: type = _SqliteConn
    ) -> T:
        delay, waited = 0.0005, 0.0
        while True:
            try:
                return self._run(fn, args, begin, conn)
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or waited >= self.lock_wait_seconds:
                    raise
            await asyncio.sleep(delay)
            waited += delay
            delay = min(delay * 2, MAX_BUSY_DELAY)

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        if self._flush_loop is not None and self._flush_loop is not loop:
            return await self._retrying(fn, args, "BEGIN IMMEDIATE")  # another loop: no batching
        fut: asyncio.Future[T] = loop.create_future()
        self._batch.append((fn, args, fut))
        if self._flush_loop is None:
            self._flush_loop = loop
            loop.call_soon(self._flush)
        return await fut

    async def write_one(self, fn: Callable[..., T], *args: Any) -> T:
        """The same as ``write`` on SQLite (group commit; see ``Database.write_one``)."""
        return await self.write(fn, *args)

    async def write_joined(self, fn: Callable[[Conn, list[Any]], list[T]], item: Any) -> T:
        """``fn(conn, [item])`` as a ``write`` (see ``Database.write_joined``)."""
        results = await self.write(fn, [item])
        return results[0]

    def _flush(self) -> None:
        """Run every queued write in one transaction (see the class docstring)."""
        loop = self._flush_loop
        assert loop is not None
        batch = [item for item in self._batch if not item[2].cancelled()]
        self._batch = []
        if not batch:
            self._flush_loop = None
            return
        c = self._conn
        try:
            self._check_file()
            c.execute("BEGIN IMMEDIATE")
        except DatabaseGone as exc:
            self._fail(batch, exc)
            return
        except sqlite3.OperationalError as exc:
            if _is_busy(exc):
                now = time.monotonic()
                self._busy_since = self._busy_since or now
                if now - self._busy_since < self.lock_wait_seconds:
                    # another process holds the lock: try again later, never wait on the loop
                    self._batch = batch + self._batch
                    loop.call_later(self._busy_delay, self._flush)
                    self._busy_delay = min(self._busy_delay * 2, MAX_BUSY_DELAY)
                    return
            self._fail(batch, exc)
            return
        self._busy_since, self._busy_delay = None, 0.0005
        outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]] = []
        try:
            for fn, args, fut in batch:
                c.execute("SAVEPOINT w")
                try:
                    result = fn(_SqliteConn(c), *args)
                except Exception as exc:
                    c.execute("ROLLBACK TO w")
                    c.execute("RELEASE w")
                    outcomes.append((fut, None, exc))
                else:
                    c.execute("RELEASE w")
                    outcomes.append((fut, result, None))
            c.execute("COMMIT")
        except BaseException as exc:  # the commit itself failed (or worse): nothing is kept
            with contextlib.suppress(sqlite3.Error):
                c.execute("ROLLBACK")
            self._fail(batch, exc if isinstance(exc, Exception) else RuntimeError(repr(exc)))
            if not isinstance(exc, Exception):
                raise
            return
        for fut, result, error in outcomes:
            if fut.done():
                continue
            if error is not None:
                fut.set_exception(error)
            else:
                fut.set_result(result)
        self._after_batch()

    def _fail(self, batch: Sequence[tuple[Any, Any, asyncio.Future[Any]]], exc: Exception) -> None:
        for _, _, fut in batch:
            if not fut.done():
                fut.set_exception(exc)
        self._busy_since, self._busy_delay = None, 0.0005
        self._after_batch()

    def _after_batch(self) -> None:
        """Writes queued while this batch ran go in the next turn of the loop."""
        if self._batch:
            assert self._flush_loop is not None
            self._flush_loop.call_soon(self._flush)
        else:
            self._flush_loop = None

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        return await self._retrying(fn, args, "BEGIN")

    async def read_one(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn`` reads with one plain ``SELECT``: run in autocommit, where that statement is
        its own snapshot (as inside ``BEGIN … COMMIT``), and its read lock ends with it. When
        another process holds a lock a read must wait for (rare in WAL mode), the call goes
        the way of ``read``: retried after an asynchronous back-off."""
        try:
            return fn(_SqliteOneRead(self._conn), *args)
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc):
                raise
        return await self._retrying(fn, args, "BEGIN", _SqliteOneRead)

    def write_sync(self, fn: Callable[..., T], *args: Any) -> T:
        """For start-up and tools outside the event loop (waits for other processes' locks)."""
        deadline = time.monotonic() + self.lock_wait_seconds
        while True:
            try:
                return self._run(fn, args, "BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def end_startup(self) -> None:
        """Start-up is over (``write_sync`` has one connection with the rest: nothing to do)."""

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._conn.close()


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED) or "locked" in str(exc)


def open_database(
    url: str, *, synchronous: str = "NORMAL", pg_pool_size: int = PG_POOL_SIZE
) -> SqliteDatabase | PostgresDatabase:
    """``sqlite:///path``, a bare file path, or ``postgresql://…``."""
    if url.startswith(("postgresql:", "postgres:", "postgresql+")):
        from .pg import PostgresDatabase

        return PostgresDatabase(url, pool_size=pg_pool_size)
    return SqliteDatabase(sqlite_path(url), synchronous=synchronous)
