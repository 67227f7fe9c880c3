"""The NICEPay transaction as the service sees it, and its state machine.

| state | NICEPay ``status`` | reached by |
|---|---|---|
| INIT | 9 init | registration of 01 / 04 / 05 / 06 (waits for ``payment``) (*) |
| UNPAID | 3 unpaid | registration of 02 VA / 03 CVS (waits for the transfer) (*) |
| PAID | 0 paid | 3-D Secure / wallet approval, or a simulated transfer |
| FAILED | 1 failed | 3-D Secure failed / wallet declined |
| CANCELED | 2 void/refund | cancel (full, or partial cancels adding up to ``amt``) |
| EXPIRED | 4 expired | VA / CVS validity passed on the sandbox clock, or forced |

(*) A Redirect registration whose method, bank or mitra the customer still has to choose on
the page is INIT; choosing VA / CVS there moves it to UNPAID.

A partial cancel keeps PAID (status 0) and adds to ``cancelAmt``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ...core.states import StateMachine
from ...store.db import Row

INIT, UNPAID, PAID, FAILED, CANCELED, EXPIRED = (
    "INIT",
    "UNPAID",
    "PAID",
    "FAILED",
    "CANCELED",
    "EXPIRED",
)

STATES = StateMachine.build(
    "nicepay_transaction",
    INIT,
    [
        (INIT, PAID),
        (INIT, FAILED),
        (INIT, CANCELED),
        (INIT, UNPAID),  # Redirect: VA / CVS chosen on the payment page
        (INIT, INIT),  # Redirect: card / ClickPay / e-wallet / Payloan chosen on the page
        (UNPAID, PAID),
        (UNPAID, EXPIRED),
        (UNPAID, CANCELED),
        (PAID, CANCELED),
    ],
)


def sources(dst: str, among: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """The states ``dst`` may be entered from, as ``STATES`` says (the only truth), for a
    conditional update; ``among`` limits them to the states one code path handles (a cancel
    of an unpaid transaction must not also match a PAID row)."""
    found = STATES.sources(dst)
    if among is not None:
        found = tuple(s for s in found if s in among)
    if not found:
        raise ValueError(f"{STATES.name}: no transition into {dst} from {among}")
    return found


STATUS_CODE = {PAID: "0", FAILED: "1", CANCELED: "2", UNPAID: "3", EXPIRED: "4", INIT: "9"}
#: inquiry's resultMsg mirrors the state (NICEPay's e-wallet example answers "init")
STATUS_WORD = {
    PAID: "paid",
    FAILED: "failed",
    CANCELED: "canceled",
    UNPAID: "unpaid",
    EXPIRED: "expired",
    INIT: "init",
}


@dataclass(frozen=True)
class Txn:
    row: Row
    now_us: int

    @property
    def t_xid(self) -> str:
        return str(self.row["t_xid"])

    @property
    def pay_method(self) -> str:
        return str(self.row["pay_method"])

    @property
    def status(self) -> str:
        """The true state at ``now_us``: an unpaid VA/CVS past its validity is EXPIRED."""
        stored = str(self.row["status"])
        until = self.row["valid_until_us"]
        if stored == UNPAID and until is not None and self.now_us >= int(until):
            return EXPIRED
        return stored

    @property
    def status_code(self) -> str:
        return STATUS_CODE[self.status]

    @property
    def needs_expiry_recorded(self) -> bool:
        return self.row["status"] == UNPAID and self.status == EXPIRED

    @property
    def remaining(self) -> int:
        return int(self.row["amt"]) - int(self.row["cancel_amt"])

    @property
    def request(self) -> dict[str, Any]:
        req: dict[str, Any] = json.loads(self.row["request"])
        return req

    def __getitem__(self, key: str) -> Any:
        return self.row[key]
