"""NICEPay request bodies, starting from the documents' own examples (verbatim), and helpers
that compute merchantTokens the way merchant code does."""

from __future__ import annotations

import hashlib
import itertools
import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

IMID = "IONPAYTEST"
KEY = "33F49GnCMS1mFYlGXisbUDzVf2ATWCl9k3R++d5hDd3Frmuos/XLx8XhXpe+LDYAbpGKZYSwtlyyLOtS/8aD7A=="
REG = "/nicepay/direct/v2/registration"
INQ = "/nicepay/direct/v2/inquiry"
CAN = "/nicepay/direct/v2/cancel"
PAY = "/nicepay/direct/v2/payment"
TS = "20180123100505"

_seq = itertools.count(1)


def sha(*parts: str) -> str:
    return hashlib.sha256("".join(parts).encode()).hexdigest()


def ref(prefix: str = "ORD") -> str:
    return f"{prefix}{next(_seq):08d}"


# ---- verbatim examples from NICEPay's v2 documents (research notes §1a)

DOC_CC: dict[str, Any] = {
    "timeStamp": "20180123100505",
    "iMid": "IONPAYTEST",
    "payMethod": "01",
    "currency": "IDR",
    "amt": "10000",
    "referenceNo": "ORD12345",
    "goodsNm": "Test Transaction Nicepay",
    "billingNm": "Customer Name",
    "billingPhone": "12345678",
    "billingEmail": "email@merchant.com",
    "billingAddr": "Jalan Bukit Berbunga 22",
    "billingCity": "Jakarta",
    "billingState": "DKI Jakarta",
    "billingPostCd": "12345",
    "billingCountry": "Indonesia",
    "deliveryNm": "email@merchant.com",
    "deliveryPhone": "12345678",
    "deliveryAddr": "Jalan Bukit Berbunga 22",
    "deliveryCity": "Jakarta",
    "deliveryState": "DKI Jakarta",
    "deliveryPostCd": "12345",
    "deliveryCountry": "Indonesia",
    "dbProcessUrl": "http://ptsv2.com/t/0ftrz-1519971382/post",
    "merchantToken": "f9d30f6c972e2b5718751bd087b178534673a91bbac845f8a24e60e8e4abbbc5",
    "reqDomain": "merchant.com",
    "reqServerIP": "127.0.0.1",
    "userIP": "127.0.0.1",
    "userSessionID": "697D6922C961070967D3BA1BA5699C2C",
    "userAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML,like "
    "Gecko) Chrome/60.0.3112.101 Safari/537.36",
    "userLanguage": "ko-KR,en-US;q=0.8,ko;q=0.6,en;q=0.4",
    "instmntType": "2",
    "instmntMon": "1",
    "recurrOpt": "2",
}
_COMMON = {k: v for k, v in DOC_CC.items() if k not in ("instmntType", "instmntMon", "recurrOpt")}
DOC_VA: dict[str, Any] = {
    **_COMMON,
    "payMethod": "02",
    "description": "Transaction Description",
    "cartData": "{}",
    "bankCd": "CENA",
    "vacctValidDt": "20180306",
    "vacctValidTm": "091309",
    "merFixAcctId": "",
}
DOC_CVS: dict[str, Any] = {
    **_COMMON,
    "payMethod": "03",
    "description": "Transaction Description",
    "cartData": "{}",
    "mitraCd": "ALMA",
    "payValidDt": "20180308",
    "payValidTm": "095500",
}
DOC_CLICKPAY: dict[str, Any] = {
    **_COMMON,
    "payMethod": "04",
    "description": "order description",
    "cartData": "{}",
    "mitraCd": "MDRC",
    "userIP": "127.0.0.1",
}
DOC_GENERIC: dict[str, Any] = {
    "deliveryPhone": "62-21-0000-0000",
    "mitraCd": "ALMA",
    "fee": "0",
    "amt": "1000",
    "description": "this is test transaction!!",
    "notaxAmt": "0",
    "reqDomain": "localhost",
    "userLanguage": "ko-KR,en-US;q=0.8,ko;q=0.6,en;q=0.4",
    "vacctValidDt": "",
    "billingEmail": "no-reply@ionpay.net",
    "merFixAcctId": "",
    "payMethod": "01",
    "deliveryAddr": "Jalan Jenderal Gatot Subroto Kav.57",
    "billingCountry": "ID",
    "userIP": "0:0:0:0:0:0:0:1",
    "instmntMon": "1",
    "currency": "IDR",
    "payValidDt": "",
    "deliveryCity": "Jakarta",
    "merchantToken": "b5149659e1a2f1271fb0833f8ea20e174b6fd389db26bc6ad036cc0dae6fa797",
    "goodsNm": "T-1000",
    "referenceNo": "OrdNo2017717942577",
    "vat": "0",
    "userAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML,like "
    "Gecko) Chrome/60.0.3112.101 Safari/537.36",
    "billingState": "Jakarta",
    "userSessionID": "697D6922C961070967D3BA1BA5699C2C",
    "instmntType": "1",
    "deliveryNm": "HongGilDong",
    "deliveryPostCd": "12950",
    "reqClientVer": "",
    "iMid": "IONPAYTEST",
    "billingNm": "HongGilDong",
    "timeStamp": "20170822170942",
    "dbProcessUrl": "http://127.0.0.1:8080/nicepay/test3/dbProcess.do",
    "payValidTm": "",
    "cartData": "{“count”: “1”,“item”: [{“img_url”: “https://www.lecs.com/image/introduction/"
    "img_vmd020101.jpg”,“goods_name”: “Jam Tangan Army - Strap Kulit - Hitam”,“goods_detail”: "
    "“jumlah 1”,“goods_amt”: “400”}]}",
    "deliveryState": "Jakarta",
    "deliveryCountry": "ID",
    "bankCd": "",
    "billingPostCd": "12950",
    "billingAddr": "Jalan Jenderal Gatot Subroto Kav.57",
    "reqServerIP": "172.29.2.178",
    "vacctValidTm": "",
    "billingPhone": "021-579-00000",
    "billingCity": "Jakarta",
}
DOC_EWALLET: dict[str, Any] = {
    "timeStamp": "20190813141070",
    "iMid": "IONPAYTEST",
    "payMethod": "05",
    "currency": "IDR",
    "amt": "6500000",
    "referenceNo": "OrdNo20181023141070",
    "merchantToken": "f13aca1c9793987581c9afe0bad6c09d2cb70c7840e269a78911a8b96d15eea5",
    "goodsNm": "iPhone 5S",
    "billingNm": "HongGilDong",
    "billingPhone": "0878777665544",
    "billingEmail": "no-reply@ionpay.net",
    "billingAddr": "Jalan Jenderal Gatot Subroto Kav.57",
    "billingCity": "Jakarta",
    "billingState": "DKI Jakarta",
    "billingPostCd": "12950",
    "billingCountry": "ID",
    "deliveryNm": "HongGilDong",
    "deliveryPhone": "62-21-0000-0000",
    "deliveryAddr": "Jalan Jenderal Gatot Subroto Kav.57",
    "deliveryCity": "Jakarta",
    "deliveryState": "DKI Jakarta",
    "deliveryPostCd": "12950",
    "deliveryCountry": "ID",
    "dbProcessUrl": "http://127.0.0.1:8080/nicepay/test3/dbProcess.do",
    "vat": "0",
    "fee": "0",
    "notaxAmt": "0",
    "description": "this is test transaction!!",
    "reqDt": "20190813",
    "reqTm": "091098",
    "reqDomain": "merchant.com",
    "reqServerIP": "172.29.2.178",
    "reqClientVer": "",
    "userIP": "0:0:0:0:0:0:0:1",
    "userSessionID": "697D6922C961070967D3BA1BA5699C2C",
    "userAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML,like "
    "Gecko) Chrome/60.0.3112.101 Safari/537.36",
    "userLanguage": "en-US",
    "cartData": "{“count”: ”2”,”item”: [{“img_url”: ”http://img.aaa.com/ima1.jpg”,”goods_name”: "
    "”Item 1 Name”,”goods_detail”: ”Item 1 Detail”,”goods_amt”: ”700”},{“img_url”: "
    "”http://img.aaa.com/ima2.jpg”,”goods_name”: ”Item 2 Name”,”goods_detail”: ”Item 2 Detail”,"
    "”goods_amt”: ”300”}]}",
    "mitraCd": "OVOE",
}


