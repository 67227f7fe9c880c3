"""Smart2Pay rows: sites, card tokens, customers/addresses, payments, captures and refunds.

Ids the wire shows as integers (payment, refund, capture, customer, address) are the tables'
own auto-increment keys, read through ``INSERT … RETURNING`` (SQLite ≥ 3.35 and PostgreSQL).
Payments and refunds are inserted with ``ON CONFLICT DO NOTHING`` on ``(site_id,
MerchantTransactionID)``, so two racing creates with one MerchantTransactionID give exactly one
row; a payment comes back whole (``RETURNING *``), a refund its id.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ...store.clock import account_clock_join, account_offset_sql, clock_row, own_offset_sql
from ...store.db import Conn, Row
from ...store.sql import (
    bytewise,
    conditional_update,
    insert,
    insert_ignore,
    insert_ignore_id,
    insert_ignore_row,
    listing_where,
    placeholders,
    without_columns,
)

# ------------------------------------------------------------------ sites


def get_site(conn: Conn, site_id: int) -> Row | None:
    return conn.one("SELECT * FROM smart2pay_sites WHERE site_id = ?", site_id)


def site_with_clock(conn: Conn, site_id: int) -> Row | None:
    """The site's row and its clock offset (``clock_offset_us``: the sandbox clock's plus the
    site's own) in one statement."""
    return conn.one(_SITE_WITH_CLOCK, str(site_id), site_id)


#: The site's clock, for statements over ``smart2pay_sites s`` (see ``store.clock``). The
#: account id is a parameter, ``str(site_id)``: the clocks' key is text, the site's an integer.
_CLOCK_JOIN = account_clock_join("smart2pay", "?")

_SITE_WITH_CLOCK = (
    f"SELECT s.*, {account_offset_sql()} AS clock_offset_us "
    f"FROM smart2pay_sites s {_CLOCK_JOIN} WHERE s.site_id = ? AND {clock_row()}"
)


def list_sites(conn: Conn) -> list[Row]:
    return conn.all("SELECT * FROM smart2pay_sites ORDER BY site_id")


def upsert_site(
    conn: Conn,
    site_id: int,
    *,
    api_key: str | None = None,
    notification_url: str | None = None,
    faults: Mapping[str, Any] | None = None,
) -> Row:
    """Create the site (``api_key`` required) or change only the fields given (None = keep;
    an empty ``notification_url`` removes it).

    One statement either way (``INSERT … ON CONFLICT (site_id) DO UPDATE``, or a plain
    ``UPDATE`` when no key is given), so concurrent calls for one new site cannot collide on
    its primary key. ``ValueError`` when the site does not exist and no key is given.
    """
    changes: dict[str, Any] = {}
    if api_key is not None:
        changes["api_key"] = api_key
    if notification_url is not None:
        changes["notification_url"] = notification_url or None
    if faults is not None:
        changes["faults"] = json.dumps(dict(faults))
    if api_key is None:
        sets = ", ".join(f"{c} = ?" for c in changes) or "site_id = site_id"
        if not conn.exec(
            f"UPDATE smart2pay_sites SET {sets} WHERE site_id = ?", *changes.values(), site_id
        ):
            raise ValueError("a new site needs an api key")
    else:
        values = {
            "site_id": site_id,
            "api_key": api_key,
            "notification_url": notification_url or None,
            "faults": json.dumps(dict(faults or {})),
        }
        update = ", ".join(f"{c} = excluded.{c}" for c in changes)
        conn.exec(
            f"INSERT INTO smart2pay_sites ({', '.join(values)}) "
            f"VALUES ({placeholders(len(values))}) "
            f"ON CONFLICT (site_id) DO UPDATE SET {update}",
            *values.values(),
        )
    row = get_site(conn, site_id)
    assert row is not None
    return row


# ------------------------------------------------------------------ customers / addresses


def _insert_returning_id(conn: Conn, table: str, values: Mapping[str, Any]) -> int:
    cols = ", ".join(values)
    rows = conn.all(
        f"INSERT INTO {table} ({cols}) VALUES ({placeholders(len(values))}) RETURNING id",
        *values.values(),
    )
    return int(rows[0]["id"])


