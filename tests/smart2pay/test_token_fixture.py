"""``POST /_sandbox/smart2pay/tokens``: a card token with a chosen ``Value`` (the control API's
fixture, as K PLUS has for a chosen tokenId), so seed 004's cancel example works verbatim."""

from __future__ import annotations

import json
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import httpx
import pytest

from ..support import LiveServer, count_rows
from .builders import AUTH, basic, codes, mtid

FIXTURES = "/_sandbox/smart2pay/tokens"
SEED_VALUE = "B531AFAC800FD51A9CCF67D0CC7B24A4"

# Seed 004, verbatim: the request (its host is the base URL a merchant changes) …
SEED_004_REQUEST = """\
POST https://securetest.smart2pay.com/v1/card/token/B531AFAC800FD51A9CCF67D0CC7B24A4/cancel
Authorization: Basic MTAxMDpnYWJp"""
# … and the documented answer
SEED_004_RESPONSE = """\
HTTP/1.1 200 OK
Content-Type: application/json; charset=utf-8
{
"CardAuthentication": {
"Card": {
"HolderName": "John Doe",
"Number": "VISA-1111",
"ExpirationMonth": "02",
"ExpirationYear": "2021",
"IssuingBankCountry": null
},
"CreditCardToken": {
"Value": "B531AFAC800FD51A9CCF67D0CC7B24A4",
"Active": "false"
},
"Status": {
"ID": 3,
"Info": "Canceled",
"Reasons": []
}
}
}"""


def send_seed_request(server: LiveServer) -> tuple[str, dict[str, str], bytes]:
    """Seed 004's request line and header, byte for byte, on a raw connection (plus the Host
    header HTTP/1.1 needs, naming the sandbox instead of securetest.smart2pay.com); the answer's
    status line, headers (lower-case names) and body."""
    request_line, header = SEED_004_REQUEST.splitlines()
    method, url = request_line.split(" ")
    target = urlsplit(url).path
    host = urlsplit(server.base_url).netloc
    raw = f"{method} {target} HTTP/1.1\r\nHost: {host}\r\n{header}\r\nConnection: close\r\n\r\n"
    hostname, port = host.split(":")
    with socket.create_connection((hostname, int(port)), timeout=30) as s:
        s.sendall(raw.encode("ascii"))
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return status_line, headers, body


def test_seed_004_cancel_example_verbatim_after_the_fixture(
    client: httpx.Client, server: LiveServer
) -> None:
    status_line, _, body = send_seed_request(server)
    assert status_line == "HTTP/1.1 404 Not Found"  # a fresh sandbox holds no such token
    assert codes(json.loads(body), "CardAuthentication") == ["2400"]

    made = client.post(FIXTURES, json={"Value": SEED_VALUE})
    assert made.status_code == 201, made.text

    status_line, headers, body = send_seed_request(server)
    documented_status, documented_type, *documented_body = SEED_004_RESPONSE.splitlines()
    assert status_line == documented_status
    assert f"Content-Type: {headers['content-type']}" == documented_type
    got, expected = json.loads(body), json.loads("\n".join(documented_body))
    assert got == expected
    assert json.dumps(got) == json.dumps(expected)  # the same keys in the same order
    shown = client.get(f"/_sandbox/smart2pay/tokens/{SEED_VALUE}").json()
    assert shown["status"] == "Canceled"
    assert [e["kind"] for e in shown["events"]] == ["created", "canceled"]


def test_fixture_answer_and_a_real_token(client: httpx.Client) -> None:
    """Defaults: the demo site, seed 004's card, Active. The token is a token like any other:
    the token routes show it, a payment can use it; lower-case hex is stored upper-case."""
    r = client.post(FIXTURES, json={"Value": SEED_VALUE.lower()})
    assert r.status_code == 201, r.text
    view = r.json()
    assert {k: view[k] for k in ("value", "siteId", "status", "origin")} == {
        "value": SEED_VALUE,
        "siteId": 1010,
        "status": "Active",
        "origin": "fixture",
    }
    assert view["CardAuthentication"] == {
        "Card": {
            "HolderName": "John Doe",
            "Number": "VISA-1111",
            "ExpirationMonth": "02",
            "ExpirationYear": "2021",
            "IssuingBankCountry": None,
        },
        "CreditCardToken": {"Value": SEED_VALUE, "Active": "true"},
        "Status": {"ID": 2, "Info": "Success", "Reasons": []},
    }
    assert [(e["kind"], e["data"]) for e in view["events"]] == [
        ("created", {"card": "VISA-1111", "via": "control-api"})
    ]
    got = client.get(f"/v1/card/token/{SEED_VALUE}", headers=AUTH)
    assert got.json()["CardAuthentication"]["CreditCardToken"] == {
        "Value": SEED_VALUE,
        "Active": "true",
    }
    payment = {
        "Payment": {
            "MerchantTransactionID": mtid(),
            "Amount": 2000,
            "Currency": "EUR",
            "Capture": True,
            "CreditCardToken": {"Value": SEED_VALUE},
        }
    }
    paid = client.post("/v1/payments", json=payment, headers=AUTH)
    assert paid.status_code == 201 and paid.json()["Payment"]["Status"]["Info"] == "Captured"