# ---- fresh, correctly signed bodies


def sign_order(body: dict[str, Any], key: str = KEY) -> dict[str, Any]:
    body["merchantToken"] = sha(
        str(body["timeStamp"]), str(body["iMid"]), str(body["referenceNo"]), str(body["amt"]), key
    )
    return body


def registration(
    pay_method: str = "02", amt: Any = "10000", *, sign: bool = True, **extra: Any
) -> dict[str, Any]:
    """A registration with a unique referenceNo; per-method fields from the examples."""
    base = {"01": DOC_CC, "02": DOC_VA, "03": DOC_CVS, "04": DOC_CLICKPAY, "05": DOC_EWALLET}.get(
        pay_method, DOC_CC
    )
    body = {
        **base,
        "payMethod": pay_method,
        "amt": amt,
        "referenceNo": ref(),
        "timeStamp": TS,
        "description": "Order Description",
    }
    for k in ("vacctValidDt", "vacctValidTm", "payValidDt", "payValidTm"):
        body.pop(k, None)  # default validity: 24 hours of sandbox time
    if pay_method == "06":
        body.update({"mitraCd": "AKLP", "instmntType": "2", "instmntMon": "1", "cartData": "{}"})
    body.update(extra)
    return sign_order(body) if sign else body


def register(client: httpx.Client, pay_method: str = "02", **extra: Any) -> dict[str, Any]:
    r = client.post(REG, json=registration(pay_method, **extra))
    assert r.status_code == 200, r.text
    doc: dict[str, Any] = r.json()
    assert doc["resultCd"] == "0000", doc
    return doc


