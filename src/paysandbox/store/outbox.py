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
    """Take back an object's deliveries of one ``event``, all of them or none: while no sender
    has touched any (each pending, never attempted, not claimed) they are all deleted, as if
    never queued; once a sender has one (claimed, attempted or done), the merchant has, or may
    have, seen the message, so it stands and every copy stays to go out (the duplicate fault's
    twin too: taking that one back left the merchant one copy of a message that was sent).
    Returns the ids taken back and how many of that event a sender has touched.

    The event's rows are locked before they are judged (``FOR UPDATE`` on PostgreSQL; SQLite's
    write transaction holds the database): a claim that races this either committed first and
    is seen, or waits and then finds the rows gone."""
    lock = " FOR UPDATE" if conn.dialect == "postgresql" else ""
    found = conn.all(
        "SELECT id, state, attempts, lease_token FROM deliveries WHERE provider = ? "
        f"AND account_id = ? AND object_id = ? AND event = ? ORDER BY id{lock}",
        provider,
        account_id,
        object_id,
        event,
    )
    touched = sum(
        1
        for r in found
        if r["state"] != "pending" or int(r["attempts"]) > 0 or r["lease_token"] is not None
    )
    if touched or not found:
        return [], touched
    ids = [str(r["id"]) for r in found]
    conn.exec(f"DELETE FROM deliveries WHERE id IN ({placeholders(len(ids))})", *ids)
    return ids, 0


#: Deliveries whose lease ran out: a range of ``ix_deliveries_lease`` (only leased rows are
#: in it; a leased delivery is always pending, and the update below re-checks the lease).
STALE_LEASES = (
    "SELECT id, attempts FROM deliveries WHERE lease_token IS NOT NULL AND lease_until_real_us < ?"
)


def release_stale(conn: Conn, real_now_us: int) -> int:
    """Return deliveries whose lease ran out (their sender died or stalled) to the queue.

    The attempt that sender had begun stays on record, marked ``ABANDONED`` (the merchant may
    or may not have seen it), and is not charged: ``max_attempts`` grows by one, so a crash on
    a delivery's last allowed attempt can never strand it (it used to stay ``pending`` with
    ``attempts == max_attempts`` for ever)."""
    stale = conn.all(STALE_LEASES, real_now_us)
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


#: The claim's candidates in the order it picks them, from a cursor on: a walk of
#: ``ix_deliveries_queue`` (state, next attempt, created, id) that stops at LIMIT — no sort,
#: nothing read beyond it (migration c0005; tests/delivery checks the plans). Deliveries in
#: flight, out of attempts, or of an endpoint with one in flight (a lookup in the small
#: ``ix_deliveries_in_flight``) are passed over inside the database; ``{skip}`` leaves out
#: the endpoints already picked.
WALK_DUE = (
    "SELECT d.id, d.account_id, d.url, d.next_attempt_at_us, d.created_at_us "
    "FROM deliveries d WHERE d.state = 'pending' AND d.next_attempt_at_us <= ? "
    "AND (d.next_attempt_at_us, d.created_at_us, d.id) > (?, ?, ?) "
    "AND d.lease_token IS NULL AND d.attempts < d.max_attempts{skip} AND NOT EXISTS "
    "(SELECT 1 FROM deliveries b WHERE b.account_id = d.account_id AND b.url = d.url "
    "AND b.lease_token IS NOT NULL) "
    "ORDER BY d.next_attempt_at_us, d.created_at_us, d.id LIMIT ?"
)
#: The same walk for one account (of one provider) whose own clock is ahead, over what is
#: due for it alone: after the sandbox's now (where its cursor starts), up to its own now
#: (``ix_deliveries_account_queue``).
WALK_ACCOUNT_DUE = (
    "SELECT d.id, d.account_id, d.url, d.next_attempt_at_us, d.created_at_us "
    "FROM deliveries d WHERE d.state = 'pending' AND d.account_id = ? "
    "AND d.next_attempt_at_us <= ? "
    "AND (d.next_attempt_at_us, d.created_at_us, d.id) > (?, ?, ?) AND d.provider = ? "
    "AND d.lease_token IS NULL AND d.attempts < d.max_attempts{skip} AND NOT EXISTS "
    "(SELECT 1 FROM deliveries b WHERE b.account_id = d.account_id AND b.url = d.url "
    "AND b.lease_token IS NOT NULL) "
    "ORDER BY d.next_attempt_at_us, d.created_at_us, d.id LIMIT ?"
)
#: Accounts whose own clock is ahead and that have a pending delivery due for them alone
#: (after the sandbox's now, up to their own now): one probe of
#: ``ix_deliveries_account_queue`` each — a correlated subquery with ``LIMIT 1``, which
#: PostgreSQL runs per account rather than as a join over every pending delivery. In no
#: order: ``claim_due`` keeps the best of their walks whatever the order.
ACCOUNTS_AHEAD_DUE = (
    "SELECT provider, account_id, offset_us FROM account_clocks "
    "WHERE offset_us > 0 AND (SELECT 1 FROM deliveries d WHERE d.state = 'pending' "
    "AND d.account_id = account_clocks.account_id AND d.next_attempt_at_us > ? "
    "AND d.next_attempt_at_us <= ? + account_clocks.offset_us "
    "AND d.provider = account_clocks.provider LIMIT 1) IS NOT NULL"
)
_SKIP_ONE = " AND NOT (d.account_id = ? AND d.url = ?)"
_LAST = 2**62  # past any time in microseconds
_START = (-_LAST, -_LAST, "")


