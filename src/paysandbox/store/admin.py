"""Whole-database operations for the control API: reset."""

from __future__ import annotations

from collections.abc import Callable

from .db import Conn

# Emptied by reset, children first so foreign keys never object.
OBJECT_TABLES: list[str] = ["delivery_attempts", "deliveries", "events"]
# Emptied and then re-seeded from the configuration by reset.
CREDENTIAL_TABLES: list[str] = []


def register_object_tables(*tables: str) -> None:
    """Provider stores add the tables of their objects (tokens, transactions, payments)."""
    for t in tables:
        if t not in OBJECT_TABLES:
            OBJECT_TABLES.insert(0, t)


def register_credential_tables(*tables: str) -> None:
    """Provider stores add the tables of their partners/merchants/sites."""
    for t in tables:
        if t not in CREDENTIAL_TABLES:
            CREDENTIAL_TABLES.insert(0, t)


def reset(conn: Conn, reseed: Callable[[Conn], None]) -> None:
    """Back to a fresh start: no objects, events or deliveries; clock offset 0; credentials
    exactly as configured (changes made through the control API are forgotten)."""
    from . import kplus, nicepay, smart2pay  # noqa: F401 - their imports register their tables

    for table in OBJECT_TABLES + CREDENTIAL_TABLES:
        conn.exec(f"DELETE FROM {table}")
    conn.exec("UPDATE sandbox_clock SET offset_us = 0 WHERE id = 1")
    reseed(conn)
