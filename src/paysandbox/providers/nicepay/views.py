"""NICEPay answers as NICEPay writes them: text values, every documented key present, null
when it has no value (as in the documents' examples)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from ...core.clock import iso
from ...core.events import Event
from ...delivery.urls import redact_url
from ...store.db import Row
from . import rules
from .model import PAID, STATUS_WORD, Txn
from .rules import CC, CLICKPAY, CVS, PAYLOAN, VA

SUCCESS = {"resultCd": "0000", "resultMsg": "SUCCESS"}


def date(us: int | None) -> str | None:
    return rules.wib_date(us)


def time(us: int | None) -> str | None:
    return rules.wib_time(us)


def trans_dt(txn: Txn) -> str | None:
    """transDt/transTm: when the transaction was registered (the tXid carries the same time)."""
    return date(int(txn["created_at_us"]))


def trans_tm(txn: Txn) -> str | None:
    return time(int(txn["created_at_us"]))


def _valid(txn: Txn) -> tuple[str | None, str | None]:
    until = txn["valid_until_us"]
    return date(until), time(until)


def card_fields(txn: Txn) -> dict[str, Any]:
    paid = txn.status == PAID or txn["paid_at_us"] is not None
    bank_cd, bank_nm = rules.ISSUER if paid else (None, None)
    return {
        "authNo": txn["auth_no"],
        "issuBankCd": bank_cd,
        "issuBankNm": bank_nm,
        "acquBankCd": bank_cd,
        "acquBankNm": bank_nm,
        "cardNo": txn["card_no_masked"],
        "cardExpYymm": txn["card_exp_yymm"],
        "instmntMon": txn["instmnt_mon"],
        "instmntType": txn["instmnt_type"],
        "preauthToken": None,
        "recurringToken": None,
        "ccTransType": "1",
    }


def va_fields(txn: Txn) -> dict[str, Any]:
    dt, tm = _valid(txn)
    return {
        "bankCd": txn["bank_cd"],
        "vacctNo": txn["vacct_no"],
        "vacctValidDt": dt,
        "vacctValidTm": tm,
    }


def other_fields(txn: Txn) -> dict[str, Any]:
    dt, tm = _valid(txn)
    return {
        "mitraCd": txn["mitra_cd"],
        "payNo": txn["pay_no"],
        "payValidDt": dt,
        "payValidTm": tm,
        "receiptCode": txn["receipt_code"],
        "mRefNo": txn["m_ref_no"],
    }


def registered(txn: Txn) -> dict[str, Any]:
    pm = txn.pay_method
    dt, tm = _valid(txn)
    order = pm in (VA, CVS, PAYLOAN)
    return {
        **SUCCESS,
        "tXid": txn.t_xid,
        "referenceNo": txn["reference_no"],
        "payMethod": pm,
        "amt": str(int(txn["amt"])),
        "transDt": trans_dt(txn),
        "transTm": trans_tm(txn),
        "description": txn["description"],
        "bankCd": txn["bank_cd"],
        "vacctNo": txn["vacct_no"],
        "mitraCd": txn["mitra_cd"],
        "payNo": txn["pay_no"],
        "currency": txn["currency"] if order else None,
        "goodsNm": txn["goods_nm"] if order else None,
        "billingNm": txn["billing_nm"] if order else None,
        "vacctValidDt": dt if pm == VA else None,
        "vacctValidTm": tm if pm == VA else None,
        "payValidDt": dt if pm == CVS else None,
        "payValidTm": tm if pm == CVS else None,
    }


def registered_redirect(txn: Txn, payment_url: str) -> dict[str, Any]:
    """The v2 Redirect registration answer: the Direct one plus ``paymentURL`` (the browser goes
    to ``paymentURL + "?tXid=" + tXid``, as NICEPay's Checkout documents and clients do)."""
    return {**registered(txn), "paymentURL": payment_url}


def inquired(txn: Txn) -> dict[str, Any]:
    pm = txn.pay_method
    paid_at = txn["paid_at_us"]
    card = card_fields(txn) if pm == CC else dict.fromkeys(card_fields(txn))
    va = va_fields(txn) if pm == VA else dict.fromkeys(va_fields(txn))
    other = other_fields(txn) if pm not in (CC, VA) else dict.fromkeys(other_fields(txn))
    created = int(txn["created_at_us"])
    cancel_amt = int(txn["cancel_amt"])
    return {
        "tXid": txn.t_xid,
        "iMid": txn["imid"],
        "currency": txn["currency"],
        "amt": str(int(txn["amt"])),
        "instmntMon": txn["instmnt_mon"],
        "instmntType": txn["instmnt_type"],
        "referenceNo": txn["reference_no"],
        "goodsNm": txn["goods_nm"],
        "payMethod": pm,
        "billingNm": txn["billing_nm"],
        "reqDt": date(created),
        "reqTm": time(created),
        "status": txn.status_code,
        "resultCd": "0000",
        "resultMsg": STATUS_WORD[txn.status],
        "cardNo": card["cardNo"],
        "preauthToken": None,
        "acquBankCd": card["acquBankCd"],
        "issuBankCd": card["issuBankCd"],
        "vacctValidDt": va["vacctValidDt"],
        "vacctValidTm": va["vacctValidTm"],
        "vacctNo": va["vacctNo"],
        "bankCd": va["bankCd"],
        "payNo": other["payNo"],
        "mitraCd": other["mitraCd"],
        "receiptCode": other["receiptCode"],
        "cancelAmt": str(cancel_amt) if cancel_amt else None,
        "transDt": date(paid_at),
        "transTm": time(paid_at),
        "recurringToken": None,
        "ccTransType": card["ccTransType"],
        "payValidDt": other["payValidDt"],
        "payValidTm": other["payValidTm"],
        "mRefNo": other["mRefNo"],
        "acquStatus": None,
        "cardExpYymm": card["cardExpYymm"],
        "acquBankNm": card["acquBankNm"],
        "issuBankNm": card["issuBankNm"],
        "depositDt": date(paid_at) if pm != CC else None,
        "depositTm": time(paid_at) if pm != CC else None,
        "authNo": card["authNo"],
        "vat": txn["vat"],
        "fee": txn["fee"],
        "notaxAmt": txn["notax_amt"],
    }


def cancelled(txn: Txn, cancel_txid: str, amount: int) -> dict[str, Any]:
    return {
        "tXid": txn.t_xid,
        "referenceNo": txn["reference_no"],
        **SUCCESS,
        "transDt": trans_dt(txn),
        "transTm": trans_tm(txn),
        "description": txn["description"],
        "amt": str(amount),
        "canceltXid": cancel_txid,
    }


def callback_fields(txn: Txn, result_cd: str, result_msg: str) -> dict[str, Any]:
    """What the browser brings back to ``callBackUrl`` after the payment page (no token)."""
    pm = txn.pay_method
    fields: dict[str, Any] = {
        "resultCd": result_cd,
        "resultMsg": result_msg,
        "tXid": txn.t_xid,
        "referenceNo": txn["reference_no"],
        "payMethod": pm,
        "amt": str(int(txn["amt"])),
        "transDt": trans_dt(txn),
        "transTm": trans_tm(txn),
        "description": txn["description"],
    }
    if pm == CC:
        card = card_fields(txn)
        fields.update(
            {
                k: card[k]
                for k in (
                    "authNo",
                    "issuBankCd",
                    "issuBankNm",
                    "acquBankCd",
                    "acquBankNm",
                    "cardNo",
                )
            }
        )
        fields.update(
            {"receiptCode": None, "mitraCd": None, "recurringToken": None, "preauthToken": None}
        )
    else:
        fields["mitraCd"] = txn["mitra_cd"]
    fields.update(
        {"currency": txn["currency"], "goodsNm": txn["goods_nm"], "billingNm": txn["billing_nm"]}
    )
    if pm == CC:
        fields.update(
            {
                "ccTransType": "1",
                "mRefNo": None,
                "instmntType": txn["instmnt_type"],
                "instmntMon": txn["instmnt_mon"],
                "cardExpYymm": txn["card_exp_yymm"],
            }
        )
    elif pm in (CLICKPAY, PAYLOAN):
        fields.update({"receiptCode": txn["receipt_code"], "mRefNo": txn["m_ref_no"]})
        if pm == PAYLOAN:
            fields.update({"instmntType": txn["instmnt_type"], "instmntMon": txn["instmnt_mon"]})
    return fields


def callback_url(base: str, fields: dict[str, Any]) -> str:
    """``callBackUrl`` with the result appended to whatever query it already has."""
    parts = urlsplit(base)
    query = urlencode([(k, "" if v is None else str(v)) for k, v in fields.items()])
    joined = f"{parts.query}&{query}" if parts.query else query
    return urlunsplit(parts._replace(query=joined))


def control(txn: Txn, history: list[Event], cancels: list[Row]) -> dict[str, Any]:
    """The control API's view: the inquiry fields plus the sandbox's own record."""
    until = txn["valid_until_us"]
    return {
        "tXid": txn.t_xid,
        "iMid": txn["imid"],
        "payMethod": txn.pay_method,
        "payMethodName": rules.PAY_METHODS.get(txn.pay_method, "chosen on the payment page"),
        "state": txn.status,
        "storedState": txn["status"],
        "status": txn.status_code,
        "referenceNo": txn["reference_no"],
        "amt": int(txn["amt"]),
        "cancelAmt": int(txn["cancel_amt"]),
        "remainingAmt": txn.remaining,
        "paidAmt": txn["paid_amt"],
        "matchCl": txn["match_cl"],
        "dbProcessUrl": redact_url(txn["db_process_url"]),
        "createdAt": iso(int(txn["created_at_us"])),
        "validUntil": iso(int(until)) if until is not None else None,
        "paidAt": iso(int(txn["paid_at_us"])) if txn["paid_at_us"] else None,
        "cartData": txn["cart_data"],
        "inquiry": inquired(txn),
        "cancels": [
            {
                "canceltXid": c["cancel_txid"],
                "cancelType": c["cancel_type"],
                "amt": int(c["amt"]),
                "cancelMsg": c["cancel_msg"],
                "at": iso(int(c["at_us"])),
            }
            for c in cancels
        ],
        "events": [
            {"seq": e.seq, "kind": e.kind, "at": iso(e.at_us), "data": e.data} for e in history
        ],
    }
