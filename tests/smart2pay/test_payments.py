"""Card payments: the documents' examples verbatim, every route, captures, cancels, refunds,
duplicates, illegal transitions and the provider-format 404/405."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from .builders import (
    AUTH,
    authenticate,
    basic,
    cancel,
    capture,
    codes,
    mtid,
    pay,
    payment_body,
    refund,
    status_of,
)

FIELDS = [
    "ID",
    "ClientIP",
    "SkinID",
    "Created",
    "MerchantTransactionID",
    "OriginatorTransactionID",
    "Amount",
    "Currency",
    "CapturedAmount",
    "ReturnURL",
    "Description",
    "StatementDescriptor",
    "MethodID",
    "MethodOptionID",
    "SiteID",
    "NotificationDateTime",
    "Customer",
    "BillingAddress",
    "ShippingAddress",
    "Articles",
    "Card",
    "CreditCardToken",
    "Status",
    "CaptureDetails",
    "MethodTransactionID",
    "PaymentTokenLifetime",
    "Capture",
    "Retry",
    "RedirectURL",
    "3DSecure",
]


def test_authorize_card_payment_example_verbatim(client: httpx.Client) -> None:
    body = {
        "Payment": {
            "MerchantTransactionID": "s2ptest_h2",
            "Amount": 2000,
            "Currency": "EUR",
            "Card": {
                "HolderName": "John Doe",
                "Number": "4111111111111111",
                "ExpirationMonth": "02",
                "ExpirationYear": "2018",
                "SecurityCode": "312",
            },
            "Capture": True,
        }
    }
    r = client.post("/v1/payments", json=body, headers=AUTH)
    assert r.status_code == 201
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    p = r.json()["Payment"]
    assert list(p) == FIELDS
    assert re.fullmatch(r"\d{14}", p["Created"])
    assert p["MerchantTransactionID"] == "s2ptest_h2"
    assert (p["Amount"], p["CapturedAmount"], p["Currency"]) == (2000, 2000, "EUR")
    assert (p["MethodID"], p["SiteID"], p["Capture"], p["Retry"]) == (6, 1010, True, False)
    assert p["Card"] == {
        "HolderName": "John Doe",
        "Number": "VISA-1111",
        "ExpirationMonth": "02",
        "ExpirationYear": "2018",
        "IssuingBankCountry": None,
    }
    assert p["CreditCardToken"] is None
    assert p["Status"] == {"ID": 11, "Info": "Captured", "Reasons": []}
    assert p["CaptureDetails"]["Amount"] == 2000
    assert p["CaptureDetails"]["Status"] == {"ID": 2, "Info": "Success", "Reasons": []}
    assert "4111111111111111" not in r.text and '"312"' not in r.text


def test_server_to_server_example_with_moto_and_customer(client: httpx.Client) -> None:
    body = payment_body(
        ReturnURL="http://demo.smart2pay.com/redirect.php",
        Description="payment product",
        StatementDescriptor="bank statement message",
        GenerateCreditCardToken=False,
        Moto=True,
        Customer={
            "MerchantCustomerID": "null",
            "Email": "customer@test.com",
            "FirstName": "John",
            "LastName": "Doe",
            "Gender": "1",
            "Phone": "0744-783322",
            "SocialSecurityNumber": "45908-28324",
            "Company": "S2P",
        },
        BillingAddress={
            "City": "Iasi",
            "ZipCode": "7000-49",
            "State": "Iasi",
            "Street": "Sf Lazar",
            "StreetNumber": "37",
            "HouseNumber": "5A",
            "HouseExtension": "-",
            "Country": "RO",
        },
        ShippingAddress={"Country": "RO", "City": "Iasi"},
    )
    body["Payment"]["Card"]["IssuingBankCountry"] = "NL"
    r = client.post("/v1/payments", json=body, headers=AUTH)
    assert r.status_code == 201, r.text
    p = r.json()["Payment"]
    assert p["ReturnURL"] == "http://demo.smart2pay.com/redirect.php"
    assert p["Description"] == "payment product"
    assert p["StatementDescriptor"] == "bank statement message"
    assert p["Customer"]["Email"] == "customer@test.com" and p["Customer"]["ID"] > 0
    assert list(p["BillingAddress"]) == [
        "ID",
        "City",
        "ZipCode",
        "State",
        "Street",
        "StreetNumber",
        "HouseNumber",
        "HouseExtension",
        "Country",
    ]
    assert p["ShippingAddress"]["ID"] != p["BillingAddress"]["ID"]
    assert p["Card"]["IssuingBankCountry"] == "NL"
    assert p["CreditCardToken"] is None
    control = client.get(f"/_sandbox/smart2pay/payments/{p['ID']}").json()
    assert control["moto"] is True


def test_generate_token_then_one_click_payment(client: httpx.Client) -> None:
    first = pay(client, GenerateCreditCardToken=True)
    token = first["CreditCardToken"]["Value"]
    assert re.fullmatch(r"[0-9A-F]{32}", token) and list(first["CreditCardToken"]) == ["Value"]
    g = client.get(f"/v1/card/token/{token}", headers=AUTH).json()
    assert g["CardAuthentication"]["CreditCardToken"]["Active"] == "true"
    body = {
        "Payment": {
            "MerchantTransactionID": "s2ptest_i4",
            "Amount": 2000,
            "Currency": "EUR",
            "ReturnURL": "http://demo.smart2pay.com/redirect.php",
            "Description": "payment product",
            "StatementDescriptor": "bank statement message",
            "CreditCardToken": {"Value": token, "SecurityCode": "312"},
            "Capture": True,
            "GenerateCreditCardToken": True,
        }
    }
    r = client.post("/v1/payments", json=body, headers=AUTH)
    assert r.status_code == 201, r.text
    p = r.json()["Payment"]
    assert p["CreditCardToken"] == {"Value": token}
    assert p["Card"]["Number"] == "VISA-1111"
    assert p["Status"]["Info"] == "Captured"
    t = client.get(f"/_sandbox/smart2pay/tokens/{token}").json()
    assert t["origin"] == f"payment:{first['ID']}"


def test_token_from_authenticate_pays_without_returning_it(client: httpx.Client) -> None:
    token = authenticate(client)
    body = {
        "Payment": {
            "MerchantTransactionID": mtid(),
            "Amount": 500,
            "Currency": "USD",
            "CreditCardToken": {"Value": token},
        }
    }
    r = client.post("/v1/payments", json=body, headers=AUTH)
    assert r.status_code == 201
    p = r.json()["Payment"]
    assert p["CreditCardToken"] is None and p["Status"]["Info"] == "Authorized"
    assert p["Capture"] is False and p["CaptureDetails"] is None


def test_get_payment_and_status(client: httpx.Client) -> None:
    p = pay(client)
    r = client.get(f"/v1/payments/{p['ID']}", headers=AUTH)
    assert r.status_code == 200 and r.json()["Payment"] == p
    r = client.get(f"/v1/payments/{p['ID']}/status/", headers=AUTH)
    assert r.json() == {
        "Payment": {
            "ID": p["ID"],
            "MerchantTransactionID": p["MerchantTransactionID"],
            "Status": {"ID": 11, "Info": "Captured", "Reasons": []},
        }
    }


def test_list_payments(client: httpx.Client) -> None:
    a, b = pay(client, 100), pay(client, 300, capture=False)
    r = client.get("/v1/payments", headers=AUTH)
    assert [x["ID"] for x in r.json()["Payments"]] == [b["ID"], a["ID"]]
    one = client.get(
        "/v1/payments", headers=AUTH, params={"merchantTransactionID": a["MerchantTransactionID"]}
    ).json()
    assert [x["ID"] for x in one["Payments"]] == [a["ID"]]
    big = client.get("/v1/payments?minimumAmount=200&limit=5", headers=AUTH).json()
    assert [x["ID"] for x in big["Payments"]] == [b["ID"]]
    assert client.get("/v1/payments?startDate=20990101", headers=AUTH).json() == {"Payments": []}
    for q, code in [("limit=0", "107"), ("minimumAmount=x", "111"), ("endDate=2020", "112")]:
        r = client.get(f"/v1/payments?{q}", headers=AUTH)
        assert r.status_code == 400 and codes(r.json(), "Payment") == [code]


def test_full_capture(client: httpx.Client) -> None:
    p = pay(client, 9000, capture=False)
    assert p["Status"] == {"ID": 9, "Info": "Authorized", "Reasons": []}
    assert p["CapturedAmount"] == 0
    r = capture(client, p["ID"])
    assert r.status_code == 200
    c = r.json()["Payment"]
    assert c["Status"]["Info"] == "Captured" and c["CapturedAmount"] == 9000
    assert c["CaptureDetails"]["Amount"] == 9000


@pytest.mark.parametrize("query", ["?amount=4500", "?4500", "?Amount=4500"])
def test_partial_capture_forms(client: httpx.Client, query: str) -> None:
    p = pay(client, 9000, capture=False)
    r = capture(client, p["ID"], query)
    assert r.status_code == 200
    c = r.json()["Payment"]
    assert c["Status"] == {"ID": 35, "Info": "PartiallyCaptured", "Reasons": []}
    assert c["CapturedAmount"] == 4500 and c["Amount"] == 9000
    r = refund(client, p["ID"], 4500)
    assert r.status_code == 201 and r.json()["Refund"]["Status"]["Info"] == "Success"
    assert status_of(client, p["ID"]) == (22, "Refunded")


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("?amount=9001", 400, "1013"),
        ("?amount=0", 400, "1013"),
        ("?amount=12.5", 400, "1012"),
        ("?amount=", 400, "1012"),
        ("?amount=abc", 400, "1012"),
        # not one of the two forms: refused, never taken as "no amount" (a full capture)
        ("?-5", 400, "1012"),
        ("?45.00", 400, "1012"),
        ("?1e3", 400, "1012"),
        ("?amt=4500", 400, "1012"),
        ("?4500&x=1", 400, "1012"),
        ("?%D9%A4%D9%A5%D9%A0%D9%A0", 400, "1012"),  # Arabic-Indic 4500
    ],
)
def test_bad_capture_amounts(client: httpx.Client, query: str, status: int, code: str) -> None:
    p = pay(client, 9000, capture=False)
    r = capture(client, p["ID"], query)
    assert r.status_code == status and codes(r.json(), "Payment") == [code]
    assert status_of(client, p["ID"]) == (9, "Authorized")
    # a wrong key is told so first, whatever the query (the amount is judged after the key)
    wrong = client.post(f"/v1/payments/{p['ID']}/capture{query}", headers=basic(1010, "nope"))
    assert wrong.status_code == 401 and codes(wrong.json(), "Payment") == ["0"], wrong.text


@pytest.mark.parametrize(
    "body",
    [{"Amount": 100}, {"Payment": {"Amount": 100}}, {"payment": {"amountToCapture": "100"}}],
)
def test_capture_amount_in_the_body_is_refused(client: httpx.Client, body: Any) -> None:
    """The amount of a partial capture travels in the query; one put in the body is refused
    (1012), never taken as a full capture — with or without a query."""
    p = pay(client, 9000, capture=False)
    for query in ("", "?amount=4500"):
        r = client.post(f"/v1/payments/{p['ID']}/capture{query}", headers=AUTH, json=body)
        assert r.status_code == 400 and codes(r.json(), "Payment") == ["1012"], r.text
        assert "not in the body" in r.json()["Payment"]["Status"]["Reasons"][0]["Info"]
        assert status_of(client, p["ID"]) == (9, "Authorized")
    wrong = client.post(f"/v1/payments/{p['ID']}/capture", headers=basic(1010, "x"), json=body)
    assert wrong.status_code == 401  # the key is judged first


@pytest.mark.parametrize("body", [b"", b"{}", b"null", b"not json", b'{"Description":"x"}'])
def test_capture_body_without_an_amount_is_ignored(client: httpx.Client, body: bytes) -> None:
    p = pay(client, 9000, capture=False)
    r = client.post(
        f"/v1/payments/{p['ID']}/capture",
        headers={**AUTH, "Content-Type": "application/json"},
        content=body,
    )
    assert r.status_code == 200 and r.json()["Payment"]["CapturedAmount"] == 9000, r.text


def test_cancel(client: httpx.Client) -> None:
    p = pay(client, 9000, capture=False)
    r = client.post(f"/v1/payments/{p['ID']}/cancel/", headers=AUTH)  # SDK-PHP's trailing slash
    assert r.status_code == 200
    assert r.json()["Payment"]["Status"] == {"ID": 3, "Info": "Cancelled", "Reasons": []}
    assert r.json()["Payment"]["CapturedAmount"] == 0


def test_refunds_full_partial_and_listing(client: httpx.Client) -> None:
    p = pay(client, 2000)
    r1 = refund(client, p["ID"], 500, Description="refund reason")
    assert r1.status_code == 201
    ref = r1.json()["Refund"]
    assert list(ref) == [
        "ID",
        "SiteID",
        "Created",
        "MerchantTransactionID",
        "OriginatorTransactionID",
        "InitialPaymentID",
        "Amount",
        "Currency",
        "Description",
        "StatementDescriptor",
        "Customer",
        "BillingAddress",
        "BankAddress",
        "Articles",
        "Status",
    ]
    assert (ref["InitialPaymentID"], ref["Amount"], ref["Currency"]) == (p["ID"], 500, "EUR")
    assert ref["Status"] == {"ID": 2, "Info": "Success", "Reasons": []}
    assert status_of(client, p["ID"]) == (21, "PartiallyRefunded")
    r2 = refund(client, p["ID"], 1500)
    assert r2.status_code == 201
    assert status_of(client, p["ID"]) == (22, "Refunded")
    listed = client.get(f"/v1/payments/{p['ID']}/refunds", headers=AUTH).json()["Refunds"]
    assert [x["ID"] for x in listed] == [r2.json()["Refund"]["ID"], ref["ID"]]
    one = client.get(f"/v1/payments/{p['ID']}/refunds/{ref['ID']}", headers=AUTH)
    assert one.status_code == 200 and one.json()["Refund"] == ref
    st = client.get(f"/v1/payments/{p['ID']}/refunds/{ref['ID']}/status", headers=AUTH).json()
    assert st == {
        "Refund": {
            "ID": ref["ID"],
            "MerchantTransactionID": ref["MerchantTransactionID"],
            "InitialPaymentID": p["ID"],
            "Status": ref["Status"],
            "StateDetails": ref["Status"],
        }
    }
    assert client.get(f"/v1/refunds/{ref['ID']}/status", headers=AUTH).json() == st
    for path in [
        f"/v1/payments/{p['ID']}/refunds/999",
        "/v1/refunds/999/status",
        f"/v1/payments/{p['ID']}/refunds/x",
    ]:
        r = client.get(path, headers=AUTH)
        assert r.status_code == 404 and codes(r.json(), "Refund") == ["1"]


def test_refund_more_than_captured_is_a_failed_refund(client: httpx.Client) -> None:
    p = pay(client, 1000)
    r = refund(client, p["ID"], 1001)
    assert r.status_code == 402
    ref = r.json()["Refund"]
    assert ref["Status"] == {
        "ID": 4,
        "Info": "Failed",
        "Reasons": [
            {"Code": "2206", "Info": "Refund.Amount exceeds initial payment available amount"}
        ],
    }
    assert status_of(client, p["ID"]) == (11, "Captured")
    listed = client.get(f"/v1/payments/{p['ID']}/refunds", headers=AUTH).json()["Refunds"]
    assert [x["Status"]["Info"] for x in listed] == ["Failed"]
    assert refund(client, p["ID"], 600).status_code == 201
    assert refund(client, p["ID"], 401).status_code == 402  # only 400 left
    assert refund(client, p["ID"], 400).status_code == 201
    assert refund(client, p["ID"], 1).status_code == 402  # fully refunded


def test_duplicate_merchant_transaction_id(client: httpx.Client) -> None:
    body = payment_body()
    assert client.post("/v1/payments", json=body, headers=AUTH).status_code == 201
    r = client.post("/v1/payments", json=body, headers=AUTH)
    assert r.status_code == 400
    assert codes(r.json(), "Payment") == ["20"]
    assert r.json()["Payment"]["MerchantTransactionID"] == body["Payment"]["MerchantTransactionID"]
    assert len(client.get("/v1/payments", headers=AUTH).json()["Payments"]) == 1
    # another site may use the same id
    client.put("/_sandbox/smart2pay/sites/2020", json={"apiKey": "k2"})
    from .builders import basic

    assert client.post("/v1/payments", json=body, headers=basic(2020, "k2")).status_code == 201


def test_duplicate_refund_merchant_transaction_id(client: httpx.Client) -> None:
    p = pay(client, 2000)
    body = {"Refund": {"MerchantTransactionID": "r_dup", "Amount": 100}}
    assert (
        client.post(f"/v1/payments/{p['ID']}/refunds", json=body, headers=AUTH).status_code == 201
    )
    r = client.post(f"/v1/payments/{p['ID']}/refunds", json=body, headers=AUTH)
    assert r.status_code == 400 and codes(r.json(), "Refund") == ["20"]
    assert status_of(client, p["ID"]) == (21, "PartiallyRefunded")
    assert len(client.get(f"/v1/payments/{p['ID']}/refunds", headers=AUTH).json()["Refunds"]) == 1


def _captured(c: httpx.Client) -> int:
    return int(pay(c, 2000)["ID"])


def _authorized(c: httpx.Client) -> int:
    return int(pay(c, 2000, capture=False)["ID"])


def _cancelled(c: httpx.Client) -> int:
    pid = _authorized(c)
    cancel(c, pid)
    return pid


def _partially_captured(c: httpx.Client) -> int:
    pid = _authorized(c)
    capture(c, pid, "?amount=100")
    return pid


def _refunded(c: httpx.Client) -> int:
    pid = _captured(c)
    refund(c, pid, 2000)
    return pid


def _failed(c: httpx.Client) -> int:
    return int(pay(c, 10001)["ID"])


ILLEGAL = [
    ("capture", _captured, "Captured"),
    ("capture", _cancelled, "Cancelled"),
    ("capture", _partially_captured, "PartiallyCaptured"),
    ("capture", _refunded, "Refunded"),
    ("capture", _failed, "Failed"),
    ("cancel", _captured, "Captured"),
    ("cancel", _cancelled, "Cancelled"),
    ("cancel", _partially_captured, "PartiallyCaptured"),
    ("cancel", _refunded, "Refunded"),
    ("cancel", _failed, "Failed"),
]


@pytest.mark.parametrize(("verb", "make", "state"), ILLEGAL)
def test_illegal_capture_and_cancel(client: httpx.Client, verb: str, make: Any, state: str) -> None:
    pid = make(client)
    before = client.get(f"/_sandbox/smart2pay/payments/{pid}").json()
    r = client.post(f"/v1/payments/{pid}/{verb}", headers=AUTH)
    assert r.status_code == 402
    p = r.json()["Payment"]
    assert p["ID"] == pid and p["Status"]["Info"] == state
    assert [x["Code"] for x in p["Status"]["Reasons"]] == ["1006"]
    after = client.get(f"/_sandbox/smart2pay/payments/{pid}").json()
    assert after["events"] == before["events"] and after["payment"] == before["payment"]


@pytest.mark.parametrize("make", [_authorized, _cancelled, _failed])
def test_refund_needs_a_capture(client: httpx.Client, make: Any) -> None:
    pid = make(client)
    r = refund(client, pid, 100)
    assert r.status_code == 402 and codes(r.json(), "Refund") == ["2205"]
    assert client.get(f"/v1/payments/{pid}/refunds", headers=AUTH).json() == {"Refunds": []}


@pytest.mark.parametrize(
    ("method", "path", "root"),
    [
        ("GET", "/v1/payments/999", "Payment"),
        ("GET", "/v1/payments/999/status", "Payment"),
        ("POST", "/v1/payments/999/capture", "Payment"),
        ("POST", "/v1/payments/999/cancel", "Payment"),
        ("POST", "/v1/payments/999/refunds", "Refund"),
        ("GET", "/v1/payments/999/refunds", "Refund"),
        ("GET", "/v1/payments/abc", "Payment"),
    ],
)
def test_unknown_payment_is_404(client: httpx.Client, method: str, path: str, root: str) -> None:
    # a refund's body where one is read (a capture's amount in a body is refused before the
    # payment is looked up, as a malformed capture query is: test_capture_amount_in_the_body…)
    body = {"Refund": {"MerchantTransactionID": "x", "Amount": 1}} if root == "Refund" else {}
    r = client.request(method, path, headers=AUTH, json=body)
    assert r.status_code == 404
    assert codes(r.json(), root) == ["17"]


@pytest.mark.parametrize(
    ("method", "path", "status", "code", "root"),
    [
        ("GET", "/v1/payments/1/nothing", 404, "100", "Payment"),
        ("GET", "/v1/card/nothing", 404, "100", "CardAuthentication"),
        # a trailing slash on a path without a route: the plugin's 404, never a redirect
        ("GET", "/v1/payments/1/nothing/", 404, "100", "Payment"),
        ("GET", "/v1/refunds/1/", 404, "100", "Refund"),
        # repeated slashes are one slash (paths.py): …/capture// is …/capture/, a real route
        ("POST", "/v1/payments/1/capture//x", 404, "100", "Payment"),
        ("DELETE", "/v1/payments/", 405, "105", "Payment"),
        ("DELETE", "/v1/payments", 405, "105", "Payment"),
        ("GET", "/v1/card/authenticate", 405, "105", "CardAuthentication"),
        ("PUT", "/v1/payments/1/refunds", 405, "105", "Refund"),
        ("GET", "/v1/payments/1/capture", 405, "105", "Payment"),
    ],
)
def test_unknown_routes_in_smart2pay_format(
    client: httpx.Client, method: str, path: str, status: int, code: str, root: str
) -> None:
    r = client.request(method, path, headers=AUTH, follow_redirects=False)
    assert r.status_code == status
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    assert codes(r.json(), root) == [code]


def test_control_payment_route(client: httpx.Client) -> None:
    p = pay(client, 2000)
    refund(client, p["ID"], 100)
    view = client.get(f"/_sandbox/smart2pay/payments/{p['ID']}").json()
    assert view["status"] == "PartiallyRefunded" and view["statusId"] == 21
    assert view["refundedAmount"] == 100 and len(view["refunds"]) == 1
    assert [e["kind"] for e in view["events"]] == ["created", "refund"]
    assert view["payment"]["ID"] == p["ID"]
    for bad in ("999", "x"):
        r = client.get(f"/_sandbox/smart2pay/payments/{bad}")
        assert r.status_code == 404 and r.json()["error"] == "not_found"


def test_control_ids_and_site_filter_take_ascii_digits_only(client: httpx.Client) -> None:
    """A payment id or ``siteId`` that is not 1-18 (12) ASCII digits is a not-found or a
    refusal in the control API's format, never a 500 (``"²"`` is a digit to ``str.isdigit``
    but not to ``int``; non-ASCII path ids are refused by the path guard first)."""
    pid = _authorized(client)
    for raw in ("12a", "9" * 19, "-1"):
        r = client.get(f"/_sandbox/smart2pay/payments/{raw}")
        assert r.status_code == 404 and r.json()["error"] == "not_found", r.text
    for raw in ("²", "1²", "١٢", "x", "1" * 13):
        r = client.get("/_sandbox/smart2pay/payments", params={"siteId": raw})
        assert r.status_code == 400 and r.json()["error"] == "bad_request", r.text
        assert "siteId" in r.json()["message"]
    assert client.get(f"/_sandbox/smart2pay/payments/{pid}").json()["payment"]["ID"] == pid
    listed = client.get("/_sandbox/smart2pay/payments", params={"siteId": "1010"}).json()
    assert pid in [p["id"] for p in listed["payments"]]


def test_ids_are_never_handed_out_again_after_a_reset(client: httpx.Client) -> None:
    """The request journal keeps its entries through a reset: a payment ID (or refund ID) that
    came again would show two payments under one ID there. SQLite took the largest id still
    stored plus one (so 1 again after a reset); its id tables are AUTOINCREMENT now, as
    PostgreSQL's sequences are."""
    first = pay(client, 2000)
    ref = refund(client, first["ID"], 500).json()["Refund"]
    assert client.post("/_sandbox/reset").status_code == 200
    again = pay(client, 2000)
    assert again["ID"] > first["ID"]
    assert refund(client, again["ID"], 500).json()["Refund"]["ID"] > ref["ID"]
    assert client.post("/_sandbox/smart2pay/sites/1010/reset").status_code == 200
    assert pay(client, 2000)["ID"] > again["ID"]