def claim_due(
    conn: Conn, *, now_us: int, real_now_us: int, lease_until_us: int, token: str, limit: int
) -> list[Row]:
    """Claim what is due, at most ONE delivery per merchant endpoint (account, URL) and none
    for an endpoint that already has one in flight; counts the attempt being started.

    Which ones: each endpoint's earliest due delivery (by next attempt, creation, id), the
    endpoints in the order of those deliveries, the first ``limit`` of them. They are found by
    walking the pending deliveries in that order through an index and stopping once ``limit``
    endpoints are found — not by reading every pending delivery (a window over all of them
    took ~0.2 s a claim at 10,000 pending, and 9 s when they were all for one endpoint); what
    is read is the queue's head up to the last endpoint picked, deliveries of busy or already
    picked endpoints included. A delivery is due when its next attempt has come on its
    account's clock: the sandbox clock for all (``now_us``), plus the account's own offset
    for the few accounts that have one (never negative: account clocks only move forward).

    Claims are serialised: ``BEGIN IMMEDIATE`` on SQLite; on PostgreSQL a transaction-level
    advisory lock (per schema), so two claimers never both see an endpoint as idle. The caller
    starts sending at once and records the attempt as ``IN_FLIGHT`` in the same transaction.
    """
    if conn.dialect == "postgresql":
        conn.one("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.deliveries.claim'))")
    release_stale(conn, real_now_us)
    if limit < 1:
        return []
    picked: list[Row] = []
    taken: set[tuple[str, str]] = set()
    _walk(conn, WALK_DUE, (now_us,), (), limit, picked, taken)
    if len(picked) < limit:
        # due for accounts whose own clock is ahead: after now, up to now + their own offset;
        # every such delivery comes after every one due for all, so it only fills what is
        # left. Only accounts with something due there are walked (one indexed probe each,
        # in one statement): a shared sandbox keeps the clocks of many idle accounts.
        ahead = conn.all(ACCOUNTS_AHEAD_DUE, now_us, now_us)
        need = limit - len(picked)
        extra: list[Row] = []
        for a in ahead:
            account = str(a["account_id"])
            bound = (account, now_us + int(a["offset_us"]))
            after_now = (now_us, _LAST, "")  # everything due at now_us was walked above
            _walk(
                conn,
                WALK_ACCOUNT_DUE,
                bound,
                (a["provider"],),
                need,
                extra,
                taken,
                after_now,
                account=account,
            )
            extra.sort(key=lambda r: (r["next_attempt_at_us"], r["created_at_us"], r["id"]))
            del extra[need:]  # the best ``need`` so far; the rest cannot be picked
        picked += extra
    due = picked[:limit]
    if not due:
        return []
    ids = [r["id"] for r in due]  # re-checked below: still idle (the claim lock holds)
    claimed = conn.all(
        "UPDATE deliveries SET lease_token = ?, lease_until_real_us = ?, attempts = attempts + 1 "
        f"WHERE id IN ({placeholders(len(ids))}) AND lease_token IS NULL RETURNING *",
        token,
        lease_until_us,
        *ids,
    )
    order = {i: n for n, i in enumerate(ids)}
    return sorted(claimed, key=lambda r: order[r["id"]])


def _walk(
    conn: Conn,
    sql: str,
    bound: tuple[Any, ...],
    also: tuple[Any, ...],
    limit: int,
    picked: list[Row],
    taken: set[tuple[str, str]],
    start: tuple[Any, ...] = _START,
    *,
    account: str | None = None,
) -> None:
    """Add to ``picked`` the first delivery of each endpoint not in ``taken`` (adding it
    there) as ``sql`` walks them from after ``start``, until ``limit`` are picked or the walk
    ends. ``account``: ``sql`` walks that account only (only its endpoints are skipped in
    SQL)."""
    cursor = start
    want = limit
    while want > 0:
        mine = sorted(e for e in taken if account is None or e[0] == account)
        skip = [part for endpoint in mine for part in endpoint]
        query = sql.format(skip=_SKIP_ONE * len(mine))
        found = conn.all(query, *bound, *cursor, *also, *skip, want)
        asked = want
        for row in found:
            endpoint = (str(row["account_id"]), str(row["url"]))
            if endpoint not in taken:  # two of one endpoint in one step: its first
                taken.add(endpoint)
                picked.append(row)
                want -= 1
        if len(found) < asked:  # the walk is over
            return
        last = found[-1]
        cursor = (last["next_attempt_at_us"], last["created_at_us"], last["id"])


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