def new_customer(conn: Conn, site_id: int, data: Mapping[str, Any], at_us: int) -> int:
    return _insert_returning_id(
        conn,
        "smart2pay_customers",
        {"site_id": site_id, "data": json.dumps(dict(data)), "created_at_us": at_us},
    )


def new_address(conn: Conn, site_id: int, data: Mapping[str, Any], at_us: int) -> int:
    return _insert_returning_id(
        conn,
        "smart2pay_addresses",
        {"site_id": site_id, "data": json.dumps(dict(data)), "created_at_us": at_us},
    )


# ------------------------------------------------------------------ tokens


def insert_token(conn: Conn, values: Mapping[str, Any]) -> None:
    insert(conn, "smart2pay_tokens", values)


def insert_token_if_free(conn: Conn, values: Mapping[str, Any]) -> bool:
    """Insert the token unless its value is taken (``ON CONFLICT DO NOTHING``): True when this
    call inserted it. A racing insert of the same value waits for the other's commit, then
    does nothing, so the database, not an earlier read, decides the one winner."""
    return insert_ignore(conn, "smart2pay_tokens", values)


def get_token(conn: Conn, value: str) -> Row | None:
    return conn.one("SELECT * FROM smart2pay_tokens WHERE value = ?", value)


def lock_active_token(conn: Conn, value: str, site_id: int) -> bool:
    """Take the token's row lock (PostgreSQL) while it is active on this site; False if not."""
    n = conn.exec(
        "UPDATE smart2pay_tokens SET value = value WHERE value = ? AND site_id = ? "
        "AND status = 'Active'",
        value,
        site_id,
    )
    return n == 1


def transition_token(
    conn: Conn, value: str, *, from_states: Sequence[str], values: Mapping[str, Any]
) -> bool:
    return conditional_update(
        conn, "smart2pay_tokens", {"value": value}, from_states=from_states, values=values
    )


# ------------------------------------------------------------------ payments


def insert_payment(conn: Conn, values: Mapping[str, Any]) -> Row | None:
    """The new payment as stored, or None when the site already used the
    MerchantTransactionID."""
    return insert_ignore_row(conn, "smart2pay_payments", values)


def get_payment(conn: Conn, payment_id: int, site_id: int | None = None) -> Row | None:
    if site_id is None:
        return conn.one("SELECT * FROM smart2pay_payments WHERE id = ?", payment_id)
    return conn.one(
        "SELECT * FROM smart2pay_payments WHERE id = ? AND site_id = ?", payment_id, site_id
    )


def site_payment(conn: Conn, site_id: int, payment_id: int) -> Row | None:
    """The hot read of ``GET /v1/payments/{id}`` (and its status) in one statement: the site's
    key (``site_key``), its clock offset (``site_offset_us``) and the site's payment (its columns
    NULL when the site has no such payment); None when there is no such site. See
    ``payment_only`` for the payment's own row."""
    return conn.one(_SITE_PAYMENT, str(site_id), payment_id, site_id)


#: What ``site_payment`` adds to the payment's columns.
SITE_PAYMENT_EXTRA = ("site_key", "site_offset_us")

# Built once (the engines' statement caches are keyed on the text; see K PLUS's hot read).
_SITE_PAYMENT = (
    f"SELECT s.api_key AS site_key, {account_offset_sql()} AS site_offset_us, p.* "
    f"FROM smart2pay_sites s {_CLOCK_JOIN} "
    "LEFT JOIN smart2pay_payments p ON p.id = ? AND p.site_id = s.site_id "
    f"WHERE s.site_id = ? AND {clock_row()}"
)


def payment_only(row: Row) -> Row:
    """A ``site_payment`` row without the site's key and clock (never carried further)."""
    return without_columns(row, SITE_PAYMENT_EXTRA)


def lock_payment(conn: Conn, payment_id: int, site_id: int | None = None) -> Row | None:
    """Take the payment's row lock for the rest of the transaction, then read it.

    A no-op ``UPDATE`` takes the lock on PostgreSQL (SQLite's ``BEGIN IMMEDIATE`` already holds
    the database), so every verb on one payment sees the latest committed amounts.
    """
    if site_id is None:
        conn.exec("UPDATE smart2pay_payments SET id = id WHERE id = ?", payment_id)
    else:
        conn.exec(
            "UPDATE smart2pay_payments SET id = id WHERE id = ? AND site_id = ?",
            payment_id,
            site_id,
        )
    return get_payment(conn, payment_id, site_id)


