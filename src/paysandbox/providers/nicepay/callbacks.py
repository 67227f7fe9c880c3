"""The notification NICEPay posts to the registration's ``dbProcessUrl``, built for the outbox.

``application/x-www-form-urlencoded``, every documented field of the common block and of the
transaction's method block (empty when it has no value), ``merchantToken`` =
SHA256(iMid + tXid + amt + merchantKey), ``status`` 0 (deposit), ``matchCl`` 1 / 2 / 3.
A delivery succeeds only on HTTP 200; until then the outbox retries it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from ...delivery.outbox import OutboundMessage
from . import auth, views
from .model import Txn
from .rules import CC, PAYLOAN, VA

USER_AGENT = "Jakarta Commons-HttpClient/3.1"  # what NICEPay's notifier announces


def notification_fields(txn: Txn, merchant_key: str) -> dict[str, Any]:
    amt = str(int(txn["amt"]))
    paid = txn["paid_at_us"]
    body: dict[str, Any] = {
        "tXid": txn.t_xid,
        "merchantToken": auth.notification_token(str(txn["imid"]), txn.t_xid, amt, merchant_key),
        "referenceNo": txn["reference_no"],
        "payMethod": txn.pay_method,
        "amt": amt,
        "transDt": views.trans_dt(txn),
        "transTm": views.trans_tm(txn),
        "currency": txn["currency"],
        "goodsNm": txn["goods_nm"],
        "billingNm": txn["billing_nm"],
        "matchCl": txn["match_cl"] or "1",
        "status": "0",
    }
    if txn.pay_method == CC:
        body.update(views.card_fields(txn))
        body.update({"vat": txn["vat"], "fee": txn["fee"], "notaxAmt": txn["notax_amt"]})
    elif txn.pay_method == VA:
        body.update(views.va_fields(txn))
        body.update({"depositDt": views.date(paid), "depositTm": views.time(paid)})
    else:
        body.update(views.other_fields(txn))
        body.update({"depositDt": views.date(paid), "depositTm": views.time(paid)})
        if txn.pay_method == PAYLOAN:
            body.update({"instmntType": txn["instmnt_type"], "instmntMon": txn["instmnt_mon"]})
    return body


def notification(txn: Txn, merchant_key: str) -> OutboundMessage:
    fields = notification_fields(txn, merchant_key)
    return OutboundMessage(
        provider="nicepay",
        account_id=str(txn["imid"]),
        object_id=txn.t_xid,
        event="notification",
        url=str(txn["db_process_url"]),
        body=urlencode([(k, "" if v is None else str(v)) for k, v in fields.items()]),
        content_type="application/x-www-form-urlencoded",
        headers={"User-Agent": USER_AGENT},
        success_rule="http_200",
    )
