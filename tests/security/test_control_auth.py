"""Item 1 of issue 9: the control plane needs the control token when one is set; on loopback
without one it stays open but refuses cross-site state changes. The attack requests of the
issue are the cases."""

from __future__ import annotations

import httpx
import pytest

from ..kplus.builders import generate_body
from ..support import LiveServer
from .conftest import TOKEN

BEARER = {"Authorization": f"Bearer {TOKEN}"}
UNAUTHORIZED = {
    "error": "unauthorized",
    "message": "the control plane needs the control token: send Authorization: Bearer <token>, "
    "or sign in at /_sandbox/login",
}
CROSS_SITE = {
    "error": "cross_site_request",
    "message": "a state-changing control request from another site is refused",
}

# (method, path, json body): the attacks on the control plane
ATTACKS = [
    ("PUT", "/_sandbox/kplus/partners/ACME01", {"callbackUrl": "http://attacker.example/cb"}),
    ("POST", "/_sandbox/kplus/tokens", {"tokenId": "KMCMPT0000000001PMT"}),
    ("POST", "/_sandbox/kplus/tokens/KMCMPT0000000001PMT/pay", {}),
    ("PUT", "/_sandbox/smart2pay/sites/1010", {"notificationUrl": "http://attacker.example/n"}),
    ("PUT", "/_sandbox/kplus/partners/PTR1902369", {"partnerSecret": "attacker-owns-this"}),
    ("POST", "/_sandbox/clock/advance", {"seconds": 10 * 365 * 86400}),
    ("POST", "/_sandbox/reset", None),
    ("GET", "/_sandbox/deliveries", None),
    ("GET", "/_sandbox/kplus/partners", None),
    ("GET", "/_sandbox/openapi.json", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ATTACKS)
@pytest.mark.parametrize("auth", [None, "Bearer wrong-token", f"Bearer {TOKEN}x", "Basic Zm9v"])
def test_without_the_token_every_control_route_is_401(
    secured: LiveServer, method: str, path: str, body: object, auth: str | None
) -> None:
    headers = {"Authorization": auth} if auth else {}
    with secured.client() as c:
        r = c.request(method, path, json=body, headers=headers)
        assert r.status_code == 401, r.text
        assert r.json() == UNAUTHORIZED
        assert r.headers["www-authenticate"] == 'Bearer realm="paysandbox control"'
        # nothing changed: the demo partner still has its secret, the clock did not move
        assert c.get("/_sandbox/clock", headers=BEARER).json()["offsetSeconds"] == 0
        parts = c.get("/_sandbox/kplus/partners", headers=BEARER).json()["partners"]
        assert [p["partnerId"] for p in parts] == ["PTR1902369"]
        assert parts[0]["callbackUrl"] is None
        gen = c.post("/kplus/payment/generate-token", json=generate_body())
        assert gen.json()["statusCode"] == "00", gen.text  # old secret still works


def test_with_the_token_the_control_plane_works(secured: LiveServer) -> None:
    with secured.client() as c:
        r = c.post("/_sandbox/clock/advance", json={"seconds": 60}, headers=BEARER)
        assert r.status_code == 200 and r.json()["offsetSeconds"] == 60
        r = c.post("/_sandbox/reset", headers={"Authorization": f"bearer  {TOKEN}"})
        assert r.status_code == 200 and r.json()["reset"] is True


def test_provider_apis_never_need_the_control_token(secured: LiveServer) -> None:
    with secured.client() as c:
        r = c.post("/kplus/payment/generate-token", json=generate_body())
        assert r.status_code == 200 and r.json()["statusCode"] == "00", r.text
        page = c.get(r.json()["callBackAppUrl"].removeprefix(secured.base_url))
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        r = c.get("/v1/payments/1", headers={"Authorization": "Basic MTAxMDpnYWJp"})
        assert r.status_code == 404 and "Payment" in r.json()  # Smart2Pay's own answer


def test_browser_sign_in_sets_a_strict_httponly_cookie(secured: LiveServer) -> None:
    with secured.client() as c:
        # a navigation without the cookie is sent to the sign-in page
        r = c.get("/_sandbox/deliveries", headers={"Accept": "text/html,*/*;q=0.8"})
        assert r.status_code == 303
        assert r.headers["location"] == "/_sandbox/login?next=/_sandbox/deliveries"
        page = c.get("/_sandbox/login?next=/_sandbox/deliveries")
        assert page.status_code == 200 and 'name="token"' in page.text
        assert 'name="next" value="/_sandbox/deliveries"' in page.text
        assert page.headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]

        wrong = c.post("/_sandbox/login", data={"token": "nope", "next": "/_sandbox/deliveries"})
        assert wrong.status_code == 401 and "That is not the control token." in wrong.text
        assert "set-cookie" not in wrong.headers

        ok = c.post("/_sandbox/login", data={"token": TOKEN, "next": "/_sandbox/deliveries"})
        assert ok.status_code == 303 and ok.headers["location"] == "/_sandbox/deliveries"
        cookie = ok.headers["set-cookie"]
        assert cookie.startswith("paysandbox_control=")
        attrs = {a.strip().lower() for a in cookie.split(";")[1:]}
        assert {"httponly", "samesite=strict", "path=/_sandbox"} <= attrs
        assert TOKEN not in cookie  # the cookie holds a MAC of the token, not the token
        value = cookie.split(";")[0].split("=", 1)[1]

    with secured.client() as c:
        c.cookies.set("paysandbox_control", value)
        r = c.get("/_sandbox/clock")
        assert r.status_code == 200 and "now" in r.json()
        assert "You are signed in." in c.get("/_sandbox/login").text
        # the cookie does not let another site change anything
        r = c.post("/_sandbox/reset", headers={"Origin": "http://evil.example"})
        assert r.status_code == 403 and r.json() == CROSS_SITE
        out = c.post("/_sandbox/logout")
        assert out.status_code == 303 and "Max-Age=0" in out.headers["set-cookie"]

    with secured.client() as c:
        c.cookies.set("paysandbox_control", value[:-1] + ("0" if value[-1] != "0" else "1"))
        r = c.get("/_sandbox/clock")
        assert r.status_code == 401 and r.json() == UNAUTHORIZED


