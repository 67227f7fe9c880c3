"""Card authentication → credit-card token; GET and cancel (seed 004); tokens paying."""

from __future__ import annotations

import re

import httpx
import pytest

from .builders import AUTH, auth_body, authenticate, codes, mtid

SEED_CANCEL_SHAPE = {
    "CardAuthentication": {
        "Card": {
            "HolderName": "John Doe",
            "Number": "VISA-1111",
            "ExpirationMonth": "02",
            "ExpirationYear": "2021",
            "IssuingBankCountry": None,
        },
        "CreditCardToken": {"Value": "<token>", "Active": "false"},
        "Status": {"ID": 3, "Info": "Canceled", "Reasons": []},
    }
}


def test_authenticate_verbatim_example(client: httpx.Client) -> None:
    r = client.post("/v1/card/authenticate", json=auth_body(), headers=AUTH)
    assert r.status_code == 201
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    ca = r.json()["CardAuthentication"]
    assert ca["Customer"]["Email"] == "testing2@test.com"
    assert isinstance(ca["Customer"]["ID"], int) and ca["Customer"]["ID"] > 0
    assert ca["Customer"]["MerchantCustomerID"] is None
    assert isinstance(ca["BillingAddress"]["ID"], int) and ca["BillingAddress"]["Country"] == "BR"
    assert ca["Card"] == {
        "HolderName": "John Doe",
        "Number": "VISA-1111",
        "ExpirationMonth": "02",
        "ExpirationYear": "2021",
        "IssuingBankCountry": None,
    }
    assert re.fullmatch(r"[0-9A-F]{32}", ca["CreditCardToken"]["Value"])
    assert ca["CreditCardToken"]["Active"] == "true"
    assert ca["Status"] == {"ID": 2, "Info": "Success", "Reasons": []}
    # (the random token value itself may contain the digits 312)
    rest = r.text.replace(ca["CreditCardToken"]["Value"], "")
    assert "4111111111111111" not in rest and "312" not in rest


def test_ids_are_assigned_and_tokens_unique(client: httpx.Client) -> None:
    seen = {authenticate(client) for _ in range(5)}
    assert len(seen) == 5
    a = client.post("/v1/card/authenticate", json=auth_body(), headers=AUTH).json()
    b = client.post("/v1/card/authenticate", json=auth_body(), headers=AUTH).json()
    assert a["CardAuthentication"]["Customer"]["ID"] != b["CardAuthentication"]["Customer"]["ID"]


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("4111111111111111", "VISA-1111"),
        ("4548812049400004", "VISA-0004"),
        ("5555555555554444", "MASTERCARD-4444"),
        ("2223003122003222", "MASTERCARD-3222"),
        ("6011111111111117", "DISCOVER-1117"),
        ("3566002020360505", "JCB-0505"),
        ("6200000000000005", "UNIONPAY-0005"),
        ("3056930009020004", "DINERS-0004"),
        ("6759649826438453", "MAESTRO-8453"),
        ("4000000000000000006", "VISA-0006"),
        ("9000000000000001", "CARD-0001"),
    ],
)
def test_brand_detected_from_number(client: httpx.Client, number: str, masked: str) -> None:
    r = client.post("/v1/card/authenticate", json=auth_body(Number=number), headers=AUTH)
    assert r.status_code == 201, r.text
    assert r.json()["CardAuthentication"]["Card"]["Number"] == masked


def test_short_year_and_month_are_normalised(client: httpx.Client) -> None:
    r = client.post(
        "/v1/card/authenticate",
        json=auth_body(ExpirationMonth="2", ExpirationYear="27"),
        headers=AUTH,
    )
    card = r.json()["CardAuthentication"]["Card"]
    assert (card["ExpirationMonth"], card["ExpirationYear"]) == ("02", "2027")


