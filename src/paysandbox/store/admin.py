"""Whole-database operations for the control API: reset."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .db import Conn

#: The core's own object tables, emptied by reset (children first, so foreign keys never object).
CORE_OBJECT_TABLES: tuple[str, ...] = (
    "delivery_attempts",
    "deliveries",
    "events",
    "account_clocks",
)


def reset(conn: Conn, tables: Sequence[str], reseed: Callable[[Conn], None]) -> None:
    """Back to a fresh start: ``tables`` emptied (every provider's objects and accounts, then the
    core's), clock offset 0, accounts exactly as configured (changes made through the control
    API are forgotten)."""
    for table in tables:
        conn.exec(f"DELETE FROM {table}")
    conn.exec("UPDATE sandbox_clock SET offset_us = 0 WHERE id = 1")
    reseed(conn)


def forget_account_deliveries(conn: Conn, provider: str, account_id: str) -> None:
    """The deliveries (and their attempts) of one account."""
    conn.exec(
        "DELETE FROM delivery_attempts WHERE delivery_id IN "
        "(SELECT id FROM deliveries WHERE provider = ? AND account_id = ?)",
        provider,
        account_id,
    )
    conn.exec("DELETE FROM deliveries WHERE provider = ? AND account_id = ?", provider, account_id)