def transition_payment(
    conn: Conn,
    payment_id: int,
    *,
    from_states: Sequence[str],
    values: Mapping[str, Any],
    due_by_us: int | None = None,
    not_due_at_us: int | None = None,
) -> bool:
    """Atomically move a payment out of ``from_states``; with ``due_by_us``, only when its
    pending transition is due by then; with ``not_due_at_us``, only while it is not yet due
    then (an Open payment's expiry)."""
    extra, args = "", []
    if due_by_us is not None:
        extra, args = "pending_at_us IS NOT NULL AND pending_at_us <= ?", [due_by_us]
    elif not_due_at_us is not None:
        extra, args = "(pending_at_us IS NULL OR pending_at_us > ?)", [not_due_at_us]
    return conditional_update(
        conn,
        "smart2pay_payments",
        {"id": payment_id},
        from_states=from_states,
        values=values,
        extra_where=extra,
        extra_args=args,
    )


def set_payment_fields(conn: Conn, payment_id: int, values: Mapping[str, Any]) -> Row:
    """Write bookkeeping columns (capture details) of a payment whose state change this
    transaction already made; not a state transition. Answers the payment as it now is."""
    sets = ", ".join(f"{k} = ?" for k in values)
    found = conn.all(
        f"UPDATE smart2pay_payments SET {sets} WHERE id = ? RETURNING *",
        *values.values(),
        payment_id,
    )
    return found[0]


def list_payments(
    conn: Conn,
    site_id: int,
    filters: Mapping[str, Any],
    limit: int,
    *,
    offset: int = 0,
    now_us: int = 0,
) -> list[Row]:
    """Newest first. ``status`` matches the *effective* status at ``now_us`` (a queued status
    whose time has come counts as the status it moves on to)."""
    where, args = ["site_id = ?"], [site_id]
    for key, clause in (
        ("merchant_transaction_id", "merchant_transaction_id = ?"),
        ("currency", "currency = ?"),
        ("country", "country = ?"),
        ("min_amount", "amount >= ?"),
        ("max_amount", "amount <= ?"),
        ("start_us", "created_at_us >= ?"),
        ("end_us", "created_at_us <= ?"),
    ):
        if filters.get(key) is not None:
            where.append(clause)
            args.append(filters[key])
    if filters.get("status") is not None:
        due = "(pending_status IS NOT NULL AND pending_at_us <= ?)"
        where.append(f"((status = ? AND NOT {due}) OR (pending_status = ? AND {due}))")
        args += [filters["status"], now_us, filters["status"], now_us]
    return conn.all(
        f"SELECT * FROM smart2pay_payments WHERE {' AND '.join(where)} "
        "ORDER BY id DESC LIMIT ? OFFSET ?",
        *args,
        limit,
        offset,
    )


def control_list_payments(
    conn: Conn, site_id: int | None, status: str | None, sandbox_now_us: int, limit: int
) -> list[Row]:
    """Payments newest first, optionally of one site and in one *effective* status: a queued
    status whose time has come on its site's clock (the sandbox time plus the site's own
    offset) counts as its next one."""
    where: list[str] = []
    args: list[Any] = []
    if site_id is not None:
        where.append("site_id = ?")
        args.append(site_id)
    if status:
        site_now = f"(? + {own_offset_sql('smart2pay', _PAYMENT_SITE)})"
        where.append(
            f"(CASE WHEN pending_status IS NOT NULL AND pending_at_us <= {site_now} "
            "THEN pending_status ELSE status END) = ?"
        )
        args += [sandbox_now_us, status]
    sql = "SELECT * FROM smart2pay_payments"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return conn.all(sql + " ORDER BY id DESC LIMIT ?", *args, limit)


def new_capture(conn: Conn, payment_id: int, amount: int, at_us: int) -> int:
    return _insert_returning_id(
        conn,
        "smart2pay_captures",
        {"payment_id": payment_id, "amount": amount, "created_at_us": at_us},
    )


