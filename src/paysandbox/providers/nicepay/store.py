"""NICEPay rows: merchants, transactions, cancellations, payment-page sessions, and the claims
on open VA / CVS numbers."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ...store.clock import account_clock_join, account_offset_sql, clock_row, own_offset_sql
from ...store.db import Conn, Row
from ...store.sql import (
    blank_except,
    bytewise,
    conditional_update,
    insert_ignore,
    insert_ignore_row,
    listing_where,
    without_columns,
)


def get_merchant(conn: Conn, imid: str) -> Row | None:
    return conn.one("SELECT * FROM nicepay_merchants WHERE imid = ?", imid)


def list_merchants(conn: Conn) -> list[Row]:
    return conn.all(f"SELECT imid, faults FROM nicepay_merchants ORDER BY {bytewise(conn, 'imid')}")


def upsert_merchant(
    conn: Conn, imid: str, merchant_key: str | None, faults: Mapping[str, Any] | None = None
) -> Row:
    """Create the merchant (``merchant_key`` required) or change only what is given (None =
    keep). One statement either way (``INSERT … ON CONFLICT (imid) DO UPDATE``, or a plain
    ``UPDATE`` without a key), so concurrent calls for one new merchant cannot collide on its
    primary key. ``ValueError`` when the merchant does not exist and no key is given."""
    changes: dict[str, Any] = {}
    if merchant_key is not None:
        changes["merchant_key"] = merchant_key
    if faults is not None:
        changes["faults"] = json.dumps(dict(faults))
    if merchant_key is None:
        sets = ", ".join(f"{c} = ?" for c in changes) or "imid = imid"
        if not conn.exec(
            f"UPDATE nicepay_merchants SET {sets} WHERE imid = ?", *changes.values(), imid
        ):
            raise ValueError("a new merchant needs a merchant key")
    else:
        conn.exec(
            "INSERT INTO nicepay_merchants (imid, merchant_key, faults) VALUES (?, ?, ?) "
            f"ON CONFLICT (imid) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in changes)}",
            imid,
            merchant_key,
            json.dumps(dict(faults or {})),
        )
    row = get_merchant(conn, imid)
    assert row is not None
    return row


def insert_transaction(conn: Conn, values: Mapping[str, Any]) -> Row | None:
    """The transaction as stored; None when the tXid is already taken (the caller draws
    another one)."""
    return insert_ignore_row(conn, "nicepay_transactions", values)


def get_transaction(conn: Conn, t_xid: str) -> Row | None:
    return conn.one("SELECT * FROM nicepay_transactions WHERE t_xid = ?", t_xid)


def merchant_clock(conn: Conn, imid: str) -> Row | None:
    """The merchant's key and its clock offset (``merchant_key``, ``offset_us``) in one
    statement; None when there is no such merchant."""
    return conn.one(_MERCHANT_CLOCK, imid)


#: The merchant's clock, for statements over ``nicepay_merchants m`` (see ``store.clock``).
_CLOCK_JOIN = account_clock_join("nicepay", "m.imid")

_MERCHANT_CLOCK = (
    f"SELECT m.merchant_key AS merchant_key, {account_offset_sql()} AS offset_us "
    f"FROM nicepay_merchants m {_CLOCK_JOIN} WHERE m.imid = ? AND {clock_row()}"
)


def inquiry_row(conn: Conn, t_xid: str, imid: str) -> Row | None:
    """The hot read of an inquiry in one statement: the merchant's key (``inquiry_key``), its
    clock offset (``inquiry_offset_us``) and the merchant's transaction ``t_xid`` (its columns
    NULL when the merchant has no such transaction); None when there is no such merchant. See
    ``txn_only`` for the transaction's own row.

    The transaction is found by its tXid alone and its merchant compared in the select list
    (``inquiry_own``): with ``t.imid = m.imid`` in the join a never-analyzed schema's planner
    walked ``ix_nicepay_tx_merchant``, reading the merchant's transactions up to that one
    (docs/design.md, "Plans on a never-analyzed schema"). Another merchant's transaction is
    blanked here, so it never leaves this function."""
    row = conn.one(_INQUIRY_ROW, t_xid, imid)
    if row is None or row["inquiry_own"] or row["t_xid"] is None:
        return row
    return blank_except(row, INQUIRY_EXTRA)


#: What ``inquiry_row`` adds to the transaction's columns.
INQUIRY_EXTRA = ("inquiry_key", "inquiry_offset_us", "inquiry_own")


# Built once (the engines' statement caches are keyed on the text; see K PLUS's hot read).
_INQUIRY_ROW = (
    f"SELECT m.merchant_key AS inquiry_key, {account_offset_sql()} AS inquiry_offset_us, "
    "t.imid = m.imid AS inquiry_own, t.* "
    f"FROM nicepay_merchants m {_CLOCK_JOIN} "
    "LEFT JOIN nicepay_transactions t ON t.t_xid = ? "
    f"WHERE m.imid = ? AND {clock_row()}"
)


def txn_only(row: Row) -> Row:
    """An ``inquiry_row`` row without the merchant's key and clock (never carried further)."""
    return without_columns(row, INQUIRY_EXTRA)


