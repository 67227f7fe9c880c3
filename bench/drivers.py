"""Compare PostgreSQL driver shapes for paysandbox's repository functions, in one process.

Each candidate runs the two hot K PLUS transactions through the same synchronous repository
functions the server uses (``token_for_partner``; ``partner_with_clock`` + ``claim_request_uid``
+ ``insert_token`` + ``events.append``) from ``--tasks`` concurrent coroutines, and reports
transactions per second, the client process's CPU per transaction and the database backends'
CPU per transaction (found by ``application_name``). CPU per transaction is the figure to
compare on a shared machine: it moves far less with other load than throughput does.

Candidates:

* ``psycopg-threads`` — the previous design: psycopg 3 sync connections from psycopg_pool, each
  call on a worker thread, every function in ``BEGIN … COMMIT``.
* ``psycopg-async-pipeline`` — psycopg 3 ``AsyncConnection`` with the greenlet bridge, prepared
  statements, pipeline mode (``BEGIN`` travels with the first statement), reads in autocommit.
* ``psycopg-async`` — the same without pipeline mode.
* ``asyncpg`` — the shipped ``store/pg.py``: asyncpg with the greenlet bridge, reads in
  autocommit, writes in ``BEGIN … COMMIT``.
* ``asyncpg-prebegun`` — the same, but write connections wait inside an opened transaction
  (``COMMIT; BEGIN`` sent as one message): one round trip fewer per write (not shipped).
* ``asyncpg-one-statement`` — generate-token's write as the partner read, then the claim,
  token and event as one data-modifying ``WITH`` (``rows.create_token``) through ``write_one``
  (autocommit, no ``BEGIN``/``COMMIT``): two round trips instead of six.
* ``asyncpg-one-round-trip`` — as shipped: the partner as first read is kept, and the one
  statement checks it is unchanged (``partner_as_read``) instead of reading it: one round trip.

    .venv/bin/python bench/drivers.py [--seconds 5] [--tasks 8] [--pg URL]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import re
import secrets
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import greenlet
import psycopg
from psycopg.rows import dict_row

import prefill
from paysandbox.core.clock import sandbox_now_us
from paysandbox.providers.kplus import store as rows
from paysandbox.store import events
from paysandbox.store.pg import PostgresDatabase as AsyncpgDatabase
from paysandbox.store.pg import _BridgeConn, _drive, _LoopPool, _PgConn

T = TypeVar("T")


@functools.lru_cache(maxsize=1024)
def _pg_sql(sql: str) -> str:
    """``?`` placeholders as psycopg's ordinary cursor takes them (``%s``), literal percent signs
    escaped: the psycopg candidates below (paysandbox's own psycopg use takes ``$n``)."""
    return re.sub(r"\?", "%s", sql.replace("%", "%%"))


PARTNER = "PTR1902369"
TOKENS = 20_000  # bulk-loaded and analyzed first, so the plans are those of a used sandbox


# ------------------------------------------------------------------ the two transactions


def inquire_tx(conn: Any, token_id: str) -> Any:
    row = rows.token_for_partner(conn, token_id, PARTNER)
    assert row is not None and row["token_id"] == token_id
    return row


def _token(token_id: str, now: int) -> dict[str, Any]:
    return {
        "token_id": token_id,
        "partner_id": PARTNER,
        "partner_txn_uid": token_id,
        "status": "REQUESTED",
        "reference1": "KS1234567",
        "total_amount": 50000,
        "shipping_fee": 0,
        "currency_code": "THB",
        "currency_exponent": 2,
        "shop_name": "Bench Shop",
        "shop_image_url": "https://shop.example/a.png",
        "os_platform": "IOS",
        "items": "[]",
        "created_at_us": now,
        "expires_at_us": now + 1_800_000_000,
        "updated_at_us": now,
    }


def generate_tx(conn: Any, token_id: str) -> None:
    """generate-token's write as four statements (the design before ``create_token``)."""
    partner = rows.partner_with_clock(conn, PARTNER)
    assert partner is not None
    now = sandbox_now_us(int(partner["clock_offset_us"]))
    assert rows.claim_request_uid(conn, PARTNER, token_id, "generate-token", now)
    rows.insert_token(conn, _token(token_id, now))
    events.append(conn, "kplus_token", token_id, "created", now, {"totalAmount": 50000})


def generate_one_tx(conn: Any, token_id: str, seen: dict[str, Any] | None) -> dict[str, Any]:
    """generate-token's write as shipped: claim + token + event as one statement
    (``rows.create_token``); with ``seen`` (the partner as an earlier call read it) that
    statement also checks the partner is unchanged, and is the only one."""
    if seen is None:
        partner = rows.partner_with_clock(conn, PARTNER)
        assert partner is not None
        partner = rows.partner_as_read(partner)
    else:
        partner = seen
    now = sandbox_now_us(partner["clock_offset_us"])
    claim = {
        "partner_id": PARTNER,
        "partner_txn_uid": token_id,
        "operation": "generate-token",
        "at_us": now,
    }
    history = [events.row("kplus_token", token_id, "created", now, {"totalAmount": 50000})]
    created = rows.create_token(
        conn, _token(token_id, now), history, claim=claim, partner_as_read=seen
    )
    assert created == rows.CREATED, created
    return partner


# ------------------------------------------------------------------ candidates


class PsycopgThreads:
    """The design before issue 15 (kept here only to measure against)."""

    def __init__(self, url: str, size: int) -> None:
        from psycopg_pool import ConnectionPool

        self.pool = ConnectionPool(
            url, min_size=size, max_size=size, kwargs={"row_factory": dict_row}, open=True
        )
        self.pool.wait()
        self.threads = ThreadPoolExecutor(size)

    def _run(self, fn: Callable[..., T], args: Sequence[Any]) -> T:
        with self.pool.connection() as c, c.transaction():
            return fn(_PgConn(c), *args)

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.wrap_future(self.threads.submit(self._run, fn, args))

    write = read

    def close(self) -> None:
        self.threads.shutdown()
        self.pool.close()


class PsycopgAsync:
    """psycopg 3 AsyncConnection + greenlet bridge + pipeline mode."""

    def __init__(self, url: str, size: int) -> None:
        self.url, self.size = url, size
        self.idle: list[Any] = []
        self.sem = asyncio.Semaphore(size)

    async def _get(self) -> Any:
        await self.sem.acquire()
        if self.idle:
            return self.idle.pop()
        return await psycopg.AsyncConnection.connect(
            self.url, row_factory=dict_row, autocommit=True, prepare_threshold=0
        )

    def _put(self, c: Any) -> None:
        self.idle.append(c)
        self.sem.release()

    async def _drive(self, c: Any, fn: Callable[..., T], args: Sequence[Any], pipe: Any) -> T:
        child = greenlet.greenlet(fn)
        request = child.switch(_BridgeConn(greenlet.getcurrent()), *args)
        while not child.dead:
            op, sql, params = request
            try:
                cur = await c.execute(_pg_sql(sql), params, prepare=True)
                if pipe is not None:
                    await pipe.sync()
                if op == 0:
                    answer: Any = await cur.fetchone()
                elif op == 1:
                    answer = await cur.fetchall()
                else:
                    answer = cur.rowcount
            except BaseException as exc:
                request = child.throw(exc)
            else:
                request = child.switch(answer)
        result: T = request
        return result

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        c = await self._get()
        try:
            return await self._drive(c, fn, args, None)
        finally:
            self._put(c)

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        c = await self._get()
        try:
            async with c.pipeline() as pipe, c.transaction():
                return await self._drive(c, fn, args, pipe)
        finally:
            self._put(c)

    def close(self) -> None:
        for c in self.idle:
            c.pgconn.finish()


class PsycopgAsyncPlain(PsycopgAsync):
    """The same without pipeline mode (BEGIN is a round trip of its own)."""

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        c = await self._get()
        try:
            async with c.transaction():
                return await self._drive(c, fn, args, None)
        finally:
            self._put(c)


class AsyncpgPrebegun(AsyncpgDatabase):
    """Considered, not shipped: write connections wait in an opened transaction
    (``COMMIT; BEGIN`` in one message), so a write skips the ``BEGIN`` round trip."""

    def __init__(self, url: str, size: int) -> None:
        super().__init__(url, pool_size=size)
        self._writers: dict[Any, _LoopPool] = {}

    async def write(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        pool = self._writers.setdefault(loop, _LoopPool(self._dsn, self.pool_size, loop))
        c = await pool.acquire()
        if not c.is_in_transaction():
            await c.execute("BEGIN")
        try:
            result = await _drive(c, fn, args, 0, pool.runners)
        except Exception:
            await c.execute("ROLLBACK; BEGIN")
            pool.release(c)
            raise
        await c.execute("COMMIT; BEGIN")
        pool.release(c)
        return result

    def close(self) -> None:
        for pool in self._writers.values():
            pool.terminate()
        super().close()


class AsyncpgOneStatement(AsyncpgDatabase):
    """generate-token through ``write_one``: the partner read, then the data-modifying
    ``WITH`` (two round trips; no ``BEGIN``/``COMMIT``)."""

    async def generate(self, token_id: str) -> None:
        await self.write_one(generate_one_tx, token_id, None)


class AsyncpgOneRoundTrip(AsyncpgDatabase):
    """As shipped: the partner as first read is kept and checked inside the one statement
    (one round trip)."""

    seen: dict[str, Any] | None = None

    async def generate(self, token_id: str) -> None:
        self.seen = await self.write_one(generate_one_tx, token_id, self.seen)


CANDIDATES: dict[str, Callable[[str, int], Any]] = {
    "psycopg-threads": PsycopgThreads,
    "psycopg-async-pipeline": PsycopgAsync,
    "psycopg-async": PsycopgAsyncPlain,
    "asyncpg": lambda url, size: AsyncpgDatabase(url, pool_size=size),
    "asyncpg-prebegun": AsyncpgPrebegun,
    "asyncpg-one-statement": lambda url, size: AsyncpgOneStatement(url, pool_size=size),
    "asyncpg-one-round-trip": lambda url, size: AsyncpgOneRoundTrip(url, pool_size=size),
}


# ------------------------------------------------------------------ measuring


def backend_ticks(admin: str, app: str) -> int:
    with psycopg.connect(admin, autocommit=True) as c:
        pids = [
            r[0]
            for r in c.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (app,)
            )
        ]
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()  # noqa: SIM115
            total += int(f[11]) + int(f[12])
    return total


async def load(db: Any, op: str, seconds: float, tasks: int, token: str) -> int:
    done = 0
    stop = time.monotonic() + seconds

    async def one() -> None:
        nonlocal done
        while time.monotonic() < stop:
            if op == "inquire":
                await db.read(inquire_tx, f"KMCMPT{secrets.randbelow(TOKENS) + 1:040d}PMT")
            elif hasattr(db, "generate"):
                await db.generate(f"G{secrets.token_hex(10)}")
            else:
                await db.write(generate_tx, f"G{secrets.token_hex(10)}")
            done += 1

    await asyncio.gather(*(one() for _ in range(tasks)))
    return done


async def run_one(name: str, url: str, admin: str, app: str, args: argparse.Namespace) -> None:
    db = CANDIDATES[name](url, args.pool)
    token = f"T{secrets.token_hex(10)}"
    await db.write(generate_tx, token)
    await load(db, "inquire", 1, args.tasks, token)  # warm-up: connections, prepared statements
    await load(db, "generate", 1, args.tasks, token)
    for op in ("inquire", "generate"):
        cpu0, t0, db0 = time.process_time(), time.monotonic(), backend_ticks(admin, app)
        n = await load(db, op, args.seconds, args.tasks, token)
        cpu, wall = time.process_time() - cpu0, time.monotonic() - t0
        dbcpu = (backend_ticks(admin, app) - db0) / os.sysconf("SC_CLK_TCK")
        print(
            f"| {name} | {op} | {n / wall:,.0f} | {cpu / n * 1e6:,.0f} | {dbcpu / n * 1e6:,.0f} |",
            flush=True,
        )
    db.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/test")
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--tasks", type=int, default=16)
    ap.add_argument("--pool", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=2, help="alternate the candidates this often")
    ap.add_argument("--only", default=",".join(CANDIDATES))
    args = ap.parse_args()
    schema = f"drv_{secrets.token_hex(4)}"
    with psycopg.connect(args.pg, autocommit=True) as c:
        c.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in args.pg else "?"
    url = f"{args.pg}{sep}options=-csearch_path%3D{schema}&application_name={schema}"
    try:
        prefill.create_schema(url)
        prefill.fill(url, TOKENS, log=open(os.devnull, "w"))  # noqa: SIM115
        AsyncpgDatabase(url).write_sync(
            lambda conn: conn.exec(
                "INSERT INTO kplus_partners VALUES (?, 's', NULL, 1800, '{}')", PARTNER
            )
        )
        print(f"\n{args.tasks} concurrent tasks, pool {args.pool}, {args.seconds:g} s per row\n")
        print("| candidate | transaction | tx/s | client CPU µs/tx | db CPU µs/tx |")
        print("|---|---|---:|---:|---:|")
        for _ in range(args.rounds):
            for name in args.only.split(","):
                asyncio.run(run_one(name, url, args.pg, schema, args))
    finally:
        with psycopg.connect(args.pg, autocommit=True) as c:
            c.execute(f"DROP SCHEMA {schema} CASCADE")


if __name__ == "__main__":
    main()
