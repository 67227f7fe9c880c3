"""Cancels: voiding an authorized payment (the scenario may queue the cancel first)."""

from __future__ import annotations

from ....delivery.outbox import Outbox
from ....store import events
from ....store.db import Conn
from .. import scenarios
from .. import store as rows
from ..model import AUTHORIZED, Payment
from ._common import (
    PAYMENT,
    Credentials,
    load_payment,
    require_authorized,
    site_for,
    site_now,
)
from .notify import notify_payment
from .queues import locked_payment, step_values


def cancel_tx(conn: Conn, outbox: Outbox, creds: Credentials, payment_id: int) -> Payment:
    site = site_for(conn, creds)
    now = site_now(site)
    payment = locked_payment(conn, payment_id, int(site["site_id"]), now)
    require_authorized(payment, "cancel")
    total = int(payment["amount"])
    step = scenarios.scenario_for(total).cancel
    state = step_values(step, 0, total, now)
    state.pop("capture_status")
    values = {**state, "updated_at_us": now}
    if not rows.transition_payment(conn, payment.id, from_states=(AUTHORIZED,), values=values):
        raise AssertionError("payment changed under its row lock")
    events.append(
        conn,
        PAYMENT,
        str(payment.id),
        "cancel",
        now,
        {"status": state["status"], "pending": state["pending_status"]},
    )
    payment = load_payment(conn, payment.id, now)
    notify_payment(conn, outbox, site, payment, now)
    return payment