# ------------------------------------------------------------------ refunds


def insert_refund(conn: Conn, values: Mapping[str, Any]) -> int | None:
    """The new refund's id, or None when the site already used the MerchantTransactionID."""
    return _insert_claimed(conn, "smart2pay_refunds", values)


def _insert_claimed(conn: Conn, table: str, values: Mapping[str, Any]) -> int | None:
    """Insert unless ``(site_id, merchant_transaction_id)`` is taken; the new row's id."""
    return insert_ignore_id(conn, table, values)


def get_refund(conn: Conn, refund_id: int, site_id: int | None = None) -> Row | None:
    """The refund (None when ``site_id`` is given and it is another site's).

    Found by its id alone, the site compared here: with ``AND site_id = ?`` in the statement a
    never-analyzed schema's planner took ``uq_s2p_refund_mtid`` (site, MerchantTransactionID)
    and filtered the site's refunds (docs/design.md, "Plans on a never-analyzed schema")."""
    row = conn.one("SELECT * FROM smart2pay_refunds WHERE id = ?", refund_id)
    if row is None or site_id is None or int(row["site_id"]) == site_id:
        return row
    return None


def refunds_of(conn: Conn, payment_id: int) -> list[Row]:
    """Newest first, as Smart2Pay lists them."""
    return conn.all(
        "SELECT * FROM smart2pay_refunds WHERE payment_id = ? ORDER BY id DESC", payment_id
    )


# ------------------------------------------------------------------ dashboard reads


#: The payment's site's own clock offset (account clocks), for a state computed in SQL.
_OWN_OFFSET = own_offset_sql("smart2pay", "CAST(site_id AS TEXT)")
#: A listed payment's site, as an account's key (text).
_PAYMENT_SITE = "CAST(smart2pay_payments.site_id AS TEXT)"


def _payment_state(now_us: int) -> str:
    """The effective status at ``now_us`` (a due pending transition counts as made)."""
    return (
        "CASE WHEN pending_status IS NOT NULL AND pending_at_us IS NOT NULL "
        f"AND pending_at_us <= {int(now_us)} + {_OWN_OFFSET} THEN pending_status ELSE status END"
    )


def count_payments_by_state(conn: Conn, now_us: int) -> list[Row]:
    return conn.all(
        f"SELECT state, COUNT(*) AS n FROM (SELECT {_payment_state(now_us)} AS state "
        "FROM smart2pay_payments) t GROUP BY state"
    )


def page_payments(
    conn: Conn,
    now_us: int,
    *,
    site_id: int | None,
    state: str | None,
    search: str | None,
    since_us: int | None,
    until_us: int | None,
    offset: int,
    limit: int,
) -> list[Row]:
    where, args = listing_where(
        _payment_state(now_us),
        dialect=conn.dialect,
        account_col="site_id",
        search_cols=("id", "merchant_transaction_id"),
        account=site_id,
        state=state,
        search=search,
        since_us=since_us,
        until_us=until_us,
    )
    return conn.all(
        "SELECT id, site_id, merchant_transaction_id, amount, currency, created_at_us, "
        f"{_payment_state(now_us)} AS state FROM smart2pay_payments WHERE {where} "
        "ORDER BY id DESC LIMIT ? OFFSET ?",
        *args,
        limit,
        offset,
    )


def count_tokens_by_state(conn: Conn) -> list[Row]:
    return conn.all("SELECT status AS state, COUNT(*) AS n FROM smart2pay_tokens GROUP BY status")


def page_tokens(
    conn: Conn,
    *,
    site_id: int | None,
    state: str | None,
    search: str | None,
    since_us: int | None,
    until_us: int | None,
    offset: int,
    limit: int,
) -> list[Row]:
    where, args = listing_where(
        "status",
        dialect=conn.dialect,
        account_col="site_id",
        search_cols=("value", "last4", "holder_name"),
        account=site_id,
        state=state,
        search=search,
        since_us=since_us,
        until_us=until_us,
    )
    return conn.all(
        "SELECT value, site_id, status, brand, last4, holder_name, created_at_us "
        f"FROM smart2pay_tokens WHERE {where} "
        f"ORDER BY created_at_us DESC, {bytewise(conn, 'value')} LIMIT ? OFFSET ?",
        *args,
        limit,
        offset,
    )


