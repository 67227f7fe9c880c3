"""Refunds: refunding a captured payment (one open refund at a time, never more than was
captured and not yet refunded), listing a payment's refunds, and reading one refund.
"""

from __future__ import annotations

import json

import msgspec

from ....delivery.outbox import Outbox
from ....store import events
from ....store.db import Conn, Row
from .. import rules, scenarios, views
from .. import store as rows
from ..errors import Reason, Smart2PayError, reason
from ..model import (
    PARTIALLY_REFUNDED,
    PAYMENT_STATES,
    REFUND_FAILED,
    REFUND_OPEN,
    REFUND_SUCCESS,
    REFUNDABLE,
    REFUNDED,
)
from ..schemas import RefundIn
from ._common import (
    PAYMENT,
    Body,
    Credentials,
    body_of,
    load_payment,
    owned_payment,
    site_for,
    site_now,
)
from .notify import enqueue, notify_payment
from .queues import locked_payment


def refund_tx(
    conn: Conn, outbox: Outbox, creds: Credentials, payment_id: int, doc: Body
) -> tuple[Row, int]:
    site = site_for(conn, creds)
    now = site_now(site)
    payment = locked_payment(conn, payment_id, int(site["site_id"]), now)
    doc = body_of(doc)
    reasons: list[Reason] = []
    checked = rules.check("Refund", doc, reasons)
    echo = {k: checked.get(k) for k in ("MerchantTransactionID", "Amount")}
    if checked.get("Amount") == 0:
        reasons.append(reason("2201", "Refund.Amount is invalid - must be greater than 0"))
    if checked.get("Currency") not in (None, payment["currency"]):
        reasons.append(
            reason(
                "2202",
                "Refund.Currency is invalid - must be the payment's "
                f"currency {payment['currency']}",
            )
        )
    if reasons:
        raise Smart2PayError(reasons, http_status=400, body=echo)
    req = msgspec.convert(checked, RefundIn)
    if payment.status not in REFUNDABLE:
        raise Smart2PayError(
            [
                reason(
                    "2205",
                    f"Refund.State is invalid - the payment is {payment.status}; "
                    "only Captured, PartiallyCaptured or PartiallyRefunded payments "
                    "can be refunded",
                )
            ],
            body=echo,
        )
    if int(payment["open_refund_amount"]) > 0:
        raise Smart2PayError([reason("2207")], body=echo)
    available = int(payment["captured_amount"]) - int(payment["refunded_amount"])
    refund_state = scenarios.scenario_for(int(payment["amount"])).refund
    refund_reasons: list[Reason] = []
    if req.Amount > available:
        refund_state = REFUND_FAILED
        refund_reasons = [reason("2206")]
    refund_id = rows.insert_refund(
        conn,
        {
            "payment_id": payment.id,
            "site_id": site["site_id"],
            "merchant_transaction_id": req.MerchantTransactionID,
            "originator_transaction_id": req.OriginatorTransactionID,
            "amount": req.Amount,
            "currency": payment["currency"],
            "description": req.Description,
            "statement_descriptor": req.StatementDescriptor,
            "status": refund_state,
            "reasons": json.dumps(refund_reasons),
            "created_at_us": now,
            "updated_at_us": now,
        },
    )
    if refund_id is None:
        raise Smart2PayError(
            [reason("20", "Key is duplicated - Refund.MerchantTransactionID is already used")],
            body=echo,
        )
    events.append(
        conn,
        PAYMENT,
        str(payment.id),
        "refund",
        now,
        {
            "refundId": refund_id,
            "amount": req.Amount,
            "status": refund_state,
            "available": available,
        },
    )
    if refund_state == REFUND_SUCCESS:
        refunded = int(payment["refunded_amount"]) + req.Amount
        new_status = REFUNDED if refunded >= int(payment["captured_amount"]) else PARTIALLY_REFUNDED
        assert new_status in PAYMENT_STATES.transitions[payment.status]
        if not rows.transition_payment(
            conn,
            payment.id,
            from_states=REFUNDABLE,
            values={
                "status": new_status,
                "refunded_amount": refunded,
                "reasons": "[]",
                "updated_at_us": now,
            },
        ):
            raise AssertionError("payment changed under its row lock")
    elif refund_state == REFUND_OPEN:
        rows.transition_payment(
            conn,
            payment.id,
            from_states=REFUNDABLE,
            values={"open_refund_amount": req.Amount, "updated_at_us": now},
        )
    refund = rows.get_refund(conn, refund_id)
    assert refund is not None
    if site["notification_url"]:
        enqueue(conn, outbox, site, payment.id, "refund", views.refund(refund), now)
        if refund_state == REFUND_SUCCESS:
            notify_payment(conn, outbox, site, load_payment(conn, payment.id, now), now)
    return refund, 402 if refund_state == REFUND_FAILED else 201


def refunds_tx(conn: Conn, creds: Credentials, payment_id: int) -> list[Row]:
    site = site_for(conn, creds)
    owned_payment(conn, payment_id, int(site["site_id"]), site_now(site))
    return rows.refunds_of(conn, payment_id)


def get_refund_tx(conn: Conn, creds: Credentials, payment_id: int | None, refund_id: int) -> Row:
    site = site_for(conn, creds)
    if payment_id is not None:
        owned_payment(conn, payment_id, int(site["site_id"]), site_now(site))
    refund = rows.get_refund(conn, refund_id, int(site["site_id"]))
    if refund is None or (payment_id is not None and int(refund["payment_id"]) != payment_id):
        raise Smart2PayError(
            [reason("1", f"Invalid data - no refund {refund_id}")], http_status=404
        )
    return refund
