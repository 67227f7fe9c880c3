"""Rows of the request journal (``sandbox_requests``) and of API faults (``sandbox_faults``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .db import Conn, Row

#: Emptied by a reset and re-seeded from the config file (faults are configuration).
RESET_TABLES = ("sandbox_faults",)

JOURNAL_COLUMNS = (
    "id",
    "at_us",
    "provider",
    "account",
    "method",
    "route",
    "status",
    "latency_ms",
    "object_ids",
    "fault_id",
    "exchange",
)


def insert_entries(conn: Conn, rows: Sequence[Sequence[Any]]) -> None:
    """Rows in ``JOURNAL_COLUMNS`` order (SQLite: one prepared INSERT run per row; PostgreSQL
    through psycopg: one ``COPY``; see ``Conn.insert_many``)."""
    if rows:
        conn.insert_many("sandbox_requests", JOURNAL_COLUMNS, rows)


def list_entries(
    conn: Conn,
    *,
    provider: str | None,
    account: str | None,
    routes: Sequence[str] | None,
    status: tuple[int, int] | None,
    object_id: str | None,
    since_us: int | None,
    limit: int,
) -> list[Row]:
    where: list[str] = []
    args: list[Any] = []
    if provider is not None:
        where.append("provider = ?")
        args.append(provider)
    if account is not None:
        where.append("account = ?")
        args.append(account)
    if routes is not None:
        where.append("route IN (" + ", ".join("?" for _ in routes) + ")")
        args.extend(routes)
    if status is not None:
        where.append("status BETWEEN ? AND ?")
        args.extend(status)
    if object_id is not None:
        # exact and case-sensitive on both engines (SQLite's LIKE ignored ASCII case, so a
        # lower-cased id found an entry there and nothing on PostgreSQL)
        find = "strpos(object_ids, ?)" if conn.dialect == "postgresql" else "instr(object_ids, ?)"
        where.append(f"{find} > 0")
        args.append(f" {object_id} ")
    if since_us is not None:
        where.append("at_us >= ?")
        args.append(since_us)
    sql = "SELECT * FROM sandbox_requests"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY seq DESC LIMIT ?"
    return conn.all(sql, *args, limit)


def get_entry(conn: Conn, entry_id: str) -> Row | None:
    return conn.one("SELECT * FROM sandbox_requests WHERE id = ?", entry_id)


def delete_entries(conn: Conn) -> int:
    return conn.exec("DELETE FROM sandbox_requests")


def prune(conn: Conn, *, max_entries: int, older_than_us: int) -> int:
    """Drop entries older than ``older_than_us`` and all but the newest ``max_entries``."""
    n = conn.exec("DELETE FROM sandbox_requests WHERE at_us < ?", older_than_us)
    return n + trim(conn, max_entries)


def trim(conn: Conn, max_entries: int, at_most: int | None = None) -> int:
    """All but the newest ``max_entries``: ``seq`` only grows, so the edge is the newest
    ``seq`` minus the cap (one index probe, no walk over the kept rows; a gap in ``seq`` only
    keeps a few entries fewer). ``at_most``: delete only the oldest that many ``seq`` values
    (a short transaction; call again while it deletes)."""
    top = conn.one("SELECT MAX(seq) AS top FROM sandbox_requests")  # one min/max a query: an
    if top is None or top["top"] is None:  # index probe each on SQLite
        return 0
    edge = int(top["top"]) - max_entries
    low = conn.one("SELECT MIN(seq) AS low FROM sandbox_requests") if at_most else None
    if low is not None and at_most is not None:
        edge = min(edge, int(low["low"]) + at_most - 1)
    return conn.exec("DELETE FROM sandbox_requests WHERE seq <= ?", edge)


def trim_above(conn: Conn, max_entries: int, above: int | None) -> tuple[int, int | None]:
    """``trim`` that deletes only ``seq`` values above ``above`` (the edge of this caller's
    previous trim): (entries deleted, the edge, to pass next time).

    On PostgreSQL a deleted row stays in the table and its index until a vacuum, and the
    autovacuum comes at most once a minute: ``seq <= edge`` alone walks every dead index entry
    from the start, each time (24 ms per trim after 120,000 dead rows, measured; more than
    the insert of the thousand entries it trims). Starting above the previous edge skips
    them. A row below that edge that committed after it was trimmed (a concurrent writer's
    late commit) is left to ``prune``, which trims without a bound."""
    top = conn.one("SELECT MAX(seq) AS top FROM sandbox_requests")
    if top is None or top["top"] is None:
        return 0, above
    edge = int(top["top"]) - max_entries
    if above is None or int(top["top"]) < above:  # (a ``seq`` that started over: unbounded)
        return conn.exec("DELETE FROM sandbox_requests WHERE seq <= ?", edge), edge
    if edge <= above:
        return 0, above
    return conn.exec("DELETE FROM sandbox_requests WHERE seq > ? AND seq <= ?", above, edge), edge


# ---------------------------------------------------------------- faults


def insert_fault(conn: Conn, values: Mapping[str, Any]) -> None:
    cols = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    conn.exec(f"INSERT INTO sandbox_faults ({cols}) VALUES ({marks})", *values.values())


def insert_fault_if_absent(conn: Conn, values: Mapping[str, Any]) -> None:
    cols = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    conn.exec(
        f"INSERT INTO sandbox_faults ({cols}) VALUES ({marks}) ON CONFLICT DO NOTHING",
        *values.values(),
    )


def delete_faults_except(conn: Conn, source: str, keep: Sequence[str]) -> None:
    """Forget faults of ``source`` whose id is not in ``keep`` (config faults no longer set)."""
    if keep:
        marks = ", ".join("?" for _ in keep)
        conn.exec(
            f"DELETE FROM sandbox_faults WHERE source = ? AND id NOT IN ({marks})", source, *keep
        )
    else:
        conn.exec("DELETE FROM sandbox_faults WHERE source = ?", source)


def list_faults(conn: Conn) -> list[Row]:
    return conn.all("SELECT * FROM sandbox_faults ORDER BY created_at_us, id")


def get_fault(conn: Conn, fault_id: str) -> Row | None:
    return conn.one("SELECT * FROM sandbox_faults WHERE id = ?", fault_id)


def restore_fault(conn: Conn, fault_id: str, remaining: int | None) -> None:
    """A config-file fault as a reset leaves it: all its uses back, no hits."""
    conn.exec("UPDATE sandbox_faults SET remaining = ?, hits = 0 WHERE id = ?", remaining, fault_id)


def delete_fault(conn: Conn, fault_id: str) -> bool:
    return conn.exec("DELETE FROM sandbox_faults WHERE id = ?", fault_id) == 1


def claim_fault(conn: Conn, fault_id: str) -> bool:
    """Use the fault once: True for exactly one caller per remaining use (row lock)."""
    return (
        conn.exec(
            "UPDATE sandbox_faults SET hits = hits + 1, "
            "remaining = CASE WHEN remaining IS NULL THEN NULL ELSE remaining - 1 END "
            "WHERE id = ? AND (remaining IS NULL OR remaining > 0)",
            fault_id,
        )
        == 1
    )


def ping(conn: Conn) -> bool:
    return conn.one("SELECT 1 AS ok") is not None


def list_entries_all(conn: Conn) -> list[Row]:
    """Every journal row, newest first (tests and tools)."""
    return conn.all("SELECT * FROM sandbox_requests ORDER BY seq DESC")


def forget_account_entries(conn: Conn, provider: str, account: str) -> None:
    """The journal entries of one account."""
    conn.exec("DELETE FROM sandbox_requests WHERE provider = ? AND account = ?", provider, account)


# ------------------------------------------------ writers holding entries back (c0007)


def sync_gen(conn: Conn) -> int:
    """How many journal reads (and deletions) have asked every writer to store what it holds."""
    row = conn.one("SELECT gen FROM sandbox_journal_sync WHERE id = 1")
    return int(row["gen"]) if row else 0


def ask_holders(conn: Conn) -> int:
    """A read asks every writer holding entries back to store them; returns its ``gen``."""
    conn.exec("UPDATE sandbox_journal_sync SET gen = gen + 1 WHERE id = 1")
    return sync_gen(conn)


def _db_now_us(conn: Conn) -> str:
    """The database's clock in microseconds (SQL): the one clock every host's writers and
    readers share (each host's own may be seconds apart)."""
    if conn.dialect == "postgresql":
        return "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT)"
    return "CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)"


def hold(conn: Conn, writer: str, gen: int) -> None:
    """``writer`` holds entries back, and has stored all it held when ``gen`` was asked."""
    conn.exec(
        "INSERT INTO sandbox_journal_holds (writer, gen, seen_us) "
        f"VALUES (?, ?, {_db_now_us(conn)}) "
        "ON CONFLICT (writer) DO UPDATE SET gen = excluded.gen, seen_us = excluded.seen_us",
        writer,
        gen,
    )


def forget_gone(conn: Conn, gone_us: int) -> None:
    """Rows of writers that have not said they hold entries back for ``gone_us`` (killed with
    their servers, or their hosts down: each writer's row has a name of its own)."""
    conn.exec(f"DELETE FROM sandbox_journal_holds WHERE seen_us < {_db_now_us(conn)} - ?", gone_us)


def release(conn: Conn, writer: str) -> None:
    """``writer`` holds nothing back any more."""
    conn.exec("DELETE FROM sandbox_journal_holds WHERE writer = ?", writer)


def behind(conn: Conn, gen: int, gone_us: int) -> int:
    """Writers that still hold entries back from before ``gen`` was asked for, and have said
    so within the last ``gone_us`` by the database's clock (one that stopped saying so is
    gone: killed, its host down)."""
    row = conn.one(
        "SELECT COUNT(*) AS n FROM sandbox_journal_holds "
        f"WHERE gen < ? AND seen_us >= {_db_now_us(conn)} - ?",
        gen,
        gone_us,
    )
    return int(row["n"]) if row else 0
