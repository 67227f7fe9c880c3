"""The sandbox clock's offset (one row shared by every process on the database) and each
account's own offset on top of it (``account_clocks``: provider, account id, offset).

An account's time is the sandbox time plus its offset: moving the sandbox clock moves every
account, moving an account's clock moves only that account (its objects' expiry, queued states
and delivery schedules), so parallel tests on one sandbox do not step on each other.
"""

from __future__ import annotations

import re

from ..core.clock import sandbox_now_us
from ..core.errors import InvalidInput
from .db import Conn

#: The latest time the sandbox clock (and any account's) may be moved to: 9000-01-01 UTC. Past
#: the year 9999 no date can be written (an advance there was a 500); the margin leaves room
#: for what is reckoned from "now" (expiry times, validity, retry schedules).
LATEST_US = 221_845_392_000_000_000


# ------------------------------------------------------------------ SQL fragments
# An account's clock in a statement of its own: ``SELECT … account_offset_sql() AS … FROM
# <account's table> x account_clock_join(provider, "x.<id column>") … WHERE … AND
# clock_row()``. Built when a module is imported (statements are module constants), so the
# join's shape and the tables' and columns' names are written here only.


def account_offset_sql(clock: str = "c", account: str = "a") -> str:
    """The account's total offset: the sandbox clock's (alias ``clock``) plus the account's
    own (alias ``account``: the LEFT JOINed ``account_clocks`` row, NULL when it has none)."""
    return f"{clock}.offset_us + COALESCE({account}.offset_us, 0)"


def _account_clocks_on(provider_sql: str, account_id_sql: str, account: str) -> str:
    """``LEFT JOIN account_clocks`` on its key (provider, account id), both SQL expressions."""
    return (
        f"LEFT JOIN account_clocks {account} ON {account}.provider = {provider_sql} "
        f"AND {account}.account_id = {account_id_sql}"
    )


def account_clock_join(
    provider: str, account_id_sql: str, *, clock: str = "c", account: str = "a"
) -> str:
    """``CROSS JOIN sandbox_clock <clock> LEFT JOIN account_clocks <account> ON …`` for the
    account ``account_id_sql`` (an SQL expression: a text column such as ``p.partner_id``, or
    ``?`` — a parameter, given as text, where the account's key is not text) of ``provider``
    (a name, written into the text as a literal). The statement still needs ``clock_row()``
    in its ``WHERE``."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", provider):
        raise ValueError(f"account_clock_join: provider name {provider!r}")
    return f"CROSS JOIN sandbox_clock {clock} " + _account_clocks_on(
        f"'{provider}'", account_id_sql, account
    )


def own_offset_sql(provider: str, account_id_sql: str) -> str:
    """The account's own offset alone (0 when it has none), as a subquery: for a statement
    over many accounts' objects that adds it to a sandbox time given as a parameter —
    ``account_id_sql`` an SQL expression of the object's row (its account's key as text)."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", provider):
        raise ValueError(f"own_offset_sql: provider name {provider!r}")
    return (
        "COALESCE((SELECT a.offset_us FROM account_clocks a "
        f"WHERE a.provider = '{provider}' AND a.account_id = {account_id_sql}), 0)"
    )


def clock_row(clock: str = "c") -> str:
    """The condition that picks ``sandbox_clock``'s one row (alias ``clock``)."""
    return f"{clock}.id = 1"


#: ``account_offset_us``'s statement: parameters provider, account id.
_ACCOUNT_OFFSET = (
    f"SELECT {account_offset_sql()} AS offset_us FROM sandbox_clock c "
    f"{_account_clocks_on('?', '?', 'a')} WHERE {clock_row()}"
)


def _check_latest(conn: Conn) -> None:
    """Raise ``InvalidInput`` (the write is then rolled back) when the sandbox clock or some
    account's has been moved past ``LATEST_US``."""
    row = conn.one(
        "SELECT c.offset_us + COALESCE((SELECT MAX(offset_us) FROM account_clocks), 0) AS o "
        "FROM sandbox_clock c WHERE c.id = 1"
    )
    # (account offsets only grow from 0, so this is the latest clock of all)
    if row is not None and sandbox_now_us(int(row["o"])) > LATEST_US:
        raise InvalidInput("the clock cannot be moved past the year 9000", "seconds")


def offset_us(conn: Conn) -> int:
    row = conn.one("SELECT offset_us FROM sandbox_clock WHERE id = 1")
    return int(row["offset_us"]) if row else 0


def now_us(conn: Conn) -> int:
    """The sandbox time, read inside the caller's transaction."""
    return sandbox_now_us(offset_us(conn))


def advance(conn: Conn, delta_us: int) -> int:
    """Move the clock forward by ``delta_us``; returns the new offset."""
    conn.exec("UPDATE sandbox_clock SET offset_us = offset_us + ? WHERE id = 1", delta_us)
    _check_latest(conn)
    return offset_us(conn)


def set_offset(conn: Conn, value_us: int) -> None:
    conn.exec("UPDATE sandbox_clock SET offset_us = ? WHERE id = 1", value_us)


def account_offset_us(conn: Conn, provider: str, account_id: str) -> int:
    """The account's total offset: the sandbox clock's plus its own."""
    row = conn.one(_ACCOUNT_OFFSET, provider, account_id)
    return int(row["offset_us"]) if row else 0


def account_now_us(conn: Conn, provider: str, account_id: str) -> int:
    """The account's time, read inside the caller's transaction."""
    return sandbox_now_us(account_offset_us(conn, provider, account_id))


def own_offsets(conn: Conn, provider: str) -> dict[str, int]:
    """Every account of ``provider`` whose clock differs from the sandbox's: id → own offset."""
    found = conn.all(
        "SELECT account_id, offset_us FROM account_clocks WHERE provider = ? AND offset_us <> 0",
        provider,
    )
    return {str(r["account_id"]): int(r["offset_us"]) for r in found}


def own_offset_us(conn: Conn, provider: str, account_id: str) -> int:
    row = conn.one(
        "SELECT offset_us FROM account_clocks WHERE provider = ? AND account_id = ?",
        provider,
        account_id,
    )
    return int(row["offset_us"]) if row else 0


def advance_account(conn: Conn, provider: str, account_id: str, delta_us: int) -> int:
    """Move one account's clock forward; returns its own offset (one statement, race-free)."""
    conn.exec(
        "INSERT INTO account_clocks (provider, account_id, offset_us) VALUES (?, ?, ?) "
        "ON CONFLICT (provider, account_id) DO UPDATE SET "
        "offset_us = account_clocks.offset_us + excluded.offset_us",
        provider,
        account_id,
        delta_us,
    )
    _check_latest(conn)
    return own_offset_us(conn, provider, account_id)


def reset_account(conn: Conn, provider: str, account_id: str) -> None:
    conn.exec(
        "DELETE FROM account_clocks WHERE provider = ? AND account_id = ?", provider, account_id
    )
