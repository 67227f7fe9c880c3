"""PostgresDatabase directly: atomic writes through the greenlet bridge, a failed or cancelled
transaction never leaks into the next one, the pool's size is a hard limit, several event loops."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest

from paysandbox.store.db import PG_POOL_SIZE, Conn
from paysandbox.store.pg import PostgresDatabase

from ..support import BACKEND, drop_pg_schema, is_postgres, new_pg_schema

T = TypeVar("T")

pytestmark = pytest.mark.skipif(not is_postgres(), reason="PostgreSQL only")


def run_async(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    with ThreadPoolExecutor(1) as pool:  # the browser tests keep a loop on the main thread
        return pool.submit(lambda: asyncio.run(main())).result()


@pytest.fixture
def app_name() -> str:
    return f"pgtest_{secrets.token_hex(4)}"


@pytest.fixture
def db(app_name: str) -> Iterator[PostgresDatabase]:
    schema, url = new_pg_schema(BACKEND)
    d = PostgresDatabase(f"{url}&application_name={app_name}", pool_size=2)
    d.write_sync(lambda c: c.exec("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)"))
    yield d
    d.close()
    drop_pg_schema(BACKEND, schema)


def put(conn: Conn, key: str, value: int) -> str:
    conn.exec("INSERT INTO t (k, v) VALUES (?, ?)", key, value)
    return key


def keys(conn: Conn) -> list[str]:
    return [r["k"] for r in conn.all("SELECT k FROM t ORDER BY k")]


def test_a_write_is_one_transaction_and_a_raising_one_leaves_nothing(db: PostgresDatabase) -> None:
    def put_then_fail(conn: Conn) -> None:
        put(conn, "half", 1)
        raise ValueError("changed my mind")

    async def main() -> list[str]:
        assert await db.write(put, "a", 1) == "a"
        with pytest.raises(ValueError, match="changed my mind"):
            await db.write(put_then_fail)
        return await db.read(keys)

    assert run_async(main) == ["a"]


def test_a_read_that_writes_is_still_one_transaction(db: PostgresDatabase) -> None:
    def read_then_write_then_fail(conn: Conn) -> None:
        keys(conn)  # a plain SELECT: runs before any transaction
        put(conn, "x", 1)  # a write: a transaction starts here
        put(conn, "y", 2)
        raise ValueError("no")

    def read_then_write(conn: Conn) -> list[str]:
        put(conn, "z", 3)
        return keys(conn)

    async def main() -> list[str]:
        with pytest.raises(ValueError):
            await db.read(read_then_write_then_fail)
        assert await db.read(read_then_write) == ["z"]
        return await db.read(keys)

    assert run_async(main) == ["z"]


def test_a_database_error_reaches_the_function_and_the_connection_is_reused(
    db: PostgresDatabase,
) -> None:
    seen: list[str] = []

    def duplicate(conn: Conn) -> None:
        put(conn, "b", 2)
        try:
            put(conn, "a", 3)  # primary key taken: the driver's error, raised at this call
        except Exception as exc:
            seen.append(type(exc).__name__)
            raise

    async def main() -> list[str]:
        await db.write(put, "a", 1)
        for _ in range(3):  # more failures than the pool has connections
            with pytest.raises(Exception, match="duplicate key"):
                await db.write(duplicate)
        await db.write(put, "c", 1)
        return await db.read(keys)

    assert run_async(main) == ["a", "c"]
    assert seen == ["UniqueViolationError"] * 3


def test_a_cancelled_write_is_rolled_back_and_its_connection_dropped(db: PostgresDatabase) -> None:
    def slow(conn: Conn) -> None:
        put(conn, "cancelled", 1)
        conn.one("SELECT pg_sleep(5)")

    async def main() -> list[str]:
        task = asyncio.create_task(db.write(slow))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await db.write(put, "after", 1)
        return await db.read(keys)

    assert run_async(main) == ["after"]


def test_the_pool_never_opens_more_connections_than_its_size(
    db: PostgresDatabase, app_name: str
) -> None:
    start_up = db.write_sync(lambda c: c.one("SELECT pg_backend_pid() AS pid"))["pid"]

    def sessions(conn: Conn) -> int:
        conn.one("SELECT pg_sleep(0.05)")
        row = conn.one(
            "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE application_name = ? AND pid <> ?",
            app_name,
            start_up,  # the one start-up connection (write_sync) is not the pool's
        )
        assert row is not None
        return int(row["n"])

    async def main() -> list[int]:
        return list(await asyncio.gather(*(db.read(sessions) for _ in range(10))))

    counts = run_async(main)
    assert len(counts) == 10 and max(counts) <= 2


def test_each_event_loop_gets_its_own_connections(db: PostgresDatabase) -> None:
    run_async(lambda: db.write(put, "one", 1))
    run_async(lambda: db.write(put, "two", 2))  # the first loop is closed by now
    assert run_async(lambda: db.read(keys)) == ["one", "two"]
    db.close()
    db.close()  # closing twice, and after the loops closed, is harmless


def test_write_one_runs_without_a_transaction(db: PostgresDatabase) -> None:
    def read_then_put(conn: Conn, key: str) -> tuple[int, int]:
        first = conn.one("SELECT txid_current() AS x")  # each in its own transaction …
        second = conn.one("SELECT txid_current() AS x")  # … so two different ids
        assert first is not None and second is not None
        put(conn, key, 1)
        return int(first["x"]), int(second["x"])

    async def main() -> tuple[tuple[int, int], tuple[int, int], list[str]]:
        in_one = await db.write_one(read_then_put, "one")
        in_tx = await db.write(read_then_put, "tx")
        return in_one, in_tx, await db.read(keys)

    in_one, in_tx, found = run_async(main)
    assert in_one[0] != in_one[1]  # autocommit: no BEGIN … COMMIT around the statements
    assert in_tx[0] == in_tx[1]  # write: one transaction
    assert found == ["one", "tx"]


def test_write_one_refuses_a_second_change(db: PostgresDatabase) -> None:
    seen: list[str] = []

    def two_changes(conn: Conn) -> None:
        keys(conn)  # reads are fine, before and after the change
        put(conn, "first", 1)
        keys(conn)
        try:
            put(conn, "second", 2)
        except RuntimeError as exc:
            seen.append(str(exc))
            raise

    async def main() -> list[str]:
        with pytest.raises(RuntimeError, match="write_one: a second statement"):
            await db.write_one(two_changes)
        for n in range(3):  # the connections are still good
            await db.write_one(put, f"after{n}", 1)
        return await db.read(keys)

    # the first change is committed (it was its own transaction); the second never ran
    assert run_async(main) == ["after0", "after1", "after2", "first"]
    assert len(seen) == 1 and "use Database.write" in seen[0]


def test_read_one_refuses_a_second_statement_and_writes(db: PostgresDatabase) -> None:
    def two_reads(conn: Conn) -> None:
        keys(conn)
        keys(conn)

    async def main() -> tuple[list[str], list[str]]:
        await db.write(put, "a", 1)
        found = await db.read_one(keys)
        for _ in range(3):  # more refusals than the pool has connections
            with pytest.raises(RuntimeError, match=r"read_one runs one plain SELECT.*a second"):
                await db.read_one(two_reads)
            with pytest.raises(RuntimeError, match=r"read_one runs one plain SELECT.*this one"):
                await db.read_one(put, "b", 2)
        return found, await db.read_one(keys)

    assert run_async(main) == (["a"], ["a"])  # the refused write never ran


def test_write_one_a_failing_statement_leaves_nothing(db: PostgresDatabase) -> None:
    def claim(conn: Conn, key: str) -> bool:
        """One statement: two rows, the second conflicting — all or nothing."""
        return (
            conn.exec("INSERT INTO t (k, v) VALUES (?, 1), ('a', 2)", key) == 2  # 'a' is taken
        )

    async def main() -> list[str]:
        await db.write_one(put, "a", 1)
        for _ in range(3):  # more failures than the pool has connections
            with pytest.raises(Exception, match="duplicate key"):
                await db.write_one(claim, "b")
        return await db.read(keys)

    assert run_async(main) == ["a"]


def test_a_cancelled_write_one_drops_its_connection(db: PostgresDatabase) -> None:
    def slow(conn: Conn) -> None:
        conn.one("SELECT pg_sleep(5)")
        put(conn, "never", 1)

    async def main() -> list[str]:
        task = asyncio.create_task(db.write_one(slow))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await db.write_one(put, "after", 1)
        return await db.read(keys)

    assert run_async(main) == ["after"]


def test_interleaved_functions_keep_their_own_state(db: PostgresDatabase) -> None:
    """Functions suspended at once (the greenlets that run them are reused) each see their own
    arguments and answers; one that raises hands its error to its own caller only."""

    def echo(conn: Conn, n: int) -> list[int]:
        seen = []
        for k in range(3):
            sql = "SELECT CAST(? AS INTEGER) + CAST(? AS INTEGER) AS x FROM pg_sleep(0.01)"
            row = conn.one(sql, n, k)
            assert row is not None
            seen.append(int(row["x"]))
        if n % 3 == 0:
            raise ValueError(f"refused {n}")
        return seen

    async def main() -> list[Any]:
        out: list[Any] = []
        for _ in range(3):  # again and again, on the same (reused) greenlets
            out += await asyncio.gather(
                *(db.read(echo, n) for n in range(1, 9)), return_exceptions=True
            )
        return out

    answers = run_async(main)
    for i, answer in enumerate(answers):
        n = i % 8 + 1
        if n % 3 == 0:
            assert isinstance(answer, ValueError) and str(answer) == f"refused {n}"
        else:
            assert answer == [n, n + 1, n + 2]


def test_the_app_pools_as_many_connections_as_the_settings_say() -> None:
    from paysandbox.app import create_app
    from paysandbox.settings import Settings

    schema, url = new_pg_schema(BACKEND)
    try:
        for size, expected in ((None, PG_POOL_SIZE), (3, 3)):
            app = create_app(Settings(db_url=url, pg_pool_size=size, run_sender=False))
            db = app.state.sandbox.ctx.db
            try:
                assert isinstance(db, PostgresDatabase) and db.pool_size == expected
            finally:
                db.close()
    finally:
        drop_pg_schema(BACKEND, schema)


def test_the_start_up_connection_is_closed_once_the_app_is_built(app_name: str) -> None:
    """``create_app`` seeds through ``write_sync``'s own connection, then closes it: a serving
    process keeps only its pool (each worker of ``serve --workers`` would keep one more)."""
    from paysandbox.app import create_app
    from paysandbox.settings import Settings

    schema, url = new_pg_schema(BACKEND)
    try:
        app = create_app(Settings(db_url=f"{url}&application_name={app_name}", run_sender=False))
        db = app.state.sandbox.ctx.db
        try:
            assert open_sessions(app_name) == 0  # seeded, and nothing left open before serving
            assert db.write_sync(lambda c: c.one("SELECT 1 AS one")) == {"one": 1}  # opens again
            assert open_sessions(app_name) == 1
        finally:
            db.close()
        assert open_sessions(app_name) == 0
    finally:
        drop_pg_schema(BACKEND, schema)


def test_a_nul_character_is_stored_and_found_as_u_fffd(db: PostgresDatabase) -> None:
    """PostgreSQL text holds no U+0000 (a client's JSON "\\u0000" or a query's %00; SQLite keeps
    it): every statement, on both drivers and in COPY, takes it as U+FFFD instead of failing
    (the driver's error was a 500 for any request carrying one)."""

    async def main() -> list[str]:
        await db.write(put, "a\x00b", 1)
        await db.write(lambda c: c.insert_many("t", ("k", "v"), [("c\x00d", 2)]))
        found = await db.read(lambda c: c.one("SELECT v FROM t WHERE k = ?", "a\x00b"))
        assert found == {"v": 1}
        return await db.read(keys)

    assert run_async(main) == ["a\ufffdb", "c\ufffdd"]
    db.write_sync(put, "e\x00f", 3)
    db.write_sync(lambda c: c.insert_many("t", ("k", "v"), [("g\x00h", 4)]))  # COPY
    assert db.write_sync(lambda c: c.one("SELECT v FROM t WHERE k = ?", "g\x00h")) == {"v": 4}
    assert db.write_sync(keys) == ["a\ufffdb", "c\ufffdd", "e\ufffdf", "g\ufffdh"]


def value_of(conn: Conn, key: str) -> int | None:
    row = conn.one("SELECT v FROM t WHERE k = ?", key)
    return None if row is None else int(row["v"])


def test_concurrent_read_one_calls_share_one_statement(db: PostgresDatabase) -> None:
    """``read_one`` calls of one loop turn run as one statement; each caller gets its own row
    (None: its statement found nothing), also past the batch limit, and again on the same
    connections."""
    from paysandbox.store.pg import READ_BATCH_MAX

    keys_ = [f"k{i}" for i in range(READ_BATCH_MAX + 8)]

    async def main() -> tuple[list[list[int | None]], int]:
        for i, k in enumerate(keys_):
            await db.write(put, k, i)
        out = []
        for _ in range(3):
            asked = [*keys_, "missing"]
            out.append(list(await asyncio.gather(*(db.read_one(value_of, k) for k in asked))))
        return out, db._pool().reads.joined

    answers, joined = run_async(main)
    for got in answers:
        assert got == [*range(len(keys_)), None]
    assert joined >= 3  # at least one joined statement a round (more: the batch limit)


def test_a_caller_that_breaks_a_joined_read_gets_its_own_error(db: PostgresDatabase) -> None:
    """One caller's bad parameter fails the joined statement: each caller's statement then
    runs on its own — the others get their rows, that caller its own error — and the SQL is
    still joined afterwards (the statement was not at fault)."""

    async def main() -> tuple[list[Any], list[Any], int]:
        await db.write(put, "a", 1)
        await db.write(put, "b", 2)
        mixed = await asyncio.gather(
            db.read_one(value_of, "a"),
            db.read_one(value_of, 5),  # type: ignore[arg-type]  # an int where text goes
            db.read_one(value_of, "b"),
            return_exceptions=True,
        )
        before = db._pool().reads.joined
        good = await asyncio.gather(db.read_one(value_of, "b"), db.read_one(value_of, "a"))
        return list(mixed), list(good), db._pool().reads.joined - before

    mixed, good, joined_after = run_async(main)
    assert mixed[0] == 1 and mixed[2] == 2
    assert isinstance(mixed[1], Exception) and "expected str, got int" in str(mixed[1])
    assert good == [2, 1] and joined_after == 1


def test_a_cancelled_read_one_caller_leaves_the_others_their_answers(db: PostgresDatabase) -> None:
    async def main() -> list[Any]:
        await db.write(put, "a", 1)
        calls = [asyncio.ensure_future(db.read_one(value_of, k)) for k in ("a", "a", "nope")]
        await asyncio.sleep(0)  # each has handed its statement over
        calls[1].cancel()
        return list(await asyncio.gather(*calls, return_exceptions=True))

    answers = run_async(main)
    assert answers[0] == 1 and answers[2] is None
    assert isinstance(answers[1], asyncio.CancelledError)


def test_a_joined_read_keeps_each_callers_parameters_and_types(db: PostgresDatabase) -> None:
    """Parameters used in expressions (not only compared with a column) keep their types and
    their caller in the joined form."""

    def echo(conn: Conn, n: int, text: str) -> tuple[int, str]:
        row = conn.one("SELECT CAST(? AS INTEGER) * 2 AS x, ? || '!' AS y", n, text)
        assert row is not None
        return int(row["x"]), str(row["y"])

    async def main() -> tuple[list[tuple[int, str]], int]:
        answers = await asyncio.gather(*(db.read_one(echo, n, f"t{n}") for n in range(5)))
        return list(answers), db._pool().reads.joined

    answers, joined = run_async(main)
    assert answers == [(2 * n, f"t{n}!") for n in range(5)] and joined == 1


def put_all(conn: Conn, items: list[tuple[str, int]]) -> list[str]:
    """One statement for all items (``write_joined``'s contract)."""
    conn.exec(
        "INSERT INTO t (k, v) SELECT * FROM unnest(CAST(? AS TEXT[]), CAST(? AS INTEGER[]))",
        [k for k, _ in items],
        [v for _, v in items],
    )
    return [k for k, _ in items]


def test_write_joined_gives_one_call_the_items_of_one_turn(db: PostgresDatabase) -> None:
    async def main() -> tuple[list[str], int, list[str]]:
        answers = await asyncio.gather(*(db.write_joined(put_all, (f"j{n}", n)) for n in range(6)))
        return list(answers), db._pool().joiner.joined, await db.read(keys)

    answers, joined, stored = run_async(main)
    assert answers == [f"j{n}" for n in range(6)]
    assert joined == 1 and stored == [f"j{n}" for n in range(6)]


def test_a_refused_joined_write_runs_each_item_on_its_own(db: PostgresDatabase) -> None:
    """One item's conflict refuses the joined statement (nothing of it written); each item
    then runs alone: the others are written, the conflicting one gets its own error."""

    async def main() -> tuple[list[Any], list[str]]:
        await db.write(put, "a", 1)
        answers = await asyncio.gather(
            db.write_joined(put_all, ("b", 2)),
            db.write_joined(put_all, ("a", 3)),  # taken
            db.write_joined(put_all, ("c", 4)),
            return_exceptions=True,
        )
        return list(answers), await db.read(keys)

    answers, stored = run_async(main)
    assert answers[0] == "b" and answers[2] == "c"
    assert isinstance(answers[1], Exception) and "duplicate key" in str(answers[1])
    assert stored == ["a", "b", "c"]


@pytest.mark.parametrize("after", ["python", "database"])
def test_an_error_after_a_joined_write_is_never_run_twice(db: PostgresDatabase, after: str) -> None:
    """An error raised after the function's statement ran (against the contract: a Python
    error, or a plain SELECT after it that PostgreSQL refuses) reaches every caller; the
    statement is committed, so the items are not written a second time one by one."""
    calls: list[int] = []

    def put_then_fail(conn: Conn, items: list[tuple[str, int]]) -> list[str]:
        calls.append(len(items))
        put_all(conn, items)
        if after == "python":
            raise ValueError("after the statement")
        conn.one("SELECT 1 / 0 AS x")
        return []

    async def main() -> tuple[list[Any], list[str]]:
        answers = await asyncio.gather(
            *(db.write_joined(put_then_fail, (f"x{n}", n)) for n in range(3)),
            return_exceptions=True,
        )
        return list(answers), await db.read(keys)

    answers, stored = run_async(main)
    assert all(isinstance(a, Exception) for a in answers)
    assert calls == [3] and stored == ["x0", "x1", "x2"]


def test_a_connection_handed_to_a_cancelled_waiter_goes_back_to_the_pool(
    db: PostgresDatabase,
) -> None:
    """A waiter cancelled after a connection was handed to it (before it ran) gives it back:
    the pool does not lose that connection for good."""

    async def main() -> tuple[int, int]:
        pool = db._pool()
        held = [await pool.acquire() for _ in range(pool.size)]
        waiter = asyncio.ensure_future(pool.acquire())
        await asyncio.sleep(0)  # it waits for a connection
        pool.release(held.pop())  # handed to the waiter's future ...
        waiter.cancel()  # ... which is cancelled before it runs
        with pytest.raises(asyncio.CancelledError):
            await waiter
        again = await asyncio.wait_for(pool.acquire(), 5)  # not lost: here at once
        pool.release(again)
        for c in held:
            pool.release(c)
        return pool.opened, len(pool.idle)

    opened, idle = run_async(main)
    assert opened == idle == 2


def test_connections_closed_while_idle_are_not_handed_out(
    db: PostgresDatabase, app_name: str
) -> None:
    """Pooled connections the server closed while they sat idle (a restart, a shutdown,
    ``pg_terminate_backend``, ``idle_session_timeout``) are dropped when next taken, not used:
    each failed the statement it was given — with joined statements, a whole batch of
    requests at once."""
    import psycopg

    async def main() -> tuple[list[Any], list[Any], list[str], int]:
        await db.write(put, "a", 1)
        pool = db._pool()
        held = [await pool.acquire() for _ in range(pool.size)]
        for c in held:
            pool.release(c)
        with psycopg.connect(BACKEND, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = %s",
                (app_name,),
            )
        for _ in range(500):  # until the loop has seen both sockets close (I/O, not time)
            if all(c.is_closed() for c in pool.idle):
                break
            await asyncio.sleep(0.01)
        assert len(pool.idle) == 2 and all(c.is_closed() for c in pool.idle)
        reads = await asyncio.gather(
            *(db.read_one(value_of, k) for k in ("a", "a", "nope")), return_exceptions=True
        )
        writes = await asyncio.gather(
            *(db.write_joined(put_all, (f"w{n}", n)) for n in range(3)), return_exceptions=True
        )
        return list(reads), list(writes), await db.read(keys), pool.opened

    reads, writes, stored, opened = run_async(main)
    assert reads == [1, 1, None]
    assert writes == ["w0", "w1", "w2"]
    assert stored == ["a", "w0", "w1", "w2"] and opened <= 2


def test_an_item_the_joined_function_refuses_before_its_statement_fails_alone(
    db: PostgresDatabase,
) -> None:
    """``fn`` raising for one item before its statement ran (nothing written) is that item's
    error only: each item then runs on its own, as when PostgreSQL refuses the statement —
    the other callers of the turn were failed with the one item's error."""
    calls: list[int] = []

    def put_checked(conn: Conn, items: list[tuple[str, int]]) -> list[str]:
        calls.append(len(items))
        for k, v in items:
            if v < 0:
                raise ValueError(f"{k}: negative")
        return put_all(conn, items)

    async def main() -> tuple[list[Any], list[str]]:
        answers = await asyncio.gather(
            *(db.write_joined(put_checked, (k, v)) for k, v in [("p0", 0), ("p1", -1), ("p2", 2)]),
            return_exceptions=True,
        )
        return list(answers), await db.read(keys)

    answers, stored = run_async(main)
    assert answers[0] == "p0" and answers[2] == "p2"
    assert isinstance(answers[1], ValueError) and str(answers[1]) == "p1: negative"
    assert stored == ["p0", "p2"] and calls == [3, 1, 1, 1]


def test_a_caller_cancelled_while_its_joined_write_waits_for_a_connection_writes_nothing(
    db: PostgresDatabase,
) -> None:
    """Requests cancelled while their turn's batch waited for a pooled connection are left
    out of it (nothing of theirs was sent): as with ``write_one``, whose cancelled waiter
    never writes. They were written all the same, their callers long gone."""

    async def main() -> tuple[list[Any], list[str], int]:
        pool = db._pool()
        held = [await pool.acquire() for _ in range(pool.size)]
        calls = [asyncio.ensure_future(db.write_joined(put_all, (f"c{n}", n))) for n in range(3)]
        for _ in range(5):  # the calls, the turn's flush, its batch: waiting for a connection
            await asyncio.sleep(0)
        assert len(pool.waiters) == 1
        calls[0].cancel()
        calls[1].cancel()
        pool.release(held.pop())
        answers = await asyncio.gather(*calls, return_exceptions=True)
        for c in held:
            pool.release(c)
        return list(answers), await db.read(keys), len(pool.idle)

    answers, stored, idle = run_async(main)
    assert isinstance(answers[0], asyncio.CancelledError)
    assert isinstance(answers[1], asyncio.CancelledError)
    assert answers[2] == "c2" and stored == ["c2"] and idle == 2


def open_sessions(app_name: str) -> int:
    """The server's sessions of connections named ``app_name``."""
    import psycopg

    with psycopg.connect(BACKEND, autocommit=True) as c:
        row = c.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [app_name]
        ).fetchone()
        assert row is not None
        return int(row[0])


