"""Item 2 of issue 9: only this sandbox's own Host names are served (DNS rebinding and Host
injection fail), and customer-page URLs never come from the Host header."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from ..kplus.builders import generate_body
from ..nicepay.builders import PAY, page_action, payment_params, register
from ..smart2pay.builders import AUTH, payment_body
from ..support import LiveServer

INJECTED = 'evil.example"><x'
REFUSED_CONTROL = {"error": "invalid_host", "message": "not a Host of this sandbox"}


def kplus_404(path: str) -> dict[str, Any]:
    return {
        "partnerTxnUid": None,
        "partnerId": None,
        "statusCode": "10",
        "errorCode": "not_found",
        "errorDesc": f"no K PLUS route at {path}",
    }


def s2p_404(root: str) -> dict[str, Any]:
    reason = {"Code": "100", "Info": "Invalid route - no Smart2Pay route at this path"}
    return {root: {"Status": {"ID": None, "Info": None, "Reasons": [reason]}}}


NICEPAY_404 = {
    "resultCd": "9001",
    "resultMsg": "Failed to register your order. Please check your HTTP Message. "
    "(no NICEPay API at /nicepay/direct/v2/registration)",
}

# (method, path, body, expected status, expected answer): each in its owner's format
CASES: list[tuple[str, str, Any, int, Any]] = [
    ("POST", "/_sandbox/reset", None, 400, REFUSED_CONTROL),
    ("GET", "/_sandbox/deliveries", None, 400, REFUSED_CONTROL),
    (
        "PUT",
        "/_sandbox/kplus/partners/PTR1902369",
        {"partnerSecret": "x" * 12},
        400,
        REFUSED_CONTROL,
    ),
    (
        "POST",
        "/kplus/payment/generate-token",
        generate_body(),
        404,
        kplus_404("/kplus/payment/generate-token"),
    ),
    ("POST", "/nicepay/direct/v2/registration", {}, 404, NICEPAY_404),
    ("POST", "/v1/payments", payment_body(), 404, s2p_404("Payment")),
]


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:8080", INJECTED, "127.0.0.1.evil.example", "[fe80::1]"]
)
@pytest.mark.parametrize(("method", "path", "body", "status", "answer"), CASES)
def test_a_foreign_host_is_refused_in_the_path_owners_format(
    client: httpx.Client, host: str, method: str, path: str, body: Any, status: int, answer: Any
) -> None:
    client.post("/_sandbox/clock/advance", json={"seconds": 3})
    r = client.request(method, path, json=body, headers={"Host": host})
    assert r.status_code == status, r.text
    assert r.json() == answer
    assert "evil" not in r.text
    # nothing happened: the clock was not reset, no object was created
    assert client.get("/_sandbox/clock").json()["offsetSeconds"] == 3
    assert client.get("/_sandbox/deliveries").json() == {"deliveries": []}


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "LOCALHOST:{port}",
        "127.0.0.1:{port}",
        "127.0.0.2",
        "[::1]:{port}",
        "a.localhost",
    ],
)
def test_loopback_names_are_served(client: httpx.Client, host: str) -> None:
    port = client.base_url.port
    r = client.get("/_sandbox/clock", headers={"Host": host.format(port=port)})
    assert r.status_code == 200 and "now" in r.json()
    r = client.post(
        "/kplus/payment/generate-token",
        json=generate_body(),
        headers={"Host": host.format(port=port)},
    )
    assert r.json()["statusCode"] == "00"


def test_configured_public_url_and_allowed_hosts_are_served(
    make_server: Callable[..., LiveServer],
) -> None:
    live = make_server(
        public_url="https://pay.sandbox.example",
        allowed_hosts=["sandbox.internal", ".team.example"],
    )
    with live.client() as c:
        for host in (
            "pay.sandbox.example",
            "sandbox.internal:8080",
            "api.team.example",
            "team.example",
        ):
            r = c.get("/_sandbox/clock", headers={"Host": host})
            assert r.status_code == 200, (host, r.text)
        for host in ("evil.example", "sandbox.internal.evil.example", "xteam.example"):
            r = c.get("/_sandbox/clock", headers={"Host": host})
            assert r.status_code == 400 and r.json() == REFUSED_CONTROL
        # pages are linked on the public URL
        r = c.post("/kplus/payment/generate-token", json=generate_body())
        token = r.json()["tokenId"]
        assert r.json()["callBackAppUrl"] == f"https://pay.sandbox.example/kplus/app/{token}"


def test_forwarded_headers_are_ignored(make_server: Callable[..., LiveServer]) -> None:
    """``X-Forwarded-Proto`` / ``-Host`` / ``-For`` from a loopback client (which uvicorn trusts
    by default) change neither the scheme nor the address of the sandbox's own links."""
    live = make_server()
    forwarded = {
        "X-Forwarded-Proto": "https",
        "X-Forwarded-For": "203.0.113.9",
        "X-Forwarded-Host": "evil.example",
    }
    with live.client() as c:
        r = c.post("/kplus/payment/generate-token", json=generate_body(), headers=forwarded)
        got = r.json()
        assert got["statusCode"] == "00", got
        assert live.base_url.startswith("http://127.0.0.1:")
        assert got["callBackAppUrl"] == f"{live.base_url}/kplus/app/{got['tokenId']}"


def test_page_urls_come_from_the_bound_address_never_the_host_header(
    make_server: Callable[..., LiveServer],
) -> None:
    """Even with every Host accepted (``allowed_hosts=["*"]``), the Host header is not copied
    into ``callBackAppUrl`` nor into the NICEPay page's form action."""
    live = make_server(allowed_hosts=["*"])
    with live.client() as c:
        r = c.post(
            "/kplus/payment/generate-token", json=generate_body(), headers={"Host": INJECTED}
        )
        got = r.json()
        assert got["statusCode"] == "00", got
        assert got["callBackAppUrl"] == f"{live.base_url}/kplus/app/{got['tokenId']}"
        view = c.get(f"/_sandbox/kplus/tokens/{got['tokenId']}", headers={"Host": INJECTED})
        assert "evil" not in view.text

        reg = register(c, "01")
        page = c.post(
            PAY, data=payment_params(reg["tXid"], reg["referenceNo"]), headers={"Host": INJECTED}
        )
        assert page.status_code == 200, page.text
        assert page_action(page.text).startswith(f"{live.base_url}/nicepay/direct/v2/payment/")
        assert "evil" not in page.text
        r = c.post("/v1/payments", json=payment_body(), headers={**AUTH, "Host": INJECTED})
        assert r.status_code == 201 and "evil" not in r.text
