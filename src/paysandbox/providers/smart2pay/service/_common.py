"""What every Smart2Pay verb shares: the credentials and the site check, the request body,
the event object types, customer and address rows, and loading a payment the caller owns.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import msgspec

from ....core.clock import sandbox_now_us
from ....core.credentials import account_secret_matches
from ....core.ids import UPPER_HEX, random_string
from ....store import clock as clock_rows
from ....store.db import Conn, Row
from .. import store as rows
from .. import views
from ..errors import Smart2PayError, reason
from ..model import AUTHORIZED, STATUS_IDS, Payment
from ..schemas import AddressIn, CustomerIn

PROVIDER = "smart2pay"  # the name its sites' clocks are kept under
PAYMENT = "smart2pay_payment"
TOKEN = "smart2pay_token"  # noqa: S105 - an event object type, not a secret


@dataclass(frozen=True)
class RequestKey:
    """The ``RequestId`` header of a POST (Smart2Pay's .NET SDK sends one on every request and
    resends it unchanged on a retry) and the fingerprint of the request it came with."""

    request_id: str
    fingerprint: str


@dataclass(frozen=True)
class Credentials:
    """What the Basic header said; checked against the site inside each transaction. A POST
    with a ``RequestId`` header also carries its ``RequestKey``."""

    site_id: int
    api_key: str
    request: RequestKey | None = None


#: An answer as sent: HTTP status and body.
Answer = tuple[int, dict[str, Any]]


#: A request's root object, or the error to answer once the credentials have been checked.
Body = dict[str, Any] | Smart2PayError


def new_token_value() -> str:
    """32 upper-case hex characters from the OS CSPRNG (128 bits)."""
    return random_string(32, UPPER_HEX)


def unauthorized() -> Smart2PayError:
    return Smart2PayError([reason("0")], http_status=401)


def body_of(doc: Body) -> dict[str, Any]:
    """The request's root object, or its decoding error raised (after the site check)."""
    if isinstance(doc, Smart2PayError):
        raise doc
    return doc


def site_for(conn: Conn, creds: Credentials) -> Row:
    """The site the credentials name, or a 401 when it is unknown or the key is wrong."""
    site = rows.site_with_clock(conn, creds.site_id)
    check_key(creds, None if site is None else str(site["api_key"]))
    assert site is not None
    return site


def check_key(creds: Credentials, expected: str | None) -> None:
    """A 401 unless the site exists (``expected``: its API key) and the key sent matches it
    (compared in constant time). The one check of every read and write of the API."""
    if expected is None or not account_secret_matches(creds.api_key, expected):
        raise unauthorized()


def site_now(site: Row) -> int:
    """The time of a site ``site_for`` read (its clock came with it: one statement less)."""
    return sandbox_now_us(int(site["clock_offset_us"]))


def payment_echo(checked: dict[str, Any]) -> dict[str, Any]:
    return {k: checked.get(k) for k in ("MerchantTransactionID", "Amount", "Currency")}


def customer_json(conn: Conn, site: Row, c: CustomerIn | None, now: int) -> str | None:
    if c is None:
        return None
    data = msgspec.to_builtins(c)
    cid = rows.new_customer(conn, int(site["site_id"]), data, now)
    return json.dumps(views.customer(c, cid))


def address_json(conn: Conn, site: Row, a: AddressIn | None, now: int) -> str | None:
    if a is None:
        return None
    aid = rows.new_address(conn, int(site["site_id"]), msgspec.to_builtins(a), now)
    return json.dumps(views.address(a, aid))


def load_payment(conn: Conn, payment_id: int, now: int) -> Payment:
    row = rows.get_payment(conn, payment_id)
    assert row is not None
    return Payment(row, now)


def owned_payment(conn: Conn, payment_id: int, site_id: int, now: int) -> Payment:
    row = rows.get_payment(conn, payment_id, site_id)
    if row is None:
        raise Smart2PayError([reason("17", f"Payment is invalid - no payment {payment_id}")])
    return Payment(row, now)


def require_authorized(payment: Payment, verb: str) -> None:
    if payment.status != AUTHORIZED:
        raise Smart2PayError(
            [
                reason(
                    "1006",
                    f"Payment.State is invalid - the payment is {payment.status}; "
                    f"{verb} needs Authorized",
                )
            ],
            body=views.payment_fields(payment),
            status=(STATUS_IDS[payment.status], payment.status),
        )


def now_for(conn: Conn, site_id: object) -> int:
    """The site's time: the sandbox clock plus the site's own offset."""
    return clock_rows.account_now_us(conn, PROVIDER, str(site_id))