def slow_value(conn: Conn, key: str, seconds: float) -> int | None:
    row = conn.one(
        "SELECT v FROM t CROSS JOIN pg_sleep(CAST(? AS FLOAT8)) WHERE k = ?", seconds, key
    )
    return None if row is None else int(row["v"])


@pytest.mark.parametrize("kind", ["read_one", "write_joined"])
def test_a_joined_statement_that_times_out_runs_each_caller_alone(
    db: PostgresDatabase, kind: str
) -> None:
    """``statement_timeout`` of 0.5 s, four callers whose statements take 0.3 s each: their
    joined statement (1.2 s) is cancelled at 0.5 s, and each caller's own statement is then
    run alone, in time — a caller is never failed for the work of the others it was joined
    with (docs/design.md, "Timeouts"; the price: the last waits 0.5 + 4 x 0.3 s)."""
    assert "options=-csearch_path" in db.url
    timed = PostgresDatabase(
        db.url.replace("options=", "options=-cstatement_timeout%3D500%20"), pool_size=2
    )
    calls: list[int] = []

    def slow_put_all(conn: Conn, items: list[tuple[str, int]]) -> list[str]:
        calls.append(len(items))
        conn.exec(
            "INSERT INTO t (k, v) SELECT u.k, u.v FROM unnest(CAST(? AS TEXT[]), "
            "CAST(? AS INTEGER[])) AS u(k, v) CROSS JOIN LATERAL pg_sleep(0.3 + 0 * u.v) s",
            [k for k, _ in items],
            [v for _, v in items],
        )
        return [k for k, _ in items]

    async def main() -> tuple[list[Any], list[str]]:
        await timed.write(put, "a", 1)
        if kind == "read_one":
            calls_ = [timed.read_one(slow_value, "a", 0.3) for _ in range(4)]
        else:
            calls_ = [timed.write_joined(slow_put_all, (f"s{n}", n)) for n in range(4)]
        answers = await asyncio.gather(*calls_, return_exceptions=True)
        return list(answers), await timed.read(keys)

    try:
        answers, stored = run_async(main)
    finally:
        timed.close()
    if kind == "read_one":
        assert answers == [1, 1, 1, 1]
        assert stored == ["a"]
    else:
        assert answers == ["s0", "s1", "s2", "s3"]
        assert stored == ["a", "s0", "s1", "s2", "s3"]
        assert calls == [4, 1, 1, 1, 1]


