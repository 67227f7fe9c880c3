"""K PLUS rows: partners, tokens and the partnerTxnUid values already used."""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any, NamedTuple

from ...store import events
from ...store.clock import account_clock_join, account_offset_sql, clock_row, own_offset_sql
from ...store.db import Conn, Row
from ...store.sql import (
    blank_except,
    bytewise,
    conditional_update,
    insert,
    insert_ignore,
    listing_where,
)

#: The partner's clock, for statements over ``kplus_partners p``: its total offset
#: (``_OFFSET``) needs the join (``_CLOCK_JOIN``) and ``clock_row()`` in the ``WHERE``.
_OFFSET = account_offset_sql()
_CLOCK_JOIN = account_clock_join("kplus", "p.partner_id")


def get_partner(conn: Conn, partner_id: str) -> Row | None:
    return conn.one("SELECT * FROM kplus_partners WHERE partner_id = ?", partner_id)


def partner_with_clock(conn: Conn, partner_id: str) -> Row | None:
    """The partner row plus its clock offset (``clock_offset_us``: the sandbox clock's plus the
    partner's own) in one statement."""
    return conn.one(_PARTNER_WITH_CLOCK, partner_id)


_PARTNER_WITH_CLOCK = (
    f"SELECT p.*, {_OFFSET} AS clock_offset_us FROM kplus_partners p {_CLOCK_JOIN} "
    f"WHERE p.partner_id = ? AND {clock_row()}"
)


def list_partners(conn: Conn) -> list[Row]:
    return conn.all(f"SELECT * FROM kplus_partners ORDER BY {bytewise(conn, 'partner_id')}")


def upsert_partner(
    conn: Conn,
    partner_id: str,
    *,
    secret: str | None = None,
    callback_url: str | None = None,
    token_ttl_seconds: int | None = None,
    faults: Mapping[str, Any] | None = None,
    defaults: Mapping[str, Any],
) -> Row:
    """Create the partner with ``defaults`` or change only the fields given (``None`` = keep;
    ``callback_url=""`` removes it). One statement, so concurrent calls cannot collide."""
    changes: dict[str, Any] = {}
    if secret is not None:
        changes["partner_secret"] = secret
    if callback_url is not None:
        changes["callback_url"] = callback_url or None
    if token_ttl_seconds is not None:
        changes["token_ttl_seconds"] = token_ttl_seconds
    if faults is not None:
        changes["faults"] = json.dumps(dict(faults))
    values = {
        "partner_id": partner_id,
        # Used only when the row is created; without a given secret an unguessable one, so a
        # partner can never come to exist with a secret somebody could send.
        "partner_secret": secret or defaults["secret"] or secrets.token_hex(32),
        "callback_url": callback_url or None,
        "token_ttl_seconds": token_ttl_seconds or defaults["token_ttl_seconds"],
        "faults": json.dumps(dict(faults or {})),
    }
    update = ", ".join(f"{c} = excluded.{c}" for c in changes) or "partner_id = excluded.partner_id"
    conn.exec(
        f"INSERT INTO kplus_partners ({', '.join(values)}) "
        f"VALUES ({', '.join('?' for _ in values)}) "
        f"ON CONFLICT (partner_id) DO UPDATE SET {update}",
        *values.values(),
    )
    row = get_partner(conn, partner_id)
    assert row is not None
    return row


def insert_partner(
    conn: Conn, partner_id: str, *, secret: str, callback_url: str | None, token_ttl_seconds: int
) -> bool:
    """Create a partner that does not exist yet; False when it does (one statement: of
    concurrent creations exactly one inserts, on either engine)."""
    return insert_ignore(
        conn,
        "kplus_partners",
        {
            "partner_id": partner_id,
            "partner_secret": secret,
            "callback_url": callback_url or None,
            "token_ttl_seconds": token_ttl_seconds,
            "faults": "{}",
        },
    )


def claim_request_uid(conn: Conn, partner_id: str, uid: str, operation: str, at_us: int) -> bool:
    """Record ``uid`` as used; False when the partner already used it (a duplicate request)."""
    return insert_ignore(
        conn,
        "kplus_request_uids",
        {"partner_id": partner_id, "partner_txn_uid": uid, "operation": operation, "at_us": at_us},
    )


