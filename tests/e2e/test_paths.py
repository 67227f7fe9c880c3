"""Repeated slashes in a request path are one slash, before routing, on every provider and the
control plane (NICEPay's Python library with its cloud option sends ``/nicepay//direct/v2/…``)."""

from __future__ import annotations

import httpx

from paysandbox.paths import collapse

from ..kplus.builders import creds
from ..nicepay.builders import cancel, register
from ..smart2pay.builders import AUTH, pay


def test_collapse_only_touches_runs_of_slashes() -> None:
    assert collapse("/nicepay//direct/v2/cancel") == "/nicepay/direct/v2/cancel"
    assert collapse("///v1///payments//") == "/v1/payments/"
    assert collapse("/kplus/payment/inquire-token") == "/kplus/payment/inquire-token"


def test_nicepay_cancel_through_a_double_slash(client: httpx.Client) -> None:
    reg = register(client, "02")
    r = client.post("/nicepay//direct/v2/cancel", json=cancel(reg["tXid"], "10000"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["resultCd"] == "0000", body
    assert body["tXid"] == reg["tXid"]


def test_nicepay_registration_through_runs_of_slashes(client: httpx.Client) -> None:
    from ..nicepay.builders import registration

    r = client.post("/nicepay///direct//v2/registration", json=registration("02"))
    assert r.status_code == 200, r.text
    assert r.json()["resultCd"] == "0000", r.json()


def test_kplus_and_smart2pay_and_control_through_double_slashes(client: httpx.Client) -> None:
    r = client.post("/kplus//payment//inquire-token", json=creds(tokenId="KMCMPTnosuchPMT"))
    assert r.status_code == 404, r.text
    assert r.json()["errorCode"] == "token_not_found"
    payment = pay(client, 2000)
    r = client.get(f"/v1//payments/{payment['ID']}//status", headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.json()["Payment"]["Status"]["Info"] == "Captured"
    r = client.get("/_sandbox//clock")
    assert r.status_code == 200, r.text
    assert "now" in r.json()


def test_an_unknown_path_stays_unknown(client: httpx.Client) -> None:
    r = client.post("/nicepay//direct/v2/nosuch", json={})
    assert r.status_code == 404
    assert r.json()["resultCd"] == "9001"
