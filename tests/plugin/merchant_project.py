"""A merchant's test file, as a user of the pytest plugin writes it. Copied into a temporary
project and run there by ``test_pytest_plugin.py`` (it is not collected from here)."""

from __future__ import annotations

import httpx


def generate(url: str, partner_id: str, secret: str, uid: str) -> str:
    r = httpx.post(
        f"{url}/kplus/payment/generate-token",
        json={
            "partnerTxnUid": uid,
            "partnerId": partner_id,
            "partnerSecret": secret,
            "requestDt": "2019-07-04T18:00:42.411",
            "reference1": "KS1234567",
            "totalAmount": "500",
            "shippingFee": "0",
            "shopName": "My Shop",
            "shopImageUrl": "https://shop.example/logo.png",
            "osPlatform": "IOS",
            "items": [{"itemName": "Shirt", "quantity": "2", "amount": "250"}],
            "currencyCode": "THB",
            "currencyExponent": "2",
        },
    )
    assert r.json()["statusCode"] == "00", r.text
    return str(r.json()["tokenId"])


def inquire(url: str, partner_id: str, secret: str, token: str) -> dict:
    return httpx.post(
        f"{url}/kplus/payment/inquire-token",
        json={
            "partnerTxnUid": "INQ-1",
            "partnerId": partner_id,
            "partnerSecret": secret,
            "requestDt": "2019-07-04T18:00:42.411",
            "tokenId": token,
        },
    ).json()


def test_paid_order(paysandbox, paysandbox_kplus):
    p = paysandbox_kplus
    token = generate(paysandbox.url, p.partner_id, p.partner_secret, "ORDER-1001")
    p.pay(token, payment_account="0123456789")
    got = inquire(paysandbox.url, p.partner_id, p.partner_secret, token)
    assert got["paymentStatus"] == "PAID" and got["paymentAccount"] == "x-x-x5678-x"
    # Every test has its own partner: ORDER-1001 is free again in the next test.
    assert [t["tokenId"] for t in p.tokens()] == [token]


def test_declined_then_expired(paysandbox, paysandbox_kplus):
    p = paysandbox_kplus
    token = generate(paysandbox.url, p.partner_id, p.partner_secret, "ORDER-1001")
    p.decline(token)
    p.advance(1801)
    got = inquire(paysandbox.url, p.partner_id, p.partner_secret, token)
    assert got["paymentStatus"] == "EXPIRED"
    assert p.tokens(state="EXPIRED")[0]["tokenId"] == token


def test_smart2pay_queued_capture(paysandbox, paysandbox_smart2pay):
    site = paysandbox_smart2pay
    r = httpx.post(
        f"{paysandbox.smart2pay_url}/v1/payments",
        headers={"Authorization": site.authorization},
        json={
            "Payment": {
                "MerchantTransactionID": "order-1",
                "Amount": 10002,
                "Currency": "EUR",
                "Capture": True,
                "Card": {
                    "HolderName": "John Doe",
                    "Number": "4111111111111111",
                    "ExpirationMonth": "02",
                    "ExpirationYear": "2031",
                    "SecurityCode": "312",
                },
            }
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["Payment"]["Status"]["Info"] == "QueuedForCapturing"
    site.advance(61)
    assert [p["status"] for p in site.payments()] == ["Captured"]


def test_nicepay_merchant_is_fresh(paysandbox_nicepay):
    assert len(paysandbox_nicepay.imid) == 10
    assert paysandbox_nicepay.transactions() == []


def test_accounts_have_their_own_clocks(paysandbox, paysandbox_kplus):
    mine = paysandbox_kplus
    other = paysandbox.kplus_partner()
    my_token = generate(paysandbox.url, mine.partner_id, mine.partner_secret, "ORDER-1")
    other_token = generate(paysandbox.url, other.partner_id, other.partner_secret, "ORDER-1")
    mine.advance(1801)
    assert mine.clock()["offsetSeconds"] == 1801
    assert paysandbox.clock()["offsetSeconds"] == 0  # nobody else moved
    assert (
        inquire(paysandbox.url, mine.partner_id, mine.partner_secret, my_token)["paymentStatus"]
        == "EXPIRED"
    )
    assert (
        inquire(paysandbox.url, other.partner_id, other.partner_secret, other_token)[
            "paymentStatus"
        ]
        == "REQUESTED"
    )
