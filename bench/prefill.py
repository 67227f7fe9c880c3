"""Bulk-load K PLUS tokens for the scale benchmark (see bench/README.md).

Each token is stored as the server stores one made by generate-token: a ``kplus_tokens`` row,
its ``kplus_request_uids`` row (the used partnerTxnUid) and its ``created`` event. Rows are
made inside the database (PostgreSQL ``generate_series``, SQLite a recursive CTE) in chunks of
one transaction each, so loading 10 million takes minutes, not hours. Token ids have the real
length (``KMCMPT`` + 40 characters + ``PMT``); the bulk ones are ``KMCMPT`` + a zero-padded
number + ``PMT``, so the benchmark can ask for a random stored token by number.

    python bench/prefill.py URL COUNT      # add tokens up to COUNT in the database at URL
"""

from __future__ import annotations

import sqlite3
import sys
import time
from typing import Any

PARTNER = "PTR1902369"
YEAR_US = 365 * 86_400 * 1_000_000

_COLUMNS = (
    "token_id, partner_id, partner_txn_uid, status, request_dt, reference1, total_amount, "
    "shipping_fee, currency_code, currency_exponent, shop_name, shop_image_url, os_platform, "
    "items, created_at_us, expires_at_us, updated_at_us"
)

_PG = {
    "kplus_tokens": (
        f"INSERT INTO kplus_tokens ({_COLUMNS}) "
        "SELECT 'KMCMPT' || lpad(i::text, 40, '0') || 'PMT', %(p)s, "
        "'bench' || lpad(i::text, 12, '0'), 'REQUESTED', '2019-07-04T18:00:42.411', "
        "'KS1234567', 50000, 0, 'THB', 2, 'Bench Shop', 'https://shop.example/a.png', 'IOS', "
        "'[]', %(now)s, %(exp)s, %(now)s FROM generate_series(%(a)s::bigint, %(b)s::bigint) AS i"
    ),
    "kplus_request_uids": (
        "INSERT INTO kplus_request_uids (partner_id, partner_txn_uid, operation, at_us) "
        "SELECT %(p)s, 'bench' || lpad(i::text, 12, '0'), 'generate-token', %(now)s "
        "FROM generate_series(%(a)s::bigint, %(b)s::bigint) AS i"
    ),
    "events": (
        "INSERT INTO events (object_type, object_id, kind, at_us, data) "
        "SELECT 'kplus_token', 'KMCMPT' || lpad(i::text, 40, '0') || 'PMT', 'created', "
        "%(now)s, '{\"partnerTxnUid\":\"bench' || lpad(i::text, 12, '0') || "
        '\'","totalAmount":50000}\' FROM generate_series(%(a)s::bigint, %(b)s::bigint) AS i'
    ),
}

_SERIES = "WITH RECURSIVE s(i) AS (SELECT :a UNION ALL SELECT i + 1 FROM s WHERE i < :b) "
_SQLITE = {
    "kplus_tokens": (
        f"INSERT INTO kplus_tokens ({_COLUMNS}) {_SERIES}"
        "SELECT printf('KMCMPT%040dPMT', i), :p, printf('bench%012d', i), 'REQUESTED', "
        "'2019-07-04T18:00:42.411', 'KS1234567', 50000, 0, 'THB', 2, 'Bench Shop', "
        "'https://shop.example/a.png', 'IOS', '[]', :now, :exp, :now FROM s"
    ),
    "kplus_request_uids": (
        "INSERT INTO kplus_request_uids (partner_id, partner_txn_uid, operation, at_us) "
        f"{_SERIES}SELECT :p, printf('bench%012d', i), 'generate-token', :now FROM s"
    ),
    "events": (
        "INSERT INTO events (object_type, object_id, kind, at_us, data) "
        f"{_SERIES}SELECT 'kplus_token', printf('KMCMPT%040dPMT', i), 'created', :now, "
        'printf(\'{"partnerTxnUid":"bench%012d","totalAmount":50000}\', i) FROM s'
    ),
}


def create_schema(url: str) -> None:
    """The schema the server would create: core and every registered provider's migrations."""
    from paysandbox.providers import REGISTERED
    from paysandbox.store import migrate

    migrate.upgrade(url, [p.migrations for p in REGISTERED])


def stored(url: str) -> int:
    """How many bulk tokens the database already has (they are numbered 1..n)."""
    sql = "SELECT COUNT(*) FROM kplus_tokens WHERE partner_txn_uid LIKE 'bench%'"
    if url.startswith("postgres"):
        import psycopg

        with psycopg.connect(url) as c:
            row = c.execute(sql).fetchone()
    else:
        with _sqlite(url) as c:
            row = c.execute(sql).fetchone()
    return int(row[0]) if row else 0


def _sqlite(url: str) -> sqlite3.Connection:
    c = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    c.execute("PRAGMA journal_mode=WAL")
    c.execute("PRAGMA synchronous=NORMAL")
    return c


def fill(url: str, count: int, chunk: int = 250_000, log: Any = sys.stderr) -> float:
    """Add bulk tokens until ``count`` are stored; returns the seconds it took."""
    have = stored(url)
    started = time.monotonic()
    now = time.time_ns() // 1000
    values = {"p": PARTNER, "now": now, "exp": now + 10 * YEAR_US}
    pg = url.startswith("postgres")
    if pg:
        import psycopg

        conn: Any = psycopg.connect(url, autocommit=True)
    else:
        conn = _sqlite(url)
    try:
        for a in range(have + 1, count + 1, chunk):
            b = min(a + chunk - 1, count)
            if pg:
                with conn.transaction():
                    for sql in _PG.values():
                        conn.execute(sql, {**values, "a": a, "b": b})
            else:
                conn.execute("BEGIN")
                for sql in _SQLITE.values():
                    conn.execute(sql, {**values, "a": a, "b": b})
                conn.execute("COMMIT")
            print(f"  prefill: {b:,} tokens ({time.monotonic() - started:.0f} s)", file=log)
        if pg:  # what autovacuum would soon do on its own: fresh statistics, visibility map
            for table in _PG:
                conn.execute(f"VACUUM ANALYZE {table}")
            # and what the next checkpoint would do: write the load's dirty pages now, not
            # during the measurement (without it, one 10-million run's generate-token p99 was
            # 310 ms: its commits waited behind the checkpoint writing the ~10 GB just loaded)
            conn.execute("CHECKPOINT")
        else:  # the same for SQLite: the load's WAL copied into the database file
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return time.monotonic() - started


def size_bytes(url: str, schema: str | None) -> int:
    """The database's size on disk: the SQLite file (+ WAL), or the schema's tables with their
    indexes and TOAST on PostgreSQL."""
    if url.startswith("postgres"):
        import psycopg

        with psycopg.connect(url) as c:
            row = c.execute(
                "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relkind = 'r'",
                (schema,),
            ).fetchone()
        return int(row[0]) if row else 0
    from pathlib import Path

    path = Path(url.removeprefix("sqlite:///"))
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


if __name__ == "__main__":
    seconds = fill(sys.argv[1], int(sys.argv[2]))
    print(f"done in {seconds:.0f} s")
