"""Item 6 of issue 9: no HTML page can be framed; control ids are validated; numeric fields
take ASCII digits only, on every provider."""

from __future__ import annotations

import socket

import httpx
import pytest

from ..kplus.builders import generate_body
from ..nicepay.builders import PAY, REG, page_action, payment_params, register, registration
from ..smart2pay.builders import AUTH, capture, pay, payment_body

BAD_ID = {
    "error": "bad_request",
    "message": "invalid id in the path: ids are 1-128 printable ASCII characters, without "
    "/ \\ < > quotes, % or control characters, and not . or ..",
}


def assert_not_frameable(r: httpx.Response) -> None:
    assert r.headers["content-type"].startswith("text/html"), r.text
    assert r.headers["x-frame-options"] == "DENY"
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and csp.count("frame-ancestors") == 1


def test_every_html_page_refuses_to_be_framed(client: httpx.Client) -> None:
    # K PLUS: the app page and its not-found page
    token = client.post("/kplus/payment/generate-token", json=generate_body()).json()["tokenId"]
    assert_not_frameable(client.get(f"/kplus/app/{token}"))
    missing = client.get("/kplus/app/KMCMPT0000000000000PMT")
    assert missing.status_code == 404
    assert_not_frameable(missing)
    # NICEPay: the 3-D Secure page (as the payment answer and again by GET), the approval page
    reg = register(client, "01")
    page = client.post(PAY, data=payment_params(reg["tXid"], reg["referenceNo"]))
    assert page.status_code == 200 and "<h1>3-D Secure authentication</h1>" in page.text
    assert_not_frameable(page)
    assert_not_frameable(client.get(page_action(page.text)))
    wallet = register(client, "05")
    params = payment_params(wallet["tXid"], wallet["referenceNo"])
    approval = client.post(PAY, data={k: v for k, v in params.items() if not k.startswith("card")})
    assert "Approve" in approval.text
    assert_not_frameable(approval)
    # the control plane's sign-in page
    assert_not_frameable(client.get("/_sandbox/login"))


@pytest.mark.parametrize(
    "raw", ["%00", "%0d%0a", "%2e%2e", "%2E", "%3Cscript%3E", "a%22b", "x" * 129]
)
def test_junk_control_ids_are_refused(client: httpx.Client, raw: str) -> None:
    """The issue's cases: ``PUT /_sandbox/kplus/partners/%00``, ``%0d%0a``, ``..``,
    ``<script>`` — and the same on the other providers' control routes."""
    for method, path in [
        ("PUT", f"/_sandbox/kplus/partners/{raw}"),
        ("GET", f"/_sandbox/kplus/tokens/{raw}"),
        ("POST", f"/_sandbox/nicepay/transactions/{raw}/pay"),
        ("PUT", f"/_sandbox/smart2pay/sites/{raw}"),
        ("GET", f"/_sandbox/deliveries/{raw}"),
    ]:
        r = client.request(method, path, json={"partnerSecret": "abcdefgh12", "apiKey": "k"})
        assert r.status_code == 400, (path, r.text)
        assert r.json() == BAD_ID
    partners = client.get("/_sandbox/kplus/partners").json()["partners"]
    assert [p["partnerId"] for p in partners] == ["PTR1902369"]


def test_a_raw_dot_dot_segment_is_refused(client: httpx.Client) -> None:
    """httpx removes ``..`` itself; a raw client need not."""
    host, port = str(client.base_url).removeprefix("http://").rstrip("/").split(":")
    body = b'{"partnerSecret":"abcdefgh12"}'
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(
            b"PUT /_sandbox/kplus/partners/.. HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            b"Content-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )
        answer = b""
        while chunk := s.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400 ")
    assert answer.endswith(
        b'"error":"bad_request","message":"invalid id in the path: ids are '
        b"1-128 printable ASCII characters, without / \\\\ < > quotes, % or "
        b'control characters, and not . or .."}'
    )


