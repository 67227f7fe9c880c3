"""The v2 Redirect (Checkout) API's customer side: the page at ``paymentURL?tXid=…``.

A Redirect registration is an ordinary transaction of the v2 Direct model (same table, states,
inquiry, cancel and notification). What the page adds:

* **choose** — payMethod 00 (the customer picks the method), or a VA / CVS / ClickPay /
  e-wallet / Payloan registration without ``bankCd`` / ``mitraCd``: the choice is written to the
  transaction; a VA / CVS gets its number and validity then (status 3 unpaid);
* **session** — a card (01) entered on the page, or the approval of a ClickPay / e-wallet /
  Payloan payment, opens the same payment session as ``/direct/v2/payment``, whose 3-D Secure
  / approval page then redirects to the registration's ``callBackUrl``. paysandbox's test
  cards decide at once, as on the Direct API.
"""

from __future__ import annotations

import json
from typing import Any

from ....core.clock import US
from ....core.ids import random_string
from ....delivery.outbox import Outbox
from ....store import events
from ....store.db import Conn, Row
from .. import rules
from .. import store as rows
from ..errors import NicepayError
from ..model import INIT, UNPAID, Txn, sources
from ..rules import CC, CVS, VA
from ._common import OBJECT, callback_url, get_row, now_for
from .payment import PaymentResult, _check_card, _require_payable, finish_payment_tx
from .registration import _issue_pay_no, _issue_vacct


def page_tx(conn: Conn, t_xid: str) -> Txn:
    row = rows.get_transaction(conn, t_xid)
    if row is None or "callBackUrl" not in _request(row):
        raise NicepayError("redirect_txid", "no Redirect transaction with this tXid")
    return Txn(row, now_for(conn, str(row["imid"])))


def _request(row: Row) -> dict[str, Any]:
    req: dict[str, Any] = json.loads(row["request"])
    return req


def call_back_url(txn: Txn) -> str:
    return callback_url(str(txn.request["callBackUrl"]), "callback_url_invalid", "callBackUrl")


def needs_choice(txn: Txn) -> bool:
    pm = txn.pay_method
    if txn.status != INIT:
        return False
    return (
        pm == rules.ALL
        or (pm == VA and not txn["bank_cd"])
        or (pm in rules.MITRA and not txn["mitra_cd"])
    )


def choose_tx(conn: Conn, t_xid: str, method: str, code: str, default_validity_seconds: int) -> Txn:
    """Write the customer's choice of method and bank / mitra to the transaction."""
    txn = page_tx(conn, t_xid)
    now = txn.now_us
    if not needs_choice(txn):
        return txn
    pm = txn.pay_method if txn.pay_method != rules.ALL else method
    if pm not in rules.PAY_METHODS:
        raise NicepayError("paymethod", "choose one of the payment methods on the page")
    code = code.upper()
    values: dict[str, Any] = {"pay_method": pm, "updated_at_us": now}
    if pm == VA:
        if code not in rules.BANKS:
            raise NicepayError("bank_cd", "choose one of the banks on the page")
        scope = "va:" + code
        number = _issue_vacct(conn, scope, code, None, now)
        values.update(
            {
                "bank_cd": code,
                "vacct_no": number,
                "status": UNPAID,
                "valid_until_us": now + default_validity_seconds * US,
            }
        )
    elif pm in rules.MITRA:
        if code not in rules.MITRA[pm]:
            raise NicepayError("mitra_cd", "choose one of the providers on the page")
        values["mitra_cd"] = code
        if pm == CVS:
            scope = "cvs:" + code
            number = _issue_pay_no(conn, scope, now)
            values.update(
                {
                    "pay_no": number,
                    "status": UNPAID,
                    "valid_until_us": now + default_validity_seconds * US,
                }
            )
    if pm in (CC, rules.PAYLOAN) and txn["instmnt_type"] is None:
        values.update({"instmnt_type": "1", "instmnt_mon": "1"})
    dst = str(values.get("status", INIT))
    if not rows.transition(conn, t_xid, from_states=sources(dst, among=(INIT,)), values=values):
        raise NicepayError("tx_exists", "the transaction changed meanwhile")
    if pm in (VA, CVS):
        rows.attach_number(conn, scope, number, t_xid)
    events.append(
        conn,
        OBJECT,
        t_xid,
        "method_chosen",
        now,
        {"payMethod": pm, "code": code or None, "vacctNo": values.get("vacct_no")},
    )
    return Txn(get_row(conn, t_xid), now)


def open_session_tx(
    conn: Conn, t_xid: str, card: dict[str, str | None], outbox: Outbox
) -> tuple[Txn, Row | None, PaymentResult | None]:
    """The same payment session as ``/direct/v2/payment`` opens (3-D Secure / approval page),
    with the registration's callBackUrl; a test card decides at once."""
    txn = page_tx(conn, t_xid)
    now = txn.now_us
    if needs_choice(txn):
        raise NicepayError("payment_params", "choose the payment method first")
    _require_payable(txn)
    masked = exp = None
    if txn.pay_method == CC:
        masked, exp = _check_card(card)
    holder = card.get("cardHolderNm")
    if holder is not None:  # stored with the session (a longer one: a 500 on PostgreSQL)
        rules.check_holder_name(holder)
    session_id = random_string(40)
    rows.insert_session(
        conn,
        {
            "session_id": session_id,
            "t_xid": t_xid,
            "call_back_url": call_back_url(txn),
            "card_no_masked": masked,
            "card_exp_yymm": exp,
            "card_holder_nm": card.get("cardHolderNm"),
            "state": "pending",
            "created_at_us": now,
            "finished_at_us": None,
        },
    )
    events.append(
        conn,
        OBJECT,
        t_xid,
        "payment_page",
        now,
        {"cardNo": masked, "cardExpYymm": exp, "via": "redirect"},
    )
    session = rows.get_session(conn, session_id)
    assert session is not None
    outcome = rules.MAGIC_CARDS.get(card.get("cardNo") or "") if txn.pay_method == CC else None
    if outcome is None:
        return txn, session, None
    fail = {"threeds_failed": "threeds_failed", "declined": "card_declined"}.get(outcome)
    result = finish_payment_tx(
        conn, session_id, fail is None, outbox, fail_code=fail, via=f"test card: {outcome}"
    )
    return result.txn, session, result
