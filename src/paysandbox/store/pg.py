"""PostgreSQL for ``Database``: asyncpg on the event loop, synchronous repository functions
bridged with greenlets.

Repository functions are plain synchronous ``fn(conn, *args)``. Each runs inside a greenlet;
its ``conn.one()/all()/exec()`` switches to the calling coroutine, which awaits the driver
and switches back with the answer (SQLAlchemy's asyncio layer works the same way). So
statements run on the event loop without a thread hop, and the repository code is unchanged.

Transaction shape (measured in docs/design.md, "PostgreSQL path"):

* ``read(fn)`` runs each statement on its own in autocommit mode: no ``BEGIN``/``COMMIT``
  round trips. Under READ COMMITTED — what the repository SQL assumes — every statement of a
  transaction takes a fresh snapshot anyway, so a read-only function sees exactly what it
  would inside ``BEGIN … COMMIT``. Should a read function write or lock (anything but a plain
  ``SELECT``), a transaction is opened before that statement and committed at the end, so it
  is still atomic.
* ``read_one(fn)`` is ``read`` for a function of exactly one plain ``SELECT`` (anything more is
  refused with ``RuntimeError``, as SQLite's ``read_one`` needs for its snapshot). Such reads
  that arrive in one turn of the event loop with the same SQL are sent as ONE statement
  (``_ReadBatch``: ``unnest`` of the callers' parameters ``CROSS JOIN LATERAL`` the
  statement), so twelve concurrent inquiries cost one round trip, not twelve. Each caller's
  statement still runs after its
  request arrived, in a snapshot of its own moment or later: what a client was told was
  committed before it asked is seen.
* ``write_one(fn)`` is for a function whose change is ONE statement (e.g. a data-modifying
  ``WITH`` that claims and inserts together): all its statements run in autocommit, no
  ``BEGIN``/``COMMIT`` round trips; a second changing statement raises ``RuntimeError``.
* ``write(fn)`` runs inside ``BEGIN … COMMIT`` (READ COMMITTED, ``synchronous_commit`` as
  the server has it — on by default, so a change is durable before it is acknowledged).
  Races are settled by conditional updates, ``ON CONFLICT`` claims and ``FOR UPDATE SKIP
  LOCKED`` in the repository SQL, exactly as before.
* Statements are prepared once per connection (asyncpg's statement cache).
* A small pool per event loop (``pool_size`` connections, default 16: measured against 8 and
  32 in docs/design.md; ``server.pg_pool_size``, shared out by ``serve --workers``). A
  connection is opened off the request's path (a caller takes the first connection given
  back or opened) and has looked up the array types the joined statements send before it
  serves anyone. A connection whose transaction was interrupted is closed, never reused;
  TCP keepalive is on, so a server gone without a word is noticed while a connection sits
  idle. After ``close`` nothing is opened, and connections still in use are closed when given
  back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence, Sized
from functools import lru_cache
from typing import Any, TypeVar

import greenlet
from asyncpg.exceptions import PostgresConnectionError, PostgresError

from .base import PG_POOL_SIZE, Row, insert_sql, libpq_url, plain_select

log = logging.getLogger("paysandbox.db")

_QMARK = re.compile(r"\?")


class _PgConn:
    """A psycopg (synchronous) connection as a ``Conn``: start-up writes, tools and the
    journal's writer process.

    Statements go through a ``RawCursor`` with ``$n`` placeholders: psycopg then sends the
    text as it is, where its ordinary cursor parses every query for ``%s`` — cached only for
    texts up to 4 KB, so the journal's 100-row INSERTs were parsed anew each time (measured:
    ~30 µs of the writer's CPU per journal entry on PostgreSQL)."""

    dialect = "postgresql"

    __slots__ = ("_c",)

    def __init__(self, c: Any) -> None:
        self._c = c

    def _run(self, sql: str, args: Sequence[Any]) -> Any:
        import psycopg

        return psycopg.RawCursor(self._c).execute(_numbered(sql), _text(args), prepare=True)

    def one(self, sql: str, *args: Any) -> Row | None:
        row: Row | None = self._run(sql, args).fetchone()
        return row

    def all(self, sql: str, *args: Any) -> list[Row]:
        rows: list[Row] = self._run(sql, args).fetchall()
        return rows

    def exec(self, sql: str, *args: Any) -> int:
        return int(self._run(sql, args).rowcount)

    def insert_many(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        with self._c.cursor().copy(_copy_sql(table, tuple(columns))) as copy:
            for row in rows:
                copy.write_row(_text(row))


def _text(args: Sequence[Any]) -> Sequence[Any]:
    """``args`` as PostgreSQL can take them: its text holds no U+0000, which a client may send
    (JSON's ``"\\u0000"``, a query's ``%00``) and SQLite keeps; here it is stored, and looked
    up, as U+FFFD — one answer for every statement instead of a driver error (a 500).

    Total over what the drivers take: a ``str`` (a subclass too), alone or anywhere inside a
    value sent as an array or a record (a list or tuple, nested, or any sized iterable but
    text, bytes and mappings — asyncpg's rule for arrays) has its U+0000 replaced; ``bytes``
    (``bytea`` holds U+0000), numbers, ``None`` and other values carry no text."""
    for a in args:
        if type(a) is str:
            if "\x00" in a:
                break
        elif type(a) not in _NO_TEXT and _nul_in(a):
            break
    else:
        return args
    return [_no_nul(v) for v in args]


#: Parameter types that carry no text (the common ones, checked first).
_NO_TEXT = frozenset({int, float, bool, type(None), bytes})


def _container(v: Any) -> bool:
    """``v`` is sent as an array or a record (asyncpg: any sized iterable but text, bytes and
    mappings)."""
    return isinstance(v, (list, tuple)) or (
        isinstance(v, Iterable)
        and isinstance(v, Sized)
        and not isinstance(v, (str, bytes, bytearray, memoryview, Mapping))
    )


def _nul_in(v: Any) -> bool:
    """A U+0000 in a text of ``v`` (``v`` a ``str``, or a container of them at any depth)."""
    if isinstance(v, str):
        return "\x00" in v
    if not _container(v):
        return False
    for x in v:
        if type(x) is str:
            if "\x00" in x:
                return True
        elif type(x) not in _NO_TEXT and _nul_in(x):
            return True
    return False


def _no_nul(v: Any) -> Any:
    if isinstance(v, str):
        return v.replace("\x00", "\ufffd")
    if type(v) in _NO_TEXT or not _container(v):
        return v
    out = [_no_nul(x) for x in v]
    return tuple(out) if isinstance(v, tuple) else out


@lru_cache(maxsize=64)
def _copy_sql(table: str, columns: tuple[str, ...]) -> str:
    return f"COPY {table} ({', '.join(columns)}) FROM STDIN"


T = TypeVar("T")

_ONE, _ALL, _EXEC, _MANY = 0, 1, 2, 4


@lru_cache(maxsize=2048)
def _numbered(sql: str) -> str:
    """``?`` placeholders → ``$1, $2, …`` (repository SQL never has ``?`` in a literal)."""
    counter = iter(range(1, 10_000))
    return _QMARK.sub(lambda _: f"${next(counter)}", sql)


class _BridgeConn:
    """The ``Conn`` a repository function sees: each call hands the statement to the
    coroutine that runs the function (see ``_drive``) and returns its answer."""

    dialect = "postgresql"
    __slots__ = ("_parent",)

    def __init__(self, parent: greenlet.greenlet) -> None:
        self._parent = parent

    def one(self, sql: str, *args: Any) -> Row | None:
        row: Row | None = self._parent.switch((_ONE, sql, args))
        return row

    def all(self, sql: str, *args: Any) -> list[Row]:
        rows: list[Row] = self._parent.switch((_ALL, sql, args))
        return rows

    def exec(self, sql: str, *args: Any) -> int:
        n: int = self._parent.switch((_EXEC, sql, args))
        return n

    def insert_many(
        self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        self._parent.switch((_MANY, insert_sql(table, tuple(columns)), rows))


async def _statement(c: Any, op: int, sql: str, args: Sequence[Any]) -> Any:
    q = _numbered(sql)
    if op == _MANY:  # args: the rows
        await c.executemany(q, [_text(row) for row in args])
        return None
    args = _text(args)
    if op == _ONE:
        r = await c.fetchrow(q, *args)
        return None if r is None else dict(r.items())
    if op == _ALL:
        return [dict(r.items()) for r in await c.fetch(q, *args)]
    status: str = await c.execute(q, *args)
    tail = status.rpartition(" ")[2]
    return int(tail) if tail.isdigit() else 0


_AS_IS, _LAZY, _ONE_CHANGE = 0, 1, 2
_DONE = 3  # what a runner hands back when its function has returned or raised
#: How far a ``_ONE_CHANGE`` function got (``_drive``'s ``progress``).
_NOTHING, _SENT, _COMMITTED = 0, 1, 2


def _runner(fn: Callable[..., Any], args: Sequence[Any]) -> None:
    """The body of a reusable greenlet: run repository functions one after another, handing
    each one's outcome back as ``(_DONE, ok, value)`` and waiting for the next. (Creating a
    greenlet costs ~5 µs here, switching to a live one ~0.2 µs.)"""
    parent = greenlet.getcurrent().parent
    assert parent is not None
    conn = _BridgeConn(parent)
    while True:
        try:
            outcome: tuple[int, bool, Any] = (_DONE, True, fn(conn, *args))
        except greenlet.GreenletExit:
            raise
        except BaseException as exc:  # handed to the caller, which raises it
            outcome = (_DONE, False, exc)
        del fn, args
        fn, args = parent.switch(outcome)


async def _in_greenlet(
    fn: Callable[..., T],
    args: Sequence[Any],
    runners: list[greenlet.greenlet],
    serve: Callable[[int, str, Sequence[Any]], Awaitable[Any]],
) -> T:
    """Run ``fn(conn, *args)`` in a runner greenlet; each statement it issues is answered by
    ``await serve(op, sql, params)``, and an error ``serve`` raises is raised inside ``fn``
    where it issued the statement (the repository function sees the driver's error).

    ``runners``: idle runner greenlets of this loop's thread; one is taken, and given back when
    its function has returned or raised (one left mid-function is never reused). An idle
    runner holds on to its last outcome until its next use: at most one per connection."""
    here = greenlet.getcurrent()
    child = runners.pop() if runners else None
    if child is None or child.parent is not here:
        child = greenlet.greenlet(_runner)
    request = child.switch(fn, args)
    while True:
        op, sql, params = request
        if op == _DONE:
            runners.append(child)
            if sql:
                result: T = params
                return result
            raise params
        try:
            answer = await serve(op, sql, params)
        except BaseException as exc:
            request = child.throw(exc)
        else:
            request = child.switch(answer)


async def _drive(
    c: Any,
    fn: Callable[..., T],
    args: Sequence[Any],
    mode: int,
    runners: list[greenlet.greenlet],
    progress: list[int] | None = None,
) -> T:
    """Run ``fn(conn, *args)`` in a greenlet (``_in_greenlet``), serving its statements on
    connection ``c``.

    ``_AS_IS``: statements run in whatever transaction the caller opened.
    ``_LAZY``: start in autocommit and open a transaction (``BEGIN``) only before the first
    statement that is not a plain ``SELECT`` — so a read that turns out to write (or lock)
    still does so atomically, as on SQLite.
    ``_ONE_CHANGE``: autocommit throughout; a second statement that is not a plain ``SELECT``
    is refused with ``RuntimeError`` (see ``PostgresDatabase.write_one``).
    ``progress`` (``_ONE_CHANGE``): its item is set to ``_SENT`` before the changing
    statement runs and to ``_COMMITTED`` once it has returned — committed, whatever the
    function does next (while it is ``_NOTHING``, the function has changed nothing)."""
    changed = False

    async def serve(op: int, sql: str, params: Sequence[Any]) -> Any:
        nonlocal changed
        if mode and not plain_select(sql):
            if mode == _LAZY:
                if not c.is_in_transaction():
                    await c.execute("BEGIN")
            elif changed:
                raise RuntimeError(
                    "write_one: a second statement that changes the database (the first "
                    f"is already committed): {sql[:80]!r}; use Database.write"
                )
            else:
                changed = True
                if progress is None:
                    return await _statement(c, op, sql, params)
                progress[0] = _SENT
                answer = await _statement(c, op, sql, params)
                progress[0] = _COMMITTED
                return answer
        return await _statement(c, op, sql, params)

    return await _in_greenlet(fn, args, runners, serve)


#: Most callers in one joined statement (``_ReadBatch``, ``_Joiner``); more go in another.
READ_BATCH_MAX = 32
#: The column that tells a batched statement's rows apart (no repository SQL names it).
_BATCH_KEY = "psb_batch_caller_"


@lru_cache(maxsize=512)
def _batched_sql(sql: str, types: tuple[str, ...]) -> str:
    """``sql`` (``?`` placeholders; one row wanted, as ``conn.one``) for many callers at once:
    ``SELECT q.key, s.* FROM unnest($1::int[], $2::t1[], …) AS q(key, a1, …) CROSS JOIN
    LATERAL (sql with ``?`` → ``q.a1`` … LIMIT 1) s`` — each caller's parameters a row of
    arrays, its first row found by key (none: the caller's statement found nothing). One
    statement text for any number of callers, so PostgreSQL plans it once."""
    names = iter(range(1, len(types) + 1))
    inner = _QMARK.sub(lambda _: f"q.a{next(names)}", sql)
    arrays = ", ".join(f"${i + 2}::{t}[]" for i, t in enumerate(types))
    columns = ", ".join(f"a{i + 1}" for i in range(len(types)))
    return (
        f"SELECT q.{_BATCH_KEY}, s.* FROM unnest($1::int4[], {arrays}) "
        f"AS q({_BATCH_KEY}, {columns}) CROSS JOIN LATERAL ({inner} LIMIT 1) s"
    )


#: Callers of one batched SQL: each one's parameters and the future its row is set on.
_Callers = list[tuple[Sequence[Any], "asyncio.Future[Any]"]]


class _TurnGather:
    """Calls gathered per turn of the event loop, by key: the first call of a turn schedules
    ``_flush`` with ``call_soon`` — it runs after every callback already queued, the other
    requests that arrived with it — which hands each key's callers (at most
    ``READ_BATCH_MAX`` a task) to ``_run``. Each caller awaits the future ``_gather`` gave it."""

    def __init__(self, pool: _LoopPool) -> None:
        self.pool = pool
        self.pending: dict[Any, _Callers] = {}
        self.scheduled = False
        self.tasks: set[asyncio.Task[None]] = set()

    def _gather(self, key: Any, args: Sequence[Any]) -> asyncio.Future[Any]:
        fut: asyncio.Future[Any] = self.pool.loop.create_future()
        waiting = self.pending.get(key)
        if waiting is None:
            self.pending[key] = [(args, fut)]
            if not self.scheduled:
                self.scheduled = True
                self.pool.loop.call_soon(self._flush)
        else:
            waiting.append((args, fut))
        return fut

    def _flush(self) -> None:
        self.scheduled = False
        pending, self.pending = self.pending, {}
        for key, callers in pending.items():
            for i in range(0, len(callers), READ_BATCH_MAX):
                task = self.pool.loop.create_task(self._start(key, callers[i : i + READ_BATCH_MAX]))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)

    async def _start(self, key: Any, callers: _Callers) -> None:
        """``_run`` for the callers still waiting, on a pooled connection (``_run`` gives it
        back)."""
        callers = [(args, fut) for args, fut in callers if not fut.done()]
        if not callers:
            return
        try:
            c = await self.pool.acquire()
        except BaseException as exc:  # no connection (the database down, or closed)
            _fail(callers, exc)
            if not isinstance(exc, Exception):
                raise
            return  # each caller has the error: not left in the task ("never retrieved")
        # callers gone while it waited for the connection (a cancelled request) are not run:
        # nothing of theirs was sent, and a write of theirs must not happen unseen
        callers = [(args, fut) for args, fut in callers if not fut.done()]
        if not callers:
            self.pool.release(c)
            return
        await self._run(key, callers, c)

    async def _run(self, key: Any, callers: _Callers, c: Any) -> None:
        raise NotImplementedError


class _ReadBatch(_TurnGather):
    """``read_one``'s statements, gathered per turn of the event loop and sent together.

    A caller hands over its statement (``submit``) and awaits its row; those that reached
    their read in the same turn (``_TurnGather``) share one statement (one round trip, one
    execution in PostgreSQL) on one pooled connection. One caller alone runs its own
    statement as before, and so does a statement without parameters. Should the joined
    statement fail (a statement that cannot be a subquery, a bad parameter of one caller, a
    passing failure), each caller's statement runs on its own, so each gets its own answer or
    error; only when the joined form itself was at fault (a statement-shape error, and every
    caller's own statement then ran) is that SQL not joined again."""

    def __init__(self, pool: _LoopPool) -> None:
        super().__init__(pool)
        self.unjoinable: set[str] = set()
        self.types: dict[str, tuple[str, ...]] = {}  # SQL → its parameters' types
        self.joined = 0  # joined statements run (tests, benchmarks)

    def submit(self, sql: str, args: Sequence[Any]) -> asyncio.Future[Any]:
        return self._gather(sql, args)

    async def _run(self, sql: str, callers: _Callers, c: Any) -> None:
        pool = self.pool
        try:
            # a statement without parameters has nothing to join by: it runs alone up front
            # (its joined form, ``unnest`` of no arrays, is a syntax error: one wasted round
            # trip, then the SQL was marked unjoinable)
            if len(callers) > 1 and "?" in sql and sql not in self.unjoinable:
                shape = False
                try:
                    found = await self._joined(c, sql, [args for args, _ in callers])
                except Exception as exc:  # the driver's error: each caller's own statement below
                    if c.is_closed():
                        raise
                    # a statement the joined form cannot take (syntax, types, a feature), not
                    # a passing failure (a timeout, a cancel, memory) or one caller's argument
                    shape = str(getattr(exc, "sqlstate", None) or "")[:2] in ("42", "0A")
                else:
                    self.joined += 1
                    for k, (_, fut) in enumerate(callers):
                        if not fut.done():
                            fut.set_result(found.get(k))
                    pool.release(c)
                    return
                if await self._one_by_one(c, sql, callers) and shape:
                    self.unjoinable.add(sql)  # every caller's own statement ran: not joinable
                    log.info("read statement not joined from now on: %.80r", sql)
            else:
                await self._one_by_one(c, sql, callers)
        except BaseException as exc:  # a broken or cancelled connection: no caller is left
            pool.release(c, broken=True)
            _fail(callers, exc)
            if not isinstance(exc, Exception):
                raise
            return
        pool.release(c, broken=c.is_closed() or c.is_in_transaction())

    async def _joined(
        self, c: Any, sql: str, callers: list[Sequence[Any]]
    ) -> dict[int, dict[str, Any]]:
        """The callers' statements as one (``_batched_sql``): each caller's row by its index."""
        types = self.types.get(sql)
        if types is None:
            prepared = await c.prepare(_numbered(sql))
            types = tuple(f'"{t.schema}"."{t.name}"' for t in prepared.get_parameters())
            self.types[sql] = types
        columns = [list(column) for column in zip(*map(_text, callers), strict=True)]
        rows = await c.fetch(_batched_sql(sql, types), list(range(len(callers))), *columns)
        found: dict[int, dict[str, Any]] = {}
        for r in rows:
            row = dict(r.items())
            found[row.pop(_BATCH_KEY)] = row
        return found

    @staticmethod
    async def _one_by_one(c: Any, sql: str, callers: _Callers) -> bool:
        """Each caller's own statement, its own answer or error; True when none failed."""
        ok = True
        for args, fut in callers:
            try:
                row = await _statement(c, _ONE, sql, args)
            except Exception as exc:
                if c.is_closed():
                    raise
                ok = False
                if not fut.done():
                    fut.set_exception(exc)
            else:
                if not fut.done():
                    fut.set_result(row)
        return ok


class _Joiner(_TurnGather):
    """``write_joined``'s calls, gathered per turn of the event loop by function: the first
    call of a turn schedules ``_flush`` (``call_soon``: after the callbacks already queued —
    the requests that arrived with it), which runs ``fn(conn, items)`` once for the items of
    that turn, as ``write_one`` runs a function (autocommit; one changing statement). Should
    it raise before its statement, or its statement be refused, nothing was written (one
    statement: all or nothing) and each item runs on its own, so each caller gets its own
    result or error. Any other error (``fn`` must not raise after its statement ran, as for
    ``write_one``; the connection lost while it ran) reaches every caller: an item is never
    written twice. Callers gone before the connection was theirs are left out."""

    def __init__(self, pool: _LoopPool) -> None:
        super().__init__(pool)
        self.joined = 0  # calls of a function with more than one item (tests, benchmarks)

    def submit(self, fn: Callable[..., Any], item: Any) -> asyncio.Future[Any]:
        return self._gather(fn, (item,))

    async def _run(self, fn: Callable[..., Any], callers: _Callers, c: Any) -> None:
        pool = self.pool
        try:
            if len(callers) > 1:
                progress = [_NOTHING]
                try:
                    results = await _drive(
                        c,
                        fn,
                        ([item for (item,), _ in callers],),
                        _ONE_CHANGE,
                        pool.runners,
                        progress,
                    )
                except Exception as exc:
                    # Nothing written — ``fn`` raised before its statement (one item it
                    # refuses), or PostgreSQL or the driver refused the statement: one by one
                    # below. Otherwise (its change is in, or may be: the connection went, an
                    # error of unknown kind while it ran) to every caller, never run again.
                    refused = progress[0] == _NOTHING or (
                        progress[0] == _SENT
                        and isinstance(exc, PostgresError)
                        and not isinstance(exc, PostgresConnectionError)
                    )
                    if c.is_closed() or c.is_in_transaction() or not refused:
                        raise
                else:
                    self.joined += 1
                    for result, (_, fut) in zip(results, callers, strict=True):
                        if not fut.done():
                            fut.set_result(result)
                    pool.release(c)
                    return
            for (item,), fut in callers:
                if fut.done():  # its caller has gone: nothing to write for it
                    continue
                try:
                    (result,) = await _drive(c, fn, ([item],), _ONE_CHANGE, pool.runners)
                except Exception as exc:
                    if c.is_closed() or c.is_in_transaction():
                        raise
                    if not fut.done():
                        fut.set_exception(exc)
                else:
                    if not fut.done():
                        fut.set_result(result)
        except BaseException as exc:  # a broken or cancelled connection: no caller is left
            pool.release(c, broken=True)
            _fail(callers, exc)
            if not isinstance(exc, Exception):
                raise
            return
        pool.release(c)


def _fail(callers: _Callers, exc: BaseException) -> None:
    for _, fut in callers:
        if not fut.done():
            if isinstance(exc, Exception):
                fut.set_exception(exc)
            else:
                fut.cancel()


async def _drive_batched_read(
    batch: _ReadBatch, fn: Callable[..., T], args: Sequence[Any], runners: list[greenlet.greenlet]
) -> T:
    """``_drive`` for ``read_one``: the function's one plain ``SELECT`` of ``conn.one`` goes
    to ``batch``; ``conn.all`` runs on a pooled connection of its own."""
    used = False

    async def serve(op: int, sql: str, params: Sequence[Any]) -> Any:
        nonlocal used
        if used or not plain_select(sql) or op not in (_ONE, _ALL):
            raise RuntimeError(
                "read_one runs one plain SELECT (its own snapshot), not "
                f"{'a second statement' if used else 'this one'}: {sql[:80]!r}; "
                "use Database.read"
            )
        used = True
        if op == _ONE:
            return await batch.submit(sql, params)
        return await _pooled_statement(batch.pool, op, sql, params)

    return await _in_greenlet(fn, args, runners, serve)


async def _pooled_statement(pool: _LoopPool, op: int, sql: str, args: Sequence[Any]) -> Any:
    c = await pool.acquire()
    try:
        answer = await _statement(c, op, sql, args)
    except Exception:
        pool.release(c, broken=c.is_closed() or c.is_in_transaction())
        raise
    except BaseException:
        pool.release(c, broken=True)
        raise
    pool.release(c)
    return answer


class _LoopPool:
    """Connections for one event loop (asyncpg connections belong to the loop they were made
    on). LIFO reuse keeps the hot connections' prepared statements warm.

    A connection is opened off the caller's path: a caller that finds none idle waits for the
    first one given back or opened, whichever comes first, while a task opens one more (up to
    ``size``). Opening one — connect, then ``_WARM``, asyncpg's look-up of the array types
    the joined statements send — takes 5–50 ms on a busy machine; the caller that asked for it
    used to wait all of it, with the load's other requests queued behind (docs/design.md,
    "Connections opened off the request's path"). Should opening fail, the oldest waiter gets
    the error (the database is down: the request says so) and the next waiter's try begins.

    Once ``terminate``d (``PostgresDatabase.close``) it opens nothing more: a connection still
    in use is closed when it is given back, and a caller still waiting for one (a batch in
    flight) gets ``RuntimeError``."""

    def __init__(self, dsn: str, size: int, loop: asyncio.AbstractEventLoop) -> None:
        self.dsn, self.size, self.loop = dsn, size, loop
        self.idle: list[Any] = []
        self.runners: list[greenlet.greenlet] = []  # idle greenlets for ``_drive``
        self.opened = 0  # connections open or being opened
        self.opening: set[asyncio.Task[None]] = set()
        self.closed = False
        self.waiters: deque[asyncio.Future[Any]] = deque()
        self.reads = _ReadBatch(self)
        self.joiner = _Joiner(self)

    async def acquire(self) -> Any:
        if self.closed:
            raise RuntimeError(_CLOSED)
        idle = self.idle
        while idle:
            c = idle.pop()
            if not c.is_closed():
                return c
            # closed while idle (the server restarted or shut down, ``pg_terminate_backend``,
            # ``idle_session_timeout``): its statement would fail — a whole joined batch with it
            self.opened -= 1
        fut: asyncio.Future[Any] = self.loop.create_future()
        self.waiters.append(fut)
        if self.opened < self.size:
            self._open_one()
        try:
            got = await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                self.release(fut.result())  # handed over just before: give it back
            raise
        if self.closed:  # closed while it waited
            self.release(got)
            raise RuntimeError(_CLOSED)
        return got

    def _open_one(self) -> None:
        self.opened += 1
        task = self.loop.create_task(self._open())
        self.opening.add(task)
        task.add_done_callback(self.opening.discard)

    async def _open(self) -> None:
        try:
            c = await _connect(self.dsn)
        except Exception as exc:
            self.opened -= 1
            if self.closed:
                self._fail_waiters(RuntimeError(_CLOSED), every=True)
                return
            self._fail_waiters(exc, every=False)
            if self.waiters and self.opened < self.size:
                self._open_one()  # the next waiter's try
            return
        except BaseException:  # cancelled: the loop is ending
            self.opened -= 1
            raise
        self.release(c)

    def release(self, c: Any, *, broken: bool = False) -> None:
        if broken or self.closed:
            _terminate(c)
            self.opened -= 1
            if self.closed:
                self._fail_waiters(RuntimeError(_CLOSED), every=True)
            elif self.waiters and self.opened < self.size:
                self._open_one()
            return
        waiters = self.waiters
        while waiters:
            fut = waiters.popleft()
            if not fut.done():
                fut.set_result(c)
                return
        self.idle.append(c)

    def _fail_waiters(self, exc: Exception, *, every: bool) -> None:
        """``exc`` to the oldest waiter still waiting, or to ``every`` one."""
        waiters = self.waiters
        while waiters:
            fut = waiters.popleft()
            if not fut.done():
                fut.set_exception(exc)
                if not every:
                    return

    def terminate(self) -> None:
        """Close the idle connections, and every other one when it is given back; open no
        more (safe from another thread once the loop has stopped)."""
        self.closed = True
        for c in self.idle:
            _terminate(c)
            self.opened -= 1
        self.idle.clear()


_CLOSED = "the database was closed"


def _terminate(c: Any) -> None:
    """Close a connection now, even when its event loop is already closed (then the socket
    is shut down directly; the server ends the session when it sees the socket go). uvloop
    closed its sockets with its loop, and its socket objects refuse ``shutdown`` (TypeError):
    nothing is left to close there."""
    try:
        c.terminate()
    except RuntimeError:
        sock = c._transport.get_extra_info("socket") if c._transport else None
        if sock is not None:
            with contextlib.suppress(OSError, TypeError):
                sock.shutdown(socket.SHUT_RDWR)


#: TCP keepalive of the pooled connections: a server gone without a FIN or RST (its host
#: down, a failover, a NAT or firewall that dropped the idle flow) is noticed by the kernel
#: after ``IDLE + INTERVAL × COUNT`` seconds without an answer — the connection is then closed,
#: and dropped when next taken (``acquire``) — instead of by the next statement, which would
#: wait for TCP to give up retransmitting (~15 minutes on Linux). One probe a minute per idle
#: connection; asyncpg sets no keepalive of its own and has no parameter for it.
KEEPALIVE_IDLE, KEEPALIVE_INTERVAL, KEEPALIVE_COUNT = 60, 10, 3


def _keepalive(c: Any) -> None:
    """Turn TCP keepalive on for ``c`` (best effort: a platform without an option keeps its
    default; the test checks it is on here). asyncpg's transport is the only way to the
    socket — ``_terminate`` uses it too; should it go, the test fails."""
    transport = getattr(c, "_transport", None)
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return  # a Unix-domain socket: nothing in between to vanish
    idle = getattr(socket, "TCP_KEEPIDLE", None) or getattr(socket, "TCP_KEEPALIVE", None)
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for option, value in (
            (idle, KEEPALIVE_IDLE),  # TCP_KEEPALIVE: macOS's name for it
            (getattr(socket, "TCP_KEEPINTVL", None), KEEPALIVE_INTERVAL),
            (getattr(socket, "TCP_KEEPCNT", None), KEEPALIVE_COUNT),
        ):
            if option is not None:
                sock.setsockopt(socket.IPPROTO_TCP, option, value)


async def _connect(dsn: str) -> Any:
    import asyncpg

    c = await asyncpg.connect(dsn, statement_cache_size=512)
    _keepalive(c)
    try:
        await c.fetchrow(_WARM)
    except BaseException:
        _terminate(c)
        raise
    return c


#: Run once on every new pooled connection: asyncpg knows the codecs of ``text[]`` and a few
#: others of its own, but looks every other array type up in the server's catalogue the first
#: time a statement of that connection sends one — one query of ~6 ms idle and 15–50 ms on a
#: loaded machine (measured: ``int4[]`` and ``int8[]``, which every joined statement sends,
#: looked up on each new connection in the middle of a load). Here it is done before the
#: connection serves anyone, for the array types the joined statements send.
_WARM = (
    "SELECT NULL::int2[] AS a, NULL::int4[] AS b, NULL::int8[] AS c, NULL::bool[] AS d, "
    "NULL::float8[] AS e, NULL::numeric[] AS f, NULL::bytea[] AS g, NULL::jsonb[] AS h"
)


class PostgresDatabase:
    """PostgreSQL: statements on the event loop through asyncpg (see the module docstring)."""

    dialect = "postgresql"

    def __init__(self, url: str, *, pool_size: int = PG_POOL_SIZE) -> None:
        self.url = url
        self._dsn = libpq_url(url)
        self.pool_size = pool_size
        self._pools: dict[asyncio.AbstractEventLoop, _LoopPool] = {}
        self._last: _LoopPool | None = None  # the pool ``_pool`` returned last
        self._sync: Any = None
        self._sync_lock = threading.Lock()
        self._closed = False

    def _pool(self) -> _LoopPool:
        loop = asyncio.get_running_loop()
        last = self._last
        if last is not None and last.loop is loop:  # the usual case: one serving loop
            return last
        if self._closed:
            raise RuntimeError(_CLOSED)
        pool = self._pools.get(loop)
        if pool is None:
            for old in [lp for lp in self._pools if lp.is_closed()]:
                self._pools.pop(old).terminate()
            pool = self._pools[loop] = _LoopPool(self._dsn, self.pool_size, loop)
        self._last = pool
        return pool

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        pool = self._pool()
        c = await pool.acquire()
        try:
            try:
                result = await _drive(c, fn, args, _LAZY, pool.runners)
            except Exception:
                if c.is_in_transaction():
                    await c.execute("ROLLBACK")
                raise
            if c.is_in_transaction():
                await c.execute("COMMIT")
        except Exception:
            pool.release(c, broken=c.is_closed() or c.is_in_transaction())
            raise
        except BaseException:  # cancelled mid-statement: the connection's state is unknown
            pool.release(c, broken=True)
            raise
        pool.release(c)
        return result

    async def read_one(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn`` reads with one plain ``SELECT`` (autocommit, as ``read`` runs it); a second
        statement or any other kind raises ``RuntimeError`` (the contract SQLite relies on).
        Concurrent callers' statements of one loop turn run as one (``_ReadBatch``)."""
        pool = self._pool()
        return await _drive_batched_read(pool.reads, fn, args, pool.runners)

    async def _autocommit(self, fn: Callable[..., T], args: tuple[Any, ...], mode: int) -> T:
        """``fn`` on a pooled connection, each statement its own transaction (``mode``: what
        ``_drive`` lets it run)."""
        pool = self._pool()
        c = await pool.acquire()
        try:
            result = await _drive(c, fn, args, mode, pool.runners)
        except Exception:
            pool.release(c, broken=c.is_closed() or c.is_in_transaction())
            raise
        except BaseException:  # cancelled mid-statement: the connection's state is unknown
            pool.release(c, broken=True)
            raise
        pool.release(c)
        return result

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        pool = self._pool()
        c = await pool.acquire()
        try:
            await c.execute("BEGIN")
            try:
                result = await _drive(c, fn, args, _AS_IS, pool.runners)
            except Exception:
                await c.execute("ROLLBACK")
                raise
            await c.execute("COMMIT")
        except Exception:
            pool.release(c, broken=c.is_closed() or c.is_in_transaction())
            raise
        except BaseException:  # cancelled: never reuse a connection mid-transaction
            pool.release(c, broken=True)
            raise
        pool.release(c)
        return result

    async def write_one(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn`` changes the database with exactly one statement (it may read before it): every
        statement runs in autocommit, so the change is its own transaction — atomic, and
        durable when the statement returns — without the ``BEGIN`` and ``COMMIT`` round trips.
        A second statement that is not a plain ``SELECT`` raises ``RuntimeError``."""
        return await self._autocommit(fn, args, _ONE_CHANGE)

    async def write_joined(self, fn: Callable[[Any, list[Any]], list[T]], item: Any) -> T:
        """``fn(conn, items)`` once for the items of every call of this loop turn with the
        same ``fn`` (``_Joiner``; see ``Database.write_joined``)."""
        result: T = await self._pool().joiner.submit(fn, item)
        return result

    def write_sync(self, fn: Callable[..., T], *args: Any) -> T:
        """For start-up and tools outside the event loop: one psycopg connection (kept), one
        transaction per call."""
        import psycopg
        from psycopg.rows import dict_row

        with self._sync_lock:
            if self._sync is None or self._sync.closed:
                self._sync = psycopg.connect(self._dsn, row_factory=dict_row, connect_timeout=10)
            with self._sync.transaction():
                return fn(_PgConn(self._sync), *args)

    def problem(self) -> str | None:
        """Nothing to check beyond the statements themselves (their errors say it)."""
        return None

    def end_startup(self) -> None:
        """Start-up is over: close ``write_sync``'s connection (a later call opens one again).
        A serving process would otherwise keep it idle for good, one more connection per
        worker of ``serve --workers``."""
        with self._sync_lock:
            if self._sync is not None:
                self._sync.close()
                self._sync = None

    def close(self) -> None:
        """Close every connection; the database is not usable afterwards (like SQLite's)."""
        self._closed = True
        self._last = None
        for pool in self._pools.values():
            pool.terminate()
        self._pools.clear()
        self.end_startup()