def test_get_token(client: httpx.Client) -> None:
    token = authenticate(client)
    r = client.get(f"/v1/card/token/{token}", headers=AUTH)
    assert r.status_code == 200
    assert r.json() == {
        "CardAuthentication": {
            "Card": SEED_CANCEL_SHAPE["CardAuthentication"]["Card"],
            "CreditCardToken": {"Value": token, "Active": "true"},
        }
    }
    assert client.get(f"/v1/card/token/{token.lower()}/", headers=AUTH).status_code == 200


def test_cancel_token_exactly_as_seed_004(client: httpx.Client) -> None:
    token = authenticate(client)
    r = client.post(f"/v1/card/token/{token}/cancel", headers=AUTH)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    expected = SEED_CANCEL_SHAPE
    expected["CardAuthentication"]["CreditCardToken"]["Value"] = token
    assert r.json() == expected
    assert list(r.json()["CardAuthentication"]) == ["Card", "CreditCardToken", "Status"]
    g = client.get(f"/v1/card/token/{token}", headers=AUTH).json()
    assert g["CardAuthentication"]["CreditCardToken"]["Active"] == "false"


def test_cancel_twice_is_402_2401(client: httpx.Client) -> None:
    token = authenticate(client)
    assert client.post(f"/v1/card/token/{token}/cancel", headers=AUTH).status_code == 200
    r = client.post(f"/v1/card/token/{token}/cancel/", headers=AUTH)
    assert r.status_code == 402
    body = r.json()
    assert body["CardAuthentication"]["CreditCardToken"] == {"Value": token, "Active": "false"}
    assert body["CardAuthentication"]["Status"]["ID"] == 3
    assert codes(body, "CardAuthentication") == ["2401"]


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_unknown_token_is_404(client: httpx.Client, method: str) -> None:
    path = "/v1/card/token/B531AFAC800FD51A9CCF67D0CC7B24A4"
    r = client.request(method, path if method == "GET" else f"{path}/cancel", headers=AUTH)
    assert r.status_code == 404
    assert codes(r.json(), "CardAuthentication") == ["2400"]


def test_cancelled_token_cannot_pay(client: httpx.Client) -> None:
    token = authenticate(client)
    body = {
        "Payment": {
            "MerchantTransactionID": mtid(),
            "Amount": 2000,
            "Currency": "EUR",
            "CreditCardToken": {"Value": token, "SecurityCode": "312"},
            "Capture": True,
        }
    }
    assert client.post("/v1/payments", json=body, headers=AUTH).status_code == 201
    client.post(f"/v1/card/token/{token}/cancel", headers=AUTH)
    body["Payment"]["MerchantTransactionID"] = mtid()
    r = client.post("/v1/payments", json=body, headers=AUTH)
    assert r.status_code == 402
    assert codes(r.json(), "Payment") == ["2401"]
    assert "ID" not in r.json()["Payment"]


def test_unknown_token_cannot_pay(client: httpx.Client) -> None:
    body = {
        "Payment": {
            "MerchantTransactionID": mtid(),
            "Amount": 2000,
            "Currency": "EUR",
            "CreditCardToken": {"Value": "F43F90A5CB613D91F704407D4E297EA1"},
        }
    }
    r = client.post("/v1/payments", json=body, headers=AUTH)
    assert r.status_code == 400 and codes(r.json(), "Payment") == ["2400"]


def test_control_token_route(client: httpx.Client) -> None:
    token = authenticate(client)
    client.post(f"/v1/card/token/{token}/cancel", headers=AUTH)
    r = client.get(f"/_sandbox/smart2pay/tokens/{token}")
    assert r.status_code == 200
    view = r.json()
    assert view["status"] == "Canceled" and view["siteId"] == 1010
    assert view["origin"] == "authenticate"
    assert [e["kind"] for e in view["events"]] == ["created", "canceled"]
    assert view["CardAuthentication"]["Card"]["Number"] == "VISA-1111"
    r = client.get("/_sandbox/smart2pay/tokens/NOPE")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
