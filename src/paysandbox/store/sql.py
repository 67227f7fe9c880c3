"""Small SQL builders shared by the repositories (table and column names are code constants)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from .base import insert_sql
from .db import Conn, Row


def bytewise(conn: Conn, column: str) -> str:
    """``column`` for an ``ORDER BY`` that sorts text the same on both engines: by its bytes
    (SQLite's only way); a PostgreSQL database's own collation (``en_US``, ICU) would put
    ``ab AB alpha Alpha`` and punctuation elsewhere."""
    return f'{column} COLLATE "C"' if conn.dialect == "postgresql" else column


def insert(conn: Conn, table: str, values: Mapping[str, Any]) -> None:
    conn.exec(insert_sql(table, tuple(values)), *values.values())


def insert_ignore(conn: Conn, table: str, values: Mapping[str, Any]) -> bool:
    """``INSERT … ON CONFLICT DO NOTHING``: True when this call inserted the row (a claim that
    exactly one of several racing transactions wins)."""
    return conn.exec(insert_sql(table, tuple(values), True), *values.values()) == 1


def insert_ignore_id(conn: Conn, table: str, values: Mapping[str, Any]) -> int | None:
    """``insert_ignore`` that answers the new row's ``id`` (``RETURNING id``: one statement,
    where an insert and a read of the id were two round trips on PostgreSQL); None when the
    row was not inserted."""
    found = conn.all(_returning(table, tuple(values), "id"), *values.values())  # all: the
    return int(found[0]["id"]) if found else None  # statement runs to its end on SQLite


def insert_ignore_row(conn: Conn, table: str, values: Mapping[str, Any]) -> Row | None:
    """``insert_ignore`` that answers the row as stored (``RETURNING *``: the insert and the
    read of what it stored in one statement); None when the row was not inserted."""
    found = conn.all(_returning(table, tuple(values), "*"), *values.values())
    return found[0] if found else None


@lru_cache(maxsize=64)
def _returning(table: str, columns: tuple[str, ...], what: str) -> str:
    return f"{insert_sql(table, columns, True)} RETURNING {what}"


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


def without_columns(row: Row, columns: Collection[str]) -> dict[str, Any]:
    """``row`` without ``columns``: a joined read's object row, without what the statement
    added to it (an account's key and clock, read for a check, never carried further)."""
    # keys(): iterating an asyncpg Record gives its values
    return {k: row[k] for k in row.keys() if k not in columns}  # noqa: SIM118


def blank_except(row: Row, columns: Collection[str]) -> dict[str, Any]:
    """``row`` with every value but ``columns``' NULL: a joined read that found another
    account's object keeps the asking account's own columns and nothing of the object."""
    return {k: (row[k] if k in columns else None) for k in row.keys()}  # noqa: SIM118


def contains_pattern(text: str) -> str:
    """A ``LIKE ? ESCAPE '\\'`` pattern matching ``text`` anywhere, wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def listing_where(
    state_expr: str,
    *,
    dialect: str,
    account_col: str,
    search_cols: tuple[str, ...],
    account: str | int | None,
    state: str | None,
    search: str | None,
    since_us: int | None,
    until_us: int | None,
) -> tuple[str, list[Any]]:
    """The ``WHERE`` of a dashboard listing and its parameters. ``state_expr`` is the SQL of
    the effective state, without parameters (a time in it is an inlined integer).

    The search matches without regard to case on both engines: SQLite's ``LIKE`` ignores the
    case of ASCII letters, PostgreSQL's is exact, so there it is ``ILIKE`` (which also folds
    non-ASCII letters, SQLite's ``LIKE`` does not)."""
    where: list[str] = ["1 = 1"]
    args: list[Any] = []
    if account:
        where.append(f"{account_col} = ?")
        args.append(account)
    if state:
        where.append(f"{state_expr} = ?")
        args.append(state)
    if search:
        like = "ILIKE" if dialect == "postgresql" else "LIKE"
        where.append(
            "(" + " OR ".join(f"CAST({c} AS TEXT) {like} ? ESCAPE '\\'" for c in search_cols) + ")"
        )
        args += [contains_pattern(search)] * len(search_cols)
    if since_us is not None:
        where.append("created_at_us >= ?")
        args.append(since_us)
    if until_us is not None:
        where.append("created_at_us < ?")
        args.append(until_us)
    return " AND ".join(where), args
