"""Confirm Payment callbacks over real HTTP: a live paysandbox, a real local receiver, the
sandbox clock advanced between attempts (the test settings retry after 10, 60, 300 s; at most
4 attempts), fault switches, the deliveries control API, and a restart that resumes delivery."""

from __future__ import annotations

import time
from functools import partial
from typing import Any

import httpx

from ..support import KPLUS_ID, KPLUS_SECRET, LiveServer, Receiver, wait_until
from ..support import test_settings as settings_for
from .builders import creds, generate_body

CONTRACT_FIELDS = {
    "partnerTxnUid",
    "partnerId",
    "partnerSecret",
    "requestDt",
    "reference1",
    "reference2",
    "totalAmount",
    "slipImage",
    "paymentRefernceId",
    "paymentAccount",
    "paymentDt",
    "currencyCode",
    "currencyExponent",
    "tokenId",
    "additionalInfo1",
    "additionalInfo2",
    "additionalInfo3",
}


def set_partner(client: httpx.Client, **body: Any) -> dict[str, Any]:
    r = client.put(f"/_sandbox/kplus/partners/{KPLUS_ID}", json=body)
    assert r.status_code == 200, r.text
    view: dict[str, Any] = r.json()
    return view


def paid_token(client: httpx.Client, **extra: Any) -> str:
    gen = client.post("/kplus/payment/generate-token", json=generate_body(**extra)).json()
    token: str = gen["tokenId"]
    r = client.post(f"/_sandbox/kplus/tokens/{token}/pay", json={"paymentAccount": "1234500551"})
    assert r.status_code == 200, r.text
    return token


def deliveries(client: httpx.Client, **query: str) -> list[dict[str, Any]]:
    r = client.get("/_sandbox/deliveries", params=query)
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()["deliveries"]
    return found


def delivery(client: httpx.Client, delivery_id: str) -> dict[str, Any]:
    r = client.get(f"/_sandbox/deliveries/{delivery_id}")
    assert r.status_code == 200, r.text
    view: dict[str, Any] = r.json()
    return view


def attempts_recorded(client: httpx.Client, delivery_id: str, n: int) -> bool:
    return len(delivery(client, delivery_id)["attemptLog"]) == n


def advance(client: httpx.Client, seconds: float) -> None:
    assert client.post("/_sandbox/clock/advance", json={"seconds": seconds}).status_code == 200


def test_retried_until_the_partner_answers_00(client: httpx.Client, receiver: Receiver) -> None:
    set_partner(client, callbackUrl=receiver.url + "/kplus/confirm")
    receiver.script = [(500, b'{"error":"boom"}'), (500, b"")]
    token = paid_token(client, additionalInfo1="A1", reference2="R2")
    [dlv] = deliveries(client, provider="kplus", objectId=token)

    receiver.wait_for(1)
    wait_until(
        lambda: (
            delivery(client, dlv["id"])["attempts"] == 1
            and delivery(client, dlv["id"])["lastHttpStatus"] == 500
        )
    )
    time.sleep(0.3)
    assert len(receiver.requests) == 1  # the retry waits for the sandbox clock, not real time
    advance(client, 10.5)
    receiver.wait_for(2)
    wait_until(
        lambda: (
            delivery(client, dlv["id"])["lastHttpStatus"] == 500
            and len(delivery(client, dlv["id"])["attemptLog"]) == 2
        )
    )
    advance(client, 60.5)
    receiver.wait_for(3)
    view = wait_until(lambda: (v := delivery(client, dlv["id"]))["state"] == "succeeded" and v)

    log = view["attemptLog"]
    assert [a["httpStatus"] for a in log] == [500, 500, 200]
    assert [a["succeeded"] for a in log] == [False, False, True]
    assert [a["number"] for a in log] == [1, 2, 3]
    assert log[0]["response"] == '{"error":"boom"}' and log[0]["error"]
    assert all(a["latencyMs"] >= 0 and a["at"] for a in log)
    assert view["attempts"] == 3 and view["maxAttempts"] == 4 and view["completedAt"]
    assert len(receiver.requests) == 3

    # On the wire: every contract field, the real secret, the same body each time.
    wire = [r.json() for r in receiver.requests]
    assert receiver.requests[0].path == "/kplus/confirm"
    assert receiver.requests[0].headers["Content-Type"] == "application/json"
    assert wire[0] == wire[1] == wire[2]
    body = wire[0]
    assert body.keys() >= CONTRACT_FIELDS
    assert body["partnerSecret"] == KPLUS_SECRET and body["partnerId"] == KPLUS_ID
    assert body["tokenId"] == token and body["paymentStatus"] == "PAID"
    assert body["paymentAccount"] == "x-x-x0055-x"
    assert body["additionalInfo1"] == "A1" and body["reference2"] == "R2"
    assert body["totalAmount"] == 500.0 and body["currencyCode"] == "THB"
    inquiry = client.post("/kplus/payment/inquire-token", json=creds(tokenId=token)).json()
    for k in ("paymentRefernceId", "paymentAccount", "paymentDt", "slipImage", "reference1"):
        assert body[k] == inquiry[k], k

    # In the control API: the secret is redacted, in the delivery and in every attempt.
    assert KPLUS_SECRET not in str(view)
    assert '"partnerSecret":"***"' in view["request"]["body"]
    # and otherwise exactly as sent: the amount's text too (it was re-encoded as a float: 500.0)
    raw = receiver.requests[0].body.decode()
    assert (
        raw.replace(f'"partnerSecret":"{KPLUS_SECRET}"', '"partnerSecret":"***"')
        == view["request"]["body"]
    )
    assert '"totalAmount":500.00' in view["request"]["body"]
    # Each attempt sent the delivery's body, shown once (not the ~50 KB slip again per attempt).
    assert all(a["request"]["bodyAsDelivery"] is True for a in log)
    assert all("body" not in a["request"] for a in log)


