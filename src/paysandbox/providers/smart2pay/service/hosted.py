"""The customer's side of an Open payment (``RedirectURL``): paysandbox's hosted card form (a
payment created without card data) and its 3-D Secure page (``3DSecure: true``).

``submit_card_tx`` takes the card from the form (validated with the same field rules as
``Card`` in the API; only brand, last four, expiry, holder and issuing country are kept). A
3-D Secure payment then waits for **Authenticate** / **Fail**; otherwise the card is authorised
at once. Finishing runs the payment's test-amount scenario exactly as a payment created with a
card would (Authorized, Captured, queued, or Failed for 10001) and notifies; Fail makes it
Failed (code 13), Cancel on the card form Cancelled (code 119).

**Expiry.** An Open payment carries a pending transition to Expired at the end of its
``PaymentTokenLifetime`` (on its site's clock), read as Expired from that moment like any due
pending transition, and its Expired notification is queued at creation, due then. The customer
and the clock race under the payment's row lock: a finish that still sees the payment Open
first takes that notification back (``withdraw_expiry``); if a sender already has it, the
expiry stands and the finish is refused. Exactly one of the two outcomes is written, and the
merchant is told only that one.
"""

from __future__ import annotations

import json
from typing import Any

from ....delivery.outbox import Outbox
from ....store import events
from ....store.db import Conn, Row
from .. import rules, scenarios, views
from .. import store as rows
from ..errors import Reason, Smart2PayError, reason
from ..model import ACTIVE, CANCELLED, FAILED, OPEN, Payment
from ._common import PAYMENT, TOKEN, load_payment, new_token_value, now_for
from .captures import record_capture
from .notify import notify_payment, withdraw_expiry
from .queues import expire_now, settle, step_values

AUTHENTICATE, FAIL, CANCEL = "authenticate", "fail", "cancel"


class CardRefused(Exception):
    """The card form's fields broke a rule; nothing was changed."""

    def __init__(self, reasons: list[Reason]) -> None:
        super().__init__("; ".join(i for _, i in reasons))
        self.reasons = reasons


def _locked(conn: Conn, key: str) -> tuple[Payment, Row, int]:
    payment_id = rows.payment_id_by_redirect_key(conn, key)
    row = rows.lock_payment(conn, payment_id) if payment_id is not None else None
    if row is None:
        raise Smart2PayError([reason("17", "Payment is invalid - no such payment page")])
    now = now_for(conn, row["site_id"])
    site = rows.get_site(conn, int(row["site_id"]))
    assert site is not None
    return settle(conn, row, now), site, now  # an expiry that is due is written down first


def _lost_to_expiry(
    conn: Conn, outbox: Outbox, site: Row, payment: Payment, now: int
) -> Payment | None:
    """Before the customer's outcome is written: take the queued Expired notification back.
    When a sender already has it, the payment expires now and is returned (the finish is
    refused); otherwise None, and the finish goes ahead."""
    if withdraw_expiry(conn, outbox, site, payment, now):
        return None
    return expire_now(conn, payment, now)


def page_tx(conn: Conn, key: str) -> Payment:
    payment_id = rows.payment_id_by_redirect_key(conn, key)
    row = rows.get_payment(conn, payment_id) if payment_id is not None else None
    if row is None:
        raise Smart2PayError([reason("17", "Payment is invalid - no such payment page")])
    return Payment(row, now_for(conn, row["site_id"]))


def submit_card_tx(conn: Conn, outbox: Outbox, key: str, form: dict[str, str]) -> Payment:
    payment, site, now = _locked(conn, key)
    if payment.status != OPEN or not payment["card_form"]:
        return payment  # already decided: the page shows the outcome
    reasons: list[Reason] = []
    card = {k: v for k, v in form.items() if v != ""}
    checked = rules.check("CardAuthentication", {"Card": card}, reasons)
    facts = rules.card_facts(checked.get("Card") or {}, reasons) if checked.get("Card") else {}
    if not checked.get("Card") and not reasons:
        reasons.append(reason("1206", "Card details are missing"))
    if reasons:
        raise CardRefused(reasons)
    if not payment["three_d_secure"]:  # the card finishes it: nothing is written if it expired
        expired = _lost_to_expiry(conn, outbox, site, payment, now)
        if expired is not None:
            return expired
    values: dict[str, Any] = {
        "card": json.dumps(views.card(facts)),
        "card_form": False,
        "updated_at_us": now,
    }
    if payment["generate_token"]:
        value = new_token_value()
        rows.insert_token(
            conn,
            {
                "value": value,
                "site_id": site["site_id"],
                "status": ACTIVE,
                **facts,
                "customer": payment["customer"],
                "billing_address": payment["billing_address"],
                "origin": f"payment:{payment.id}",
                "created_at_us": now,
                "updated_at_us": now,
            },
        )
        events.append(conn, TOKEN, value, "created", now, {"via": f"card form {payment.id}"})
        values["token_value"] = value
    stored = rows.set_payment_fields(conn, payment.id, values)
    events.append(
        conn,
        PAYMENT,
        str(payment.id),
        "card_entered",
        now,
        {"card": rules.masked(facts["brand"], facts["last4"])},
    )
    payment = Payment(stored, now)  # as written (``set_payment_fields`` answers the row)
    if payment["three_d_secure"]:
        return payment  # now the 3-D Secure page
    return _finish(conn, outbox, site, payment, AUTHENTICATE, now)


def decide_tx(conn: Conn, outbox: Outbox, key: str, action: str) -> Payment:
    payment, site, now = _locked(conn, key)
    if payment.status != OPEN:
        return payment
    if payment["card_form"] and action != CANCEL:
        return payment  # no card yet: only the form (or Cancel) can move it
    expired = _lost_to_expiry(conn, outbox, site, payment, now)
    if expired is not None:
        return expired
    return _finish(conn, outbox, site, payment, action, now)


def _finish(
    conn: Conn, outbox: Outbox, site: Row, payment: Payment, action: str, now: int
) -> Payment:
    total = int(payment["amount"])
    capture = bool(payment["capture_flag"])
    if action == AUTHENTICATE:
        scenario = scenarios.scenario_for(total)
        step = scenario.create_capture if capture else scenario.create_authorize
        state = step_values(step, total, total, now)
    else:
        code = reason("13", "Generic error - 3D Secure authentication failed")
        if action == CANCEL:
            code = reason("119")
        state = {
            "status": FAILED if action == FAIL else CANCELLED,
            "reasons": json.dumps([code]),
            "captured_amount": 0,
            "pending_status": None,
            "pending_at_us": None,
            "pending_changes": None,
            "capture_status": None,
        }
    values = {k: v for k, v in state.items() if k != "capture_status"}
    values["updated_at_us"] = now
    if not rows.transition_payment(
        conn, payment.id, from_states=(OPEN,), values=values, not_due_at_us=now
    ):
        raise AssertionError("payment changed or expired under its row lock")
    captured = None
    if capture and state["capture_status"] is not None:
        captured = record_capture(conn, payment.id, total, state, now)
    events.append(
        conn,
        PAYMENT,
        str(payment.id),
        "customer",
        now,
        {"action": action, "status": state["status"], "pending": state["pending_status"]},
    )
    # as written: the capture's row when there was one, else read after the transition
    payment = (
        Payment(captured, now) if captured is not None else load_payment(conn, payment.id, now)
    )
    notify_payment(conn, outbox, site, payment, now)
    return payment
