"""inquire-token and cancel-token over HTTP, the documents' examples verbatim, and the
control routes that simulate the customer."""

from __future__ import annotations

import base64
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from ..support import KPLUS_ID, KPLUS_SECRET, LiveServer
from .builders import V1_HEADERS, creds, generate_body
from .test_api_generate import assert_error, stored

GEN = "/kplus/payment/generate-token"
INQ = "/kplus/payment/inquire-token"
CAN = "/kplus/payment/cancel-token"

INQUIRE_FIELDS = {
    "partnerTxnUid",
    "partnerId",
    "statusCode",
    "errorCode",
    "errorDesc",
    "paymentStatus",
    "paymentTimeStamp",
    "paymentRefernceId",
    "slipImage",
    "paymentAccount",
    "paymentDt",
    "reference1",
    "reference2",
    "totalAmount",
    "currencyCode",
    "currencyExponent",
    "tokenId",
    "additionalInfo1",
    "additionalInfo2",
    "additionalInfo3",
}


def new_token(client: httpx.Client, **extra: Any) -> str:
    r = client.post(GEN, json=generate_body(**extra))
    assert r.status_code == 200, r.text
    return str(r.json()["tokenId"])


def inquire(client: httpx.Client, token: str, **extra: Any) -> dict[str, Any]:
    r = client.post(INQ, json=creds(tokenId=token, **extra))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert set(body) == INQUIRE_FIELDS
    return body


def test_inquire_unpaid_token(client: httpx.Client) -> None:
    token = new_token(client, reference2="R2", additionalInfo1="A1", totalAmount="1234.50")
    got = inquire(client, token)
    assert got["statusCode"] == "00" and got["errorCode"] is None
    assert got["paymentStatus"] == "REQUESTED"
    assert got["paymentTimeStamp"] is None and got["paymentAccount"] is None
    assert got["paymentRefernceId"] is None and got["slipImage"] is None
    assert got["paymentDt"] is None
    assert got["reference1"] == "KS1234567" and got["reference2"] == "R2"
    assert got["totalAmount"] == 1234.5 and got["currencyCode"] == "THB"
    assert got["currencyExponent"] == "2" and got["tokenId"] == token
    assert got["additionalInfo1"] == "A1" and got["additionalInfo2"] is None


def test_pay_then_inquire_reports_paid_with_payment_fields(client: httpx.Client) -> None:
    token = new_token(client)
    r = client.post(f"/_sandbox/kplus/tokens/{token}/pay", json={"paymentAccount": "0011230055"})
    assert r.status_code == 200
    assert r.json()["status"] == "PAID"
    got = inquire(client, token)
    assert got["paymentStatus"] == "PAID"
    assert got["paymentAccount"] == "x-x-x3005-x"
    assert isinstance(got["paymentTimeStamp"], int) and got["paymentTimeStamp"] > 1_500_000_000
    assert got["paymentRefernceId"] and got["paymentRefernceId"].isdigit()
    assert got["paymentDt"] and got["paymentDt"][4] == "-" and "T" in got["paymentDt"]
    if got["slipImage"] is not None:
        assert base64.b64decode(got["slipImage"]).startswith(b"\x89PNG")


def test_control_view_shows_items_in_baht(client: httpx.Client) -> None:
    token = new_token(client, items=[{"itemName": "Shirt", "quantity": "2", "amount": "250.5"}])
    view = client.get(f"/_sandbox/kplus/tokens/{token}").json()
    assert view["items"] == [{"itemName": "Shirt", "quantity": 2, "amount": 250.5}]
    assert view["totalAmount"] == 500 and view["shippingFee"] == 0


def test_pay_without_body_uses_a_random_account(client: httpx.Client) -> None:
    token = new_token(client)
    r = client.post(f"/_sandbox/kplus/tokens/{token}/pay")
    assert r.status_code == 200
    assert r.json()["paymentAccount"].startswith("x-x-x")


