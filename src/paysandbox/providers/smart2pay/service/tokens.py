"""Card tokens: card authentication (a token without a payment), token get and cancel, the
token check for a payment by ``CreditCardToken``, and the control API's token view.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ....store import events
from ....store.db import Conn, Row
from .. import rules, views
from .. import store as rows
from ..errors import Reason, Smart2PayError, reason
from ..model import ACTIVE, CANCELED, FAILED, STATUS_IDS, TOKEN_STATES
from ..schemas import CardAuthenticationIn
from ._common import (
    TOKEN,
    Body,
    Credentials,
    address_json,
    body_of,
    customer_json,
    new_token_value,
    now_for,
    site_for,
)


def authenticate_tx(conn: Conn, creds: Credentials, doc: Body) -> Row:
    site = site_for(conn, creds)
    now = now_for(conn, site["site_id"])
    doc = body_of(doc)
    reasons: list[Reason] = []
    checked = rules.check("CardAuthentication", doc, reasons)
    facts = rules.card_facts(checked.get("Card") or {}, reasons)
    if reasons:
        raise Smart2PayError(reasons, http_status=400)
    req = msgspec.convert(checked, CardAuthenticationIn)
    value = new_token_value()
    row = {
        "value": value,
        "site_id": site["site_id"],
        "status": ACTIVE,
        **facts,
        "customer": customer_json(conn, site, req.Customer, now),
        "billing_address": address_json(conn, site, req.BillingAddress, now),
        "origin": "authenticate",
        "created_at_us": now,
        "updated_at_us": now,
    }
    rows.insert_token(conn, row)
    events.append(
        conn,
        TOKEN,
        value,
        "created",
        now,
        {"card": rules.masked(facts["brand"], facts["last4"]), "via": "authenticate"},
    )
    stored = rows.get_token(conn, value)
    assert stored is not None
    return stored


def get_token_tx(conn: Conn, creds: Credentials, value: str) -> Row:
    site = site_for(conn, creds)
    return _owned_token(conn, value, int(site["site_id"]))


def cancel_token_tx(conn: Conn, creds: Credentials, value: str) -> Row:
    site = site_for(conn, creds)
    now = now_for(conn, site["site_id"])
    token = _owned_token(conn, value, int(site["site_id"]))
    changed = rows.transition_token(
        conn,
        str(token["value"]),
        from_states=TOKEN_STATES.sources(CANCELED),
        values={"status": CANCELED, "updated_at_us": now},
    )
    current = rows.get_token(conn, str(token["value"]))
    assert current is not None
    if not changed:
        body = views.token(current, with_status=False)["CardAuthentication"]
        raise Smart2PayError(
            [reason("2401", "CreditCardToken is not available - it is already canceled")],
            body=body,
            status=(3, "Canceled"),
        )
    events.append(conn, TOKEN, str(token["value"]), "canceled", now, {"by": "merchant"})
    return current


def inspect_token_tx(conn: Conn, value: str) -> tuple[Row, list[Any]]:
    row = rows.get_token(conn, value.upper())
    if row is None:
        raise Smart2PayError([reason("2400")], http_status=404)
    return row, events.history(conn, TOKEN, str(row["value"]))


def usable_token_facts(conn: Conn, value: str, site_id: int, echo: dict[str, Any]) -> Row:
    """Lock the site's active token for a payment, or fail the payment (no such / canceled)."""
    if not rows.lock_active_token(conn, value, site_id):
        row = rows.get_token(conn, value)
        failed = (STATUS_IDS[FAILED], FAILED)
        if row is None or int(row["site_id"]) != site_id:
            raise Smart2PayError(
                [reason("2400", "CreditCardToken.Value is invalid - no such token")],
                body=echo,
                status=failed,
            )
        raise Smart2PayError(
            [reason("2401", "CreditCardToken is not available - the token is canceled")],
            body=echo,
            status=failed,
        )
    row = rows.get_token(conn, value)
    assert row is not None
    return row


def _owned_token(conn: Conn, value: str, site_id: int) -> Row:
    row = rows.get_token(conn, value.strip().upper())
    if row is None or int(row["site_id"]) != site_id:
        raise Smart2PayError(
            [reason("2400", "CreditCardToken is invalid - no such token")], http_status=404
        )
    return row
