"""The merchant's verbs on a payment, run for the control API and the dashboard on behalf of
the payment's own site: the very transaction functions the wire API runs (``captures``,
``cancels``, ``refunds``), given that site's credentials read inside the same transaction.
The key never leaves the transaction; an unknown payment is ``NotFound``.
"""

from __future__ import annotations

from ....core.errors import NotFound
from ....core.ids import random_string
from ....delivery.outbox import Outbox
from ....store.db import Conn, Row
from .. import store as rows
from ..model import Payment
from . import cancels, captures, refunds
from ._common import Credentials


def site_credentials(conn: Conn, payment_id: int) -> Credentials:
    payment = rows.get_payment(conn, payment_id)
    site = rows.get_site(conn, int(payment["site_id"])) if payment is not None else None
    if payment is None or site is None:
        raise NotFound(f"no Smart2Pay payment {payment_id}")
    return Credentials(int(site["site_id"]), str(site["api_key"]))


def capture_tx(
    conn: Conn, outbox: Outbox, payment_id: int, amount: int | None
) -> tuple[Payment, int]:
    creds = site_credentials(conn, payment_id)
    return captures.capture_tx(conn, outbox, creds, payment_id, amount)


def cancel_tx(conn: Conn, outbox: Outbox, payment_id: int) -> Payment:
    return cancels.cancel_tx(conn, outbox, site_credentials(conn, payment_id), payment_id)


def refund_tx(
    conn: Conn, outbox: Outbox, payment_id: int, amount: int, merchant_transaction_id: str | None
) -> tuple[Row, int]:
    creds = site_credentials(conn, payment_id)
    doc = {
        "MerchantTransactionID": merchant_transaction_id or f"sandbox-refund-{random_string(12)}",
        "Amount": amount,
    }
    return refunds.refund_tx(conn, outbox, creds, payment_id, doc)