def claim_number(conn: Conn, scope: str, number: str, t_xid: str | None = None) -> bool:
    """Claim an open VA / CVS number (``scope``: ``va:<bankCd>`` or ``cvs:<mitraCd>``) for
    ``t_xid`` (None: named later, ``attach_number``). False when it is already held; of racing
    claims exactly one wins (primary key + ON CONFLICT)."""
    return insert_ignore(
        conn, "nicepay_open_numbers", {"scope": scope, "number": number, "t_xid": t_xid}
    )


def attach_number(conn: Conn, scope: str, number: str, t_xid: str) -> None:
    """Name the transaction that holds a claim made earlier in this database transaction."""
    renamed = conn.exec(
        "UPDATE nicepay_open_numbers SET t_xid = ? WHERE scope = ? AND number = ?",
        t_xid,
        scope,
        number,
    )
    if renamed != 1:  # the claim is this transaction's own: it is there
        raise AssertionError(f"no claim on {scope} {number} to name")


def number_holder(conn: Conn, scope: str, number: str) -> str | None:
    row = conn.one(
        "SELECT t_xid FROM nicepay_open_numbers WHERE scope = ? AND number = ?", scope, number
    )
    return None if row is None else row["t_xid"]


def release_numbers(conn: Conn, t_xid: str) -> None:
    """The transaction's number is closed (paid, cancelled, expired): free it for reuse."""
    conn.exec("DELETE FROM nicepay_open_numbers WHERE t_xid = ?", t_xid)


def transition(
    conn: Conn,
    t_xid: str,
    *,
    from_states: Sequence[str],
    values: Mapping[str, Any],
    unexpired_at_us: int | None = None,
) -> bool:
    """Atomically move a transaction out of ``from_states`` (optionally only while its
    validity has not ended)."""
    extra, args = "", ()  # type: tuple[str, tuple[int, ...]]
    if unexpired_at_us is not None:
        extra, args = "valid_until_us IS NULL OR valid_until_us > ?", (unexpired_at_us,)
    return conditional_update(
        conn,
        "nicepay_transactions",
        {"t_xid": t_xid},
        from_states=from_states,
        values=values,
        extra_where=extra,
        extra_args=args,
    )


def add_cancel_amount(
    conn: Conn,
    t_xid: str,
    amount: int,
    *,
    from_states: Sequence[str],
    full_state: str,
    now_us: int,
) -> bool:
    """``cancel_amt += amount`` only while it stays within ``amt``; the status becomes
    ``full_state`` when nothing remains. One statement, so racing cancels cannot over-cancel."""
    marks = ", ".join("?" for _ in from_states)
    n = conn.exec(
        "UPDATE nicepay_transactions SET cancel_amt = cancel_amt + ?, updated_at_us = ?, "
        "status = CASE WHEN cancel_amt + ? >= amt THEN ? ELSE status END "
        f"WHERE t_xid = ? AND status IN ({marks}) AND cancel_amt + ? <= amt",
        amount,
        now_us,
        amount,
        full_state,
        t_xid,
        *from_states,
        amount,
    )
    return n == 1


def insert_cancel(conn: Conn, values: Mapping[str, Any]) -> bool:
    return insert_ignore(conn, "nicepay_cancels", values)


def cancels_of(conn: Conn, t_xid: str) -> list[Row]:
    return conn.all(
        f"SELECT * FROM nicepay_cancels WHERE t_xid = ? "
        f"ORDER BY at_us, {bytewise(conn, 'cancel_txid')}",
        t_xid,
    )


def insert_session(conn: Conn, values: Mapping[str, Any]) -> None:
    insert_ignore(conn, "nicepay_sessions", values)


def get_session(conn: Conn, session_id: str) -> Row | None:
    return conn.one("SELECT * FROM nicepay_sessions WHERE session_id = ?", session_id)