def test_pooled_connections_have_tcp_keepalive(db: PostgresDatabase) -> None:
    """A server gone without a FIN or RST (host down, failover, a NAT that dropped the idle
    flow) is noticed on an idle pooled connection by TCP keepalive, within about 90 s: asyncpg
    turns none on, so the next statement on it waited for TCP to give up (~15 minutes)."""
    import socket

    async def main() -> dict[str, int]:
        pool = db._pool()
        c = await pool.acquire()
        try:
            sock = c._transport.get_extra_info("socket")
            if sock.family not in (socket.AF_INET, socket.AF_INET6):
                pytest.skip("the test database is not reached through TCP")
            return {
                "keepalive": sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE),
                "idle": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
                "interval": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
                "count": sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT),
            }
        finally:
            pool.release(c)

    found = run_async(main)
    assert found["keepalive"] == 1  # off: the kernel's idle default (2 hours) never applied
    assert found["idle"] + found["interval"] * found["count"] <= 120


def test_a_nul_character_anywhere_in_a_parameter_is_u_fffd(db: PostgresDatabase) -> None:
    """Not only in a ``str`` or a flat list: in a tuple, a nested list (a two-dimensional
    array), a set, a ``str`` subclass — each also taken by the drivers, and each failed in
    the driver with the NUL in it."""

    class Text(str):
        pass

    def text(conn: Conn, sql: str, value: Any) -> Any:
        row = conn.one(sql, value)
        assert row is not None
        return row["a"]

    array, one = "SELECT CAST(? AS TEXT[]) AS a", "SELECT CAST(? AS TEXT) AS a"
    cases = [
        (array, ("t\x00", "u"), ["t\ufffd", "u"]),
        (array, [["n\x00"], ["m"]], [["n\ufffd"], ["m"]]),
        (array, frozenset({"f\x00"}), ["f\ufffd"]),
        (one, Text("s\x00"), "s\ufffd"),
    ]

    async def main() -> list[Any]:
        out = []
        for sql, value, _ in cases:
            try:
                out.append(await db.read(text, sql, value))
            except Exception as exc:
                out.append(type(exc).__name__)
        return out

    assert run_async(main) == [expected for _, _, expected in cases]
    sync = [db.write_sync(text, sql, value) for sql, value, _ in (cases[1], cases[3])]
    assert sync == [cases[1][2], cases[3][2]]


