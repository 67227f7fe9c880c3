"""generate → pay → inquire → cancel over HTTP, both path families."""

from __future__ import annotations

import httpx

from .builders import V1_HEADERS, creds, generate_body


def test_generate_pay_inquire(client: httpx.Client) -> None:
    r = client.post("/kplus/payment/generate-token", json=generate_body())
    assert r.status_code == 200
    gen = r.json()
    assert gen["statusCode"] == "00" and gen["errorCode"] is None
    token = gen["tokenId"]
    assert token.startswith("KMCMPT") and token.endswith("PMT") and len(token) == 49

    r = client.post(f"/_sandbox/kplus/tokens/{token}/pay", json={"paymentAccount": "1234567890"})
    assert r.status_code == 200 and r.json()["status"] == "PAID"

    r = client.post("/v1/kplus/payment/inquire-token", json=creds(tokenId=token),
                    headers=V1_HEADERS)
    body = r.json()
    assert body["paymentStatus"] == "PAID"
    assert body["paymentAccount"] == "x-x-x6789-x"
    assert body["totalAmount"] == 500.0
