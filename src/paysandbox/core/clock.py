"""The sandbox clock: real time plus an offset that the control API can move.

The offset lives in the database (see ``store.clock``), so every server process sharing a
database agrees on the time; this module only does the arithmetic. Times are integer
microseconds since the Unix epoch, UTC, everywhere in the core and the store.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone

US = 1_000_000


def real_now_us() -> int:
    """Wall-clock time in microseconds."""
    return time.time_ns() // 1000


def sandbox_now_us(offset_us: int) -> int:
    """The sandbox time for a stored offset."""
    return real_now_us() + offset_us


def to_datetime(us: int, tz: timezone = UTC) -> datetime:
    """Microseconds since epoch → aware ``datetime`` in ``tz``."""
    return datetime(1970, 1, 1, tzinfo=UTC).astimezone(tz) + timedelta(microseconds=us)


def from_datetime(dt: datetime) -> int:
    """Aware (or naive = UTC) ``datetime`` → microseconds since epoch."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    delta = dt - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * US + delta.microseconds


def iso(us: int, tz: timezone = UTC) -> str:
    """ISO-8601 text with milliseconds and offset, for the control API."""
    return to_datetime(us, tz).isoformat(timespec="milliseconds")