def test_inquire_after_expiry_reports_expired(client: httpx.Client) -> None:
    token = new_token(client)
    client.post("/_sandbox/clock/advance", json={"seconds": 1799})
    assert inquire(client, token)["paymentStatus"] == "REQUESTED"
    client.post("/_sandbox/clock/advance", json={"seconds": 2})
    assert inquire(client, token)["paymentStatus"] == "EXPIRED"
    events = client.get(f"/_sandbox/kplus/tokens/{token}").json()["events"]
    assert [e["kind"] for e in events] == ["created", "expired"]
    # an expired token can be neither paid nor cancelled
    r = client.post(f"/_sandbox/kplus/tokens/{token}/pay")
    assert r.status_code == 409 and r.json()["detail"] == "qr_expired"
    assert_error(client.post(CAN, json=creds(tokenId=token, reference1="x")), 409, "qr_expired")


def test_partner_ttl_is_configurable(client: httpx.Client) -> None:
    r = client.put(f"/_sandbox/kplus/partners/{KPLUS_ID}", json={"tokenTtlSeconds": 60})
    assert r.status_code == 200 and r.json()["tokenTtlSeconds"] == 60
    assert "partnerSecret" not in r.json()
    token = new_token(client)
    client.post("/_sandbox/clock/advance", json={"seconds": 61})
    assert inquire(client, token)["paymentStatus"] == "EXPIRED"


def test_control_expire(client: httpx.Client) -> None:
    token = new_token(client)
    r = client.post(f"/_sandbox/kplus/tokens/{token}/expire")
    assert r.status_code == 200 and r.json()["status"] == "EXPIRED"
    assert inquire(client, token)["paymentStatus"] == "EXPIRED"
    r = client.post(f"/_sandbox/kplus/tokens/{token}/expire")
    assert r.status_code == 409 and r.json() == {
        "error": "conflict",
        "message": "token has expired",
        "detail": "qr_expired",
    }


def test_cancel_unpaid_token(client: httpx.Client) -> None:
    token = new_token(client)
    body = creds(tokenId=token, reference1="av")
    r = client.post(CAN, json=body)
    assert r.status_code == 200
    assert r.json() == {
        "partnerTxnUid": body["partnerTxnUid"],
        "partnerId": KPLUS_ID,
        "statusCode": "00",
        "errorCode": None,
        "errorDesc": None,
        "tokenList": [{"tokenId": token, "reference1": "KS1234567", "status": "CANCELLED"}],
    }
    assert inquire(client, token)["paymentStatus"] == "CANCELLED"
    assert_error(client.post(CAN, json=creds(tokenId=token, reference1="av")), 409, "qr_cancelled")
    r = client.post(f"/_sandbox/kplus/tokens/{token}/pay")
    assert r.status_code == 409 and r.json()["detail"] == "qr_cancelled"


def test_cancel_paid_token_is_refused(client: httpx.Client) -> None:
    token = new_token(client)
    client.post(f"/_sandbox/kplus/tokens/{token}/pay")
    assert_error(client.post(CAN, json=creds(tokenId=token, reference1="x")), 409, "qr_paid")
    assert inquire(client, token)["paymentStatus"] == "PAID"
    r = client.post(f"/_sandbox/kplus/tokens/{token}/pay")
    assert r.status_code == 409 and r.json()["detail"] == "qr_paid"


def test_cancel_v1_and_its_errors(client: httpx.Client) -> None:
    token = new_token(client)
    path = "/v1/kplus/payment/cancel-token"
    assert_error(
        client.post(path, json=creds(tokenId=token, reference1="x")), 401, "authentication_error"
    )
    r = client.post(path, json=creds(tokenId=token, reference1="x"), headers=V1_HEADERS)
    assert r.status_code == 200 and r.json()["tokenList"][0]["status"] == "CANCELLED"
    assert_error(
        client.post(CAN, json=creds(tokenId=token, reference1="")), 400, "invalid_reference1"
    )
    body = creds(tokenId=token)
    assert_error(client.post(CAN, json=body), 400, "invalid_reference1")