def insert_token(conn: Conn, values: Mapping[str, Any]) -> None:
    insert(conn, "kplus_tokens", values)


#: What ``create_token`` did.
CREATED, DUPLICATE, PARTNER_CHANGED = "created", "duplicate", "partner changed"
#: ``create_token`` without a claim (a control-API fixture's chosen tokenId): the id is taken.
ID_TAKEN = "id taken"

#: The partner's secret, TTL and clock offset are still those a request was checked against.
_PARTNER_UNCHANGED = (
    f"SELECT 1 AS x FROM kplus_partners p {_CLOCK_JOIN} "
    f"WHERE p.partner_id = ? AND {clock_row()} AND p.partner_secret = ? "
    f"AND p.token_ttl_seconds = ? AND {_OFFSET} = ?"
)


def partner_as_read(partner: Row) -> dict[str, Any]:
    """What ``create_token(partner_as_read=…)`` checks, from a ``partner_with_clock`` row."""
    return {
        "partner_id": partner["partner_id"],
        "partner_secret": partner["partner_secret"],
        "token_ttl_seconds": int(partner["token_ttl_seconds"]),
        "clock_offset_us": int(partner["clock_offset_us"]),
    }


def create_token(
    conn: Conn,
    token: Mapping[str, Any],
    event_rows: Sequence[tuple[Any, ...]],
    *,
    claim: Mapping[str, Any] | None,
    partner_as_read: Mapping[str, Any] | None = None,
) -> str:
    """Store a new token and its events (``events.row`` values), after claiming the request's
    ``partnerTxnUid`` when ``claim`` (its ``kplus_request_uids`` row) is given. Returns
    ``CREATED``; ``DUPLICATE`` when the partner already used that uid; with
    ``partner_as_read`` (see ``partner_as_read()``: the partner as an earlier statement or
    request saw it), ``PARTNER_CHANGED`` when its secret, TTL or clock offset is no longer
    so; without a claim (a chosen tokenId), ``ID_TAKEN`` when the id exists. Whenever it
    is not ``CREATED``, this call wrote nothing (the caller's transaction undoes the rest).

    On PostgreSQL, with a claim, this is ONE statement (the service runs it through
    ``Database.write_one``: no ``BEGIN``/``COMMIT`` round trips): a data-modifying ``WITH``
    whose claim — ``INSERT … ON CONFLICT DO NOTHING RETURNING``, made only while the partner
    is unchanged — gates the token's and the events' INSERTs. All its parts run on one
    snapshot and commit or fail together; of two racing requests with one uid, the unique
    index lets exactly one claim win, as with separate statements. SQLite (no data-modifying
    ``WITH``) runs the statements one by one inside the write's transaction."""
    if claim is not None and conn.dialect == "postgresql":
        return _create_token_one_statement(conn, claim, token, event_rows, partner_as_read)
    if (
        partner_as_read is not None
        and conn.one(_PARTNER_UNCHANGED, *_unchanged_args(partner_as_read)) is None
    ):
        return PARTNER_CHANGED
    if claim is not None and not claim_request_uid(
        conn, claim["partner_id"], claim["partner_txn_uid"], claim["operation"], claim["at_us"]
    ):
        return DUPLICATE
    if claim is None:
        # a chosen tokenId: the caller checked it is free, but on PostgreSQL a racing fixture
        # may take it after that read — the insert decides (it was a unique-key error: a 500)
        if not insert_ignore(conn, "kplus_tokens", token):
            return ID_TAKEN
    else:
        insert_token(conn, token)
    events.append_rows(conn, event_rows)
    return CREATED


def _unchanged_args(partner: Mapping[str, Any]) -> tuple[Any, ...]:
    return (
        partner["partner_id"],
        partner["partner_secret"],
        partner["token_ttl_seconds"],
        partner["clock_offset_us"],
    )


