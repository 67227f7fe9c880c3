"""Smart2Pay objects as the service sees them: status ids, state machines, and the payment's
*effective* row (a queued/requested status whose time has come counts as moved on, even before
the change is written down)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ...core.states import StateMachine
from ...store.db import Row

#: Status names (= ``Status.Info``) and ids, as Smart2Pay's status tables list them.
STATUS_IDS: dict[str, int] = {
    "Open": 1,
    "Success": 2,
    "Cancelled": 3,
    "Failed": 4,
    "Expired": 5,
    "PendingOnCustomer": 6,
    "PendingOnProvider": 7,
    "Submitted": 8,
    "Authorized": 9,
    "AuthorizeRequested": 10,
    "Captured": 11,
    "CaptureRequested": 13,
    "Exception": 14,
    "CancelRequested": 15,
    "Reversed": 16,
    "Disputed": 19,
    "PartiallyRefunded": 21,
    "Refunded": 22,
    "PendingChallengeConfirmation": 30,
    "QueuedForCapturing": 33,
    "QueuedForCanceling": 34,
    "PartiallyCaptured": 35,
}

AUTHORIZED, CAPTURED, PARTIALLY_CAPTURED = "Authorized", "Captured", "PartiallyCaptured"
CANCELLED, FAILED, EXPIRED = "Cancelled", "Failed", "Expired"
QUEUED_CAPTURE, CAPTURE_REQUESTED, QUEUED_CANCEL = (
    "QueuedForCapturing",
    "CaptureRequested",
    "QueuedForCanceling",
)
PARTIALLY_REFUNDED, REFUNDED = "PartiallyRefunded", "Refunded"
#: Waiting on the customer: paysandbox's 3-D Secure page or hosted card form (RedirectURL).
#: Its ``PaymentTokenLifetime`` is a pending transition to Expired (``hosted``).
OPEN = "Open"

PAYMENT_STATES = StateMachine.build(
    "smart2pay_payment",
    AUTHORIZED,
    [
        *(
            (AUTHORIZED, s)
            for s in (
                CAPTURED,
                PARTIALLY_CAPTURED,
                QUEUED_CAPTURE,
                CAPTURE_REQUESTED,
                FAILED,
                CANCELLED,
                QUEUED_CANCEL,
            )
        ),
        *(
            (s, d)
            for s in (QUEUED_CAPTURE, CAPTURE_REQUESTED)
            for d in (CAPTURED, PARTIALLY_CAPTURED)
        ),
        (QUEUED_CANCEL, CANCELLED),
        *(
            (OPEN, s)
            for s in (
                AUTHORIZED,
                CAPTURED,
                QUEUED_CAPTURE,
                CAPTURE_REQUESTED,
                FAILED,
                CANCELLED,
                EXPIRED,
            )
        ),
        *(
            (s, d)
            for s in (CAPTURED, PARTIALLY_CAPTURED, PARTIALLY_REFUNDED)
            for d in (PARTIALLY_REFUNDED, REFUNDED)
        ),
    ],
)
#: Statuses a refund may start from (the payment stays put while a refund is Open).
REFUNDABLE = (CAPTURED, PARTIALLY_CAPTURED, PARTIALLY_REFUNDED)

ACTIVE, CANCELED = "Active", "Canceled"  # card tokens (seed 004 spells it "Canceled")
TOKEN_STATES = StateMachine.build("smart2pay_token", ACTIVE, [(ACTIVE, CANCELED)])
TOKEN_STATUS_IDS = {CANCELED: 3}

REFUND_OPEN, REFUND_SUCCESS, REFUND_FAILED = "Open", "Success", "Failed"


@dataclass(frozen=True)
class Payment:
    row: Row
    now_us: int

    @property
    def id(self) -> int:
        return int(self.row["id"])

    @property
    def due(self) -> bool:
        """A pending (queued/requested) transition whose time has come."""
        at = self.row["pending_at_us"]
        return self.row["pending_status"] is not None and at is not None and self.now_us >= at

    @property
    def effective(self) -> dict[str, Any]:
        """The row as it is at ``now_us``: a due pending transition applied."""
        row = dict(self.row)
        if self.due:
            row.update(settled_values(self.row))
        return row

    @property
    def status(self) -> str:
        return str(self.effective["status"])

    def __getitem__(self, key: str) -> Any:
        return self.effective[key]


def settled_values(row: Row) -> dict[str, Any]:
    """The column values a due pending transition writes."""
    changes: dict[str, Any] = json.loads(row["pending_changes"] or "{}")
    return {
        **changes,
        "status": row["pending_status"],
        "pending_status": None,
        "pending_at_us": None,
        "pending_changes": None,
        "updated_at_us": row["pending_at_us"],
    }