def test_cancel_reused_uid_is_a_duplicate(client: httpx.Client) -> None:
    t1, t2 = new_token(client), new_token(client)
    body = creds(tokenId=t1, reference1="x")
    assert client.post(CAN, json=body).status_code == 200
    assert_error(client.post(CAN, json={**body, "tokenId": t2}), 409, "duplicate_request")
    assert inquire(client, t2)["paymentStatus"] == "REQUESTED"


@pytest.mark.parametrize("path", [INQ, CAN, "/v1/kplus/payment/inquire-token"])
def test_unknown_and_foreign_tokens_are_not_found(client: httpx.Client, path: str) -> None:
    extra = {"reference1": "x"} if path == CAN else {}
    r = client.post(path, json=creds(tokenId="KMCMPTnope", **extra), headers=V1_HEADERS)
    assert_error(r, 404, "token_not_found")
    client.put("/_sandbox/kplus/partners/PTR0000002", json={"partnerSecret": "other-secret-1"})
    token = new_token(client)
    other = {
        **creds(tokenId=token, **extra),
        "partnerId": "PTR0000002",
        "partnerSecret": "other-secret-1",
    }
    r = client.post(
        path, json=other, headers={"Partner-Id": "PTR0000002", "Partner-Secret": "other-secret-1"}
    )
    assert_error(r, 404, "token_not_found")


@pytest.mark.parametrize("path", [INQ, CAN])
def test_inquire_cancel_field_errors(client: httpx.Client, path: str) -> None:
    extra = {"reference1": "x"} if path == CAN else {}
    assert_error(client.post(path, json=creds(**extra)), 400, "missing_parameter")
    assert_error(client.post(path, json=creds(tokenId=5, **extra)), 400, "invalid_parameter")
    assert_error(client.post(path, json=creds(tokenId="K" * 65, **extra)), 400, "invalid_parameter")
    assert_error(
        client.post(path, json=creds(tokenId="x", partnerSecret="bad", **extra)),
        401,
        "authentication_error",
    )
    assert_error(
        client.post(path, json=creds(tokenId="x", requestDt="soon", **extra)),
        400,
        "invalid_parameter",
    )


# ------------------------------------------------ the documents' own examples, verbatim

SEED_002_INQUIRE = b"""{
    "partnerTxnUid": "transIrtses222",
    "partnerId":"PTR1902369",
    "partnerSecret":"7da57c4eb242435fa3e91bb7a69e2a28",
    "requestDt": "2019-07-04T18:00:42.411",
    "tokenId": "KMCMPTtbbibmvyvnutyyknckxtngiwaklpcjptykxon34f8PMT"
}"""

SEED_000_CANCEL = b"""{
    "partnerTxnUid": "transIrtses152",
    "partnerId":"PTR1902369",
    "partnerSecret":"7da57c4eb242435fa3e91bb7a69e2a28",
    "requestDt": "2019-07-04T18:00:42.411",
    "tokenId": "KMCMPTzpjbelgdzimkogvbmhxyutxytahzyqglfjenb1624PMT",
    "reference1":"av"
}"""

JSON = {"Content-Type": "application/json"}


def test_seed_002_inquire_example_verbatim(client: httpx.Client) -> None:
    token = "KMCMPTtbbibmvyvnutyyknckxtngiwaklpcjptykxon34f8PMT"
    r = client.post(INQ, content=SEED_002_INQUIRE, headers=JSON)
    assert_error(r, 404, "token_not_found", partnerTxnUid="transIrtses222", partnerId=KPLUS_ID)
    made = client.post(
        "/_sandbox/kplus/tokens", json={"tokenId": token, "totalAmount": 500, "reference2": ""}
    )
    assert made.status_code == 200, made.text
    client.post(f"/_sandbox/kplus/tokens/{token}/pay")
    got = client.post(INQ, content=SEED_002_INQUIRE, headers=JSON).json()
    assert got["statusCode"] == "00" and got["paymentStatus"] == "PAID"
    assert got["partnerTxnUid"] == "transIrtses222" and got["tokenId"] == token
    assert got["reference1"] == "KS1234567" and got["reference2"] == ""
    assert got["totalAmount"] == 500 and got["currencyCode"] == "THB"