def test_a_partner_answer_other_than_00_is_a_failure(
    client: httpx.Client, receiver: Receiver
) -> None:
    set_partner(client, callbackUrl=receiver.url)
    receiver.script = [(200, b'{"statusCode":"10","errorCode":"x"}')]
    token = paid_token(client)
    receiver.wait_for(1)
    [dlv] = deliveries(client, objectId=token)
    # the attempt is on record from the moment it starts: wait until it is settled
    view = wait_until(
        lambda: (v := delivery(client, dlv["id"]))["attemptLog"] and not v["inFlight"] and v
    )
    assert view["state"] == "pending" and view["attemptLog"][0]["httpStatus"] == 200
    assert view["attemptLog"][0]["succeeded"] is False and view["nextAttemptAt"]


def test_give_up_then_retry_through_the_control_api(
    client: httpx.Client, receiver: Receiver
) -> None:
    set_partner(client, callbackUrl=receiver.url)
    receiver.default = (503, b"")
    token = paid_token(client)
    [dlv] = deliveries(client, objectId=token)
    for n, wait in enumerate((0, 10.5, 60.5, 300.5), start=1):
        if wait:
            advance(client, wait)
        receiver.wait_for(n)
        wait_until(partial(attempts_recorded, client, dlv["id"], n))
    view = wait_until(lambda: (v := delivery(client, dlv["id"]))["state"] == "failed" and v)
    assert view["attempts"] == 4 and view["nextAttemptAt"] is None
    assert [d["id"] for d in deliveries(client, state="failed")] == [dlv["id"]]

    receiver.default = (200, b'{"statusCode":"00"}')
    r = client.post(f"/_sandbox/deliveries/{dlv['id']}/retry")
    assert r.status_code == 200 and r.json()["state"] == "pending"
    receiver.wait_for(5)
    view = wait_until(lambda: (v := delivery(client, dlv["id"]))["state"] == "succeeded" and v)
    assert view["attempts"] == 5 and view["attemptLog"][-1]["succeeded"] is True
    assert client.get("/_sandbox/deliveries/dlv_nosuch").status_code == 404


def test_no_callback_without_a_callback_url(client: httpx.Client) -> None:
    token = paid_token(client)
    assert deliveries(client, objectId=token) == []
    events = client.get(f"/_sandbox/kplus/tokens/{token}").json()["events"]
    assert [e["kind"] for e in events] == ["created", "paid"]


