"""Queued and requested statuses on the sandbox clock.

A scenario step that does not finish at once (test amounts 10002, 10003, 10006) is written with
a *pending* transition due ``after_seconds`` later; the first verb or read that finds it due
writes it down (``settle``), under the payment's row lock.
"""

from __future__ import annotations

import json
from typing import Any

from ....core.clock import US
from ....store import events
from ....store.db import Conn, Row
from .. import scenarios
from .. import store as rows
from ..errors import Smart2PayError, reason
from ..model import EXPIRED, FAILED, OPEN, PAYMENT_STATES, Payment, settled_values
from ._common import PAYMENT, load_payment, now_for


def step_values(step: scenarios.Step, captured: int, total: int, now: int) -> dict[str, Any]:
    """Column values for entering ``step`` (capture amount ``captured`` of ``total``)."""
    status = scenarios.resolve(step.status, captured, total)
    codes = [reason(c) for c in step.codes]
    is_capture = status in ("Captured", "PartiallyCaptured")
    values: dict[str, Any] = {
        "status": status,
        "reasons": json.dumps(codes),
        "captured_amount": captured if is_capture else 0,
        "pending_status": None,
        "pending_at_us": None,
        "pending_changes": None,
        "capture_status": None,
    }
    if is_capture:
        values["capture_status"] = ("Success", [])
    elif status in ("QueuedForCapturing", "CaptureRequested"):
        values["capture_status"] = ("Open", codes)
    elif status == FAILED and "104" in step.codes:
        values["capture_status"] = ("Failed", codes)
    if step.then is not None:
        later = scenarios.resolve(step.then, captured, total)
        values["pending_status"] = later
        values["pending_at_us"] = now + step.after_seconds * US
        changes: dict[str, Any] = {"reasons": "[]"}
        if later in ("Captured", "PartiallyCaptured"):
            changes["captured_amount"] = captured
        values["pending_changes"] = json.dumps(changes)
    return values


def settle(conn: Conn, row: Row, now: int) -> Payment:
    """Write down a due pending transition (the caller holds the row lock)."""
    payment = Payment(row, now)
    if not payment.due:
        return payment
    values = {k: v for k, v in payment.effective.items() if k in _SETTLE_COLUMNS}
    to = str(values["status"])
    assert PAYMENT_STATES.can(str(row["status"]), to)
    if rows.transition_payment(
        conn, payment.id, from_states=(str(row["status"]),), values=values, due_by_us=now
    ):
        events.append(
            conn,
            PAYMENT,
            str(payment.id),
            "settled",
            int(row["pending_at_us"]),
            {"from": row["status"], "to": to, "by": "sandbox clock"},
        )
    return load_payment(conn, payment.id, now)


_SETTLE_COLUMNS = frozenset(
    {
        "status",
        "reasons",
        "captured_amount",
        "capture_details",
        "pending_status",
        "pending_at_us",
        "pending_changes",
        "updated_at_us",
    }
)


def expire_now(conn: Conn, payment: Payment, now: int) -> Payment:
    """Write down an Open payment's expiry before its time (the caller holds the row lock):
    its Expired notification, queued ahead, is already with a sender, so the merchant has
    been (or is being) told; the customer's finish loses. Only a clock moved while the
    customer's request was under way gets here (on PostgreSQL, where a sender can claim the
    notification between that request's clock read and its row lock)."""
    assert payment.status == OPEN and payment.row["pending_status"] == EXPIRED
    values = {k: v for k, v in settled_values(payment.row).items() if k in _SETTLE_COLUMNS}
    # changed now, not at the lifetime's end (still ahead: that is why it is early)
    values["updated_at_us"] = min(int(values["updated_at_us"]), now)
    if not rows.transition_payment(conn, payment.id, from_states=(OPEN,), values=values):
        raise AssertionError("payment changed under its row lock")
    events.append(
        conn,
        PAYMENT,
        str(payment.id),
        "settled",
        now,
        {"from": OPEN, "to": EXPIRED, "by": "its Expired notification was already sent"},
    )
    return load_payment(conn, payment.id, now)


def settle_tx(conn: Conn, payment_id: int) -> None:
    """Settle one payment found due by a read (its own transaction, after the read)."""
    row = rows.lock_payment(conn, payment_id)
    if row is not None:
        settle(conn, row, now_for(conn, row["site_id"]))


def locked_payment(conn: Conn, payment_id: int, site_id: int, now: int) -> Payment:
    """Lock the site's payment row and bring it up to date with the sandbox clock."""
    row = rows.lock_payment(conn, payment_id, site_id)
    if row is None:
        raise Smart2PayError([reason("17", f"Payment is invalid - no payment {payment_id}")])
    return settle(conn, row, now)