def test_seed_000_cancel_example_verbatim(client: httpx.Client) -> None:
    token = "KMCMPTzpjbelgdzimkogvbmhxyutxytahzyqglfjenb1624PMT"
    client.post("/_sandbox/kplus/tokens", json={"tokenId": token, "reference1": "KS1234567"})
    r = client.post(CAN, content=SEED_000_CANCEL, headers=JSON)
    assert r.status_code == 200
    assert r.json() == {
        "partnerId": "PTR1902369",
        "partnerTxnUid": "transIrtses152",
        "errorCode": None,
        "errorDesc": None,
        "statusCode": "00",
        "tokenList": [{"tokenId": token, "reference1": "KS1234567", "status": "CANCELLED"}],
    }


def test_seed_001_cancel_v1_with_headers(client: httpx.Client) -> None:
    token = "KMCMPTzpjbelgdzimkogvbmhxyutxytahzyqglfjenb1624PMT"
    client.post("/_sandbox/kplus/tokens", json={"tokenId": token})
    r = client.post(
        "/v1/kplus/payment/cancel-token",
        content=SEED_000_CANCEL,
        headers={**JSON, "Partner-Id": KPLUS_ID, "Partner-Secret": KPLUS_SECRET},
    )
    assert r.status_code == 200 and r.json()["tokenList"][0]["status"] == "CANCELLED"


def test_racing_fixtures_of_one_token_id_make_it_once(client: httpx.Client) -> None:
    """Twelve control-API fixtures with the same chosen tokenId at once: one 200, eleven 409
    duplicate_request, never a 500 (on PostgreSQL 3-5 of them were a unique-key error)."""
    start = threading.Barrier(12)

    def make(n: int) -> httpx.Response:
        with httpx.Client(base_url=client.base_url, timeout=30) as c:
            start.wait()
            body = {"tokenId": "KMCMPTracefixture01PMT", "partnerTxnUid": f"race-{n}"}
            return c.post("/_sandbox/kplus/tokens", json=body)

    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(make, range(12)))
    assert sorted(r.status_code for r in answers) == [200] + [409] * 11, [r.text for r in answers]
    for r in answers:
        if r.status_code == 409:
            assert r.json()["detail"] == "duplicate_request" and "tokenId" in r.json()["message"]
    [won] = [r for r in answers if r.status_code == 200]
    # the losers' partnerTxnUids were not burned: each can still be used
    loser_uids = {f"race-{n}" for n in range(12)} - {won.json()["partnerTxnUid"]}
    uid = sorted(loser_uids)[0]
    r = client.post("/kplus/payment/generate-token", json=generate_body(partnerTxnUid=uid))
    assert r.status_code == 200, r.text


def test_fixture_token_id_cannot_be_reused(client: httpx.Client, server: LiveServer) -> None:
    body = {"tokenId": "KMCMPTfixture0001PMT"}
    assert client.post("/_sandbox/kplus/tokens", json=body).status_code == 200
    before = stored(server, "fixture-again")
    r = client.post("/_sandbox/kplus/tokens", json={**body, "partnerTxnUid": "fixture-again"})
    assert r.status_code == 409 and r.json()["detail"] == "duplicate_request"
    assert "tokenId" in r.json()["message"]
    assert stored(server, "fixture-again") == before  # nothing kept, the uid not burned either
    r = client.post(
        "/kplus/payment/generate-token", json=generate_body(partnerTxnUid="fixture-again")
    )
    assert r.status_code == 200, r.text
    # both taken: the partnerTxnUid is checked first, as for every verb
    r = client.post("/_sandbox/kplus/tokens", json={**body, "partnerTxnUid": "fixture-again"})
    assert r.status_code == 409 and "partnerTxnUid" in r.json()["message"]
    r = client.post("/_sandbox/kplus/tokens", json={"tokenId": "bad id!"})
    assert r.status_code == 400 and r.json()["error"] == "bad_request"
