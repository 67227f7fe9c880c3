"""NICEPay wire structs with NICEPay's exact field names.

Every scalar is decoded as text *or* number (clients send ``"amt":"10000"`` and
``"amt":10000``), every field defaults to None (a missing field gets its documented result code
from ``rules``, not a generic decode error), and unknown fields are ignored (clients send
extras such as ``referenceNo`` on cancel or ``sellers`` on Payloan). The type class (N / A / AN /
ANS) and size of each field are checked by ``rules`` after decoding. Answers are plain dicts
built in ``views.py`` so every documented key is present, null when it has no value.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import Meta

Loose = str | int | float | None
Json = str | dict[str, Any] | list[Any] | None


class Registration(msgspec.Struct, kw_only=True):
    timeStamp: Loose = None
    iMid: Loose = None
    payMethod: Loose = None
    currency: Loose = None
    amt: Loose = None
    referenceNo: Loose = None
    goodsNm: Loose = None
    billingNm: Loose = None
    billingPhone: Loose = None
    billingEmail: Loose = None
    billingAddr: Loose = None
    billingCity: Loose = None
    billingState: Loose = None
    billingPostCd: Loose = None
    billingCountry: Loose = None
    deliveryNm: Loose = None
    deliveryPhone: Loose = None
    deliveryAddr: Loose = None
    deliveryCity: Loose = None
    deliveryState: Loose = None
    deliveryPostCd: Loose = None
    deliveryCountry: Loose = None
    cartData: Json = None
    sellers: Json = None
    dbProcessUrl: Loose = None
    merchantToken: Loose = None
    vat: Loose = None
    fee: Loose = None
    notaxAmt: Loose = None
    description: Loose = None
    reqDt: Loose = None
    reqTm: Loose = None
    reqDomain: Loose = None
    reqServerIP: Loose = None
    reqClientVer: Loose = None
    userIP: Loose = None
    callBackUrl: Loose = None  # v2 Redirect (Checkout) only
    userIp: Loose = None  # Payloan document spelling
    userSessionID: Loose = None
    userAgent: Loose = None
    userLanguage: Loose = None
    instmntType: Loose = None
    instmntMon: Loose = None
    recurrOpt: Loose = None
    bankCd: Loose = None
    vacctValidDt: Loose = None
    vacctValidTm: Loose = None
    merFixAcctId: Loose = None
    mitraCd: Loose = None
    payValidDt: Loose = None
    payValidTm: Loose = None
    mRefNo: Loose = None


class Inquiry(msgspec.Struct, kw_only=True):
    timeStamp: Loose = None
    tXid: Loose = None
    iMid: Loose = None
    referenceNo: Loose = None
    amt: Loose = None
    merchantToken: Loose = None


class Cancel(msgspec.Struct, kw_only=True):
    timeStamp: Loose = None
    tXid: Loose = None
    iMid: Loose = None
    payMethod: Loose = None
    cancelType: Loose = None
    cancelMsg: Loose = None
    merchantToken: Loose = None
    preauthToken: Loose = None
    amt: Loose = None
    fee: Loose = None
    vat: Loose = None
    notaxAmt: Loose = None
    cancelServerIp: Loose = None
    cancelUserId: Loose = None
    cancelUserIp: Loose = None
    cancelUserInfo: Loose = None
    cancelRetryCnt: Loose = None
    worker: Loose = None


class Payment(msgspec.Struct, kw_only=True):
    """``/direct/v2/payment`` parameters (form POST, GET query, or JSON)."""

    timeStamp: Loose = None
    tXid: Loose = None
    merchantToken: Loose = None
    callBackUrl: Loose = None
    cardNo: Loose = None
    cardExpYymm: Loose = None
    cardCvv: Loose = None
    cardHolderNm: Loose = None
    cardHolderEmail: Loose = None
    recurringToken: Loose = None
    preauthToken: Loose = None
    clickPayNo: Loose = None
    dataField3: Loose = None
    clickPayToken: Loose = None
    encrypted: Loose = None  # "1": RSA-encrypted card fields (NICEPay's Java library)


class PayTransaction(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Body of ``POST /_sandbox/nicepay/transactions/{tXid}/pay`` (optional).

    ``amount``: what the customer transferred (VA) or paid (CVS); absent = exactly ``amt``.
    """

    amount: Annotated[int, Meta(ge=1, le=999_999_999_999)] | None = None
