"""``POST /_sandbox/kplus/tokens/{id}/pay``: the account as a raw number or already in KBank's
masked form ``x-x-x0055-x`` (the form KBank's own documents show), both give the same answer."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from .builders import creds, generate_body


def _generate(client: httpx.Client) -> str:
    r = client.post("/kplus/payment/generate-token", json=generate_body())
    assert r.status_code == 200, r.text
    token: str = r.json()["tokenId"]
    return token


def _inquire(client: httpx.Client, token: str) -> dict[str, Any]:
    r = client.post("/kplus/payment/inquire-token", json=creds(tokenId=token))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("x-x-x0055-x", "x-x-x0055-x"),
        ("X-X-X0055-X", "x-x-x0055-x"),
        (" x-x-x0055-x ", "x-x-x0055-x"),
        ("0011230055", "x-x-x3005-x"),
        ("001-1-23005-5", "x-x-x3005-x"),
    ],
)
def test_pay_accepts_a_masked_or_a_raw_account(
    client: httpx.Client, given: str, stored: str
) -> None:
    token = _generate(client)
    r = client.post(f"/_sandbox/kplus/tokens/{token}/pay", json={"paymentAccount": given})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "PAID"
    body = _inquire(client, token)
    assert body["paymentStatus"] == "PAID"
    assert body["paymentAccount"] == stored


@pytest.mark.parametrize("given", ["x-x-x005-x", "x-x-xabcd-x", "1234", "x-x-x0055"])
def test_a_malformed_account_is_still_refused_and_changes_nothing(
    client: httpx.Client, given: str
) -> None:
    token = _generate(client)
    r = client.post(f"/_sandbox/kplus/tokens/{token}/pay", json={"paymentAccount": given})
    assert r.status_code == 400, r.text
    assert r.json()["detail"] == "invalid_parameter"
    assert "5 digits" in r.json()["message"]
    assert _inquire(client, token)["paymentStatus"] == "REQUESTED"
