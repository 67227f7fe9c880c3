"""The payment page (01 card 3-D Secure, 04 ClickPay, 05 e-wallet, 06 Payloan): starting a
session (merchantToken and card checks), reading it back for the page, and finishing it as
approved or declined, with the notification queued on approval."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ....core.clock import US
from ....core.ids import UPPER_HEX, random_digits, random_string
from ....delivery.outbox import Outbox
from ....store import events
from ....store.db import Conn, Row
from .. import auth, rules
from .. import store as rows
from ..errors import NicepayError
from ..model import CANCELED, EXPIRED, FAILED, INIT, PAID, STATUS_WORD, Txn, sources
from ..rules import CC, CLICKPAY, CVS, EWALLET, PAYLOAN, VA
from ..schemas import Payment
from ._common import OBJECT, callback_url, get_row, given, key_and_now, notify, now_for

SESSION_TTL_US = 30 * 60 * US
FAIL_CODES = {
    CC: "threeds_failed",
    CLICKPAY: "clickpay_failed",
    EWALLET: "ewallet_failed",
    PAYLOAN: "payloan_failed",
}


@dataclass(frozen=True)
class PaymentResult:
    """How a payment-page session ended: the transaction and the callBackUrl parameters."""

    txn: Txn
    call_back_url: str
    result_cd: str
    result_msg: str


def check(req: Payment) -> dict[str, str | None]:
    """The field values, with callBackUrl checked and normalised."""
    if str(req.encrypted or "").strip() == "1":
        # NICEPay's Java library can send the card fields RSA-encrypted with NICEPay's public
        # key; without NICEPay's private key they cannot be read (they were refused as a
        # "cardNo must be at most 20 characters", which said nothing of why)
        raise NicepayError(
            "card_param",
            "encrypted=1: paysandbox cannot read RSA-encrypted card fields (it has no "
            "NICEPay private key); send the card in clear (encrypted=0, isEncryptedCard=0)",
        )
    values = rules.check_fields(rules.PAYMENT, req, "payment_params")
    values["callBackUrl"] = callback_url(
        given(values["callBackUrl"]), "callback_url_invalid", "callBackUrl"
    )
    return values


def start_payment_tx(conn: Conn, v: dict[str, str | None]) -> tuple[Txn, Row]:
    row = rows.get_transaction(conn, given(v["tXid"]))
    if row is None:
        raise NicepayError("card_txid", "unknown tXid")
    imid = str(row["imid"])
    key, now = key_and_now(conn, imid)
    auth.verify(
        v["merchantToken"],
        auth.order_token(
            given(v["timeStamp"]), imid, str(row["reference_no"]), str(row["amt_text"]), key
        ),
        "payment",
    )
    txn = Txn(row, now)
    _require_payable(txn)
    masked = exp = None
    if txn.pay_method == CC:
        masked, exp = _check_card(v)
    session_id = random_string(40)
    rows.insert_session(
        conn,
        {
            "session_id": session_id,
            "t_xid": txn.t_xid,
            "call_back_url": v["callBackUrl"],
            "card_no_masked": masked,
            "card_exp_yymm": exp,
            "card_holder_nm": v["cardHolderNm"],
            "state": "pending",
            "created_at_us": now,
            "finished_at_us": None,
        },
    )
    events.append(
        conn, OBJECT, txn.t_xid, "payment_page", now, {"cardNo": masked, "cardExpYymm": exp}
    )
    session = rows.get_session(conn, session_id)
    assert session is not None
    return txn, session


def get_session_tx(conn: Conn, session_id: str) -> tuple[Txn, Row]:
    session = rows.get_session(conn, session_id)
    if session is None:
        raise NicepayError("card_txid", "unknown payment session")
    row = get_row(conn, str(session["t_xid"]))
    return Txn(row, now_for(conn, str(row["imid"]))), session


def finish_payment_tx(
    conn: Conn,
    session_id: str,
    approve: bool,
    outbox: Outbox,
    fail_code: str | None = None,
    via: str | None = None,
) -> PaymentResult:
    session = rows.get_session(conn, session_id)
    if session is None:
        raise NicepayError("card_txid", "unknown payment session")
    row = get_row(conn, str(session["t_xid"]))
    now = now_for(conn, str(row["imid"]))
    txn = Txn(row, now)
    if session["state"] != "pending":
        _require_payable(txn)
        raise NicepayError("tx_exists", "this payment page was already used")
    if now - int(session["created_at_us"]) > SESSION_TTL_US:
        raise NicepayError("tx_expired")
    _require_payable(txn)
    pm = txn.pay_method
    if approve:
        values: dict[str, Any] = {
            "status": PAID,
            "updated_at_us": now,
            "paid_at_us": now,
            "paid_amt": int(txn["amt"]),
            "match_cl": "1",
            "card_no_masked": session["card_no_masked"],
            "card_exp_yymm": session["card_exp_yymm"],
        }
        if pm == CC:
            values["auth_no"] = random_digits(6)
        else:
            values["receipt_code"] = random_string(14, UPPER_HEX)
            if not txn["m_ref_no"]:
                values["m_ref_no"] = random_digits(13)
        kind = "paid"
    else:
        values = {
            "status": FAILED,
            "updated_at_us": now,
            "card_no_masked": session["card_no_masked"],
            "card_exp_yymm": session["card_exp_yymm"],
        }
        kind = "failed"
    dst = str(values["status"])
    if not rows.transition(conn, txn.t_xid, from_states=sources(dst, among=(INIT,)), values=values):
        # lost a race: answer as a serial request would, from the winner's state
        _require_payable(Txn(get_row(conn, txn.t_xid), now))
        raise NicepayError("tx_exists", "the transaction changed meanwhile")
    rows.finish_session(conn, session_id, "approved" if approve else "declined", now)
    after = Txn(get_row(conn, txn.t_xid), now)
    events.append(
        conn,
        OBJECT,
        txn.t_xid,
        kind,
        now,
        {
            "via": via or ("3ds-page" if pm == CC else "approval-page"),
            "authNo": after["auth_no"],
            "cardNo": after["card_no_masked"],
        },
    )
    if approve:
        notify(conn, outbox, after, now)
        return PaymentResult(after, str(session["call_back_url"]), "0000", "SUCCESS")
    fail = NicepayError(fail_code or FAIL_CODES[pm])
    return PaymentResult(
        after, str(session["call_back_url"]), fail.code.result_cd, fail.code.message
    )


def _require_payable(txn: Txn) -> None:
    """The payment page serves 01 / 04 / 05 / 06 transactions that still wait for payment."""
    if txn.pay_method in (VA, CVS):
        raise NicepayError("not_allowed", "VA and CVS transactions are paid at the bank / store")
    status = txn.status
    if status == PAID:
        raise NicepayError("already_approved")
    if status in (FAILED, CANCELED):
        raise NicepayError("tx_exists", f"the transaction is {STATUS_WORD[status]}")
    if status == EXPIRED:
        raise NicepayError("tx_expired")


def _check_card(v: dict[str, str | None]) -> tuple[str, str]:
    """Card fields of a credit-card payment; returns (masked number, expiry). The full number
    and the CVV go no further than this function. Checked here in full (ASCII digits, sizes),
    not only by the Direct route's field classes: the Redirect page's form comes here as
    typed."""
    card_no, exp, cvv = v["cardNo"], v["cardExpYymm"], v["cardCvv"]
    if card_no is None:
        raise NicepayError("card_param", "cardNo is mandatory")
    if not (12 <= len(card_no) <= 19 and rules.digits(card_no)):
        raise NicepayError("card_param", "cardNo must be 12–19 digits")
    if exp is None:
        raise NicepayError("card_exp", "cardExpYymm is mandatory")
    rules.check_card_exp(exp)
    if cvv is None or not (3 <= len(cvv) <= 4 and rules.digits(cvv)):
        raise NicepayError("card_param", "cardCvv must be 3 or 4 digits")
    return rules.mask_card(card_no), exp


def start_and_maybe_finish_tx(
    conn: Conn, v: dict[str, str | None], outbox: Outbox
) -> tuple[Txn, Row, PaymentResult | None]:
    """``start_payment_tx``; for one of paysandbox's test cards (``rules.MAGIC_CARDS``) the
    outcome is decided in the same transaction, without the 3-D Secure page."""
    txn, session = start_payment_tx(conn, v)
    outcome = rules.MAGIC_CARDS.get(v["cardNo"] or "") if txn.pay_method == CC else None
    if outcome is None:
        return txn, session, None
    fail = {"threeds_failed": "threeds_failed", "declined": "card_declined"}.get(outcome)
    result = finish_payment_tx(
        conn,
        str(session["session_id"]),
        fail is None,
        outbox,
        fail_code=fail,
        via=f"test card: {outcome}",
    )
    return result.txn, session, result
