"""Card tokens: card authentication (a token without a payment), token get and cancel, the
token check for a payment by ``CreditCardToken``, and the control API's token view.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from ....core.errors import InvalidInput, NotFound
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
    site_now,
)


def authenticate_tx(conn: Conn, creds: Credentials, doc: Body) -> Row:
    site = site_for(conn, creds)
    now = site_now(site)
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


#: What a token value looks like: 32 hex digits (``new_token_value``, seed 004's example).
TOKEN_VALUE = re.compile(r"[0-9A-Fa-f]{32}")

#: A fixture token's card when none is given: seed 004's, so that the token's cancel answers
#: exactly the seed's example (``VISA-1111``, John Doe, 02/2021).
FIXTURE_CARD = {
    "HolderName": "John Doe",
    "Number": "4111111111111111",
    "ExpirationMonth": "02",
    "ExpirationYear": "2021",
}


def fixture_tx(conn: Conn, site_id: int, value: str | None, doc: dict[str, Any]) -> Row:
    """The control API's token with a chosen ``value`` (32 hex digits, stored upper-case, as
    the token routes look it up), or a fresh one, for ``site_id``. ``doc`` is a
    ``CardAuthentication`` object (``Card``, ``Customer``, ``BillingAddress``) checked by the
    same rules as ``POST /v1/card/authenticate``.

    The insert decides whether the value is free (``ON CONFLICT DO NOTHING`` on the primary
    key): of two racing fixtures with one value, on either engine, exactly one inserts; the
    other gets a 409 with code 20 and its transaction (customer and address rows included) is
    undone.
    """
    if value is not None and not TOKEN_VALUE.fullmatch(value):  # also no "…\n" ($ allows it)
        raise InvalidInput("Value must be 32 hexadecimal digits", field="Value")
    site = rows.get_site(conn, site_id)
    if site is None:
        raise NotFound(f"no Smart2Pay site {site_id}")
    now = now_for(conn, site_id)
    reasons: list[Reason] = []
    checked = rules.check("CardAuthentication", {"Card": FIXTURE_CARD, **doc}, reasons)
    facts = rules.card_facts(checked.get("Card") or {}, reasons)
    if reasons:
        raise InvalidInput("; ".join(f"{code} {info}" for code, info in reasons))
    req = msgspec.convert(checked, CardAuthenticationIn)
    value = value.upper() if value is not None else new_token_value()
    row = {
        "value": value,
        "site_id": site_id,
        "status": ACTIVE,
        **facts,
        "customer": customer_json(conn, site, req.Customer, now),
        "billing_address": address_json(conn, site, req.BillingAddress, now),
        "origin": "fixture",
        "created_at_us": now,
        "updated_at_us": now,
    }
    if not rows.insert_token_if_free(conn, row):  # a 409, Smart2Pay's "Key is duplicated"
        info = f"Key is duplicated - CreditCardToken.Value {value} already exists"
        raise Smart2PayError([reason("20", info)], http_status=409)
    masked = rules.masked(facts["brand"], facts["last4"])
    events.append(conn, TOKEN, value, "created", now, {"card": masked, "via": "control-api"})
    stored = rows.get_token(conn, value)
    assert stored is not None
    return stored


def get_token_tx(conn: Conn, creds: Credentials, value: str) -> Row:
    site = site_for(conn, creds)
    return _owned_token(conn, value, int(site["site_id"]))


def cancel_token_tx(conn: Conn, creds: Credentials, value: str) -> Row:
    site = site_for(conn, creds)
    now = site_now(site)
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
