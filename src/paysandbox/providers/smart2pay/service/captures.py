"""Captures: capturing an authorized payment (all or part of it), and the capture row and
``CaptureDetails`` written for it or for a payment created with ``Capture: true``.
"""

from __future__ import annotations

import json
from typing import Any

from ....delivery.outbox import Outbox
from ....store import events
from ....store.db import Conn, Row
from .. import scenarios, views
from .. import store as rows
from ..errors import Smart2PayError, reason
from ..model import AUTHORIZED, FAILED, STATUS_IDS, Payment
from ._common import (
    PAYMENT,
    Credentials,
    owned_payment,
    require_authorized,
    site_for,
    site_now,
)
from .notify import notify_payment
from .queues import locked_payment, step_values


def capture_tx(
    conn: Conn,
    outbox: Outbox,
    creds: Credentials,
    payment_id: int,
    amount: int | Smart2PayError | None,
) -> tuple[Payment, int]:
    """``amount``: None for a full capture, or the request's refusal of its amount, raised
    once the credentials are checked (a wrong key always gets 401)."""
    site = site_for(conn, creds)
    if isinstance(amount, Smart2PayError):
        raise amount
    now = site_now(site)
    payment = locked_payment(conn, payment_id, int(site["site_id"]), now)
    require_authorized(payment, "capture")
    total = int(payment["amount"])
    if amount is not None and not 0 < amount <= total:
        raise Smart2PayError(
            [
                reason(
                    "1013",
                    "Payment.AmountToCapture exceeds initial payment authorized "
                    f"amount - must be 1 to {total}",
                )
            ],
            http_status=400,
            body=views.payment_fields(payment),
            status=(STATUS_IDS[payment.status], payment.status),
        )
    captured = total if amount is None else amount
    step = scenarios.scenario_for(total).capture
    state = step_values(step, captured, total, now)
    capture_status = state.pop("capture_status")
    values = {**state, "updated_at_us": now}
    if not rows.transition_payment(conn, payment.id, from_states=(AUTHORIZED,), values=values):
        raise AssertionError("payment changed under its row lock")
    stored = record_capture(
        conn, payment.id, captured, {**state, "capture_status": capture_status}, now
    )
    events.append(
        conn,
        PAYMENT,
        str(payment.id),
        "capture",
        now,
        {"amount": captured, "status": state["status"], "pending": state["pending_status"]},
    )
    payment = Payment(stored, now)  # as the capture left it (its UPDATE … RETURNING *)
    notify_payment(conn, outbox, site, payment, now)
    return payment, 402 if state["status"] == FAILED else 200


def record_capture(
    conn: Conn, payment_id: int, amount: int, state: dict[str, Any], now: int
) -> Row:
    """Write the capture row and the payment's ``CaptureDetails`` (and its settled form);
    answers the payment as it now is."""
    capture_id = rows.new_capture(conn, payment_id, amount, now)
    name, codes = state["capture_status"]
    details = {"ID": capture_id, "Amount": amount, "Status": views.status(name, codes)}
    values: dict[str, Any] = {"capture_details": json.dumps(details)}
    if state.get("pending_changes"):
        changes = json.loads(state["pending_changes"])
        if "captured_amount" in changes:
            changes["capture_details"] = json.dumps(
                {**details, "Status": views.status("Success", [])}
            )
            values["pending_changes"] = json.dumps(changes)
    return rows.set_payment_fields(conn, payment_id, values)


def list_captures_tx(conn: Conn, creds: Credentials, payment_id: int) -> tuple[Payment, list[Row]]:
    """The site's payment and its captures, newest first."""
    site = site_for(conn, creds)
    payment = owned_payment(conn, payment_id, int(site["site_id"]), site_now(site))
    return payment, rows.list_captures(conn, payment.id)


def get_capture_tx(
    conn: Conn, creds: Credentials, payment_id: int, capture_id: int
) -> tuple[Payment, Row]:
    site = site_for(conn, creds)
    payment = owned_payment(conn, payment_id, int(site["site_id"]), site_now(site))
    row = rows.get_capture(conn, payment.id, capture_id)
    if row is None:
        raise Smart2PayError(
            [reason("1", f"Invalid data - no capture {capture_id} of payment {payment_id}")],
            http_status=404,
        )
    return payment, row
