"""SqliteDatabase directly: group commit, isolation of a failing transaction, lock waits that
never block the event loop."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest

from paysandbox.store.db import Conn, SqliteDatabase

T = TypeVar("T")

pytestmark = pytest.mark.sqlite_only


def run_async(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    with ThreadPoolExecutor(1) as pool:  # the browser tests keep a loop on the main thread
        return pool.submit(lambda: asyncio.run(main())).result()


@pytest.fixture
def db(tmp_path: Path) -> Iterator[SqliteDatabase]:
    d = SqliteDatabase(str(tmp_path / "t.db"))
    d.write_sync(lambda c: c.exec("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)"))
    yield d
    d.close()


def put(conn: Conn, key: str, value: int) -> str:
    conn.exec("INSERT INTO t (k, v) VALUES (?, ?)", key, value)
    return key


def put_then_fail(conn: Conn, key: str) -> None:
    conn.exec("INSERT INTO t (k, v) VALUES (?, ?)", key, 1)
    raise ValueError("refused after writing")


def keys(conn: Conn) -> list[str]:
    return [r["k"] for r in conn.all("SELECT k FROM t ORDER BY k")]


def test_one_failing_transaction_in_a_batch_leaves_the_others(db: SqliteDatabase) -> None:
    async def main() -> list[Any]:
        return await asyncio.gather(
            db.write(put, "a", 1),
            db.write(put_then_fail, "b"),
            db.write(put, "c", 3),
            db.write(put, "a", 9),  # primary-key conflict: fails alone
            return_exceptions=True,
        )

    a, b, c, dup = run_async(main)
    assert a == "a" and c == "c"
    assert isinstance(b, ValueError)
    assert isinstance(dup, sqlite3.IntegrityError)
    assert db.write_sync(keys) == ["a", "c"]  # b's insert was rolled back with its savepoint


def test_answers_come_only_after_the_commit(db: SqliteDatabase, tmp_path: Path) -> None:
    seen: list[list[str]] = []

    async def main() -> None:
        other = sqlite3.connect(str(tmp_path / "t.db"))

        async def write_and_look(key: str) -> None:
            await db.write(put, key, 1)
            # another connection sees the row the moment the write is acknowledged
            seen.append([r[0] for r in other.execute("SELECT k FROM t WHERE k = ?", (key,))])

        await asyncio.gather(*(write_and_look(f"k{i}") for i in range(20)))
        other.close()

    run_async(main)
    assert len(seen) == 20 and all(len(rows) == 1 for rows in seen)


def test_a_lock_held_elsewhere_is_waited_for_without_blocking_the_loop(
    db: SqliteDatabase, tmp_path: Path
) -> None:
    holder = sqlite3.connect(str(tmp_path / "t.db"), isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # another process's writer, in effect
    release_after = 0.3
    threading.Timer(release_after, lambda: holder.execute("COMMIT")).start()

    async def main() -> tuple[float, int, list[str]]:
        ticks = 0
        done = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await asyncio.sleep(0.01)

        t = asyncio.create_task(ticker())
        start = time.monotonic()
        await db.write(put, "late", 1)
        waited = time.monotonic() - start
        done.set()
        await t
        return waited, ticks, await db.read(keys)

    waited, ticks, found = run_async(main)
    holder.close()
    assert waited >= release_after * 0.9
    assert ticks >= 10  # the loop kept running while the write waited for the lock
    assert found == ["late"]


def test_write_one_is_write_on_sqlite(db: SqliteDatabase) -> None:
    """``write_one`` (PostgreSQL: no BEGIN/COMMIT) is a plain transaction here: a function that
    raises after writing leaves nothing."""

    async def main() -> list[Any]:
        return await asyncio.gather(
            db.write_one(put, "a", 1),
            db.write_one(put_then_fail, "b"),
            return_exceptions=True,
        )

    a, b = run_async(main)
    assert a == "a" and isinstance(b, ValueError)
    assert run_async(lambda: db.read(keys)) == ["a"]


def test_read_one_runs_one_select_without_a_transaction(db: SqliteDatabase) -> None:
    """``read_one``: the one SELECT in autocommit (its own snapshot, no read lock left held);
    a second statement, or a write, is refused before it runs."""

    def two_reads(conn: Conn) -> None:
        keys(conn)
        keys(conn)

    async def main() -> tuple[list[str], bool]:
        await db.write(put, "a", 1)
        found = await db.read_one(keys)
        held = db._conn.in_transaction
        with pytest.raises(RuntimeError, match=r"read_one runs one plain SELECT.*a second"):
            await db.read_one(two_reads)
        with pytest.raises(RuntimeError, match=r"read_one runs one plain SELECT.*this one"):
            await db.read_one(put, "b", 2)
        return found, held

    found, held = run_async(main)
    assert found == ["a"] and not held
    assert run_async(lambda: db.read(keys)) == ["a"]  # the refused write never ran