def test_close_leaves_no_connection_open(db: PostgresDatabase, app_name: str) -> None:
    """``close`` with a connection in use and a turn's joined read waiting for one: the
    connection in use is closed when given back, and the waiting batch gets ``RuntimeError``
    instead of a connection — it took the one given back (or opened a new one) after close,
    which then stayed open."""

    async def main() -> tuple[list[Any], int, int]:
        await db.write(put, "a", 1)
        pool = db._pool()
        held = [await pool.acquire() for _ in range(pool.size)]
        calls = [asyncio.ensure_future(db.read_one(value_of, "a")) for _ in range(2)]
        for _ in range(5):  # the calls, the turn's flush, its batch: waiting for a connection
            await asyncio.sleep(0)
        assert len(pool.waiters) == 1
        db.close()
        for c in held:
            pool.release(c)
        answers = await asyncio.gather(*calls, return_exceptions=True)
        for _ in range(200):  # the server ends a session when it sees its socket close
            if open_sessions(app_name) == 0:
                break
            await asyncio.sleep(0.02)
        return list(answers), open_sessions(app_name), pool.opened

    answers, sessions, opened = run_async(main)
    assert all(isinstance(a, RuntimeError) and "closed" in str(a) for a in answers), answers
    assert sessions == 0 and opened == 0