@pytest.mark.parametrize("next_path", ["http://evil.example/", "//evil.example/x", "/kplus/x"])
def test_sign_in_never_redirects_off_the_control_plane(secured: LiveServer, next_path: str) -> None:
    with secured.client() as c:
        r = c.post("/_sandbox/login", data={"token": TOKEN, "next": next_path})
        assert r.status_code == 303 and r.headers["location"] == "/_sandbox/login"


# ---------------------------------------------------------------- loopback, no token


def test_loopback_without_token_is_open_to_command_line_clients(client: httpx.Client) -> None:
    r = client.post("/_sandbox/clock/advance", json={"seconds": 5})
    assert r.status_code == 200 and r.json()["offsetSeconds"] == 5
    page = client.get("/_sandbox/login")
    assert page.status_code == 200 and "Nothing to sign in to." in page.text


@pytest.mark.parametrize(
    "headers",
    [
        # the case: a plain form-like POST from a hostile page
        {"Origin": "http://evil.example", "Content-Type": "text/plain"},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "cross-site", "Origin": "http://127.0.0.1:1"},
    ],
)
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/_sandbox/reset", None),
        ("POST", "/_sandbox/clock/advance", b'{"seconds": 315360000}'),
        ("PUT", "/_sandbox/kplus/partners/PTR1902369", b'{"partnerSecret":"lockedout!"}'),
    ],
)
def test_loopback_refuses_cross_site_state_changes(
    client: httpx.Client, headers: dict[str, str], method: str, path: str, body: bytes | None
) -> None:
    client.post("/_sandbox/clock/advance", json={"seconds": 7})
    r = client.request(method, path, content=body, headers=headers)
    assert r.status_code == 403, r.text
    assert r.json() == CROSS_SITE
    assert "access-control-allow-origin" not in r.headers
    assert client.get("/_sandbox/clock").json()["offsetSeconds"] == 7  # not reset, not moved
    gen = client.post("/kplus/payment/generate-token", json=generate_body())
    assert gen.json()["statusCode"] == "00"  # the demo secret was not replaced


def test_loopback_accepts_its_own_origin_and_same_origin_fetches(client: httpx.Client) -> None:
    own = str(client.base_url).rstrip("/")
    r = client.post("/_sandbox/clock/advance", json={"seconds": 1}, headers={"Origin": own})
    assert r.status_code == 200 and r.json()["offsetSeconds"] == 1
    r = client.post(
        "/_sandbox/clock/advance", json={"seconds": 1}, headers={"Sec-Fetch-Site": "same-origin"}
    )
    assert r.status_code == 200 and r.json()["offsetSeconds"] == 2
    # reads are not state changes (and a browser cannot read the answer without CORS)
    r = client.get("/_sandbox/clock", headers={"Origin": "http://evil.example"})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
