"""The event history table: appended in the same transaction as the change it records."""

from __future__ import annotations

import json
from typing import Any

from ..core.events import Event
from .db import Conn


def append(
    conn: Conn,
    object_type: str,
    object_id: str,
    kind: str,
    at_us: int,
    data: dict[str, Any] | None = None,
) -> None:
    conn.exec(
        "INSERT INTO events (object_type, object_id, kind, at_us, data) VALUES (?, ?, ?, ?, ?)",
        object_type,
        object_id,
        kind,
        at_us,
        json.dumps(data or {}, separators=(",", ":"), sort_keys=True),
    )


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