def test_a_read_without_parameters_is_not_joined(db: PostgresDatabase) -> None:
    """Concurrent ``read_one`` calls of a statement without parameters run it alone each: its
    joined form (``unnest`` of no arrays) is a syntax error, which cost a failed statement
    (and a prepare) before the SQL was marked unjoinable."""

    def count(conn: Conn) -> int:
        row = conn.one("SELECT COUNT(*) AS n FROM t")
        assert row is not None
        return int(row["n"])

    async def main() -> tuple[list[int], set[str], int, int]:
        await db.write(put, "a", 1)
        answers = await asyncio.gather(*(db.read_one(count) for _ in range(3)))
        reads = db._pool().reads
        return list(answers), reads.unjoinable, len(reads.types), reads.joined

    answers, unjoinable, prepared, joined = run_async(main)
    assert answers == [1, 1, 1]
    assert unjoinable == set() and prepared == 0 and joined == 0


def test_a_pool_of_an_ended_uvloop_loop_is_closed_without_an_error(db: PostgresDatabase) -> None:
    """The server runs on uvloop. A pool left by a loop that has ended is closed by the next
    loop's first call, or by ``close``: uvloop closed the sockets with its loop, and its
    socket objects refuse ``shutdown()`` with TypeError — which failed that first call (and
    ``close``)."""
    uvloop = pytest.importorskip("uvloop")
    with ThreadPoolExecutor(1) as pool:
        pool.submit(lambda: uvloop.run(db.write(put, "a", 1))).result()
    assert run_async(lambda: db.read(keys)) == ["a"]
    with ThreadPoolExecutor(1) as pool:
        pool.submit(lambda: uvloop.run(db.write(put, "b", 2))).result()
    db.close()