def _create_token_one_statement(
    conn: Conn,
    claim: Mapping[str, Any],
    token: Mapping[str, Any],
    event_rows: Sequence[tuple[Any, ...]],
    partner: Mapping[str, Any] | None,
) -> str:
    found = conn.one(
        _one_statement_sql(tuple(claim), tuple(token), len(event_rows), partner is not None),
        *(_unchanged_args(partner) if partner is not None else ()),
        *claim.values(),
        *token.values(),
        *[v for values in event_rows for v in values],
    )
    assert found is not None
    if int(found["won"]) == 1:
        return CREATED
    return DUPLICATE if found["unchanged"] else PARTNER_CHANGED


@lru_cache(maxsize=64)
def _one_statement_sql(
    claim_cols: tuple[str, ...], token_cols: tuple[str, ...], n_events: int, guarded: bool
) -> str:
    """The data-modifying ``WITH`` of ``_create_token_one_statement``; its parameters are the
    partner as read (when ``guarded``), the claim's, the token's and the events' values. Built
    once per shape (the service uses one or two): the same string object then finds the
    engine's prepared statement by its already computed hash."""
    won = "EXISTS (SELECT 1 FROM claim)"
    events_sql, _ = events.insert_where([(None,) * len(events.COLUMNS)] * n_events, won)
    unchanged = "EXISTS (SELECT 1 FROM unchanged)" if guarded else "TRUE"
    return (
        (f"WITH unchanged AS ({_PARTNER_UNCHANGED}), " if guarded else "WITH ")
        + f"claim AS (INSERT INTO kplus_request_uids ({', '.join(claim_cols)}) "
        f"SELECT {', '.join('?' for _ in claim_cols)} WHERE {unchanged} "
        "ON CONFLICT DO NOTHING RETURNING 1), "
        f"token AS (INSERT INTO kplus_tokens ({', '.join(token_cols)}) "
        f"SELECT {', '.join('?' for _ in token_cols)} WHERE {won}), "
        f"history AS ({events_sql}) "
        f"SELECT (SELECT COUNT(*) FROM claim) AS won, {unchanged} AS unchanged"
    )


class NewToken(NamedTuple):
    """One generate-token's write for ``create_tokens``: its claim, token and events, and the
    partner it was checked against (``partner_as_read()``)."""

    claim: Mapping[str, Any]
    token: Mapping[str, Any]
    events: Sequence[tuple[Any, ...]]
    partner: Mapping[str, Any]


def create_tokens(conn: Conn, new: list[NewToken]) -> list[str]:
    """``create_token`` (with a claim and the partner as read) for several requests at once,
    for ``Database.write_joined``: one result per request, in order. On PostgreSQL ONE
    statement for all of them (``_CREATE_TOKENS``), so it is atomic and needs no
    ``BEGIN``/``COMMIT``; each request's claim, guard and inserts are its own inside it. On
    SQLite each runs as ``create_token`` inside the caller's transaction."""
    if conn.dialect != "postgresql":
        return [
            create_token(conn, n.token, n.events, claim=n.claim, partner_as_read=n.partner)
            for n in new
        ]
    for n in new:
        if n.token.keys() != _TOKEN_KEYS:
            raise ValueError(f"create_tokens: token columns {sorted(n.token)}")
    found = conn.all(
        _CREATE_TOKENS,
        list(range(len(new))),
        *_columns(
            [
                (
                    n.partner["partner_secret"],
                    n.partner["token_ttl_seconds"],
                    n.partner["clock_offset_us"],
                    n.claim["partner_id"],
                    n.claim["partner_txn_uid"],
                    n.claim["operation"],
                    n.claim["at_us"],
                )
                for n in new
            ],
            7,
        ),
        *_columns([[n.token[c] for c in _TOKEN_ORDER] for n in new], len(_TOKEN_ORDER)),
        [k for k, n in enumerate(new) for _ in n.events],
        *_columns([e for n in new for e in n.events], len(events.COLUMNS)),
    )
    outcome = {int(r["k"]): r for r in found}
    return [
        CREATED
        if outcome[k]["won"]
        else (DUPLICATE if outcome[k]["unchanged"] else PARTNER_CHANGED)
        for k in range(len(new))
    ]


