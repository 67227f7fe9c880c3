"""The event history table: appended in the same transaction as the change it records."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..core.events import Event
from .db import Conn

#: The columns an event is inserted with, in the order of ``row``'s values.
COLUMNS = ("object_type", "object_id", "kind", "at_us", "data")
_INSERT = f"INSERT INTO events ({', '.join(COLUMNS)}) "


def row(
    object_type: str, object_id: str, kind: str, at_us: int, data: dict[str, Any] | None = None
) -> tuple[Any, ...]:
    """One event's values, in ``COLUMNS`` order (for ``append_rows`` and ``insert_where``)."""
    return (object_type, object_id, kind, at_us, _encode(data or {}))


#: ``json.dumps(…, separators=(",", ":"), sort_keys=True)`` without building an encoder per call.
_encode = json.JSONEncoder(separators=(",", ":"), sort_keys=True).encode


def append(
    conn: Conn,
    object_type: str,
    object_id: str,
    kind: str,
    at_us: int,
    data: dict[str, Any] | None = None,
) -> None:
    conn.exec(_INSERT + "VALUES (?, ?, ?, ?, ?)", *row(object_type, object_id, kind, at_us, data))


def append_rows(conn: Conn, rows: Sequence[tuple[Any, ...]]) -> None:
    """Several events (``row`` values), one statement each, in order."""
    for values in rows:
        conn.exec(_INSERT + "VALUES (?, ?, ?, ?, ?)", *values)


def insert_where(rows: Sequence[tuple[Any, ...]], condition: str) -> tuple[str, list[Any]]:
    """The SQL and parameters of ONE ``INSERT`` of ``rows`` (``row`` values, stored in their
    order) that inserts them only where ``condition`` (SQL without placeholders) holds — for a
    store that composes it into a larger statement, e.g. one branch of a PostgreSQL
    data-modifying ``WITH``. ``at_us`` is cast so PostgreSQL knows every parameter's type."""
    one = f"SELECT ?, ?, ?, CAST(? AS BIGINT), ? WHERE {condition}"
    sql = _INSERT + " UNION ALL ".join(one for _ in rows)
    return sql, [v for values in rows for v in values]


def history(conn: Conn, object_type: str, object_id: str) -> list[Event]:
    rows = conn.all(
        "SELECT id, kind, at_us, data FROM events WHERE object_type = ? AND object_id = ? "
        "ORDER BY id",
        object_type,
        object_id,
    )
    return [
        Event(object_type, object_id, r["kind"], int(r["at_us"]), json.loads(r["data"]), r["id"])
        for r in rows
    ]
