"""The request journal over HTTP: an entry for every provider route (secrets redacted in what
is stored), the X-Sandbox-Request-Id header, filters, one entry, delete, and bad filters."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from ..support import LiveServer
from .helpers import (
    KPLUS_SECRET,
    NICEPAY_PAN,
    S2P_AUTH_B64,
    S2P_PAN,
    V1_HEADERS,
    creds,
    entries,
    generate_body,
    kplus_generate,
    nb,
    sb,
    stored_rows,
)


def _kplus_routes(c: httpx.Client) -> None:
    for prefix, headers in (("/kplus/payment", {}), ("/v1/kplus/payment", V1_HEADERS)):
        gen = c.post(f"{prefix}/generate-token", json=generate_body(), headers=headers).json()
        token = gen["tokenId"]
        body = creds(tokenId=token)
        assert c.post(f"{prefix}/inquire-token", json=body, headers=headers).status_code == 200
        cancel = creds(tokenId=token, reference1="KS1234567")
        assert c.post(f"{prefix}/cancel-token", json=cancel, headers=headers).status_code == 200
    page = urlsplit(kplus_generate(c)["callBackAppUrl"]).path
    assert c.get(page).status_code == 200
    assert c.get(page + "/pay").status_code in (302, 303, 307)
    assert c.get(page + "/decline").status_code in (302, 303, 307)
    assert c.post(page + "/decline").status_code == 303
    assert c.post(page + "/pay", data={"paymentAccount": "0011230055"}).status_code == 303


def _nicepay_routes(c: httpx.Client) -> None:
    reg = nb.register(c, "01")
    t_xid, ref = reg["tXid"], reg["referenceNo"]
    assert c.post(nb.INQ, json=nb.inquiry(t_xid, ref)).json()["resultCd"] == "0000"
    # the browser payment by GET (card data in the query) and by form POST
    r = c.get(nb.PAY, params=nb.payment_params(t_xid, ref))
    assert r.status_code == 200, r.text
    action = nb.page_action(r.text)
    assert c.get(action).status_code == 200
    assert c.post(action, data={"result": "approve"}).status_code == 303
    reg2 = nb.register(c, "01")
    r = c.post(nb.PAY, data=nb.payment_params(reg2["tXid"], reg2["referenceNo"]))
    assert r.status_code == 200
    assert c.post(nb.CAN, json=nb.cancel(t_xid, "10000")).json()["resultCd"] == "0000"
    # v2 Redirect: registration, the checkout page (GET), a card entered on it (form POST)
    body = nb.registration("01", callBackUrl="https://shop.example/back", userIP="127.0.0.1")
    body["payMethod"] = "00"
    red = c.post("/nicepay/redirect/v2/registration", json=body).json()
    assert red["resultCd"] == "0000", red
    assert c.get("/nicepay/redirect/v2/payment", params={"tXid": red["tXid"]}).status_code == 200
    r = c.post(
        "/nicepay/redirect/v2/payment",
        data={
            "tXid": red["tXid"],
            "action": "pay",
            "cardNo": "4222222222222222",
            "cardExpYymm": "3012",
            "cardCvv": "123",
            "cardHolderNm": "John Doe",
        },
    )
    assert r.status_code in (200, 303), r.text


def _smart2pay_routes(c: httpx.Client) -> None:
    a = sb.AUTH
    token = sb.authenticate(c)
    assert c.get(f"/v1/card/token/{token}", headers=a).status_code == 200
    assert c.post(f"/v1/card/token/{token}/cancel", headers=a).status_code == 200
    paid = sb.pay(c)
    pid = paid["ID"]
    assert c.get("/v1/payments", headers=a).status_code == 200
    assert c.get(f"/v1/payments/{pid}", headers=a).status_code == 200
    assert c.get(f"/v1/payments/{pid}/status", headers=a).status_code == 200
    r = sb.refund(c, pid, 100)
    assert r.status_code == 201, r.text
    rid = r.json()["Refund"]["ID"]
    assert c.get(f"/v1/payments/{pid}/refunds", headers=a).status_code == 200
    assert c.get(f"/v1/payments/{pid}/refunds/{rid}", headers=a).status_code == 200
    assert c.get(f"/v1/payments/{pid}/refunds/{rid}/status", headers=a).status_code == 200
    assert c.get(f"/v1/refunds/{rid}/status", headers=a).status_code == 200
    held = sb.pay(c, capture=False)
    assert sb.capture(c, held["ID"]).status_code == 200
    other = sb.pay(c, capture=False)
    assert sb.cancel(c, other["ID"]).status_code == 200
    # captures listing, the browser tokenization preflight, the 3-D Secure page
    assert c.get(f"/v1/payments/{held['ID']}/captures", headers=a).status_code == 200
    cid = c.get(f"/v1/payments/{held['ID']}", headers=a).json()["Payment"]["CaptureDetails"]["ID"]
    assert c.get(f"/v1/payments/{held['ID']}/captures/{cid}", headers=a).status_code == 200
    preflight = {"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"}
    assert c.options("/v1/card/authenticate", headers=preflight).status_code in (200, 204)
    body = sb.payment_body(2000, capture=True, **{"3DSecure": True})
    p = c.post("/v1/payments", json=body, headers=a).json()["Payment"]
    page = urlsplit(p["RedirectURL"]).path
    assert c.get(page).status_code == 200
    assert c.post(page, data={"action": "authenticate"}).status_code == 303


def _api_routes(client: httpx.Client, tags: set[str]) -> set[tuple[str, str]]:
    doc = client.get("/_sandbox/openapi.json").json()
    return {
        (method.upper(), path)
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
        if set(op.get("tags", [])) & tags
    }


def test_every_provider_route_is_journaled_with_secrets_redacted(
    client: httpx.Client, db_url: str
) -> None:
    assert client.delete("/_sandbox/requests").status_code == 200
    _kplus_routes(client)
    _nicepay_routes(client)
    _smart2pay_routes(client)
    found = entries(client)
    seen = {(e["method"], e["route"]) for e in found}
    for provider in ("kplus", "nicepay", "smart2pay"):
        wanted = _api_routes(client, {provider})
        assert wanted, provider
        missing = wanted - seen
        assert not missing, (provider, sorted(missing))
    assert all(e["provider"] in ("kplus", "nicepay", "smart2pay") for e in found)
    assert {
        e["account"] for e in found if e["provider"] == "kplus" and "/app/" not in e["path"]
    } == {"PTR1902369"}
    s2p_api = [e for e in found if e["provider"] == "smart2pay" and e["route"].startswith("/v1/")]
    assert {e["account"] for e in s2p_api if e["method"] != "OPTIONS"} == {"1010"}
    assert "IONPAYTEST" in {e["account"] for e in found if e["provider"] == "nicepay"}

    # What is stored — read from the database itself — holds no secret, PAN or CVV.
    stored = "\n".join(repr(r) for r in stored_rows(db_url))
    assert stored.count("generate-token") >= 2  # the search below looks at real entries
    for forbidden in (KPLUS_SECRET, NICEPAY_PAN, S2P_PAN, S2P_AUTH_B64, "gabi"):
        assert forbidden not in stored, forbidden
    assert "cardCvv" not in stored and "SecurityCode" not in stored  # CVVs: removed entirely
    # …and shows that they were sent, redacted
    kp = next(e for e in found if e["route"] == "/v1/kplus/payment/generate-token")
    assert '"partnerSecret":"***"' in kp["request"]["body"]
    assert ["partner-secret", "***"] in kp["request"]["headers"]
    get_pay = next(e for e in found if e["route"] == nb.PAY and e["method"] == "GET")
    assert "cardCvv" not in get_pay["query"] and "cardNo=%2A" in get_pay["query"]
    assert get_pay["query"].endswith("2222") or "2222&" in get_pay["query"]
    s2p = next(e for e in found if e["route"] == "/v1/payments" and e["method"] == "POST")
    assert ["authorization", "***"] in s2p["request"]["headers"]
    assert '"Number":"************1111"' in s2p["request"]["body"]
    assert '"ExpirationYear":"2021"' in s2p["request"]["body"]  # the rest of the card is kept


def test_entry_shows_the_exchange_as_received_and_as_sent(client: httpx.Client) -> None:
    r = client.post(
        "/kplus/payment/generate-token", json=generate_body(), headers={"X-Trace": "t-1"}
    )
    rid = r.headers["x-sandbox-request-id"]
    assert re.fullmatch(r"req_[0-9a-f]{18}", rid)
    one = client.get(f"/_sandbox/requests/{rid}")
    assert one.status_code == 200, one.text
    e = one.json()
    assert (e["id"], e["provider"], e["method"]) == (rid, "kplus", "POST")
    assert (e["route"], e["path"], e["status"]) == (
        "/kplus/payment/generate-token",
        "/kplus/payment/generate-token",
        200,
    )
    assert e["account"] == "PTR1902369" and e["objectIds"] == [r.json()["tokenId"]]
    assert ["x-trace", "t-1"] in e["request"]["headers"]
    assert e["response"]["body"] == r.text  # the answer exactly as sent
    assert ["x-sandbox-request-id", rid] in e["response"]["headers"]
    assert e["response"]["sent"] is True and e["outcome"] == "answered"
    assert e["fault"] is None and e["latencyMs"] > 0
    assert e["request"]["bodyBytes"] == len(r.request.content)


def test_filters(client: httpx.Client) -> None:
    client.delete("/_sandbox/requests")
    gen = kplus_generate(client)
    token = gen["tokenId"]
    client.post("/kplus/payment/inquire-token", json=creds(tokenId=token))
    client.post("/v1/kplus/payment/inquire-token", json=creds(tokenId=token), headers=V1_HEADERS)
    client.post("/kplus/payment/inquire-token", json=creds(tokenId="KMCMPTnosuchPMT"))
    sb.pay(client)

    assert client.get("/_sandbox/requests").json()["complete"] is True  # all stored, in time

    def routes(**f: Any) -> list[str | None]:
        return [e["route"] for e in entries(client, **f)]

    assert len(entries(client)) == 5
    assert routes(provider="smart2pay") == ["/v1/payments"]
    # a K PLUS route matches both path families; newest first
    assert routes(route="/kplus/payment/inquire-token") == [
        "/kplus/payment/inquire-token",
        "/v1/kplus/payment/inquire-token",
        "/kplus/payment/inquire-token",
    ]
    assert len(entries(client, objectId=token)) == 3
    assert entries(client, status="404")[0]["objectIds"] == ["KMCMPTnosuchPMT"]
    assert len(entries(client, status="2xx")) == 4  # three K PLUS 200s and a Smart2Pay 201
    assert len(entries(client, account="1010")) == 1
    assert len(entries(client, limit=2)) == 2
    assert entries(client, since="2999-01-01T00:00:00Z") == []
    assert len(entries(client, since="2000-01-01T00:00:00+07:00")) == 5
    assert len(entries(client, since="0")) == 5
    assert entries(client, since="253402300799999") == []  # the last millisecond of 9999
    assert entries(client, objectId="KMCMPT%") == []  # LIKE wildcards are literal
    # an id is matched whole and exactly, case included, on both engines (SQLite's LIKE
    # ignored ASCII case: the lower-cased id found entries there, none on PostgreSQL)
    assert entries(client, objectId=token.lower()) == []
    assert entries(client, objectId=token[:-3]) == []
    assert entries(client, objectId="kmcmptnosuchpmt") == []
    assert len(entries(client, objectId="KMCMPTnosuchPMT")) == 1


@pytest.mark.parametrize(
    ("query", "word"),
    [
        ({"status": "abc"}, "status"),
        ({"status": "700"}, "status"),
        ({"status": "9" * 5000}, "status"),  # past Python's 4300 digits for int()
        ({"status": "²²²"}, "status"),  # digits to str.isdigit, not to int()
        ({"since": "²"}, "since"),
        ({"since": "yesterday"}, "since"),
        ({"since": "9223372036854776"}, "since"),  # × 1000 is past SQLite's 64-bit integers
        ({"since": "253402300800000"}, "since"),  # 10000-01-01
        ({"since": "1" * 5000}, "since"),  # past Python's 4300 digits for int()
        ({"limit": "x"}, "limit"),
        ({"provider": "paypal"}, "provider"),
        ({"objectid": "x"}, "objectid"),
    ],
)
def test_bad_filters_are_400(client: httpx.Client, query: dict[str, str], word: str) -> None:
    r = client.get("/_sandbox/requests", params=query)
    assert r.status_code == 400
    body = r.json()
    assert body["error"] == "bad_request" and word in body["message"]


def test_unknown_entry_and_delete(client: httpx.Client) -> None:
    r = client.get("/_sandbox/requests/req_nope")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    kplus_generate(client)
    # a filter it cannot honour is refused, nothing deleted (?account= emptied everything)
    for params in ({"account": "nobody"}, {"provider": "kplus"}):
        r = client.delete("/_sandbox/requests", params=params)
        assert r.status_code == 400 and "takes no query parameters" in r.json()["message"]
        assert len(entries(client)) >= 1
    d = client.delete("/_sandbox/requests")
    assert d.status_code == 200 and d.json()["deleted"] >= 1
    assert entries(client) == []


def test_control_routes_are_not_journaled(client: httpx.Client) -> None:
    client.delete("/_sandbox/requests")
    client.get("/_sandbox/clock")
    r = client.get("/nothing-here")
    assert "x-sandbox-request-id" not in r.headers
    assert entries(client) == []


def test_unknown_provider_path_is_journaled_as_unmatched(client: httpx.Client) -> None:
    client.delete("/_sandbox/requests")
    r = client.post("/kplus/payment/nope", json={})
    assert r.status_code == 404 and r.json()["errorCode"] == "not_found"
    (e,) = entries(client)
    assert e["id"] == r.headers["x-sandbox-request-id"]
    assert (e["route"], e["path"], e["status"]) == (None, "/kplus/payment/nope", 404)


def test_journal_off(fresh_db_url: str) -> None:
    from ..support import test_settings

    live = LiveServer(test_settings(fresh_db_url, journal_enabled=False))
    try:
        with live.client() as c:
            r = c.post("/kplus/payment/generate-token", json=generate_body())
            assert r.status_code == 200 and "x-sandbox-request-id" in r.headers
            body = c.get("/_sandbox/requests").json()
            assert body["requests"] == [] and body["enabled"] is False
            assert body["complete"] is True  # nothing was queued: nothing to wait for
    finally:
        live.stop()


def test_count_cap_holds_under_a_burst(fresh_db_url: str) -> None:
    from ..support import test_settings, wait_until

    live = LiveServer(test_settings(fresh_db_url, journal_max_entries=50))
    try:
        with live.client() as c:
            token = c.post("/kplus/payment/generate-token", json=generate_body()).json()["tokenId"]
            first = c.post("/kplus/payment/inquire-token", json=creds(tokenId=token))
            for _ in range(250):
                last = c.post("/kplus/payment/inquire-token", json=creds(tokenId=token))

            def ids() -> list[str]:
                return [e["id"] for e in entries(c)]

            # trimmed to 50 after every 100 written: never more than 150 kept
            wait_until(lambda: len(ids()) <= 150)
            kept = ids()
            assert last.headers["x-sandbox-request-id"] == kept[0]
            assert first.headers["x-sandbox-request-id"] not in kept
    finally:
        live.stop()


def test_an_overlong_account_is_stored_cut_not_dropped_with_its_batch(
    client: httpx.Client,
) -> None:
    """A client's partnerId of 300 characters (refused, 400) is the entry's account: on
    PostgreSQL the column's 128 characters refused it, and the writer dropped the whole batch
    — every client's entries of that moment. It is stored cut to the column's size."""
    from paysandbox.observe.entries import ACCOUNT_CHARS

    client.delete("/_sandbox/requests")
    long_id = "P" * 300
    client.post("/kplus/payment/generate-token", json=generate_body(partnerId=long_id))
    token = kplus_generate(client)["tokenId"]
    found = entries(client)
    assert [e["account"] for e in found] == ["PTR1902369", long_id[:ACCOUNT_CHARS]]
    assert found[0]["objectIds"] == [token]