def test_fixture_for_another_site_with_its_own_card(client: httpx.Client) -> None:
    assert client.put("/_sandbox/smart2pay/sites/2020", json={"apiKey": "k2020"}).is_success
    body = {
        "siteId": "2020",
        "Card": {
            "HolderName": "Ana Lima",
            "Number": "5555555555554444",
            "ExpirationMonth": "7",
            "ExpirationYear": "29",
            "IssuingBankCountry": "br",
        },
        "Customer": {"Email": "ana@example.com"},
        "BillingAddress": {"Country": "BR"},
    }
    r = client.post(FIXTURES, json=body)
    assert r.status_code == 201, r.text
    view = r.json()
    value = view["value"]
    assert len(value) == 32 and value == value.upper()  # none given: a fresh one
    assert view["siteId"] == 2020
    assert view["CardAuthentication"]["Card"] == {
        "HolderName": "Ana Lima",
        "Number": "MASTERCARD-4444",
        "ExpirationMonth": "07",
        "ExpirationYear": "2029",
        "IssuingBankCountry": "BR",
    }
    assert view["customer"]["Email"] == "ana@example.com" and view["customer"]["ID"] > 0
    assert view["billingAddress"]["Country"] == "BR"
    assert "5555555555554444" not in r.text
    # the site's own token: the demo site does not see it
    assert client.get(f"/v1/card/token/{value}", headers=basic(2020, "k2020")).status_code == 200
    assert client.get(f"/v1/card/token/{value}", headers=AUTH).status_code == 404


def test_a_taken_value_is_409_and_changes_nothing(client: httpx.Client, server: LiveServer) -> None:
    assert client.post(FIXTURES, json={"Value": SEED_VALUE}).status_code == 201
    client.post(f"/v1/card/token/{SEED_VALUE}/cancel", headers=AUTH)
    before = _stored(server)
    for value in (SEED_VALUE, SEED_VALUE.lower()):
        r = client.post(FIXTURES, json={"Value": value, "Customer": {"FirstName": "Eve"}})
        assert r.status_code == 409
        assert r.json() == {
            "error": "conflict",
            "message": f"Key is duplicated - CreditCardToken.Value {SEED_VALUE} already exists",
            "detail": "20",
        }
    assert _stored(server) == before  # the loser's customer row went with it
    shown = client.get(f"/_sandbox/smart2pay/tokens/{SEED_VALUE}").json()
    assert shown["status"] == "Canceled" and shown["customer"] is None


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"Value": SEED_VALUE[:-1]}, 400, "invalid body: Expected `str` matching regex"),
        ({"Value": SEED_VALUE[:-1] + "G"}, 400, "invalid body: Expected `str` matching regex"),
        ({"Value": SEED_VALUE + "\n"}, 400, "Value must be 32 hexadecimal digits"),
        ({"Value": SEED_VALUE + "0"}, 400, "invalid body: Expected `str` matching regex"),
        ({"value": SEED_VALUE}, 400, "invalid body: Object contains unknown field `value`"),
        ({"siteId": "01010"}, 400, "siteId: a SiteID is a whole number from 1 to 2147483647"),
        ({"siteId": 999}, 404, "no Smart2Pay site 999"),
        (
            {"Card": {"Number": "4111111111111112", "ExpirationMonth": "13"}},
            400,
            "1202 Card.ExpirationMonth is invalid",
        ),
        ({"Customer": {"Email": "not-an-email"}}, 400, "1601 Customer.Email is invalid"),
    ],
)
def test_refused_fixtures_change_nothing(
    client: httpx.Client, server: LiveServer, body: dict[str, object], status: int, message: str
) -> None:
    before = _stored(server)
    r = client.post(FIXTURES, json=body)
    assert r.status_code == status, r.text
    assert r.json()["error"] == {400: "bad_request", 404: "not_found"}[status]
    assert r.json()["message"].startswith(message), r.json()
    assert _stored(server) == before


def test_a_bad_card_reports_every_reason(client: httpx.Client) -> None:
    r = client.post(FIXTURES, json={"Card": {"Number": "4111111111111112"}})
    assert r.status_code == 400
    assert r.json() == {
        "error": "bad_request",
        "message": "1202 Card.ExpirationMonth is required; 1203 Card.ExpirationYear is "
        "required; 1201 Card.Number is invalid - Luhn check failed",
    }


def test_racing_fixtures_of_one_value_make_it_once(
    client: httpx.Client, server: LiveServer
) -> None:
    """Twelve fixtures with one Value at once: one 201, eleven 409 (code 20), never a 500 (a
    unique-key error); the losers' customer rows are undone with them."""
    start = threading.Barrier(12)

    def make(n: int) -> httpx.Response:
        with server.client() as c:
            start.wait()
            return c.post(FIXTURES, json={"Value": SEED_VALUE, "Customer": {"FirstName": f"C{n}"}})

    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(make, range(12)))
    assert sorted(r.status_code for r in answers) == [201] + [409] * 11, [r.text for r in answers]
    assert {r.json().get("detail") for r in answers if r.status_code == 409} == {"20"}
    [won] = [r.json() for r in answers if r.status_code == 201]
    assert _stored(server) == {"tokens": 1, "customers": 1, "events": 1}
    shown = client.get(f"/_sandbox/smart2pay/tokens/{SEED_VALUE}").json()
    assert shown["customer"] == won["customer"]


def _stored(server: LiveServer) -> dict[str, int]:
    return count_rows(
        server.settings.db_url,
        {
            "tokens": ("SELECT COUNT(*) AS n FROM smart2pay_tokens", ()),
            "customers": ("SELECT COUNT(*) AS n FROM smart2pay_customers", ()),
            "events": (
                "SELECT COUNT(*) AS n FROM events WHERE object_type = 'smart2pay_token'",
                (),
            ),
        },
    )
