"""HTTP Basic SiteID:ApiKey on every Smart2Pay route; sites from config and the control API."""

from __future__ import annotations

import httpx
import pytest

from ..support import LiveServer
from ..support import test_settings as make_settings
from .builders import (
    AUTH,
    assert_unauthorized,
    auth_body,
    basic,
    codes,
    pay,
    payment_body,
    refund,
)

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
    assert_unauthorized(r, _root(path))
    assert "gabi" not in r.text


def _root(path: str) -> str:
    if path.startswith("/v1/card/"):
        return "CardAuthentication"
    return "Refund" if "/refunds" in path else "Payment"


def test_wrong_key_with_invalid_body_is_still_401(client: httpx.Client) -> None:
    r = client.post("/v1/payments", json={"Payment": {}}, headers=basic(1010, "nope"))
    assert_unauthorized(r, "Payment")
    r = client.post("/v1/payments", content=b"{not json", headers=basic(1010, "nope"))
    assert_unauthorized(r, "Payment")


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
    made = refund(client, pid, 500)
    assert made.status_code == 201, made.text
    rid = made.json()["Refund"]["ID"]
    own = client.get(f"/v1/refunds/{rid}/status", headers=AUTH)
    assert own.status_code == 200 and own.json()["Refund"]["ID"] == rid
    # found by its id alone, its site compared after the read (``store.get_refund``)
    other = client.get(f"/v1/refunds/{rid}/status", headers=basic(2020, "s3cret-key"))
    assert other.status_code == 404 and codes(other.json(), "Refund") == ["1"]
    assert other.json()["Refund"]["Status"]["Reasons"][0]["Info"] == (
        f"Invalid data - no refund {rid}"
    )

    r = client.put("/_sandbox/smart2pay/sites/2020", json={"apiKey": "other-key"})
    assert r.status_code == 200
    assert_unauthorized(
        client.get(f"/v1/card/token/{token}", headers=basic(2020, "s3cret-key")),
        "CardAuthentication",
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


@pytest.mark.parametrize(
    "url",
    [
        "http://[::1",  # unterminated IPv6 host: httpx cannot send to it
        "http://[::1]:x/n",  # port not a number
        "http://",  # no host
        "https:///path",
        "mailto:ops@example.com",
        "http://example.com/" + "x" * 2100,
    ],
)
def test_put_site_refuses_unusable_notification_url(client: httpx.Client, url: str) -> None:
    for site in ("3030", "1010"):  # a new site and an existing one
        r = client.put(
            f"/_sandbox/smart2pay/sites/{site}", json={"apiKey": "k", "notificationUrl": url}
        )
        assert r.status_code == 400, r.text
        body = r.json()
        assert body["error"] == "bad_request"
        assert "notificationUrl" in body["message"]
        assert url[:12] not in r.text  # the URL is never echoed
    sites = client.get("/_sandbox/smart2pay/sites").json()["sites"]
    assert sites == [{"siteId": 1010, "notificationUrl": None, "faults": {}}]
    # nothing was changed: the demo key still works
    assert client.post("/v1/card/authenticate", json=auth_body(), headers=AUTH).status_code == 201


def test_site_view_never_shows_the_api_key_or_a_url_password(client: httpx.Client) -> None:
    key = "site-key-never-shown-42"
    url = "http://hook-user:hook-pass-never-shown@127.0.0.1:9/n?x=1"
    r = client.put(
        "/_sandbox/smart2pay/sites/5050",
        json={"apiKey": key, "notificationUrl": url, "faults": {"duplicate": True}},
    )
    assert r.status_code == 200, r.text
    shown = r.json()
    assert shown == {
        "siteId": 5050,
        "notificationUrl": "http://***@127.0.0.1:9/n?x=1",
        "faults": {
            "duplicate": True,
            "delaySeconds": 0,
            "outOfOrder": False,
            "reorderWindowSeconds": 5,
        },
    }
    # a later change that does not touch the key still does not show it
    r2 = client.put("/_sandbox/smart2pay/sites/5050", json={"faults": {}})
    listed = client.get("/_sandbox/smart2pay/sites")
    r3 = client.post("/v1/payments", json=payment_body(), headers=basic(5050, key))
    assert r3.status_code == 201, r3.text
    pid = r3.json()["Payment"]["ID"]
    inspected = client.get(f"/_sandbox/smart2pay/payments/{pid}")
    assert inspected.status_code == 200
    for resp in (r, r2, listed, inspected):
        assert key not in resp.text
        assert "hook-pass-never-shown" not in resp.text
        assert "apiKey" not in resp.text and "api_key" not in resp.text


def test_sites_from_settings(fresh_db_url: str) -> None:
    from paysandbox.providers.smart2pay.config import Site, Smart2PayConfig

    live = LiveServer(
        make_settings(
            fresh_db_url,
            providers={
                "smart2pay": Smart2PayConfig([Site(4040, "configured", "http://127.0.0.1:9/n")])
            },
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
