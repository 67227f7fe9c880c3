"""HTTP Basic SiteID:ApiKey on every Smart2Pay route; sites from config and the control API."""

from __future__ import annotations

import httpx
import pytest

from ..support import LiveServer
from ..support import test_settings as make_settings
from .builders import AUTH, auth_body, basic, pay, payment_body

ROUTES = [
    ("POST", "/v1/card/authenticate"),
    ("GET", "/v1/card/token/B531AFAC800FD51A9CCF67D0CC7B24A4"),
    ("POST", "/v1/card/token/B531AFAC800FD51A9CCF67D0CC7B24A4/cancel"),
    ("POST", "/v1/payments"),
    ("GET", "/v1/payments"),
    ("GET", "/v1/payments/1"),
    ("GET", "/v1/payments/1/status"),
    ("POST", "/v1/payments/1/capture"),
    ("POST", "/v1/payments/1/cancel"),
    ("POST", "/v1/payments/1/refunds"),
    ("GET", "/v1/payments/1/refunds"),
    ("GET", "/v1/payments/1/refunds/1"),
    ("GET", "/v1/payments/1/refunds/1/status"),
    ("GET", "/v1/refunds/1/status"),
]

BAD_HEADERS = [
    {},
    {"Authorization": "Basic MTAxMDpnYWJ"},  # bad base64 padding
    {"Authorization": "Bearer MTAxMDpnYWJp"},
    {"Authorization": "Basic"},
    basic(1010, "wrong"),
    basic(1010, ""),
    basic(9999, "gabi"),
    basic("abc", "gabi"),
    {"Authorization": "Basic MTAxMGdhYmk="},  # "1010gabi": no colon
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize("headers", BAD_HEADERS)
def test_every_route_refuses_bad_credentials(
    client: httpx.Client, method: str, path: str, headers: dict[str, str]
) -> None:
    r = client.request(method, path, headers=headers, json=payment_body())
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    root = next(iter(r.json()))
    assert root in ("CardAuthentication", "Payment", "Refund")
    status = r.json()[root]["Status"]
    assert status["Reasons"][0]["Code"] == "0"
    assert "gabi" not in r.text


def test_wrong_key_with_invalid_body_is_still_401(client: httpx.Client) -> None:
    r = client.post("/v1/payments", json={"Payment": {}}, headers=basic(1010, "nope"))
    assert r.status_code == 401


def test_put_site_adds_a_site_and_changes_keys(client: httpx.Client) -> None:
    r = client.put("/_sandbox/smart2pay/sites/2020", json={"apiKey": "s3cret-key"})
    assert r.status_code == 200 and r.json() == {
        "siteId": 2020,
        "notificationUrl": None,
        "faults": {},
    }
    r = client.post("/v1/card/authenticate", json=auth_body(), headers=basic(2020, "s3cret-key"))
    assert r.status_code == 201
    token = r.json()["CardAuthentication"]["CreditCardToken"]["Value"]
    # a site sees only its own tokens and payments
    assert client.get(f"/v1/card/token/{token}", headers=AUTH).status_code == 404
    pid = pay(client)["ID"]
    assert client.get(f"/v1/payments/{pid}", headers=basic(2020, "s3cret-key")).status_code == 404

    r = client.put("/_sandbox/smart2pay/sites/2020", json={"apiKey": "other-key"})
    assert r.status_code == 200
    assert (
        client.get(f"/v1/card/token/{token}", headers=basic(2020, "s3cret-key")).status_code == 401
    )
    assert (
        client.get(f"/v1/card/token/{token}", headers=basic(2020, "other-key")).status_code == 200
    )
    listed = client.get("/_sandbox/smart2pay/sites").json()["sites"]
    assert [s["siteId"] for s in listed] == [1010, 2020]
    assert "other-key" not in str(listed)


@pytest.mark.parametrize(
    ("site", "body"),
    [
        ("3030", {}),  # a new site needs a key
        ("abc", {"apiKey": "k"}),
        ("3030", {"apiKey": "k", "notificationUrl": "ftp://x"}),
        ("3030", {"apiKey": "k", "unknown": 1}),
    ],
)
def test_put_site_refuses_bad_input(client: httpx.Client, site: str, body: dict[str, str]) -> None:
    r = client.put(f"/_sandbox/smart2pay/sites/{site}", json=body)
    assert r.status_code == 400 and r.json()["error"] == "bad_request"


def test_sites_from_settings(fresh_db_url: str) -> None:
    from paysandbox.settings import Smart2PaySite

    live = LiveServer(
        make_settings(
            fresh_db_url,
            smart2pay_sites=[Smart2PaySite(4040, "configured", "http://127.0.0.1:9/n")],
        )
    )
    try:
        with live.client() as c:
            assert (
                c.post(
                    "/v1/card/authenticate", json=auth_body(), headers=basic(4040, "configured")
                ).status_code
                == 201
            )
            assert (
                c.post("/v1/card/authenticate", json=auth_body(), headers=AUTH).status_code == 201
            )
            sites = {s["siteId"]: s for s in c.get("/_sandbox/smart2pay/sites").json()["sites"]}
            assert sites[4040]["notificationUrl"] == "http://127.0.0.1:9/n"
    finally:
        live.stop()
