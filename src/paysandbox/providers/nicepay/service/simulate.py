"""The control API's side: the customer pays a VA / CVS / approval-free transaction (with the
notification queued), a VA / CVS number is forced to expire, and a transaction is read with
its event history and cancels."""

from __future__ import annotations

from typing import Any

from ....core.errors import Conflict, InvalidInput
from ....core.events import Event
from ....core.ids import UPPER_HEX, random_string
from ....delivery.outbox import Outbox
from ....store import events
from ....store.db import Conn, Row
from .. import store as rows
from ..model import EXPIRED, INIT, PAID, STATUS_WORD, UNPAID, Txn, sources
from ..rules import CC, CVS, VA
from ._common import OBJECT, any_row, get_row, notify, now_for, record_expiry


def pay_tx(conn: Conn, t_xid: str, amount: int | None, outbox: Outbox) -> Txn:
    row = any_row(conn, t_xid)
    now = now_for(conn, str(row["imid"]))
    txn = Txn(row, now)
    if txn.pay_method == CC:
        raise Conflict(
            "credit-card transactions are paid through the 3-D Secure page "
            "(POST /nicepay/direct/v2/payment)",
            txn.status,
        )
    if txn.status not in (INIT, UNPAID):
        raise Conflict(f"the transaction is {STATUS_WORD[txn.status]}", txn.status)
    amt = int(txn["amt"])
    if amount is not None and amount != amt and txn.pay_method not in (VA, CVS):
        # matchCl (over / under payment) is a transfer's: an e-wallet, ClickPay or Payloan
        # payment is for its amt, and a partial one would be paid, notified and refundable in full
        raise InvalidInput(
            f"amount {amount} differs from amt {amt}: only a VA transfer or a CVS payment "
            "can be over or under the amount (matchCl 2 / 3)",
            "amount",
        )
    paid = amount if amount is not None else amt
    match_cl = "1" if paid == amt else "2" if paid > amt else "3"
    values: dict[str, Any] = {
        "status": PAID,
        "updated_at_us": now,
        "paid_at_us": now,
        "paid_amt": paid,
        "match_cl": match_cl,
    }
    if txn.pay_method != VA:
        values["receipt_code"] = random_string(14, UPPER_HEX)
    changed = rows.transition(
        conn, t_xid, from_states=sources(PAID), values=values, unexpired_at_us=now
    )
    if not changed:  # another request won inside the database: answer with its result
        winner = Txn(get_row(conn, t_xid), now)
        raise Conflict(f"the transaction is {STATUS_WORD[winner.status]}", winner.status)
    rows.release_numbers(conn, t_xid)
    after = Txn(get_row(conn, t_xid), now)
    events.append(
        conn,
        OBJECT,
        t_xid,
        "paid",
        now,
        {"via": "control-api", "paidAmount": paid, "matchCl": match_cl},
    )
    notify(conn, outbox, after, now)
    return after


def expire_tx(conn: Conn, t_xid: str) -> Txn:
    row = any_row(conn, t_xid)
    now = now_for(conn, str(row["imid"]))
    txn = Txn(row, now)
    if txn.pay_method not in (VA, CVS):
        raise Conflict("only VA (02) and CVS (03) numbers expire", txn.status)
    if txn.needs_expiry_recorded:
        record_expiry(conn, txn)
        return Txn(get_row(conn, t_xid), now)
    if txn.status != UNPAID:
        raise Conflict(f"the transaction is {STATUS_WORD[txn.status]}", txn.status)
    changed = rows.transition(
        conn,
        t_xid,
        from_states=sources(EXPIRED),
        values={
            "status": EXPIRED,
            "updated_at_us": now,
            "valid_until_us": min(now, int(txn["valid_until_us"])),
        },
    )
    after = Txn(get_row(conn, t_xid), now)
    if not changed:  # another request won inside the database: its state stands
        raise Conflict(f"the transaction is {STATUS_WORD[after.status]}", after.status)
    rows.release_numbers(conn, t_xid)
    events.append(conn, OBJECT, t_xid, "expired", now, {"forced": True})
    return after


def get_tx(conn: Conn, t_xid: str) -> tuple[Txn, list[Event], list[Row]]:
    row = any_row(conn, t_xid)
    now = now_for(conn, str(row["imid"]))
    txn = Txn(row, now)
    return txn, events.history(conn, OBJECT, t_xid), rows.cancels_of(conn, t_xid)
