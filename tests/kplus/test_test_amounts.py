"""paysandbox's own K PLUS test amounts: 4001.00 (the customer declines at generation) and
4002.00 (the token expires the moment it is generated), decided without moving the clock."""

from __future__ import annotations

from typing import Any

import httpx

from paysandbox.providers.kplus import rules

from .builders import creds, generate_body


def _generate(client: httpx.Client, amount: str) -> dict[str, Any]:
    body = generate_body(
        totalAmount=amount, items=[{"itemName": "Shirt", "quantity": "1", "amount": amount}]
    )
    r = client.post("/kplus/payment/generate-token", json=body)
    assert r.status_code == 200, r.text
    got: dict[str, Any] = r.json()
    assert got["statusCode"] == "00", got
    return got


def _inquire(client: httpx.Client, token: str) -> dict[str, Any]:
    r = client.post("/kplus/payment/inquire-token", json=creds(tokenId=token))
    assert r.status_code == 200, r.text
    got: dict[str, Any] = r.json()
    return got


def test_outcome_table() -> None:
    assert rules.test_outcome(400100) == "decline"
    assert rules.test_outcome(400200) == "expire"
    assert rules.test_outcome(400000) is None and rules.test_outcome(50000) is None


def test_decline_amount(client: httpx.Client) -> None:
    token = _generate(client, "4001.00")["tokenId"]
    assert _inquire(client, token)["paymentStatus"] == "REQUESTED"
    view = client.get(f"/_sandbox/kplus/tokens/{token}").json()
    assert [e["kind"] for e in view["events"]] == ["created", "declined"]
    r = client.post(f"/_sandbox/kplus/tokens/{token}/pay", json={"paymentAccount": "0011230055"})
    assert r.status_code == 409, r.text
    assert (r.json()["error"], r.json()["detail"]) == ("conflict", "qr_declined")
    page = client.get(f"/kplus/app/{token}")
    assert 'data-view="declined"' in page.text and "Payment declined" in page.text
    r = client.post(f"/kplus/app/{token}/pay", data={"paymentAccount": "0011230055"})
    assert r.status_code == 303 and "error=qr_declined" in r.headers["location"]
    assert _inquire(client, token)["paymentStatus"] == "REQUESTED"
    r = client.post(
        "/kplus/payment/cancel-token", json=creds(tokenId=token, reference1="KS1234567")
    )
    assert r.status_code == 200 and r.json()["tokenList"][0]["status"] == "CANCELLED"


def test_expire_amount_in_minor_units_too(client: httpx.Client) -> None:
    for amount in ("4002.00", "000000400200", "4002"):
        gen = _generate(client, amount)
        token = gen["tokenId"]
        assert _inquire(client, token)["paymentStatus"] == "EXPIRED"
        r = client.post(f"/_sandbox/kplus/tokens/{token}/pay", json={})
        assert r.status_code == 409 and r.json()["detail"] == "qr_expired"
        r = client.post(
            "/kplus/payment/cancel-token", json=creds(tokenId=token, reference1="KS1234567")
        )
        assert r.status_code == 409 and r.json()["errorCode"] == "qr_expired"
        events = client.get(f"/_sandbox/kplus/tokens/{token}").json()["events"]
        assert [e["kind"] for e in events] == ["created", "expired"]


def test_other_amounts_unchanged(client: httpx.Client) -> None:
    token = _generate(client, "4003.00")["tokenId"]
    r = client.post(f"/_sandbox/kplus/tokens/{token}/pay", json={"paymentAccount": "x-x-x0055-x"})
    assert r.status_code == 200
    got = _inquire(client, token)
    assert (got["paymentStatus"], got["paymentAccount"]) == ("PAID", "x-x-x0055-x")
