"""Small SQL builders shared by the repositories (table and column names are code constants)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .db import Conn


def insert(conn: Conn, table: str, values: Mapping[str, Any]) -> None:
    cols = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    conn.exec(f"INSERT INTO {table} ({cols}) VALUES ({marks})", *values.values())


def insert_ignore(conn: Conn, table: str, values: Mapping[str, Any]) -> bool:
    """``INSERT … ON CONFLICT DO NOTHING``: True when this call inserted the row (a claim that
    exactly one of several racing transactions wins)."""
    cols = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    sql = f"INSERT INTO {table} ({cols}) VALUES ({marks}) ON CONFLICT DO NOTHING"
    return conn.exec(sql, *values.values()) == 1


def placeholders(n: int) -> str:
    return ", ".join("?" for _ in range(n))


def conditional_update(
    conn: Conn,
    table: str,
    key: Mapping[str, Any],
    *,
    from_states: Sequence[str],
    values: Mapping[str, Any],
    status_col: str = "status",
    extra_where: str = "",
    extra_args: Iterable[Any] = (),
) -> bool:
    """``UPDATE … SET values WHERE key AND status IN from_states [AND extra]``.

    Returns True when exactly this call changed the row: the database's row lock makes the
    check and the change one atomic step, so of two racing callers only one sees True.
    """
    sets = ", ".join(f"{c} = ?" for c in values)
    where = " AND ".join(f"{c} = ?" for c in key)
    sql = (
        f"UPDATE {table} SET {sets} WHERE {where} "
        f"AND {status_col} IN ({placeholders(len(from_states))})"
    )
    if extra_where:
        sql += f" AND ({extra_where})"
    args = [*values.values(), *key.values(), *from_states, *extra_args]
    return conn.exec(sql, *args) == 1
