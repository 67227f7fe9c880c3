"""API fault injection over HTTP: each kind on each provider, seen by a real httpx client;
N-times, probability, match and account; validation; config-file faults."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from ..support import KPLUS_ID, LiveServer, Receiver, test_settings, wait_until
from .helpers import add_fault, creds, entries, generate_body, kplus_generate, nb, sb


@dataclass
class Case:
    """One provider: a state-changing request that queues a callback, and its checks."""

    provider: str
    route: str  # the fault's route
    prepare: Callable[[httpx.Client, Receiver], dict[str, Any]]
    send: Callable[[httpx.Client, dict[str, Any], float], httpx.Response]
    state: Callable[[httpx.Client, dict[str, Any]], str]
    before: str
    after: str
    object_id: Callable[[dict[str, Any]], str]


# ---------------------------------------------------------------- K PLUS: pay on the page


def _kplus_prepare(c: httpx.Client, receiver: Receiver) -> dict[str, Any]:
    r = c.put("/_sandbox/kplus/partners/PTR1902369", json={"callbackUrl": receiver.url + "/cb"})
    assert r.status_code == 200, r.text
    gen = kplus_generate(c)
    return {"token": gen["tokenId"], "page": urlsplit(gen["callBackAppUrl"]).path}


def _kplus_send(c: httpx.Client, ctx: dict[str, Any], timeout: float) -> httpx.Response:
    return c.post(ctx["page"] + "/pay", data={"paymentAccount": "0011230055"}, timeout=timeout)


def _kplus_state(c: httpx.Client, ctx: dict[str, Any]) -> str:
    body = c.post("/kplus/payment/inquire-token", json=creds(tokenId=ctx["token"])).json()
    return str(body["paymentStatus"])


# ---------------------------------------------------------------- NICEPay: approve on the page


def _nicepay_prepare(c: httpx.Client, receiver: Receiver) -> dict[str, Any]:
    reg = nb.register(c, "01", dbProcessUrl=receiver.url + "/db")
    r = c.post(nb.PAY, data=nb.payment_params(reg["tXid"], reg["referenceNo"]))
    assert r.status_code == 200, r.text
    return {"tXid": reg["tXid"], "action": nb.page_action(r.text)}


def _nicepay_send(c: httpx.Client, ctx: dict[str, Any], timeout: float) -> httpx.Response:
    return c.post(ctx["action"], data={"result": "approve"}, timeout=timeout)


def _nicepay_state(c: httpx.Client, ctx: dict[str, Any]) -> str:
    return str(c.get(f"/_sandbox/nicepay/transactions/{ctx['tXid']}").json()["state"])


# ---------------------------------------------------------------- Smart2Pay: create a payment


def _s2p_prepare(c: httpx.Client, receiver: Receiver) -> dict[str, Any]:
    r = c.put("/_sandbox/smart2pay/sites/1010", json={"notificationUrl": receiver.url + "/n"})
    assert r.status_code == 200, r.text
    return {"body": sb.payment_body()}


def _s2p_send(c: httpx.Client, ctx: dict[str, Any], timeout: float) -> httpx.Response:
    return c.post("/v1/payments", json=ctx["body"], headers=sb.AUTH, timeout=timeout)


def _s2p_state(c: httpx.Client, ctx: dict[str, Any]) -> str:
    mtid = ctx["body"]["Payment"]["MerchantTransactionID"]
    r = c.get("/v1/payments", params={"merchantTransactionID": mtid}, headers=sb.AUTH)
    found = r.json()["Payments"]
    if not found:
        return "none"
    ctx["pid"] = str(found[0]["ID"])
    return str(found[0]["Status"]["Info"])


CASES = [
    Case(
        "kplus",
        "/kplus/app/{token_id}/pay",
        _kplus_prepare,
        _kplus_send,
        _kplus_state,
        "REQUESTED",
        "PAID",
        lambda ctx: str(ctx["token"]),
    ),
    Case(
        "nicepay",
        "/nicepay/direct/v2/payment/session/{session_id}",
        _nicepay_prepare,
        _nicepay_send,
        _nicepay_state,
        "INIT",
        "PAID",
        lambda ctx: str(ctx["tXid"]),
    ),
    Case(
        "smart2pay",
        "/v1/payments",
        _s2p_prepare,
        _s2p_send,
        _s2p_state,
        "none",
        "Captured",
        lambda ctx: str(ctx["pid"]),
    ),
]
IDS = [c.provider for c in CASES]


def _fault_entry(client: httpx.Client, fault_id: str) -> dict[str, Any]:
    found = [e for e in entries(client) if e["fault"] and e["fault"]["id"] == fault_id]
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_lost_answer_commits_and_queues_then_drops(
    client: httpx.Client, receiver: Receiver, case: Case
) -> None:
    ctx = case.prepare(client, receiver)
    assert case.state(client, ctx) == case.before
    fault = add_fault(client, provider=case.provider, route=case.route, kind="lost-answer", times=1)
    with pytest.raises(httpx.TransportError) as caught:
        case.send(client, ctx, 10)
    assert not isinstance(caught.value, httpx.TimeoutException)
    assert case.state(client, ctx) == case.after  # the change was committed
    oid = case.object_id(ctx)
    queued = client.get("/_sandbox/deliveries", params={"objectId": oid}).json()["deliveries"]
    assert len(queued) >= 1 and queued[0]["provider"] == case.provider
    receiver.wait_for(1)
    e = _fault_entry(client, fault["id"])
    assert e["fault"]["kind"] == "lost-answer" and e["status"] is None
    assert e["outcome"] == "answer-lost" and e["response"]["sent"] is False
    assert e["response"]["status"] in (201, 303)  # the answer that was never sent, kept
    assert oid in e["objectIds"]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_reset_drops_the_connection_at_once_and_changes_nothing(
    client: httpx.Client, receiver: Receiver, case: Case
) -> None:
    ctx = case.prepare(client, receiver)
    fault = add_fault(client, provider=case.provider, route=case.route, kind="reset", times=1)
    started = time.monotonic()
    with pytest.raises(httpx.TransportError) as caught:
        case.send(client, ctx, 10)
    assert not isinstance(caught.value, httpx.TimeoutException)
    assert time.monotonic() - started < 5  # at once: far below the client's 10 s timeout
    assert case.state(client, ctx) == case.before
    e = _fault_entry(client, fault["id"])
    assert (e["fault"]["kind"], e["status"], e["outcome"]) == ("reset", None, "dropped")
    assert e["response"] is None


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_timeout_holds_without_an_answer(
    client: httpx.Client, receiver: Receiver, case: Case
) -> None:
    ctx = case.prepare(client, receiver)
    fault = add_fault(
        client,
        provider=case.provider,
        route=case.route,
        kind="timeout",
        latencyMs=30_000,
        times=1,
    )
    with pytest.raises(httpx.ReadTimeout):
        case.send(client, ctx, 0.5)
    assert case.state(client, ctx) == case.before
    # the server lets go once the client is gone (it does not sit out the 30 s)
    # (its own entry: the previous case's held request may be journaled late, as it ends)
    e = wait_until(
        lambda: next(
            (x for x in entries(client) if x["fault"] and x["fault"]["id"] == fault["id"]), None
        )
    )
    assert e["fault"] == {"id": fault["id"], "kind": "timeout"}
    assert e["status"] is None and e["outcome"] == "dropped"
    assert 400 <= e["latencyMs"] < 30_000


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_latency_holds_then_answers_normally(
    client: httpx.Client, receiver: Receiver, case: Case
) -> None:
    ctx = case.prepare(client, receiver)
    fault = add_fault(
        client,
        provider=case.provider,
        route=case.route,
        kind="latency",
        latencyMs=[300, 400],
        times=1,
    )
    started = time.monotonic()
    r = case.send(client, ctx, 10)
    assert time.monotonic() - started >= 0.3
    assert r.status_code in (201, 303), r.text
    assert case.state(client, ctx) == case.after
    e = _fault_entry(client, fault["id"])
    assert e["status"] == r.status_code and e["latencyMs"] >= 300
    assert e["response"]["sent"] is True


def test_kplus_error_is_a_documented_answer_and_changes_nothing(client: httpx.Client) -> None:
    token = kplus_generate(client)["tokenId"]
    fault = add_fault(
        client,
        provider="kplus",
        route="/kplus/payment/cancel-token",
        kind="error",
        error="qr_expired",
    )
    # the route matches the /v1 family too
    body = creds(tokenId=token, reference1="KS1234567")
    r = client.post(
        "/v1/kplus/payment/cancel-token",
        json=body,
        headers={"Partner-Id": "PTR1902369", "Partner-Secret": body["partnerSecret"]},
    )
    assert r.status_code == 409
    assert r.json() == {
        "partnerTxnUid": body["partnerTxnUid"],
        "partnerId": "PTR1902369",
        "statusCode": "10",
        "errorCode": "qr_expired",
        "errorDesc": "the token has expired",
    }
    assert r.headers["x-sandbox-request-id"]
    inq = client.post("/kplus/payment/inquire-token", json=creds(tokenId=token)).json()
    assert inq["paymentStatus"] == "REQUESTED"
    e = _fault_entry(client, fault["id"])
    assert (e["status"], e["outcome"]) == (409, "answered")
    assert e["response"]["body"] == r.text


def test_nicepay_error_by_result_code_and_nothing_registered(client: httpx.Client) -> None:
    add_fault(
        client,
        provider="nicepay",
        route="/nicepay/direct/v2/registration",
        kind="error",
        error="9011",
    )
    before = client.get("/_sandbox/nicepay/transactions").json()["transactions"]
    r = client.post(nb.REG, json=nb.registration("02"))
    assert r.status_code == 200
    assert r.json()["resultCd"] == "9011"
    assert r.json()["resultMsg"].startswith("Invalid MID")
    assert client.get("/_sandbox/nicepay/transactions").json()["transactions"] == before


def test_a_nicepay_payment_call_has_its_merchant_as_account(client: httpx.Client) -> None:
    """The card ``payment`` call carries only the tXid: its account is the iMid the tXid begins
    with, so the journal's ``?account=`` finds it and a fault limited to the merchant applies
    (its entry had no account, and such a fault never fired)."""
    reg = client.post(nb.REG, json=nb.registration("01")).json()
    t_xid, ref = reg["tXid"], reg["referenceNo"]
    fault = add_fault(
        client,
        provider="nicepay",
        account="IONPAYTEST",
        route="/nicepay/direct/v2/payment",
        kind="error",
        error="9011",
        times=1,
    )
    r = client.post(nb.PAY, data=nb.payment_params(t_xid, ref))
    assert r.json()["resultCd"] == "9011", r.text
    assert client.get(f"/_sandbox/faults/{fault['id']}").json()["hits"] == 1
    # (the journal outlives the per-test reset: this payment's entries only)
    route = "/nicepay/direct/v2/payment"
    mine = entries(client, account="IONPAYTEST", route=route, objectId=t_xid)
    assert [(e["account"], e["objectIds"]) for e in mine] == [("IONPAYTEST", [t_xid])]
    assert entries(client, account="OTHERMID01", route=route, objectId=t_xid) == []


def test_smart2pay_error_keeps_the_route_root(client: httpx.Client) -> None:
    paid = sb.pay(client)
    add_fault(
        client,
        provider="smart2pay",
        route="/v1/payments/{pid}/refunds",
        kind="error",
        error="18",
        times=1,
    )
    r = sb.refund(client, paid["ID"], 100)
    assert r.status_code == 500
    assert sb.codes(r.json(), "Refund") == ["18"]
    refunds = client.get(f"/v1/payments/{paid['ID']}/refunds", headers=sb.AUTH)
    assert refunds.status_code == 200 and refunds.json()["Refunds"] == []


def test_error_without_a_code_is_the_providers_internal_error(client: httpx.Client) -> None:
    add_fault(client, provider="kplus", kind="error")
    r = client.post("/kplus/payment/inquire-token", json=creds(tokenId="KMCMPTxPMT"))
    assert r.status_code == 500 and r.json()["errorCode"] == "internal_error"


def test_times_counts_down_and_ends(client: httpx.Client) -> None:
    token = kplus_generate(client)["tokenId"]
    fault = add_fault(
        client,
        provider="kplus",
        route="/kplus/payment/inquire-token",
        kind="error",
        error="token_not_found",
        times=2,
    )
    codes = [
        client.post("/kplus/payment/inquire-token", json=creds(tokenId=token)).json()["statusCode"]
        for _ in range(4)
    ]
    assert codes == ["10", "10", "00", "00"]
    view = client.get(f"/_sandbox/faults/{fault['id']}").json()
    assert (view["remaining"], view["hits"], view["active"]) == (0, 2, False)


def test_probability_applies_to_some_requests(client: httpx.Client) -> None:
    token = kplus_generate(client)["tokenId"]
    add_fault(
        client,
        provider="kplus",
        route="/kplus/payment/inquire-token",
        kind="error",
        error="token_not_found",
        probability=0.5,
    )
    n = 120
    faulted = sum(
        client.post("/kplus/payment/inquire-token", json=creds(tokenId=token)).status_code == 404
        for _ in range(n)
    )
    # Binomial(120, 0.5): outside 25..95 has a probability below 1e-10
    assert 25 <= faulted <= 95, faulted


def test_match_and_account_narrow_the_fault(client: httpx.Client) -> None:
    add_fault(
        client,
        provider="kplus",
        route="/kplus/payment/generate-token",
        kind="error",
        error="invalid_reference1",
        match={"reference1": "KS-FAULT", "items.0.itemName": "Shirt"},
    )

    ok = client.post("/kplus/payment/generate-token", json=generate_body(reference1="KS-OTHER"))
    assert ok.json()["statusCode"] == "00"
    bad = client.post("/kplus/payment/generate-token", json=generate_body(reference1="KS-FAULT"))
    assert bad.status_code == 400 and bad.json()["errorCode"] == "invalid_reference1"

    add_fault(client, provider="smart2pay", account="2020", kind="error", error="18")
    assert client.get("/v1/payments", headers=sb.AUTH).status_code == 200  # site 1010
    add_fault(client, provider="smart2pay", account="1010", kind="error", error="17")
    r = client.get("/v1/payments", headers=sb.AUTH)
    assert r.status_code == 404 and sb.codes(r.json(), "Payment") == ["17"]


def test_faults_are_listed_and_deleted(client: httpx.Client) -> None:
    f = add_fault(client, provider="nicepay", kind="latency", latencyMs=5)
    assert f["id"].startswith("flt_") and f["source"] == "api" and f["remaining"] is None
    listed = client.get("/_sandbox/faults").json()["faults"]
    assert [x["id"] for x in listed] == [f["id"]]
    assert client.delete(f"/_sandbox/faults/{f['id']}").json() == {"deleted": f["id"]}
    assert client.get("/_sandbox/faults").json()["faults"] == []
    again = client.delete(f"/_sandbox/faults/{f['id']}")
    assert again.status_code == 404 and again.json()["error"] == "not_found"
    assert client.get("/_sandbox/faults/flt_nope").status_code == 404
    # a deleted fault is not applied any more
    r = client.post(nb.INQ, json=nb.inquiry("IONPAYTEST0000", "x"))
    assert r.status_code == 200


@pytest.mark.parametrize(
    ("spec", "word"),
    [
        ({"kind": "error"}, "provider"),
        ({"provider": "kplus"}, "kind"),
        ({"provider": "paypal", "kind": "error"}, "provider"),
        ({"provider": "kplus", "kind": "explode"}, "kind"),
        ({"provider": "kplus", "kind": "error", "error": "no_such_code"}, "error"),
        ({"provider": "kplus", "kind": "latency", "error": "qr_paid"}, "error"),
        ({"provider": "kplus", "kind": "error", "route": "/v1/payments"}, "route"),
        ({"provider": "kplus", "kind": "latency", "latencyMs": -1}, "latencyMs"),
        ({"provider": "kplus", "kind": "latency", "latencyMs": [5, 1]}, "latencyMs"),
        ({"provider": "kplus", "kind": "latency", "latencyMs": [1, 2, 3]}, "latencyMs"),
        ({"provider": "kplus", "kind": "reset", "times": 0}, "times"),
        ({"provider": "kplus", "kind": "reset", "probability": 0}, "probability"),
        ({"provider": "kplus", "kind": "reset", "probability": 1.5}, "probability"),
        ({"provider": "kplus", "kind": "reset", "colour": "red"}, "colour"),
    ],
)
def test_bad_fault_is_400(client: httpx.Client, spec: dict[str, Any], word: str) -> None:
    r = client.post("/_sandbox/faults", json=spec)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "bad_request" and word in r.json()["message"]
    assert client.get("/_sandbox/faults").json()["faults"] == []


def test_fault_body_must_be_json(client: httpx.Client) -> None:
    r = client.post("/_sandbox/faults", content=b"kind=reset")
    assert r.status_code == 415 and r.json()["error"] == "unsupported_media_type"
    r = client.post("/_sandbox/faults", content=b"{", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"] == "bad_request"


def test_config_faults_are_seeded_and_restored_by_reset(fresh_db_url: str) -> None:
    spec = {
        "provider": "kplus",
        "route": "/kplus/payment/inquire-token",
        "kind": "error",
        "error": "token_not_found",
        "times": 1,
    }
    live = LiveServer(test_settings(fresh_db_url, faults=[spec]))
    try:
        with live.client() as c:
            (f,) = c.get("/_sandbox/faults").json()["faults"]
            assert (f["id"], f["source"], f["remaining"]) == ("cfg-1", "config", 1)
            token = kplus_generate(c)["tokenId"]
            inquire = {"tokenId": token}
            assert c.post("/kplus/payment/inquire-token", json=creds(**inquire)).status_code == 404
            assert c.post("/kplus/payment/inquire-token", json=creds(**inquire)).status_code == 200
            c.post("/_sandbox/reset")
            (f,) = c.get("/_sandbox/faults").json()["faults"]
            assert (f["id"], f["remaining"], f["hits"]) == ("cfg-1", 1, 0)
    finally:
        live.stop()


def test_an_account_reset_gives_its_config_faults_their_uses_back(fresh_db_url: str) -> None:
    """An account's reset forgets its API faults and restores the config file's ones naming
    it (it deleted them: only a global reset or a restart brought them back)."""
    spec = {
        "provider": "kplus",
        "account": KPLUS_ID,
        "route": "/kplus/payment/inquire-token",
        "kind": "error",
        "error": "token_not_found",
        "times": 2,
    }
    live = LiveServer(test_settings(fresh_db_url, faults=[spec]))
    try:
        with live.client() as c:
            token = kplus_generate(c)["tokenId"]
            inquire = creds(tokenId=token)
            assert c.post("/kplus/payment/inquire-token", json=inquire).status_code == 404
            made = c.post("/_sandbox/faults", json={**spec, "times": 5}).json()
            c.post(f"/_sandbox/kplus/partners/{KPLUS_ID}/reset")
            faults = c.get("/_sandbox/faults").json()["faults"]
            assert [(f["id"], f["remaining"], f["hits"]) for f in faults] == [("cfg-1", 2, 0)]
            assert c.get(f"/_sandbox/faults/{made['id']}").status_code == 404
            token = kplus_generate(c)["tokenId"]
            inquire = creds(tokenId=token)
            codes = [
                c.post("/kplus/payment/inquire-token", json=inquire).status_code for _ in range(3)
            ]
            assert codes == [404, 404, 200]
    finally:
        live.stop()


def test_bad_config_fault_stops_start_up(fresh_db_url: str) -> None:
    from paysandbox.app import create_app
    from paysandbox.config import ConfigError

    settings = test_settings(fresh_db_url, faults=[{"provider": "kplus", "kind": "nap"}])
    with pytest.raises(ConfigError, match=r"faults\[0\]"):
        create_app(settings)