def site_exists(conn: Conn, site_id: int) -> bool:
    return conn.one("SELECT 1 AS x FROM smart2pay_sites WHERE site_id = ?", site_id) is not None


def insert_site(conn: Conn, site_id: int, api_key: str) -> bool:
    """False when the SiteID is taken."""
    return insert_ignore(
        conn,
        "smart2pay_sites",
        {"site_id": site_id, "api_key": api_key, "notification_url": None, "faults": "{}"},
    )


def forget_site_objects(conn: Conn, site_id: int) -> None:
    """A site's card tokens, payments (with captures and refunds), customers, addresses, and
    their events."""
    payments = "(SELECT id FROM smart2pay_payments WHERE site_id = ?)"
    conn.exec(
        "DELETE FROM events WHERE object_type = 'smart2pay_payment' AND object_id IN "
        "(SELECT CAST(id AS TEXT) FROM smart2pay_payments WHERE site_id = ?)",
        site_id,
    )
    conn.exec(
        "DELETE FROM events WHERE object_type = 'smart2pay_token' AND object_id IN "
        "(SELECT value FROM smart2pay_tokens WHERE site_id = ?)",
        site_id,
    )
    conn.exec(f"DELETE FROM smart2pay_refunds WHERE payment_id IN {payments}", site_id)
    conn.exec(f"DELETE FROM smart2pay_captures WHERE payment_id IN {payments}", site_id)
    for table in (
        "smart2pay_payments",
        "smart2pay_tokens",
        "smart2pay_requests",
        "smart2pay_addresses",
        "smart2pay_customers",
    ):
        conn.exec(f"DELETE FROM {table} WHERE site_id = ?", site_id)


# ------------------------------------------------------------------ RequestId answers


def claim_request(conn: Conn, site_id: int, request_id: str, fingerprint: str, at_us: int) -> bool:
    """Claim ``RequestId`` for this site (True), or find it taken (False). On PostgreSQL a
    claim racing an uncommitted one waits for it, then finds it taken."""
    return insert_ignore(
        conn,
        "smart2pay_requests",
        {
            "site_id": site_id,
            "request_id": request_id,
            "fingerprint": fingerprint,
            "http_status": 0,
            "answer": "",
            "created_at_us": at_us,
        },
    )


def get_request(conn: Conn, site_id: int, request_id: str) -> Row | None:
    return conn.one(
        "SELECT * FROM smart2pay_requests WHERE site_id = ? AND request_id = ?",
        site_id,
        request_id,
    )


def store_answer(conn: Conn, site_id: int, request_id: str, http_status: int, answer: str) -> None:
    conn.exec(
        "UPDATE smart2pay_requests SET http_status = ?, answer = ? "
        "WHERE site_id = ? AND request_id = ?",
        http_status,
        answer,
        site_id,
        request_id,
    )


def list_captures(conn: Conn, payment_id: int) -> list[Row]:
    return conn.all(
        "SELECT * FROM smart2pay_captures WHERE payment_id = ? ORDER BY id DESC", payment_id
    )


def get_capture(conn: Conn, payment_id: int, capture_id: int) -> Row | None:
    return conn.one(
        "SELECT * FROM smart2pay_captures WHERE payment_id = ? AND id = ?", payment_id, capture_id
    )


def payment_id_by_redirect_key(conn: Conn, key: str) -> int | None:
    row = conn.one("SELECT id FROM smart2pay_payments WHERE redirect_key = ?", key)
    return None if row is None else int(row["id"])


def count_objects(conn: Conn) -> list[tuple[str, str, int]]:
    """Payments, refunds and card tokens by status, for the metrics (``paysandbox_objects``)."""
    out: list[tuple[str, str, int]] = []
    for kind, table in (
        ("payment", "smart2pay_payments"),
        ("refund", "smart2pay_refunds"),
        ("token", "smart2pay_tokens"),
    ):
        found = conn.all(f"SELECT status, COUNT(*) AS n FROM {table} GROUP BY status")
        out.extend((kind, r["status"], int(r["n"])) for r in found)
    return out
