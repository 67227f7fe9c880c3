"""Payments: creating a card payment (by ``Card`` or ``CreditCardToken``, authorize or capture,
optionally generating a token), reading and listing a site's payments, and the control API's
payment view.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import msgspec

from ....core.clock import US, sandbox_now_us
from ....delivery.outbox import Outbox
from ....store import events
from ....store.db import Conn, Row
from .. import rules, scenarios, views
from .. import store as rows
from ..errors import Reason, Smart2PayError, reason
from ..listing import ListQuery
from ..model import ACTIVE, EXPIRED, FAILED, OPEN, STATUS_IDS, Payment
from ..schemas import PaymentIn
from ._common import (
    PAYMENT,
    TOKEN,
    Body,
    Credentials,
    address_json,
    body_of,
    check_key,
    customer_json,
    new_token_value,
    now_for,
    payment_echo,
    site_for,
    site_now,
)
from .captures import record_capture
from .notify import notify_payment
from .queues import step_values
from .tokens import usable_token_facts


def create_tx(
    conn: Conn, outbox: Outbox, creds: Credentials, doc: Body, base_url: str = ""
) -> tuple[Payment, int]:
    site = site_for(conn, creds)
    now = site_now(site)
    site_id = int(site["site_id"])
    doc = body_of(doc)
    reasons: list[Reason] = []
    checked = rules.check("Payment", doc, reasons)
    card_in, token_in = checked.get("Card"), checked.get("CreditCardToken")
    facts: Mapping[str, Any] = {}
    card_form = False
    if card_in is not None and token_in is not None:
        reasons.append(reason("1", "Invalid data - send Card or CreditCardToken, not both"))
    elif card_in is not None:
        facts = rules.card_facts(card_in, reasons)
    elif token_in is None and not any(
        r[1].startswith(("Card", "CreditCardToken")) for r in reasons
    ):
        if checked.get("Moto") is True:
            reasons.append(
                reason(
                    "2600",
                    "Credit card details are missing - a Moto payment needs Card or "
                    "CreditCardToken (there is no customer to enter them)",
                )
            )
        card_form = True  # the customer enters the card on the hosted form (RedirectURL)
    if checked.get("Amount") == 0:
        reasons.append(reason("1001", "Payment.Amount is invalid - must be greater than 0"))
    lifetime_problem = (
        rules.token_lifetime_problem(checked["PaymentTokenLifetime"])
        if checked.get("PaymentTokenLifetime") is not None
        else None
    )
    if lifetime_problem is not None:
        reasons.append(lifetime_problem)
    if reasons:
        raise Smart2PayError(
            reasons,
            http_status=400,
            body=payment_echo(checked),
            status=(STATUS_IDS[FAILED], FAILED),
        )
    req = msgspec.convert(checked, PaymentIn)
    token_value: str | None = None
    if req.CreditCardToken is not None:
        token_value = req.CreditCardToken.Value.strip().upper()
        facts = usable_token_facts(conn, token_value, site_id, echo=payment_echo(checked))

    three_ds = bool(req.ThreeDSecure)
    waits = card_form or three_ds  # Open until the customer finishes on paysandbox's page
    scenario = scenarios.scenario_for(req.Amount)
    capture = bool(req.Capture)
    amount = req.Amount
    lifetime = req.PaymentTokenLifetime
    if waits:
        if lifetime is None:
            lifetime = rules.TOKEN_LIFETIME_DEFAULT_MINUTES
        # expires at the end of its lifetime on the site's clock, unless the customer is first
        state: dict[str, Any] = {
            "status": OPEN,
            "reasons": "[]",
            "captured_amount": 0,
            "pending_status": EXPIRED,
            "pending_at_us": now + lifetime * 60 * US,
            "pending_changes": json.dumps({"reasons": "[]"}),
            "capture_status": None,
        }
    else:
        step = scenario.create_capture if capture else scenario.create_authorize
        state = step_values(step, amount, amount, now)
    failed = state["status"] == FAILED
    if req.Card is not None and req.GenerateCreditCardToken and not failed:
        token_value = new_token_value()
    card_view = views.card(facts) if facts else {}
    redirect_key = new_token_value() if waits else None
    values = {
        "site_id": site_id,
        "merchant_transaction_id": req.MerchantTransactionID,
        "originator_transaction_id": req.OriginatorTransactionID,
        "amount": amount,
        "currency": req.Currency,
        "captured_amount": state.pop("captured_amount"),
        "refunded_amount": 0,
        "open_refund_amount": 0,
        **{k: v for k, v in state.items() if k != "capture_status"},
        "capture_flag": capture,
        "generate_token": bool(req.GenerateCreditCardToken)
        and (token_value is not None or card_form),
        "moto": bool(req.Moto),
        "return_url": req.ReturnURL,
        "description": req.Description,
        "statement_descriptor": req.StatementDescriptor,
        "client_ip": req.ClientIP,
        "skin_id": req.SkinID,
        "customer": customer_json(conn, site, req.Customer, now),
        "billing_address": address_json(conn, site, req.BillingAddress, now),
        "shipping_address": address_json(conn, site, req.ShippingAddress, now),
        "card": json.dumps(card_view),
        "token_value": token_value,
        "capture_details": None,
        "country": (req.BillingAddress.Country or "").upper() or None
        if req.BillingAddress is not None
        else None,
        "three_d_secure": three_ds,
        "token_lifetime_minutes": lifetime,
        "card_form": card_form,
        "redirect_key": redirect_key,
        "redirect_url": f"{base_url}/smart2pay/payment/{redirect_key}" if redirect_key else None,
        "created_at_us": now,
        "updated_at_us": now,
    }
    stored = rows.insert_payment(conn, values)
    if stored is None:
        raise Smart2PayError(
            [reason("20", "Key is duplicated - MerchantTransactionID is already used")],
            body=payment_echo(checked),
            status=(STATUS_IDS[FAILED], FAILED),
        )
    payment_id = int(stored["id"])
    if req.Card is not None and token_value is not None:
        rows.insert_token(
            conn,
            {
                "value": token_value,
                "site_id": site_id,
                "status": ACTIVE,
                **facts,
                "customer": values["customer"],
                "billing_address": values["billing_address"],
                "origin": f"payment:{payment_id}",
                "created_at_us": now,
                "updated_at_us": now,
            },
        )
        events.append(
            conn,
            TOKEN,
            token_value,
            "created",
            now,
            {"card": card_view["Number"], "via": f"payment {payment_id}"},
        )
    if capture and state["capture_status"] is not None:
        stored = record_capture(conn, payment_id, amount, state, now)
    events.append(
        conn,
        PAYMENT,
        str(payment_id),
        "created",
        now,
        {
            "status": values["status"],
            "amount": amount,
            "currency": req.Currency,
            "merchantTransactionID": req.MerchantTransactionID,
            "capture": capture,
            "card": card_view.get("Number"),
            "viaToken": req.CreditCardToken is not None,
            "moto": bool(req.Moto),
            "scenario": scenario.title,
            "waitsFor": ("card form" if card_form else "3-D Secure") if waits else None,
            "tokenLifetimeMinutes": lifetime if waits else None,
        },
    )
    payment = Payment(stored, now)  # as stored: the insert's row, or the capture's update's
    notify_payment(conn, outbox, site, payment, now)
    return payment, 402 if failed else 201


def get_payment_tx(conn: Conn, creds: Credentials, payment_id: int) -> Payment:
    """One plain SELECT (``Database.read_one``): the site's key and clock and the payment come
    together; answered as ``site_for`` then ``owned_payment`` answer."""
    row = rows.site_payment(conn, creds.site_id, payment_id)
    check_key(creds, None if row is None else str(row["site_key"]))
    assert row is not None
    if row["id"] is None:
        raise Smart2PayError([reason("17", f"Payment is invalid - no payment {payment_id}")])
    return Payment(rows.payment_only(row), sandbox_now_us(int(row["site_offset_us"])))


def list_tx(conn: Conn, creds: Credentials, query: ListQuery) -> list[Payment]:
    site = site_for(conn, creds)
    now = site_now(site)
    found = rows.list_payments(
        conn,
        int(site["site_id"]),
        query.filters,
        query.limit,
        offset=query.offset,
        now_us=now,
    )
    return [Payment(r, now) for r in found]


def inspect_payment_tx(conn: Conn, payment_id: int) -> tuple[Payment, list[Row], list[Any]]:
    row = rows.get_payment(conn, payment_id)
    if row is None:
        raise Smart2PayError([reason("17")])
    return (
        Payment(row, now_for(conn, row["site_id"])),
        rows.refunds_of(conn, payment_id),
        events.history(conn, PAYMENT, str(payment_id)),
    )