def inquiry(
    t_xid: str,
    reference_no: str,
    amt: str = "10000",
    ts: str = TS,
    key: str = KEY,
    imid: str = IMID,
) -> dict[str, Any]:
    return {
        "timeStamp": ts,
        "tXid": t_xid,
        "iMid": imid,
        "referenceNo": reference_no,
        "amt": amt,
        "merchantToken": sha(ts, imid, reference_no, amt, key),
    }


def cancel(
    t_xid: str,
    amt: str,
    cancel_type: str = "1",
    pay_method: str | None = None,
    imid: str = IMID,
    key: str = KEY,
    **extra: Any,
) -> dict[str, Any]:
    body = {
        "timeStamp": TS,
        "tXid": t_xid,
        "iMid": imid,
        "payMethod": pay_method or t_xid[10:12],
        "cancelType": cancel_type,
        "cancelMsg": "Request Cancel",
        "merchantToken": sha(TS, imid, t_xid, amt, key),
        "preauthToken": "",
        "amt": amt,
        "cancelServerIp": "127.0.0.1",
        "cancelUserId": "admin",
        "cancelUserIp": "127.0.0.1",
        "cancelUserInfo": "Customer Cancel Transaction",
        "cancelRetryCnt": "",
        "worker": "",
    }
    body.update(extra)
    return body


def payment_params(
    t_xid: str,
    reference_no: str,
    amt: str = "10000",
    callback: str = "http://merchant.example/callbackUrl",
    **extra: Any,
) -> dict[str, str]:
    params = {
        "timeStamp": TS,
        "tXid": t_xid,
        "merchantToken": sha(TS, IMID, reference_no, amt, KEY),
        "cardNo": "4222222222222222",
        "cardExpYymm": "3012",
        "cardCvv": "123",
        "cardHolderNm": "Thomas Alfa Edison",
        "callBackUrl": callback,
    }
    params.update(extra)
    return params


def page_action(html: str) -> str:
    m = re.search(r'<form method="post" action="([^"]+)"', html)
    assert m, html
    return m.group(1)


def pay_through_page(
    client: httpx.Client, t_xid: str, reference_no: str, approve: bool = True, amt: str = "10000"
) -> dict[str, str]:
    """The browser's part without a browser: payment → page → button → callBackUrl query."""
    r = client.post(PAY, data=payment_params(t_xid, reference_no, amt))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), r.text
    r = client.post(page_action(r.text), data={"result": "approve" if approve else "decline"})
    assert r.status_code == 303, r.text
    return dict(parse_qsl(urlsplit(r.headers["location"]).query, keep_blank_values=True))


def notification_token(t_xid: str, amt: str, imid: str = IMID, key: str = KEY) -> str:
    return sha(imid, t_xid, amt, key)
