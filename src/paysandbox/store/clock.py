"""The sandbox clock's offset, one row shared by every process on the database."""

from __future__ import annotations

from ..core.clock import sandbox_now_us
from .db import Conn


def offset_us(conn: Conn) -> int:
    row = conn.one("SELECT offset_us FROM sandbox_clock WHERE id = 1")
    return int(row["offset_us"]) if row else 0


def now_us(conn: Conn) -> int:
    """The sandbox time, read inside the caller's transaction."""
    return sandbox_now_us(offset_us(conn))


def advance(conn: Conn, delta_us: int) -> int:
    """Move the clock forward by ``delta_us``; returns the new offset."""
    conn.exec("UPDATE sandbox_clock SET offset_us = offset_us + ? WHERE id = 1", delta_us)
    return offset_us(conn)


def set_offset(conn: Conn, value_us: int) -> None:
    conn.exec("UPDATE sandbox_clock SET offset_us = ? WHERE id = 1", value_us)
