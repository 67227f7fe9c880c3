"""One delivery claim (``store.outbox.claim_due``, 16 at most, as the sender asks) timed with
10,000 pending deliveries spread over 10,000, 100 or 1 merchant endpoints, idle or each with
one in flight; median of 7, each claim rolled back. By hand, never in a test:

    PYTHONPATH=src .venv/bin/python bench/claim.py                       # SQLite, a temp file
    PYTHONPATH=src .venv/bin/python bench/claim.py postgresql://postgres@127.0.0.1/test

On PostgreSQL each case runs in a schema of its own (dropped afterwards), after ANALYZE.
"""

from __future__ import annotations

import contextlib
import secrets
import statistics
import sys
import tempfile
import time
from typing import Any

import psycopg

from paysandbox.core.clock import real_now_us
from paysandbox.store import migrate
from paysandbox.store import outbox as rows
from paysandbox.store.db import open_database

PENDING = 10_000
CASES = ((10_000, False), (100, False), (100, True), (1, True), (1, False))
COLUMNS = (
    "id", "provider", "account_id", "object_id", "event", "url", "method", "headers", "body",
    "secret_keys", "success_rule", "state", "attempts", "max_attempts", "created_at_us",
    "next_attempt_at_us", "lease_token", "lease_until_real_us", "last_http_status", "last_error",
    "completed_at_us",
)  # fmt: skip


class Undo(Exception):
    pass


def fill(db: Any, endpoints: int, busy: bool) -> None:
    now = real_now_us()

    def tx(c: Any) -> None:
        values = []
        for i in range(PENDING):
            e = i % endpoints
            leased = busy and i < endpoints  # each endpoint's oldest is in flight
            row = [f"d{i:08d}", "kplus", f"ACC{e % 50}", f"o{i}", "confirm", f"http://m{e}.test/"]
            row += ["POST", "{}", "{}", "[]", "http_2xx", "pending", 0, 8, now - PENDING + i]
            row += [now - PENDING + i, "x" if leased else None, now + 10**10 if leased else None]
            values.append((*row, None, None, None))
        c.insert_many("deliveries", COLUMNS, values)

    db.write_sync(tx)


def claim_ms(db: Any) -> tuple[float, int]:
    times, got = [], 0

    def tx(c: Any) -> None:
        nonlocal got
        start = time.perf_counter()
        now = real_now_us()
        claimed = rows.claim_due(
            c, now_us=now, real_now_us=now, lease_until_us=now + 10**7, token="T" * 16, limit=16
        )
        times.append(time.perf_counter() - start)
        got = len(claimed)
        raise Undo

    for _ in range(7):
        with contextlib.suppress(Undo):
            db.write_sync(tx)
    return statistics.median(times) * 1000, got


def main() -> None:
    base = sys.argv[1] if len(sys.argv) > 1 else None
    for endpoints, busy in CASES:
        schema = f"claim_{secrets.token_hex(4)}"
        if base:
            with psycopg.connect(base, autocommit=True) as c:
                c.execute(f"CREATE SCHEMA {schema}")
            url = f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
        else:
            url = f"sqlite:///{tempfile.mkdtemp()}/claim.db"
        try:
            migrate.upgrade(url)
            db = open_database(url)
            fill(db, endpoints, busy)
            if base:
                db.write_sync(lambda c: c.exec("ANALYZE deliveries"))
            ms, got = claim_ms(db)
            db.close()
        finally:
            if base:
                with psycopg.connect(base, autocommit=True) as c:
                    c.execute(f"DROP SCHEMA {schema} CASCADE")
        what = f"{PENDING:,} pending, {endpoints:,} endpoint(s){', each busy' if busy else ''}"
        print(f"{what:<45} {ms:8.2f} ms a claim ({got} claimed)")


if __name__ == "__main__":
    main()
