"""K PLUS rows: partners, tokens and the partnerTxnUid values already used."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from . import admin
from .db import Conn, Row
from .sql import conditional_update, insert

admin.register_object_tables("kplus_request_uids", "kplus_tokens")
admin.register_credential_tables("kplus_partners")


def get_partner(conn: Conn, partner_id: str) -> Row | None:
    return conn.one("SELECT * FROM kplus_partners WHERE partner_id = ?", partner_id)


def partner_with_clock(conn: Conn, partner_id: str) -> Row | None:
    """The partner row plus the clock offset (``clock_offset_us``) in one statement."""
    return conn.one(
        "SELECT p.*, c.offset_us AS clock_offset_us FROM kplus_partners p "
        "CROSS JOIN sandbox_clock c WHERE p.partner_id = ? AND c.id = 1",
        partner_id,
    )


def list_partners(conn: Conn) -> list[Row]:
    return conn.all("SELECT * FROM kplus_partners ORDER BY partner_id")


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
    """Create the partner with ``defaults`` or change only the fields given (``None`` = keep)."""
    current = get_partner(conn, partner_id)
    if current is None:
        insert(
            conn,
            "kplus_partners",
            {
                "partner_id": partner_id,
                "partner_secret": secret if secret is not None else defaults["secret"],
                "callback_url": callback_url,
                "token_ttl_seconds": token_ttl_seconds or defaults["token_ttl_seconds"],
                "faults": json.dumps(dict(faults or {})),
            },
        )
    else:
        changes: dict[str, Any] = {}
        if secret is not None:
            changes["partner_secret"] = secret
        if callback_url is not None:
            changes["callback_url"] = callback_url or None
        if token_ttl_seconds is not None:
            changes["token_ttl_seconds"] = token_ttl_seconds
        if faults is not None:
            changes["faults"] = json.dumps(dict(faults))
        if changes:
            sets = ", ".join(f"{c} = ?" for c in changes)
            conn.exec(
                f"UPDATE kplus_partners SET {sets} WHERE partner_id = ?",
                *changes.values(),
                partner_id,
            )
    row = get_partner(conn, partner_id)
    assert row is not None
    return row


def claim_request_uid(conn: Conn, partner_id: str, uid: str, operation: str, at_us: int) -> bool:
    """Record ``uid`` as used; False when the partner already used it (a duplicate request)."""
    n = conn.exec(
        "INSERT INTO kplus_request_uids (partner_id, partner_txn_uid, operation, at_us) "
        "VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        partner_id,
        uid,
        operation,
        at_us,
    )
    return n == 1


def insert_token(conn: Conn, values: Mapping[str, Any]) -> None:
    insert(conn, "kplus_tokens", values)


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


def token_for_partner(conn: Conn, token_id: str, partner_id: str) -> Row | None:
    """The hot read of inquire-token in one statement: the partner's secret, the clock offset
    and the partner's token (token columns NULL when it has no such token); None when the
    partner does not exist."""
    return conn.one(
        "SELECT p.partner_secret AS partner_secret, c.offset_us AS clock_offset_us, t.* "
        "FROM kplus_partners p CROSS JOIN sandbox_clock c "
        "LEFT JOIN kplus_tokens t ON t.token_id = ? AND t.partner_id = p.partner_id "
        "WHERE p.partner_id = ? AND c.id = 1",
        token_id,
        partner_id,
    )


def list_tokens(conn: Conn, partner_id: str | None, limit: int) -> list[Row]:
    if partner_id:
        return conn.all(
            "SELECT * FROM kplus_tokens WHERE partner_id = ? ORDER BY created_at_us DESC LIMIT ?",
            partner_id,
            limit,
        )
    return conn.all("SELECT * FROM kplus_tokens ORDER BY created_at_us DESC LIMIT ?", limit)