def test_the_callback_is_queued_in_the_payment_transaction(
    client: httpx.Client, receiver: Receiver
) -> None:
    set_partner(client, callbackUrl=receiver.url)
    token = paid_token(client)
    events = client.get(f"/_sandbox/kplus/tokens/{token}").json()["events"]
    assert [e["kind"] for e in events] == ["created", "paid", "callback_queued"]
    [dlv] = deliveries(client, objectId=token)
    assert events[2]["data"]["deliveries"] == [dlv["id"]]
    assert dlv["event"] == "confirm-payment" and dlv["accountId"] == KPLUS_ID
    receiver.wait_for(1)


# ------------------------------------------------------------------ faults


def test_fault_duplicate_sends_the_callback_twice(client: httpx.Client, receiver: Receiver) -> None:
    view = set_partner(client, callbackUrl=receiver.url, faults={"duplicate": True})
    assert view["faults"]["duplicate"] is True
    token = paid_token(client)
    got = receiver.wait_for(2)
    assert got[0].body == got[1].body and got[0].json()["tokenId"] == token
    assert len(deliveries(client, objectId=token)) == 2
    time.sleep(0.2)
    assert len(receiver.requests) == 2


def test_fault_delay_holds_the_callback_until_the_clock_passes_it(
    client: httpx.Client, receiver: Receiver
) -> None:
    set_partner(client, callbackUrl=receiver.url, faults={"delaySeconds": 120})
    token = paid_token(client)
    [dlv] = deliveries(client, objectId=token)
    assert dlv["state"] == "pending" and dlv["attempts"] == 0
    time.sleep(0.4)  # several sender polls
    assert receiver.requests == []
    advance(client, 110)
    time.sleep(0.3)
    assert receiver.requests == []
    advance(client, 11)
    assert receiver.wait_for(1)[0].json()["tokenId"] == token


def test_fault_out_of_order_delivers_the_second_payment_first(
    client: httpx.Client, receiver: Receiver
) -> None:
    set_partner(
        client, callbackUrl=receiver.url, faults={"outOfOrder": True, "reorderWindowSeconds": 5}
    )
    first = paid_token(client)
    second = paid_token(client)
    time.sleep(0.3)
    assert receiver.requests == []  # both wait for the reorder window
    advance(client, 5.5)  # the second is due; the first was pushed behind it
    receiver.wait_for(1)
    advance(client, 2)
    got = receiver.wait_for(2)
    assert [r.json()["tokenId"] for r in got] == [second, first]


def test_fault_switches_are_per_partner_and_can_be_turned_off(
    client: httpx.Client, receiver: Receiver
) -> None:
    set_partner(client, callbackUrl=receiver.url, faults={"duplicate": True, "delaySeconds": 30})
    view = set_partner(client, faults={})
    assert view["faults"] == {
        "duplicate": False,
        "delaySeconds": 0,
        "outOfOrder": False,
        "reorderWindowSeconds": 5,
    }
    token = paid_token(client)
    receiver.wait_for(1)
    time.sleep(0.2)
    assert len(receiver.requests) == 1 and len(deliveries(client, objectId=token)) == 1


# ------------------------------------------------------------------ durability


def test_a_restart_resumes_pending_deliveries(fresh_db_url: str, receiver: Receiver) -> None:
    # First process: no sender running, so the delivery is written and left pending.
    first = LiveServer(settings_for(fresh_db_url, run_sender=False))
    try:
        with first.client() as c:
            set_partner(c, callbackUrl=receiver.url)
            token = paid_token(c)
            [dlv] = deliveries(c, objectId=token)
            assert dlv["state"] == "pending"
    finally:
        first.stop()
    time.sleep(0.2)
    assert receiver.requests == []

    # Second process on the same database: the delivery goes out.
    second = LiveServer(settings_for(fresh_db_url))
    try:
        with second.client() as c:
            got = receiver.wait_for(1)
            assert got[0].json()["tokenId"] == token
            assert got[0].json()["partnerSecret"] == KPLUS_SECRET
            wait_until(lambda: delivery(c, dlv["id"])["state"] == "succeeded")
    finally:
        second.stop()
