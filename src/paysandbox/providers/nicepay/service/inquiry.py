"""Inquiry: a read that verifies the merchantToken and matches tXid / referenceNo / amt, and
the follow-up write that records a VA / CVS validity the sandbox clock has passed."""

from __future__ import annotations

from ....core.clock import sandbox_now_us
from ....store.db import Conn
from .. import auth, rules
from .. import store as rows
from ..errors import NicepayError
from ..model import Txn
from ..schemas import Inquiry
from ._common import given, now_for, record_expiry


def check(req: Inquiry) -> dict[str, str | None]:
    """The field values; the amt must parse before the database is asked."""
    values = rules.check_fields(rules.INQUIRY, req, "inquiry_data")
    rules.parse_amt(given(values["amt"]), "amt_invalid")
    return values


def inquire_tx(conn: Conn, v: dict[str, str | None]) -> Txn:
    """One plain SELECT (``Database.read_one``): the merchant's key and clock and the
    transaction come together; the checks go in the order they always went."""
    imid = given(v["iMid"])
    row = rows.inquiry_row(conn, given(v["tXid"]), imid)
    if row is None:
        raise NicepayError("mid_invalid", "unknown iMid")
    now = sandbox_now_us(int(row["inquiry_offset_us"]))
    auth.verify(
        v["merchantToken"],
        auth.order_token(
            given(v["timeStamp"]),
            imid,
            given(v["referenceNo"]),
            given(v["amt"]),
            str(row["inquiry_key"]),
        ),
        "inquiry",
    )
    if row["t_xid"] is None:  # none, or another merchant's
        raise NicepayError("inquiry_txid", "no transaction with this tXid for this iMid")
    if row["reference_no"] != v["referenceNo"]:
        raise NicepayError("inquiry_txid", "referenceNo does not match the transaction")
    if int(row["amt"]) != int(given(v["amt"])):
        raise NicepayError("inquiry_txid", "amt does not match the transaction")
    # the merchant's key goes no further than this check
    return Txn(rows.txn_only(row), now)


def record_expiry_tx(conn: Conn, t_xid: str) -> None:
    row = rows.get_transaction(conn, t_xid)
    if row is not None:
        record_expiry(conn, Txn(row, now_for(conn, str(row["imid"]))))
