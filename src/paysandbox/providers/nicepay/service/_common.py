"""Helpers every NICEPay verb shares: the event object name, mandatory-field access, the
merchant key lookup, row fetches, the merchant URL check, recording a lapsed validity, and
queueing the notification to dbProcessUrl."""

from __future__ import annotations

import json

from ....core.clock import sandbox_now_us
from ....core.errors import NotFound
from ....delivery.outbox import Faults, Outbox
from ....delivery.urls import BadUrl, check_callback_url
from ....store import clock as clock_rows
from ....store import events
from ....store.db import Conn, Row
from .. import callbacks, rules
from .. import store as rows
from ..errors import NicepayError
from ..model import EXPIRED, Txn, sources

OBJECT = "nicepay_transaction"
PROVIDER = "nicepay"  # the name its merchants' clocks are kept under


def given(value: str | None) -> str:
    """A field that ``rules`` has already made mandatory."""
    assert value is not None
    return value


def key_and_now(conn: Conn, imid: str) -> tuple[str, int]:
    """The merchant's key and its time (``now_for``) in one statement; ``mid_invalid`` when
    there is no such merchant."""
    found = rows.merchant_clock(conn, imid)
    if found is None:
        raise NicepayError("mid_invalid", "unknown iMid")
    return str(found["merchant_key"]), sandbox_now_us(int(found["offset_us"]))


def get_row(conn: Conn, t_xid: str) -> Row:
    """A transaction known to exist (this transaction just read or wrote it)."""
    row = rows.get_transaction(conn, t_xid)
    assert row is not None
    return row


def now_for(conn: Conn, imid: str) -> int:
    """The merchant's time: the sandbox clock plus the merchant's own offset."""
    return clock_rows.account_now_us(conn, PROVIDER, imid)


def any_row(conn: Conn, t_xid: str) -> Row:
    """A transaction named by the control API: ``NotFound`` when there is none."""
    row = rows.get_transaction(conn, t_xid)
    if row is None:
        raise NotFound(f"no NICEPay transaction {t_xid}")
    return row


def callback_url(value: str, code: str, name: str) -> str:
    """A merchant URL the sender / browser can use (the shared check), else ``code``."""
    value = value.strip()
    if any(c.isspace() for c in value):
        raise NicepayError(code, f"{name} must be an http(s) URL without spaces")
    try:
        return check_callback_url(value, field=name, max_length=255)
    except BadUrl as exc:
        raise NicepayError(code, str(exc)) from None


def record_expiry(conn: Conn, txn: Txn) -> None:
    """Write down a VA / CVS validity that passed on the sandbox clock, once."""
    if not txn.needs_expiry_recorded:
        return
    if rows.transition(
        conn,
        txn.t_xid,
        from_states=sources(EXPIRED),
        values={"status": EXPIRED, "updated_at_us": txn.now_us},
    ):
        rows.release_numbers(conn, txn.t_xid)
        events.append(
            conn,
            OBJECT,
            txn.t_xid,
            "expired",
            txn.now_us,
            {"validUntil": rules.wib_stamp(int(txn["valid_until_us"]))},
        )


def notify(conn: Conn, outbox: Outbox, txn: Txn, now: int) -> None:
    """Queue the dbProcessUrl notification in the same transaction as the state change, with
    the merchant's delivery faults."""
    merchant = rows.get_merchant(conn, str(txn["imid"]))
    if merchant is None:
        raise NicepayError("mid_invalid", "unknown iMid")
    msg = callbacks.notification(txn, str(merchant["merchant_key"]))
    # the merchant's delivery faults (duplicate, delay, out of order), applied by the outbox
    faults = Faults.from_mapping(json.loads(merchant["faults"]))
    ids = outbox.enqueue(conn, msg, now, faults)
    events.append(conn, OBJECT, txn.t_xid, "notification_queued", now, {"deliveries": ids})
