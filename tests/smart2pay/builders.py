"""Request bodies and helpers for Smart2Pay tests, starting from Smart2Pay's own examples."""

from __future__ import annotations

import base64
import itertools
from typing import Any

import httpx

AUTH = {"Authorization": "Basic MTAxMDpnYWJp"}  # 1010:gabi, as in every Smart2Pay example
VISA = "4111111111111111"

_seq = itertools.count(1)


def mtid(prefix: str = "s2ptest_") -> str:
    return f"{prefix}{next(_seq):06d}"


def basic(site: object, key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{site}:{key}".encode()).decode()}


def assert_unauthorized(r: httpx.Response, root: str) -> None:
    """The whole 401: Smart2Pay's body under the path's root object, and the Basic challenge."""
    assert r.status_code == 401, r.text
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    assert r.headers["www-authenticate"] == 'Basic realm="GlobalPay"'
    assert r.json() == {
        root: {
            "Status": {
                "ID": None,
                "Info": None,
                "Reasons": [{"Code": "0", "Info": "No valid authorization header provided"}],
            }
        }
    }


def assert_invalid_data(r: httpx.Response, root: str) -> None:
    """A 400 with code 1 (Invalid data) under ``root``, whatever the Status ID/Info."""
    assert r.status_code == 400, r.text
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    reasons = r.json()[root]["Status"]["Reasons"]
    assert [x["Code"] for x in reasons] == ["1"], reasons
    assert reasons[0]["Info"].startswith("Invalid data")


def card(**extra: Any) -> dict[str, Any]:
    return {
        "HolderName": "John Doe",
        "Number": VISA,
        "ExpirationMonth": "02",
        "ExpirationYear": "2021",
        "SecurityCode": "312",
        **extra,
    }


def auth_body(**card_extra: Any) -> dict[str, Any]:
    """The tokenization page's example request."""
    return {
        "CardAuthentication": {
            "Customer": {
                "FirstName": "John",
                "LastName": "Doe",
                "Email": "testing2@test.com",
                "SocialSecurityNumber": "00003456789",
            },
            "BillingAddress": {"Country": "BR"},
            "Card": card(**card_extra),
        }
    }


def payment_body(amount: int = 2000, capture: bool = True, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "MerchantTransactionID": mtid(),
        "Amount": amount,
        "Currency": "EUR",
        "Card": card(),
        "Capture": capture,
    }
    body.update(extra)
    return {"Payment": body}


def pay(client: httpx.Client, amount: int = 2000, capture: bool = True, **extra: Any) -> Any:
    r = client.post("/v1/payments", json=payment_body(amount, capture, **extra), headers=AUTH)
    assert r.status_code in (201, 402), r.text
    return r.json()["Payment"]


def capture(client: httpx.Client, pid: int, query: str = "") -> httpx.Response:
    return client.post(f"/v1/payments/{pid}/capture{query}", headers=AUTH)


def cancel(client: httpx.Client, pid: int) -> httpx.Response:
    return client.post(f"/v1/payments/{pid}/cancel", headers=AUTH)


def refund(client: httpx.Client, pid: int, amount: int, **extra: Any) -> httpx.Response:
    body = {"Refund": {"MerchantTransactionID": mtid("r_"), "Amount": amount, **extra}}
    return client.post(f"/v1/payments/{pid}/refunds", json=body, headers=AUTH)


def status_of(client: httpx.Client, pid: int) -> tuple[int, str]:
    r = client.get(f"/v1/payments/{pid}/status", headers=AUTH)
    assert r.status_code == 200, r.text
    s = r.json()["Payment"]["Status"]
    return s["ID"], s["Info"]


def advance(client: httpx.Client, seconds: float) -> None:
    r = client.post("/_sandbox/clock/advance", json={"seconds": seconds})
    assert r.status_code == 200, r.text


def codes(body: dict[str, Any], root: str) -> list[str]:
    return [x["Code"] for x in body[root]["Status"]["Reasons"]]


def assert_accepted(r: httpx.Response, root: str, status_info: str) -> dict[str, Any]:
    """201 *and* a clean success body: Smart2Pay's clients treat a 201 that carries any
    ``Status.Reasons`` as a failure, so the reasons are part of the contract."""
    assert r.status_code == 201, r.text
    obj: dict[str, Any] = r.json()[root]
    assert obj["Status"]["Info"] == status_info, obj["Status"]
    assert obj["Status"]["Reasons"] == [], obj["Status"]
    return obj


def authenticate(client: httpx.Client, **card_extra: Any) -> str:
    r = client.post("/v1/card/authenticate", json=auth_body(**card_extra), headers=AUTH)
    assert r.status_code == 201, r.text
    return str(r.json()["CardAuthentication"]["CreditCardToken"]["Value"])