def test_a_caller_takes_the_first_connection_given_back_while_another_is_opened(
    db: PostgresDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A caller that finds no connection idle takes whichever comes first: one given back, or
    the one a task opens for it. It used to open its own and wait for all of it (connect, then
    asyncpg's type look-ups: 15–50 ms under load) while a connection was given back."""
    from paysandbox.store import pg

    connect = pg._connect
    gate: asyncio.Event | None = None

    async def slow_connect(dsn: str) -> Any:
        assert gate is not None
        await gate.wait()
        return await connect(dsn)

    async def main() -> tuple[bool, int, int]:
        nonlocal gate
        gate = asyncio.Event()
        pool = db._pool()
        first = await pool.acquire()  # opened at once: nothing in between yet
        monkeypatch.setattr(pg, "_connect", slow_connect)
        waiter = asyncio.ensure_future(pool.acquire())
        for _ in range(5):
            await asyncio.sleep(0)
        assert not waiter.done()
        pool.release(first)
        got = await asyncio.wait_for(waiter, 5)  # the one given back, the new one still opening
        gate.set()
        for _ in range(500):
            if pool.idle:
                break
            await asyncio.sleep(0.01)
        pool.release(got)
        return got is first, pool.opened, len(pool.idle)

    same, opened, idle = run_async(main)
    assert same
    assert opened == idle == 2  # the connection opened meanwhile is kept for the next caller


def test_when_no_connection_can_be_opened_every_waiting_caller_gets_the_error(
    db: PostgresDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database refuses connections: each waiting caller gets the driver's error in turn
    (the oldest first, then the next one's try begins), none waits for good; once it accepts
    them again, a caller is served."""
    from paysandbox.store import pg

    connect = pg._connect
    refused = [0]

    async def refusing(dsn: str) -> Any:
        if refused[0] < 4:
            refused[0] += 1
            raise OSError(f"refused #{refused[0]}")
        return await connect(dsn)

    async def main() -> tuple[list[Any], int, Any]:
        monkeypatch.setattr(pg, "_connect", refusing)
        pool = db._pool()
        answers = await asyncio.wait_for(
            asyncio.gather(*(pool.acquire() for _ in range(3)), return_exceptions=True), 5
        )
        opened = pool.opened
        c = await asyncio.wait_for(pool.acquire(), 5)  # the 4th attempt fails, the 5th opens
        pool.release(c)
        return list(answers), opened, await db.read(keys)

    answers, opened, stored = run_async(main)
    assert [str(a) for a in answers] == ["refused #1", "refused #2", "refused #3"]
    assert opened == 0 and stored == [] and refused == [4]


def test_a_new_connection_has_looked_up_the_array_types_before_it_serves(
    db: PostgresDatabase,
) -> None:
    """asyncpg looks an array type up in the server's catalogue the first time a connection
    sends one (all but ``text[]`` and a few): done when the connection is opened, not by the
    first joined statement of a request in the middle of a load."""

    async def main() -> list[str]:
        pool = db._pool()
        c = await pool.acquire()
        seen: list[str] = []
        c.add_query_logger(lambda record: seen.append(record.query))
        try:
            for t in ("int2", "int4", "int8", "bool", "float8", "numeric", "bytea", "jsonb"):
                await c.fetchrow(f"SELECT CAST($1 AS {t}[]) AS a", None)
        finally:
            pool.release(c)
        return seen

    seen = run_async(main)
    assert len(seen) == 8 and not [q for q in seen if "typeinfo" in q], seen
