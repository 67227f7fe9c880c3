"""Outbox rows: deliveries and their attempts.

One attempt in flight per delivery across every process on a database (see docs/reliability.md):

* ``claim_due`` takes at most one due delivery per merchant endpoint (account, URL), none for
  an endpoint that has one in flight, counts the attempt it starts and sets a short lease
  (the sender's timeout + a margin, real time). Claims are serialised (``BEGIN IMMEDIATE`` on
  SQLite, an advisory transaction lock on PostgreSQL).
* ``begin_attempt`` puts the attempt on record (``IN_FLIGHT``) in the claim's transaction;
  ``finish_attempt`` records its outcome and settles the delivery if the lease is still held.
* ``release_stale`` (run by every claim) returns deliveries whose lease ran out — their sender
  died — marking the begun attempt ``ABANDONED`` and not charging it (``max_attempts + 1``),
  so no crash can strand a delivery or use up its attempts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .db import Conn, Row
from .sql import insert, placeholders

IN_FLIGHT = "in flight"
ABANDONED = "the sending process stopped during this attempt (crash?); outcome unknown, not charged"


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


def withdraw_unsent(
    conn: Conn, provider: str, account_id: str, object_id: str, event: str
) -> tuple[list[str], int]:
    """Take back an object's deliveries of one ``event`` that no sender has touched (pending,
    never attempted, not claimed): they are deleted, as if never queued. Returns the ids taken
    back and how many of that event are left — claimed, attempted or done, so the merchant has
    (or may have) seen them. A claim that races this waits for the row (PostgreSQL) or the
    database (SQLite); whichever commits first decides."""
    where = (
        "provider = ? AND account_id = ? AND object_id = ? AND event = ? AND state = 'pending' "
        "AND attempts = 0 AND lease_token IS NULL"
    )
    args = (provider, account_id, object_id, event)
    taken = [
        str(r["id"]) for r in conn.all(f"DELETE FROM deliveries WHERE {where} RETURNING id", *args)
    ]
    row = conn.one(
        "SELECT COUNT(*) AS n FROM deliveries WHERE provider = ? AND account_id = ? "
        "AND object_id = ? AND event = ?",
        *args,
    )
    return taken, int(row["n"]) if row else 0


def release_stale(conn: Conn, real_now_us: int) -> int:
    """Return deliveries whose lease ran out (their sender died or stalled) to the queue.

    The attempt that sender had begun stays on record, marked ``ABANDONED`` (the merchant may
    or may not have seen it), and is not charged: ``max_attempts`` grows by one, so a crash on
    a delivery's last allowed attempt can never strand it (it used to stay ``pending`` with
    ``attempts == max_attempts`` for ever)."""
    stale = conn.all(
        "SELECT id, attempts FROM deliveries WHERE state = 'pending' "
        "AND lease_token IS NOT NULL AND lease_until_real_us < ?",
        real_now_us,
    )
    for row in stale:
        conn.exec(
            "UPDATE delivery_attempts SET error = ? WHERE delivery_id = ? AND number = ? "
            "AND error = ?",
            ABANDONED,
            row["id"],
            row["attempts"],
            IN_FLIGHT,
        )
        conn.exec(
            "UPDATE deliveries SET lease_token = NULL, lease_until_real_us = NULL, "
            "max_attempts = max_attempts + 1, last_error = ? "
            "WHERE id = ? AND lease_token IS NOT NULL AND lease_until_real_us < ?",
            ABANDONED,
            row["id"],
            real_now_us,
        )
    return len(stale)


def release_mine(conn: Conn, token_prefix: str, reason: str) -> int:
    """A sender that stops gives back the deliveries it holds at once (same rule as a stale
    lease: the begun attempt is on record as interrupted and not charged)."""
    held = conn.all(
        "SELECT id, attempts FROM deliveries WHERE state = 'pending' AND lease_token LIKE ?",
        token_prefix + "%",
    )
    for row in held:
        conn.exec(
            "UPDATE delivery_attempts SET error = ? WHERE delivery_id = ? AND number = ? "
            "AND error = ?",
            reason,
            row["id"],
            row["attempts"],
            IN_FLIGHT,
        )
        conn.exec(
            "UPDATE deliveries SET lease_token = NULL, lease_until_real_us = NULL, "
            "max_attempts = max_attempts + 1, last_error = ? WHERE id = ? AND lease_token LIKE ?",
            reason,
            row["id"],
            token_prefix + "%",
        )
    return len(held)


def claim_due(
    conn: Conn, *, now_us: int, real_now_us: int, lease_until_us: int, token: str, limit: int
) -> list[Row]:
    """Claim what is due, at most ONE delivery per merchant endpoint (account, URL) and none
    for an endpoint that already has one in flight; counts the attempt being started.

    Claims are serialised: ``BEGIN IMMEDIATE`` on SQLite; on PostgreSQL a transaction-level
    advisory lock (per schema), so two claimers never both see an endpoint as idle. The caller
    starts sending at once and records the attempt as ``IN_FLIGHT`` in the same transaction.
    """
    if conn.dialect == "postgresql":
        conn.one("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.deliveries.claim'))")
    release_stale(conn, real_now_us)
    due = conn.all(
        "SELECT id FROM (SELECT d.id, d.next_attempt_at_us, d.created_at_us, ROW_NUMBER() OVER "
        "(PARTITION BY d.account_id, d.url ORDER BY d.next_attempt_at_us, d.created_at_us, d.id) "
        "AS rn FROM deliveries d WHERE d.state = 'pending' AND d.attempts < d.max_attempts "
        "AND d.next_attempt_at_us <= ? + COALESCE((SELECT a.offset_us FROM account_clocks a "
        "WHERE a.provider = d.provider AND a.account_id = d.account_id), 0) "
        "AND d.lease_token IS NULL AND NOT EXISTS (SELECT 1 "
        "FROM deliveries b WHERE b.account_id = d.account_id AND b.url = d.url "
        "AND b.state = 'pending' AND b.lease_token IS NOT NULL)) due "
        "WHERE rn = 1 ORDER BY next_attempt_at_us, created_at_us, id LIMIT ?",
        now_us,
        limit,
    )
    if not due:
        return []
    ids = [r["id"] for r in due]
    claimed = conn.all(
        "UPDATE deliveries SET lease_token = ?, lease_until_real_us = ?, attempts = attempts + 1 "
        f"WHERE id IN ({placeholders(len(ids))}) AND lease_token IS NULL RETURNING *",
        token,
        lease_until_us,
        *ids,
    )
    order = {i: n for n, i in enumerate(ids)}
    return sorted(claimed, key=lambda r: order[r["id"]])


def begin_attempt(conn: Conn, delivery_id: str, number: int, at_us: int, request: str) -> None:
    """The attempt on record from the moment it starts (``IN_FLIGHT`` until it is settled)."""
    insert(
        conn,
        "delivery_attempts",
        {
            "delivery_id": delivery_id,
            "number": number,
            "started_at_us": at_us,
            "request": request,
            "http_status": None,
            "response_body": None,
            "error": IN_FLIGHT,
            "latency_ms": 0.0,
            "succeeded": False,
        },
    )


def return_unsent(conn: Conn, delivery_id: str, token: str, number: int) -> bool:
    """Give a claim back without using an attempt (nothing was sent)."""
    n = conn.exec(
        "UPDATE deliveries SET lease_token = NULL, lease_until_real_us = NULL, "
        "attempts = attempts - 1 WHERE id = ? AND lease_token = ? AND attempts = ?",
        delivery_id,
        token,
        number,
    )
    if n == 1:
        conn.exec(
            "DELETE FROM delivery_attempts WHERE delivery_id = ? AND number = ? AND error = ?",
            delivery_id,
            number,
            IN_FLIGHT,
        )
    return n == 1


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
    """Record the attempt's outcome (always: it did happen) and settle the delivery, if this
    claimer still holds the lease."""
    conn.exec(
        "UPDATE delivery_attempts SET http_status = ?, response_body = ?, error = ?, "
        "latency_ms = ?, succeeded = ? WHERE delivery_id = ? AND number = ?",
        attempt["http_status"],
        attempt["response_body"],
        attempt["error"],
        attempt["latency_ms"],
        attempt["succeeded"],
        delivery_id,
        attempt["number"],
    )
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
    account_id: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Row]:
    where, args = [], []
    for col, val in (
        ("provider", provider),
        ("object_id", object_id),
        ("state", state),
        ("account_id", account_id),
    ):
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
