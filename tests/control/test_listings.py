"""Listing routes for K PLUS tokens and Smart2Pay payments, 400 for unknown filter values, the
K PLUS slip shown once (a PNG link in control views), decline, and NICEPay merchant PUT."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx

from ..kplus.builders import creds, generate_body
from ..nicepay import builders as nb
from ..smart2pay.builders import pay
from ..support import KPLUS_ID, Receiver, wait_settled

TOKEN_STATES = "CANCELLED, EXPIRED, PAID, REQUESTED, VOIDED"


def generate(client: httpx.Client, **extra: Any) -> str:
    r = client.post("/kplus/payment/generate-token", json=generate_body(**extra))
    assert r.json()["statusCode"] == "00", r.text
    return str(r.json()["tokenId"])


def bad_request(r: httpx.Response, message: str) -> None:
    assert r.status_code == 400, r.text
    assert r.json() == {"error": "bad_request", "message": message}


def test_kplus_token_list_filters_by_partner_and_true_state(client: httpx.Client) -> None:
    client.put("/_sandbox/kplus/partners/PTROTHER01", json={"partnerSecret": "other-secret-1"})
    paid, open_, expiring = generate(client), generate(client), generate(client)
    other = client.post(
        "/kplus/payment/generate-token",
        json=generate_body(partnerId="PTROTHER01", partnerSecret="other-secret-1"),
    ).json()["tokenId"]
    client.post(f"/_sandbox/kplus/tokens/{paid}/pay")
    client.post(f"/_sandbox/kplus/tokens/{expiring}/expire")

    mine = client.get("/_sandbox/kplus/tokens", params={"partnerId": KPLUS_ID}).json()["tokens"]
    assert [t["tokenId"] for t in mine] == [expiring, open_, paid]  # newest first
    assert {t["tokenId"]: t["status"] for t in mine} == {
        paid: "PAID",
        open_: "REQUESTED",
        expiring: "EXPIRED",
    }
    assert mine[2]["totalAmount"] == 500.0 and mine[2]["paidAt"] is not None
    everyone = client.get("/_sandbox/kplus/tokens").json()["tokens"]
    assert {t["tokenId"] for t in everyone} == {paid, open_, expiring, other}
    one = client.get("/_sandbox/kplus/tokens", params={"limit": 1}).json()["tokens"]
    assert [t["tokenId"] for t in one] == [other]

    # The state is the true one at the sandbox clock: an unpaid token past expiry is EXPIRED.
    client.post("/_sandbox/clock/advance", json={"seconds": 1801})
    expired = client.get(
        "/_sandbox/kplus/tokens", params={"state": "EXPIRED", "partnerId": KPLUS_ID}
    ).json()["tokens"]
    assert [t["tokenId"] for t in expired] == [expiring, open_]
    requested = client.get("/_sandbox/kplus/tokens", params={"state": "REQUESTED"}).json()
    assert requested == {"tokens": []}


def test_unknown_filter_values_are_400(client: httpx.Client) -> None:
    bad_request(
        client.get("/_sandbox/kplus/tokens", params={"state": "bogus"}),
        f"state must be one of {TOKEN_STATES}",
    )
    r = client.get("/_sandbox/smart2pay/payments", params={"state": "bogus"})
    assert r.status_code == 400 and r.json()["error"] == "bad_request"
    assert r.json()["message"].startswith("state must be one of Open, Success, Cancelled")
    bad_request(
        client.get("/_sandbox/smart2pay/payments", params={"siteId": "abc"}),
        "siteId must be a number of at most 12 digits",
    )
    bad_request(
        client.get("/_sandbox/deliveries", params={"state": "bogus"}),
        "state must be one of pending, succeeded, failed",
    )
    bad_request(
        client.get("/_sandbox/deliveries", params={"provider": "paypal"}),
        "provider must be one of kplus, nicepay, smart2pay",
    )
    bad_request(
        client.get("/_sandbox/kplus/tokens", params={"limit": "x"}), "limit must be an integer"
    )


def test_smart2pay_payment_list_filters_by_site_and_effective_state(client: httpx.Client) -> None:
    captured = pay(client, 2000)["ID"]
    queued = pay(client, 10002)["ID"]
    authorized = pay(client, 2000, capture=False)["ID"]
    client.put("/_sandbox/smart2pay/sites/2020", json={"apiKey": "another"})
    listed = client.get("/_sandbox/smart2pay/payments", params={"siteId": 1010}).json()
    assert [(p["id"], p["status"]) for p in listed["payments"]] == [
        (authorized, "Authorized"),
        (queued, "QueuedForCapturing"),
        (captured, "Captured"),
    ]
    assert listed["payments"][0]["amount"] == 2000 and listed["payments"][0]["siteId"] == 1010
    assert client.get("/_sandbox/smart2pay/payments", params={"siteId": 2020}).json() == {
        "payments": []
    }
    # A queued status whose time has come counts as its next one, before anyone reads it.
    client.post("/_sandbox/clock/advance", json={"seconds": 61})
    now_captured = client.get("/_sandbox/smart2pay/payments", params={"state": "Captured"})
    assert [p["id"] for p in now_captured.json()["payments"]] == [queued, captured]


def test_deliveries_filter_by_account(client: httpx.Client, receiver: Receiver) -> None:
    client.put(f"/_sandbox/kplus/partners/{KPLUS_ID}", json={"callbackUrl": receiver.url})
    client.put(
        "/_sandbox/kplus/partners/PTROTHER02",
        json={"partnerSecret": "other-secret-2", "callbackUrl": receiver.url},
    )
    mine = generate(client)
    theirs = client.post(
        "/kplus/payment/generate-token",
        json=generate_body(partnerId="PTROTHER02", partnerSecret="other-secret-2"),
    ).json()["tokenId"]
    client.post(f"/_sandbox/kplus/tokens/{mine}/pay")
    client.post(f"/_sandbox/kplus/tokens/{theirs}/pay")
    receiver.wait_for(2)
    found = client.get("/_sandbox/deliveries", params={"accountId": "PTROTHER02"}).json()
    assert [(d["accountId"], d["objectId"]) for d in found["deliveries"]] == [
        ("PTROTHER02", theirs)
    ]


def test_slip_is_shown_once(client: httpx.Client, receiver: Receiver) -> None:
    receiver.script = [(500, b"{}"), (500, b"{}")]
    client.put(f"/_sandbox/kplus/partners/{KPLUS_ID}", json={"callbackUrl": receiver.url})
    token = generate(client)
    assert client.get(f"/_sandbox/kplus/tokens/{token}/slip.png").json() == {
        "error": "not_found",
        "message": f"token {token} has no slip (it is not paid)",
    }
    answer = client.post(f"/_sandbox/kplus/tokens/{token}/pay")
    view = answer.json()
    assert "slipImage" not in view and view["paymentStatus"] == "PAID"
    assert len(answer.content) < 5000  # was ~53 KB with the slip in base64
    png = client.get(view["slipImageUrl"])
    assert png.headers["content-type"] == "image/png" and png.content.startswith(b"\x89PNG")

    # The wire answer keeps the slip, byte for byte the PNG the link serves.
    wire = client.post("/kplus/payment/inquire-token", json=creds(tokenId=token)).json()
    assert base64.b64decode(wire["slipImage"]) == png.content

    # Three attempts: the delivery view carries the callback body (with its slip) once.
    receiver.wait_for(1)
    for n in (2, 3):
        wait_settled(client)
        client.post("/_sandbox/clock/advance", json={"seconds": 400})
        receiver.wait_for(n)
    wait_settled(client)
    delivery_id = client.get("/_sandbox/deliveries", params={"objectId": token}).json()[
        "deliveries"
    ][0]["id"]
    detail = client.get(f"/_sandbox/deliveries/{delivery_id}")
    doc = detail.json()
    assert len(doc["attemptLog"]) == 3
    assert [a["request"]["bodyAsDelivery"] for a in doc["attemptLog"]] == [True, True, True]
    assert detail.text.count(wire["slipImage"]) == 1
    sent = receiver.requests[0].json()  # and the merchant got the full Confirm Payment body
    assert sent["slipImage"] == wire["slipImage"]
    assert json.loads(doc["request"]["body"])["slipImage"] == wire["slipImage"]


def test_kplus_decline_through_the_control_api(client: httpx.Client) -> None:
    token = generate(client)
    view = client.post(f"/_sandbox/kplus/tokens/{token}/decline").json()
    assert view["status"] == "REQUESTED"  # declining leaves the token payable, as in the app
    assert [e["kind"] for e in view["events"]][-1] == "declined"
    client.post(f"/_sandbox/kplus/tokens/{token}/pay")
    r = client.post(f"/_sandbox/kplus/tokens/{token}/decline")
    assert r.status_code == 409 and r.json()["error"] == "conflict", r.text
    r = client.post("/_sandbox/kplus/tokens/NOSUCHTOKEN1/decline")
    assert r.status_code == 404 and r.json()["error"] == "not_found"


def test_nicepay_merchant_put(client: httpx.Client) -> None:
    key = "a-new-merchant-key-0123456789"
    r = client.put("/_sandbox/nicepay/merchants/MYSHOP0001", json={"merchantKey": key})
    assert r.status_code == 200 and r.json() == {"iMid": "MYSHOP0001", "faults": {}}
    merchants = client.get("/_sandbox/nicepay/merchants").json()["merchants"]
    assert {"iMid": "MYSHOP0001", "faults": {}} in merchants
    assert key not in client.get("/_sandbox/nicepay/merchants").text
    # The new merchant signs with its own key on the wire.
    body = nb.registration("02", iMid="MYSHOP0001", sign=False)
    got = client.post(nb.REG, json=nb.sign_order(body, key)).json()
    assert got["resultCd"] == "0000", got
    wrong = client.post(nb.REG, json=nb.registration("02", iMid="MYSHOP0001")).json()
    assert wrong["resultCd"] == "9010"  # signed with the demo key: refused
    listed = client.get("/_sandbox/nicepay/transactions", params={"iMid": "MYSHOP0001"}).json()
    assert [t["tXid"] for t in listed["transactions"]] == [got["tXid"]]

    bad_request(
        client.put("/_sandbox/nicepay/merchants/TOO-LONG-IMID", json={"merchantKey": key}),
        "iMid must be 1-10 letters or digits",
    )
    r = client.put("/_sandbox/nicepay/merchants/MYSHOP0002", json={})
    assert r.status_code == 400 and r.json()["error"] == "bad_request"
    assert "merchantKey" in r.json()["message"]


def test_listings_refuse_filters_they_do_not_know(client: httpx.Client) -> None:
    """A mistyped filter is a 400 naming the route's own, never every account's objects; the
    NICEPay listing's ``state`` filters (it was ignored)."""
    for path, wrong in (
        ("/_sandbox/deliveries", "account"),
        ("/_sandbox/kplus/tokens", "account"),
        ("/_sandbox/nicepay/transactions", "imid"),
        ("/_sandbox/smart2pay/payments", "site"),
    ):
        r = client.get(path, params={wrong: "nobody"})
        assert r.status_code == 400 and r.json()["error"] == "bad_request", (path, r.text)
        assert f"unknown query parameter {wrong}" in r.json()["message"]


def test_nicepay_listing_by_state(client: httpx.Client) -> None:
    from ..nicepay.builders import register

    paid, unpaid = register(client, "02")["tXid"], register(client, "02")["tXid"]
    assert client.post(f"/_sandbox/nicepay/transactions/{paid}/pay").status_code == 200

    def listed(state: str) -> list[str]:
        r = client.get("/_sandbox/nicepay/transactions", params={"state": state})
        assert r.status_code == 200, r.text
        return [t["tXid"] for t in r.json()["transactions"]]

    assert listed("PAID") == [paid]
    assert listed("UNPAID") == [unpaid]
    client.post("/_sandbox/clock/advance", json={"seconds": 2 * 86400})  # past the validity
    assert listed("UNPAID") == [] and listed("EXPIRED") == [unpaid]
    r = client.get("/_sandbox/nicepay/transactions", params={"state": "NOSUCH"})
    assert r.status_code == 400 and "state must be one of" in r.json()["message"]
