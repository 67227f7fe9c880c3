"""Outbox rows: deliveries and their attempts.

Claiming uses ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several server processes never take
the same delivery at once; on SQLite the claim runs inside ``BEGIN IMMEDIATE`` and is already
exclusive. A claim also sets a lease (real time) after which a crashed claimer's delivery is
taken again: at-least-once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .db import Conn, Row
from .sql import insert, placeholders


def insert_delivery(conn: Conn, values: Mapping[str, Any]) -> None:
    insert(conn, "deliveries", values)


def push_back_unsent(
    conn: Conn, provider: str, account_id: str, not_before_us: int, except_id: str
) -> None:
    """Fault 'out of order': older never-tried deliveries wait until after the newest one."""
    conn.exec(
        "UPDATE deliveries SET next_attempt_at_us = ? WHERE provider = ? AND account_id = ? "
        "AND state = 'pending' AND attempts = 0 AND id <> ? AND next_attempt_at_us < ?",
        not_before_us,
        provider,
        account_id,
        except_id,
        not_before_us,
    )


def claim_due(
    conn: Conn, *, now_us: int, real_now_us: int, lease_until_us: int, token: str, limit: int
) -> list[Row]:
    lock = " FOR UPDATE SKIP LOCKED" if conn.dialect == "postgresql" else ""
    return conn.all(
        "UPDATE deliveries SET lease_token = ?, lease_until_real_us = ?, attempts = attempts + 1 "
        "WHERE id IN (SELECT id FROM deliveries WHERE state = 'pending' "
        "AND attempts < max_attempts AND next_attempt_at_us <= ? "
        "AND (lease_until_real_us IS NULL OR lease_until_real_us < ?) "
        f"ORDER BY next_attempt_at_us, created_at_us LIMIT ?{lock}) RETURNING *",
        token,
        lease_until_us,
        now_us,
        real_now_us,
        limit,
    )


def finish_attempt(
    conn: Conn,
    delivery_id: str,
    token: str,
    *,
    attempt: Mapping[str, Any],
    state: str,
    next_attempt_at_us: int,
    completed_at_us: int | None,
) -> bool:
    """Record the attempt and settle the delivery, if this claimer still holds the lease."""
    insert(conn, "delivery_attempts", attempt)
    n = conn.exec(
        "UPDATE deliveries SET state = ?, next_attempt_at_us = ?, lease_token = NULL, "
        "lease_until_real_us = NULL, last_http_status = ?, last_error = ?, completed_at_us = ? "
        "WHERE id = ? AND lease_token = ?",
        state,
        next_attempt_at_us,
        attempt["http_status"],
        attempt["error"],
        completed_at_us,
        delivery_id,
        token,
    )
    return n == 1


def get_delivery(conn: Conn, delivery_id: str) -> Row | None:
    return conn.one("SELECT * FROM deliveries WHERE id = ?", delivery_id)


def attempts_of(conn: Conn, delivery_id: str) -> list[Row]:
    return conn.all(
        "SELECT * FROM delivery_attempts WHERE delivery_id = ? ORDER BY number, id", delivery_id
    )


def list_deliveries(
    conn: Conn,
    *,
    provider: str | None = None,
    object_id: str | None = None,
    state: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Row]:
    where, args = [], []
    for col, val in (("provider", provider), ("object_id", object_id), ("state", state)):
        if val:
            where.append(f"{col} = ?")
            args.append(val)
    sql = "SELECT * FROM deliveries"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY created_at_us DESC, id LIMIT ? OFFSET ?"
    return conn.all(sql, *args, limit, offset)


def requeue(conn: Conn, delivery_id: str, now_us: int, real_now_us: int) -> bool:
    """Make a delivery due now (one more attempt allowed if it had given up). False while an
    attempt is in flight (a live lease): a retry must never send one delivery twice at once."""
    n = conn.exec(
        "UPDATE deliveries SET state = 'pending', next_attempt_at_us = ?, completed_at_us = NULL, "
        "lease_token = NULL, lease_until_real_us = NULL, "
        "max_attempts = CASE WHEN attempts >= max_attempts THEN attempts + 1 "
        "ELSE max_attempts END WHERE id = ? "
        "AND (lease_until_real_us IS NULL OR lease_until_real_us < ?)",
        now_us,
        delivery_id,
        real_now_us,
    )
    return n == 1


def count_by_state(conn: Conn, states: tuple[str, ...]) -> int:
    row = conn.one(
        f"SELECT COUNT(*) AS n FROM deliveries WHERE state IN ({placeholders(len(states))})",
        *states,
    )
    return int(row["n"]) if row else 0


def counts_by_provider_state(conn: Conn) -> list[Row]:
    """``(provider, state, n)`` for every provider and state that has deliveries."""
    return conn.all(
        "SELECT provider, state, COUNT(*) AS n FROM deliveries GROUP BY provider, state "
        "ORDER BY provider, state"
    )