def finish_session(conn: Conn, session_id: str, state: str, now_us: int) -> bool:
    return conditional_update(
        conn,
        "nicepay_sessions",
        {"session_id": session_id},
        from_states=("pending",),
        values={"state": state, "finished_at_us": now_us},
        status_col="state",
    )


def list_transactions(
    conn: Conn, imid: str | None, limit: int, *, state: str | None = None, now_us: int = 0
) -> list[Row]:
    """The newest transactions, of one merchant and / or in one state as it is at ``now_us``
    (the sandbox time; each merchant's own offset is added in the statement)."""
    where: list[str] = []
    args: list[Any] = []
    if imid:
        where.append("imid = ?")
        args.append(imid)
    if state:
        where.append(f"{_state_expr(now_us)} = ?")
        args.append(state)
    # a tie-breaker: two transactions of one microsecond come back in one order on both engines
    order = f"ORDER BY created_at_us DESC, {bytewise(conn, 't_xid')} LIMIT ?"
    sql = "SELECT * FROM nicepay_transactions"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return conn.all(f"{sql} {order}", *args, limit)


def sessions_of(conn: Conn, t_xid: str) -> list[Row]:
    """The payment-page sessions of a transaction, newest first."""
    return conn.all(
        "SELECT session_id, state, created_at_us, finished_at_us FROM nicepay_sessions "
        f"WHERE t_xid = ? ORDER BY created_at_us DESC, {bytewise(conn, 'session_id')}",
        t_xid,
    )


# ------------------------------------------------------------------ dashboard reads


#: The transaction's merchant's own clock offset (account clocks), for a state computed in SQL.
_OWN_OFFSET = own_offset_sql("nicepay", "imid")


def _state_expr(now_us: int) -> str:
    """The true state at ``now_us`` (an unpaid VA/CVS past its validity is EXPIRED)."""
    return (
        "CASE WHEN status = 'UNPAID' AND valid_until_us IS NOT NULL "
        f"AND valid_until_us <= {int(now_us)} + {_OWN_OFFSET} THEN 'EXPIRED' ELSE status END"
    )


def count_by_state(conn: Conn, now_us: int) -> list[Row]:
    return conn.all(
        f"SELECT state, COUNT(*) AS n FROM (SELECT {_state_expr(now_us)} AS state "
        "FROM nicepay_transactions) t GROUP BY state"
    )


def page_transactions(
    conn: Conn,
    now_us: int,
    *,
    account: str | None,
    state: str | None,
    search: str | None,
    since_us: int | None,
    until_us: int | None,
    offset: int,
    limit: int,
) -> list[Row]:
    where, args = listing_where(
        _state_expr(now_us),
        dialect=conn.dialect,
        account_col="imid",
        search_cols=("t_xid", "reference_no"),
        account=account,
        state=state,
        search=search,
        since_us=since_us,
        until_us=until_us,
    )
    return conn.all(
        "SELECT t_xid, imid, pay_method, reference_no, amt, created_at_us, "
        f"{_state_expr(now_us)} AS state FROM nicepay_transactions WHERE {where} "
        f"ORDER BY created_at_us DESC, {bytewise(conn, 't_xid')} LIMIT ? OFFSET ?",
        *args,
        limit,
        offset,
    )


def merchant_exists(conn: Conn, imid: str) -> bool:
    return conn.one("SELECT 1 AS x FROM nicepay_merchants WHERE imid = ?", imid) is not None


def insert_merchant(conn: Conn, imid: str, merchant_key: str) -> bool:
    """False when the iMid is taken."""
    return insert_ignore(conn, "nicepay_merchants", {"imid": imid, "merchant_key": merchant_key})


def forget_merchant_objects(conn: Conn, imid: str) -> None:
    """A merchant's transactions with everything hanging off them, and their events."""
    mine = "(SELECT t_xid FROM nicepay_transactions WHERE imid = ?)"
    conn.exec(
        f"DELETE FROM events WHERE object_type = 'nicepay_transaction' AND object_id IN {mine}",
        imid,
    )
    for table in ("nicepay_open_numbers", "nicepay_sessions", "nicepay_cancels"):
        conn.exec(f"DELETE FROM {table} WHERE t_xid IN {mine}", imid)
    conn.exec("DELETE FROM nicepay_transactions WHERE imid = ?", imid)


def count_objects(conn: Conn) -> list[tuple[str, str, int]]:
    """Transactions by status, for the metrics (``paysandbox_objects``)."""
    found = conn.all("SELECT status, COUNT(*) AS n FROM nicepay_transactions GROUP BY status")
    return [("transaction", r["status"], int(r["n"])) for r in found]
