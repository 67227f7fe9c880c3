"""Cancel: full or partial. Before payment a full cancel releases the VA / CVS number; after
payment (card / ClickPay / e-wallet / Payloan) it voids or refunds, partially or in full. The
state change, the cancel row with its canceltXid and the event are one transaction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ....core.ids import random_digits
from ....store import events
from ....store.db import Conn
from .. import auth, rules
from .. import store as rows
from ..errors import NicepayError
from ..model import CANCELED, EXPIRED, FAILED, INIT, PAID, STATUS_WORD, UNPAID, Txn, sources
from ..rules import CVS, VA
from ..schemas import Cancel
from ._common import OBJECT, get_row, given, key_and_now


@dataclass(frozen=True)
class CancelResult:
    txn: Txn
    cancel_txid: str
    amount: int


def check(req: Cancel) -> tuple[dict[str, str | None], bool, int]:
    """The field values, whether the cancel is partial, and the amount to cancel."""
    raw_type = rules.to_text(req.cancelType, "cancelType", "cancel_type")
    partial = raw_type is not None and raw_type.lstrip("0") == "2"
    values = rules.check_fields(
        rules.cancel_fields(partial), req, "partial_cancel" if partial else "full_cancel"
    )
    if given(values["cancelType"]).lstrip("0") not in ("1", "2"):
        raise NicepayError("cancel_type", "cancelType must be 1 (full) or 2 (partial)")
    amount = rules.parse_amt(given(values["amt"]), "cancel_amt_zero")
    return values, partial, amount


def cancel_tx(conn: Conn, v: dict[str, str | None], partial: bool, amount: int) -> CancelResult:
    op = "partial_cancel" if partial else "full_cancel"
    imid, t_xid = given(v["iMid"]), given(v["tXid"])
    key, now = key_and_now(conn, imid)
    auth.verify(
        v["merchantToken"],
        auth.cancel_token(given(v["timeStamp"]), imid, t_xid, given(v["amt"]), key),
        "cancel",
    )
    # A conditional update that changes nothing lost a race to a cancel committed meanwhile
    # (PostgreSQL, READ COMMITTED): read the row again and judge the request anew, so the
    # loser gets exactly the answer a serial request would (8067, 9320, ...), or succeeds if
    # what is left still allows it (two partial cancels that both fit).
    for _ in range(_RACE_RETRIES):
        pm = _try_cancel(conn, v, op, t_xid, imid, partial, amount, now)
        if pm is not None:
            break
    else:
        raise NicepayError(op, "the transaction changed meanwhile; inquire and retry")
    cancel_txid = _insert_cancel(
        conn,
        imid,
        pm,
        now,
        {
            "t_xid": t_xid,
            "cancel_type": "2" if partial else "1",
            "amt": amount,
            "cancel_msg": v["cancelMsg"],
            "at_us": now,
        },
    )
    after = Txn(get_row(conn, t_xid), now)
    events.append(
        conn,
        OBJECT,
        t_xid,
        "partially_canceled" if after.status == PAID else "canceled",
        now,
        {
            "cancelType": "2" if partial else "1",
            "amt": amount,
            "canceltXid": cancel_txid,
            "cancelAmt": int(after["cancel_amt"]),
            "cancelMsg": v["cancelMsg"],
        },
    )
    return CancelResult(after, cancel_txid, amount)


_RACE_RETRIES = 8


def _try_cancel(
    conn: Conn,
    v: dict[str, str | None],
    op: str,
    t_xid: str,
    imid: str,
    partial: bool,
    amount: int,
    now: int,
) -> str | None:
    """Judge the request against the row as it is now; its payMethod when the change was
    made, None when a concurrent change won the row first."""
    row = rows.get_transaction(conn, t_xid)
    if row is None:
        raise NicepayError("partial_txid" if partial else "full_txid", "unknown tXid")
    if row["imid"] != imid:
        raise NicepayError(
            "partial_mid" if partial else "full_mid", "the tXid belongs to another iMid"
        )
    txn = Txn(row, now)
    pm = txn.pay_method
    # a Redirect registration of payMethod 00 (the customer chooses on the page) may be
    # cancelled with the 00 it was registered with, or with the method the customer chose
    registered_all = v["payMethod"] == rules.ALL and txn.request.get("payMethod") == rules.ALL
    if v["payMethod"] != pm and not registered_all:
        raise NicepayError(op, f"payMethod does not match the transaction ({pm})")
    status = txn.status
    if status in (CANCELED, EXPIRED, FAILED):
        raise NicepayError(op, f"the transaction is already {STATUS_WORD[status]}")
    amt = int(row["amt"])
    if status == PAID and pm in (VA, CVS):
        raise NicepayError("va_paid")
    if status in (INIT, UNPAID):
        if partial:
            raise NicepayError("partial_before_purchase")
        if amount != amt:
            raise NicepayError(op, f"amt must be the transaction amount {amt}")
        changed = rows.transition(
            conn,
            t_xid,
            from_states=sources(CANCELED, among=(INIT, UNPAID)),
            values={"status": CANCELED, "cancel_amt": amt, "updated_at_us": now},
            unexpired_at_us=now,
        )
        if changed:
            rows.release_numbers(conn, t_xid)
    else:  # PAID card / ClickPay / e-wallet / Payloan: void or refund
        cancelled = int(row["cancel_amt"])
        if not partial and cancelled > 0:
            raise NicepayError("after_partial")
        if not partial and amount != amt:
            raise NicepayError(op, f"amt must be the transaction amount {amt}")
        if partial and amount > txn.remaining:
            raise NicepayError(
                "partial_amount", f"amt {amount} is more than the remaining {txn.remaining}"
            )
        changed = rows.add_cancel_amount(
            conn,
            t_xid,
            amount,
            from_states=sources(CANCELED, among=(PAID,)),
            full_state=CANCELED,
            now_us=now,
        )
    return pm if changed else None


def _insert_cancel(conn: Conn, imid: str, pm: str, now: int, row: dict[str, Any]) -> str:
    """canceltXid is drawn like a tXid; drawn again on a clash."""
    stamp = rules.wib_stamp(now)
    for _ in range(60):
        cancel_txid = f"{imid}{pm}{stamp}{random_digits(4)}"
        if rows.insert_cancel(conn, {"cancel_txid": cancel_txid, **row}):
            return cancel_txid
    raise NicepayError("txid_generation")
