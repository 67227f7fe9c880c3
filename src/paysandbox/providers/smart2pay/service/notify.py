"""Notifications to the site's ``notification_url``, enqueued in the outbox inside the verb's
transaction: the payment's current status, and for a queued status the one it will move on to.

An Open payment's expiry (``PaymentTokenLifetime``) is queued the same way, at creation, due
when the lifetime ends, under its own event name (``EXPIRY_EVENT``): the customer who finishes
first takes it back (``withdraw_expiry``).
"""

from __future__ import annotations

import json
from typing import Any

from ....core.clock import US
from ....delivery.outbox import Faults, Outbox
from ....store import events
from ....store.db import Conn, Row
from .. import callbacks, views
from ..model import EXPIRED, Payment
from ._common import PAYMENT

#: The delivery event of a payment's expiry notification, queued ahead of time.
EXPIRY_EVENT = "payment_expired"


def notify_payment(conn: Conn, outbox: Outbox, site: Row, payment: Payment, now: int) -> None:
    """The payment's current status; and, for a queued status, the status it will move on
    to, enqueued now and due when the sandbox clock gets there."""
    if not site["notification_url"]:
        return
    enqueue(conn, outbox, site, payment.id, "payment", views.payment(payment), now)
    pending_at = payment.row["pending_at_us"]
    if payment.row["pending_status"] and pending_at is not None:
        later = Payment(payment.row, int(pending_at))
        enqueue(
            conn,
            outbox,
            site,
            payment.id,
            EXPIRY_EVENT if payment.row["pending_status"] == EXPIRED else "payment",
            views.payment(later),
            now,
            delay_us=int(pending_at) - now,
        )


def enqueue(
    conn: Conn,
    outbox: Outbox,
    site: Row,
    payment_id: int,
    kind: str,
    body: dict[str, Any],
    now: int,
    delay_us: int = 0,
) -> None:
    msg = callbacks.notification(site, payment_id, kind, body)
    faults = Faults.from_mapping(json.loads(site["faults"]))
    # queued ahead of time (a queued status's next step, an Open payment's expiry): due later,
    # without holding the site's other notifications back that long under out-of-order
    ids = outbox.enqueue(conn, msg, now, faults, ahead_us=delay_us)
    events.append(
        conn,
        PAYMENT,
        str(payment_id),
        "notification_queued",
        now,
        {"kind": kind, "deliveries": ids, "dueInSeconds": delay_us / US},
    )


def withdraw_expiry(conn: Conn, outbox: Outbox, site: Row, payment: Payment, now: int) -> bool:
    """Take back the payment's queued expiry notification before the customer's outcome is
    written. False when a sender already has it (claimed, attempted or delivered): the
    merchant has, or may have, been told Expired, so the expiry must stand."""
    taken = outbox.withdraw(
        conn,
        provider=callbacks.PROVIDER,
        account_id=str(site["site_id"]),
        object_id=str(payment.id),
        event=EXPIRY_EVENT,
    )
    if taken.withdrawn:
        events.append(
            conn,
            PAYMENT,
            str(payment.id),
            "notification_withdrawn",
            now,
            {"kind": EXPIRY_EVENT, "deliveries": taken.withdrawn},
        )
    return taken.gone == 0