def _columns(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    """Rows of values as one list per column (the arrays ``unnest`` takes)."""
    if not rows:
        return [[] for _ in range(width)]
    return [list(column) for column in zip(*rows, strict=True)]


#: The token's columns as the service gives them, with their PostgreSQL types (``unnest``'s
#: arrays need one; text where not said).
_TOKEN_TYPES = {
    "total_amount": "int8",
    "shipping_fee": "int8",
    "currency_exponent": "int4",
    "created_at_us": "int8",
    "expires_at_us": "int8",
    "updated_at_us": "int8",
}
_TOKEN_ORDER = (
    "token_id",
    "partner_id",
    "partner_txn_uid",
    "status",
    "reference1",
    "reference2",
    "total_amount",
    "shipping_fee",
    "currency_code",
    "currency_exponent",
    "shop_name",
    "shop_image_url",
    "partner_icon_url",
    "os_platform",
    "items",
    "buyer_name",
    "partner_token",
    "promotion_code",
    "additional_info1",
    "additional_info2",
    "additional_info3",
    "request_dt",
    "created_at_us",
    "expires_at_us",
    "updated_at_us",
)
_TOKEN_KEYS = frozenset(_TOKEN_ORDER)


def _create_tokens_sql() -> str:
    """``create_tokens``' statement on PostgreSQL: one text for any number of requests (so
    it is planned once). ``input``: each request's partner as read, and its claim. ``unchanged``:
    those whose partner still is as read (the guard of ``_PARTNER_UNCHANGED``). ``firsts``: of
    requests with one ``partnerTxnUid``, the first unchanged one only (a second would find
    the first's claim row in the same statement — it loses, as it would one statement later).
    ``claim``: the unique index lets each claim win once against every other statement.
    ``won``: the requests whose claim was made; their tokens and events are inserted."""
    n = 2  # $1: the requests' numbers
    args: list[str] = []

    def arrays(types: Sequence[str]) -> str:
        nonlocal n
        out = []
        for t in types:
            out.append(f"${n}::{t}[]")
            n += 1
        args.extend(types)
        return ", ".join(out)

    inputs = arrays(("text", "int4", "int8", "text", "text", "text", "int8"))
    tokens = arrays(tuple(_TOKEN_TYPES.get(c, "text") for c in _TOKEN_ORDER))
    event_k = arrays(("int4",))
    event_cols = arrays(("text", "text", "text", "int8", "text"))
    token_cols = ", ".join(_TOKEN_ORDER)
    ev = ", ".join(events.COLUMNS)
    return (
        f"WITH input AS (SELECT * FROM unnest($1::int4[], {inputs}) AS i(k, g_secret, g_ttl, "
        "g_offset, partner_id, partner_txn_uid, operation, at_us)), "
        "unchanged AS (SELECT i.k FROM input i JOIN kplus_partners p "
        f"ON p.partner_id = i.partner_id {_CLOCK_JOIN} "
        f"WHERE {clock_row()} AND p.partner_secret = i.g_secret AND p.token_ttl_seconds = i.g_ttl "
        f"AND {_OFFSET} = i.g_offset), "
        "firsts AS (SELECT DISTINCT ON (i.partner_id, i.partner_txn_uid) i.k, i.partner_id, "
        "i.partner_txn_uid, i.operation, i.at_us FROM input i "
        "WHERE i.k IN (SELECT k FROM unchanged) ORDER BY i.partner_id, i.partner_txn_uid, i.k), "
        "claim AS (INSERT INTO kplus_request_uids (partner_id, partner_txn_uid, operation, at_us) "
        "SELECT partner_id, partner_txn_uid, operation, at_us FROM firsts "
        "ON CONFLICT DO NOTHING RETURNING partner_id, partner_txn_uid), "
        "won AS (SELECT f.k FROM firsts f JOIN claim c ON c.partner_id = f.partner_id "
        "AND c.partner_txn_uid = f.partner_txn_uid), "
        f"token AS (INSERT INTO kplus_tokens ({token_cols}) SELECT {token_cols} "
        f"FROM unnest($1::int4[], {tokens}) AS t(k, {token_cols}) "
        "WHERE t.k IN (SELECT k FROM won)), "
        f"history AS (INSERT INTO events ({ev}) SELECT {ev} "
        f"FROM unnest({event_k}, {event_cols}) WITH ORDINALITY AS e(k, {ev}, n) "
        "WHERE e.k IN (SELECT k FROM won) ORDER BY e.n) "
        "SELECT i.k, i.k IN (SELECT k FROM won) AS won, "
        "i.k IN (SELECT k FROM unchanged) AS unchanged FROM input i"
    )


_CREATE_TOKENS = _create_tokens_sql()


def get_token(conn: Conn, token_id: str) -> Row | None:
    return conn.one("SELECT * FROM kplus_tokens WHERE token_id = ?", token_id)


def transition_token(
    conn: Conn,
    token_id: str,
    *,
    from_states: Sequence[str],
    values: Mapping[str, Any],
    unexpired_at_us: int | None = None,
) -> bool:
    """Atomically move a token out of ``from_states``; optionally only while not yet expired."""
    extra: str = ""
    args: tuple[Any, ...] = ()
    if unexpired_at_us is not None:
        extra, args = "expires_at_us > ?", (unexpired_at_us,)
    return conditional_update(
        conn,
        "kplus_tokens",
        {"token_id": token_id},
        from_states=from_states,
        values=values,
        extra_where=extra,
        extra_args=args,
    )


# What inquire-token answers with: not shop_image_url (may be a 1 MB data: URL) nor items.
_INQUIRE_COLUMNS = ", ".join(
    f"t.{c}"
    for c in (
        "token_id",
        "partner_id",
        "status",
        "expires_at_us",
        "paid_at_us",
        "payment_reference_id",
        "slip_image",
        "payment_account",
        "reference1",
        "reference2",
        "total_amount",
        "currency_code",
        "currency_exponent",
        "additional_info1",
        "additional_info2",
        "additional_info3",
    )
)


def token_for_partner(conn: Conn, token_id: str, partner_id: str) -> Row | None:
    """The hot read of inquire-token in one statement: the partner's secret, the clock offset
    and the partner's token (token columns NULL when it has no such token); None when the
    partner does not exist.

    The token is found by its id alone and its partner compared in the select list
    (``own_token``): with ``t.partner_id = p.partner_id`` in the join a never-analyzed schema's
    planner walked ``ix_kplus_tokens_partner``, reading the partner's tokens up to that one
    (docs/design.md, "Plans on a never-analyzed schema"). Another partner's token is blanked
    here, so it never leaves this function."""
    row = conn.one(_TOKEN_FOR_PARTNER, token_id, partner_id)
    if row is None or row["own_token"] or row["token_id"] is None:
        return row
    return blank_except(row, _PARTNER_COLUMNS)


#: What ``token_for_partner`` reads from the partner (kept when the token is not its own).
_PARTNER_COLUMNS = ("partner_secret", "clock_offset_us")

# Built once: the same string object each call, so every cache keyed on the SQL text (the
# engines' statement caches) finds it by its already computed hash.
_TOKEN_FOR_PARTNER = (
    f"SELECT p.partner_secret AS partner_secret, {_OFFSET} AS clock_offset_us, "
    f"t.partner_id = p.partner_id AS own_token, {_INQUIRE_COLUMNS} "
    f"FROM kplus_partners p {_CLOCK_JOIN} "
    "LEFT JOIN kplus_tokens t ON t.token_id = ? "
    f"WHERE p.partner_id = ? AND {clock_row()}"
)


def list_tokens(conn: Conn, partner_id: str | None, limit: int) -> list[Row]:
    if partner_id:
        return conn.all(
            "SELECT * FROM kplus_tokens WHERE partner_id = ? ORDER BY created_at_us DESC LIMIT ?",
            partner_id,
            limit,
        )
    return conn.all("SELECT * FROM kplus_tokens ORDER BY created_at_us DESC LIMIT ?", limit)


# ------------------------------------------------------------------ dashboard reads


#: The token's partner's own clock offset (account clocks), for a state computed in SQL.
_OWN_OFFSET = own_offset_sql("kplus", "partner_id")


def _state_expr(now_us: int) -> str:
    """The token's true status at ``now_us`` (an unpaid token past its expiry is EXPIRED)."""
    return (
        f"CASE WHEN status = 'REQUESTED' AND expires_at_us <= {int(now_us)} + {_OWN_OFFSET} "
        "THEN 'EXPIRED' ELSE status END"
    )


def count_by_state(conn: Conn, now_us: int) -> list[Row]:
    return conn.all(
        f"SELECT state, COUNT(*) AS n FROM (SELECT {_state_expr(now_us)} AS state "
        "FROM kplus_tokens) t GROUP BY state"
    )


def page_tokens(
    conn: Conn,
    now_us: int,
    *,
    account: str | None,
    state: str | None,
    search: str | None,
    since_us: int | None,
    until_us: int | None,
    offset: int,
    limit: int,
) -> list[Row]:
    """A page of tokens, newest first (without the large image columns)."""
    where, args = listing_where(
        _state_expr(now_us),
        dialect=conn.dialect,
        account_col="partner_id",
        search_cols=("token_id", "reference1", "partner_txn_uid"),
        account=account,
        state=state,
        search=search,
        since_us=since_us,
        until_us=until_us,
    )
    return conn.all(
        f"SELECT token_id, partner_id, reference1, total_amount, created_at_us, "
        f"{_state_expr(now_us)} AS state FROM kplus_tokens WHERE {where} "
        f"ORDER BY created_at_us DESC, {bytewise(conn, 'token_id')} LIMIT ? OFFSET ?",
        *args,
        limit,
        offset,
    )


def partner_exists(conn: Conn, partner_id: str) -> bool:
    return (
        conn.one("SELECT 1 AS x FROM kplus_partners WHERE partner_id = ?", partner_id) is not None
    )


def forget_partner_objects(conn: Conn, partner_id: str) -> None:
    """A partner's tokens, their events and the partnerTxnUid values it used."""
    conn.exec(
        "DELETE FROM events WHERE object_type = 'kplus_token' AND object_id IN "
        "(SELECT token_id FROM kplus_tokens WHERE partner_id = ?)",
        partner_id,
    )
    conn.exec("DELETE FROM kplus_tokens WHERE partner_id = ?", partner_id)
    conn.exec("DELETE FROM kplus_request_uids WHERE partner_id = ?", partner_id)


def control_list_tokens(
    conn: Conn, partner_id: str | None, state: str | None, sandbox_now_us: int, limit: int
) -> list[Row]:
    """Tokens newest first, optionally of one partner and in one *true* state: an unpaid token
    past its expiry on its partner's clock (the sandbox time plus the partner's own offset) is
    EXPIRED."""
    partner_now = f"(? + {own_offset_sql('kplus', 'kplus_tokens.partner_id')})"
    where: list[str] = []
    args: list[Any] = []
    if partner_id:
        where.append("partner_id = ?")
        args.append(partner_id)
    if state == "EXPIRED":
        where.append(
            f"(status = 'EXPIRED' OR (status = 'REQUESTED' AND expires_at_us <= {partner_now}))"
        )
        args.append(sandbox_now_us)
    elif state == "REQUESTED":
        where.append(f"status = 'REQUESTED' AND expires_at_us > {partner_now}")
        args.append(sandbox_now_us)
    elif state:
        where.append("status = ?")
        args.append(state)
    sql = "SELECT * FROM kplus_tokens"
    if where:
        sql += " WHERE " + " AND ".join(where)
    order = f" ORDER BY created_at_us DESC, {bytewise(conn, 'token_id')} LIMIT ?"
    return conn.all(sql + order, *args, limit)


def count_objects(conn: Conn) -> list[tuple[str, str, int]]:
    """Tokens by status, for the metrics (``paysandbox_objects``)."""
    found = conn.all("SELECT status, COUNT(*) AS n FROM kplus_tokens GROUP BY status")
    return [("token", r["status"], int(r["n"])) for r in found]
