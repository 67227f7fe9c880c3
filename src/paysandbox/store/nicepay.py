"""NICEPay rows: merchants, transactions, cancellations and payment-page sessions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from . import admin
from .db import Conn, Row
from .sql import conditional_update

admin.register_object_tables("nicepay_sessions", "nicepay_cancels", "nicepay_transactions")
admin.register_credential_tables("nicepay_merchants")


def get_merchant(conn: Conn, imid: str) -> Row | None:
    return conn.one("SELECT * FROM nicepay_merchants WHERE imid = ?", imid)


def list_merchants(conn: Conn) -> list[Row]:
    return conn.all("SELECT imid FROM nicepay_merchants ORDER BY imid")


def upsert_merchant(conn: Conn, imid: str, merchant_key: str) -> None:
    conn.exec(
        "INSERT INTO nicepay_merchants (imid, merchant_key) VALUES (?, ?) "
        "ON CONFLICT (imid) DO UPDATE SET merchant_key = excluded.merchant_key",
        imid,
        merchant_key,
    )


def _insert_new(conn: Conn, table: str, values: Mapping[str, Any]) -> bool:
    cols = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    n = conn.exec(
        f"INSERT INTO {table} ({cols}) VALUES ({marks}) ON CONFLICT DO NOTHING",
        *values.values(),
    )
    return n == 1


def insert_transaction(conn: Conn, values: Mapping[str, Any]) -> bool:
    """False when the tXid is already taken (the caller draws another one)."""
    return _insert_new(conn, "nicepay_transactions", values)


def get_transaction(conn: Conn, t_xid: str) -> Row | None:
    return conn.one("SELECT * FROM nicepay_transactions WHERE t_xid = ?", t_xid)


def vacct_open(conn: Conn, bank_cd: str, vacct_no: str, now_us: int) -> bool:
    """Is this VA number already issued to an unpaid, unexpired transaction?"""
    row = conn.one(
        "SELECT 1 AS x FROM nicepay_transactions WHERE bank_cd = ? AND vacct_no = ? "
        "AND status = 'UNPAID' AND valid_until_us > ?",
        bank_cd,
        vacct_no,
        now_us,
    )
    return row is not None


def pay_no_open(conn: Conn, mitra_cd: str, pay_no: str, now_us: int) -> bool:
    row = conn.one(
        "SELECT 1 AS x FROM nicepay_transactions WHERE mitra_cd = ? AND pay_no = ? "
        "AND status = 'UNPAID' AND valid_until_us > ?",
        mitra_cd,
        pay_no,
        now_us,
    )
    return row is not None


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
    return _insert_new(conn, "nicepay_cancels", values)


def cancels_of(conn: Conn, t_xid: str) -> list[Row]:
    return conn.all(
        "SELECT * FROM nicepay_cancels WHERE t_xid = ? ORDER BY at_us, cancel_txid", t_xid
    )


def insert_session(conn: Conn, values: Mapping[str, Any]) -> None:
    _insert_new(conn, "nicepay_sessions", values)


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


def list_transactions(conn: Conn, imid: str | None, limit: int) -> list[Row]:
    if imid:
        return conn.all(
            "SELECT * FROM nicepay_transactions WHERE imid = ? ORDER BY created_at_us DESC LIMIT ?",
            imid,
            limit,
        )
    return conn.all("SELECT * FROM nicepay_transactions ORDER BY created_at_us DESC LIMIT ?", limit)
