"""merchantToken formulas against the exact examples of NICEPay's documents, and the
documents' own requests accepted verbatim with the demo merchant."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from paysandbox.providers.nicepay import auth

from .builders import (
    DOC_CC,
    DOC_CLICKPAY,
    DOC_CVS,
    DOC_EWALLET,
    DOC_GENERIC,
    DOC_VA,
    IMID,
    KEY,
    REG,
)

# (timeStamp, referenceNo, amt, token) from the documents; each reproduces with the demo key.
DOC_ORDER_TOKENS = [
    (
        "20170822170942",
        "OrdNo2017717942577",
        "1000",
        "b5149659e1a2f1271fb0833f8ea20e174b6fd389db26bc6ad036cc0dae6fa797",
    ),  # registration
    (
        "20180123100505",
        "ORD12345",
        "10000",
        "f9d30f6c972e2b5718751bd087b178534673a91bbac845f8a24e60e8e4abbbc5",
    ),  # CC/VA/CVS/ClickPay
    (
        "20200923132509",
        "JWB20092188",
        "529500",
        "a571183b8fd6c6051bcfa85b09c2bf2013e055ce313d00494dfb04b17a6a13ab",
    ),  # newer VA page
    (
        "20190813141070",
        "OrdNo20181023141070",
        "6500000",
        "f13aca1c9793987581c9afe0bad6c09d2cb70c7840e269a78911a8b96d15eea5",
    ),  # e-wallet
    (
        "20180305115011",
        "ORD12345",
        "10000",
        "a1b747ad8ce72461de6194e1fff3ef5b5022b957d9003d14b52f4d52b5b55fe8",
    ),  # inquiry
    (
        "20180302112151",
        "99997",
        "10000",
        "b4171e8228be7a75d19ad29b509e76d5fc70a4c000ef87bc55cf0cda72767e72",
    ),  # payment GET
    (
        "20180305105635",
        "ORD12345",
        "10000",
        "58161e87726ecf5cdaed5462a994d9bf05172d786c1cbfe0ad03e133c5797645",
    ),  # ClickPay payment
]


@pytest.mark.parametrize(("ts", "ref", "amt", "token"), DOC_ORDER_TOKENS)
def test_order_token_matches_documents(ts: str, ref: str, amt: str, token: str) -> None:
    assert auth.order_token(ts, IMID, ref, amt, KEY) == token
    auth.verify(token, auth.order_token(ts, IMID, ref, amt, KEY), "registration")
    auth.verify(token.upper(), auth.order_token(ts, IMID, ref, amt, KEY), "inquiry")


def test_cancel_and_notification_tokens() -> None:
    t_xid = "IONPAYTEST02201804191326086706"
    assert auth.cancel_token("20180305115011", IMID, t_xid, "10000", KEY) == (
        "9cdd41753ff3e69f21abaa631dbfcefcbe7d02a5e09515e839d795601a1e6acb"
    )
    assert auth.notification_token(IMID, t_xid, "10000", KEY) == (
        "b5fea7686c473d8e04ff9131ac8f1f956a2cd5f7a911a7c4fac8d9fc312f4035"
    )


def test_wrong_token_names_formula_not_value() -> None:
    expected = auth.order_token("20180123100505", IMID, "ORD12345", "10000", KEY)
    with pytest.raises(Exception) as info:
        auth.verify("0" * 64, expected, "registration")
    text = str(info.value) + getattr(info.value, "result_msg", "")
    assert expected not in text
    assert "timeStamp + iMid + referenceNo + amt + merchantKey" in text


@pytest.mark.parametrize(
    ("doc", "method"),
    [
        (DOC_GENERIC, "01"),
        (DOC_CC, "01"),
        (DOC_VA, "02"),
        (DOC_CVS, "03"),
        (DOC_CLICKPAY, "04"),
        (DOC_EWALLET, "05"),
    ],
    ids=["generic", "cc", "va", "cvs", "clickpay", "ewallet"],
)
def test_document_examples_register_verbatim(
    client: httpx.Client, doc: dict[str, Any], method: str
) -> None:
    r = client.post(REG, json=doc)
    assert r.status_code == 200
    body = r.json()
    assert body["resultCd"] == "0000" and body["resultMsg"] == "SUCCESS", body
    assert body["payMethod"] == method
    assert body["referenceNo"] == doc["referenceNo"]
    assert body["amt"] == doc["amt"]
    t_xid = body["tXid"]
    assert len(t_xid) == 30 and t_xid.startswith(IMID + method)
    assert t_xid[12:20] == body["transDt"] and t_xid[20:26] == body["transTm"]
    assert t_xid[26:].isdigit()
    if method == "02":
        assert body["bankCd"] == "CENA" and body["vacctNo"].isdigit()
        assert (body["vacctValidDt"], body["vacctValidTm"]) == ("20180306", "091309")
        assert (body["currency"], body["goodsNm"]) == ("IDR", "Test Transaction Nicepay")
    if method == "03":
        assert body["mitraCd"] == "ALMA" and len(body["payNo"]) == 12
        assert (body["payValidDt"], body["payValidTm"]) == ("20180308", "095500")
    if method == "01":
        assert body["vacctNo"] is None and body["currency"] is None


def test_token_computed_over_amt_as_sent(client: httpx.Client) -> None:
    """amt as a JSON number signs the same digits as the string form."""
    body = {**DOC_CC, "amt": 10000}
    r = client.post(REG, json=body)
    assert r.json()["resultCd"] == "0000"