@pytest.mark.parametrize("site", ["0", "00", "01010", "-5", "2147483648", "1e3", "%D9%A1%D9%A0"])
def test_smart2pay_site_ids_are_positive_32_bit_numbers(client: httpx.Client, site: str) -> None:
    r = client.put(f"/_sandbox/smart2pay/sites/{site}", json={"apiKey": "site-key"})
    assert r.status_code == 400, r.text
    if "%" in site:
        assert r.json() == BAD_ID
    else:
        assert r.json() == {
            "error": "bad_request",
            "message": "siteId: a SiteID is a whole number from 1 to 2147483647",
        }
    sites = client.get("/_sandbox/smart2pay/sites").json()["sites"]
    assert [s["siteId"] for s in sites] == [1010]
    r = client.put("/_sandbox/smart2pay/sites/2147483647", json={"apiKey": "site-key"})
    assert r.status_code == 200 and r.json()["siteId"] == 2147483647


ARABIC_1234 = "١٢٣٤"


@pytest.mark.parametrize(
    ("fields", "code", "desc"),
    [
        (
            {"totalAmount": ARABIC_1234},
            "invalid_txn_amount",
            "totalAmount must be written in ASCII digits (0-9, one '.')",
        ),
        (
            {"totalAmount": "１２３４"},
            "invalid_txn_amount",
            "totalAmount must be written in ASCII digits (0-9, one '.')",
        ),
        (
            {"totalAmount": "1_234"},
            "invalid_txn_amount",
            "totalAmount must be written in ASCII digits (0-9, one '.')",
        ),
        (
            {"shippingFee": "٠"},
            "invalid_txn_amount",
            "shippingFee must be written in ASCII digits (0-9, one '.')",
        ),
        (
            {"requestDt": "١٧٠٠٠٠٠٠٠٠"},
            "invalid_parameter",
            "requestDt must be a unix timestamp or ISO-8601 text",
        ),
        (
            {"requestDt": "٢٠١٩-07-04T18:00:42"},
            "invalid_parameter",
            "requestDt must be a unix timestamp or ISO-8601 text",
        ),
        (
            {"items": [{"itemName": "a", "quantity": "٢", "amount": "250"}]},
            "invalid_parameter",
            "items[0].quantity must be written in ASCII digits (0-9, one '.')",
        ),
    ],
)
def test_kplus_numbers_are_ascii_digits(
    client: httpx.Client, fields: dict[str, object], code: str, desc: str
) -> None:
    body = generate_body(**fields)
    r = client.post("/kplus/payment/generate-token", json=body)
    assert r.status_code == 400, r.text
    assert r.json() == {
        "partnerTxnUid": body["partnerTxnUid"],
        "partnerId": "PTR1902369",
        "statusCode": "10",
        "errorCode": code,
        "errorDesc": desc,
    }


def test_nicepay_amounts_are_ascii_digits(client: httpx.Client) -> None:
    for amt in (ARABIC_1234, "１２３４"):
        r = client.post(REG, json=registration("02", amt=amt))
        assert r.json() == {
            "resultCd": "9008",
            "resultMsg": "Invalid Request Amount. Amount should only number and do not includes "
            "decimal. (amt must be digits only)",
        }
    assert client.get("/_sandbox/nicepay/transactions").json()["transactions"] == []


def test_smart2pay_amounts_are_ascii_digits(client: httpx.Client) -> None:
    r = client.post("/v1/payments", json=payment_body(amount=ARABIC_1234), headers=AUTH)  # type: ignore[arg-type]
    assert r.status_code == 400, r.text
    reasons = r.json()["Payment"]["Status"]["Reasons"]
    assert reasons == [{"Code": "1001", "Info": "Payment.Amount is invalid - must be an integer"}]
    p = pay(client, 2000, capture=False)
    r = capture(client, p["ID"], "?amount=%D9%A1%D9%A2")
    assert r.status_code == 400, r.text
    reason = {"Code": "1012", "Info": "Payment.AmountToCapture format is invalid - digits expected"}
    assert r.json()["Payment"]["Status"]["Reasons"] == [reason]
    assert (
        client.get(f"/_sandbox/smart2pay/payments/{p['ID']}").json()["payment"]["Status"]["Info"]
        == "Authorized"
    )
