"""Notifications of every payment/refund status change through the outbox."""

from __future__ import annotations

import httpx

from ..support import Receiver, wait_settled, wait_until
from .builders import advance, cancel, capture, pay, refund

AUTH_VALUE = "Basic MTAxMDpnYWJp"


def _site(client: httpx.Client, receiver: Receiver) -> None:
    r = client.put("/_sandbox/smart2pay/sites/1010", json={"notificationUrl": receiver.url + "/n"})
    assert r.status_code == 200


def test_payment_and_refund_notifications(client: httpx.Client, receiver: Receiver) -> None:
    receiver.default = (204, b"")
    _site(client, receiver)
    p = pay(client, 2000, capture=False)
    capture(client, p["ID"], "?amount=1500")
    refund(client, p["ID"], 500)
    got = receiver.wait_for(4)
    kinds = [(next(iter(x.json())), x.json()[next(iter(x.json()))]["Status"]["Info"]) for x in got]
    assert sorted(kinds) == sorted(
        [
            ("Payment", "Authorized"),
            ("Payment", "PartiallyCaptured"),
            ("Refund", "Success"),
            ("Payment", "PartiallyRefunded"),
        ]
    )
    for x in got:
        assert x.path == "/n" and x.headers["Authorization"] == AUTH_VALUE
        assert x.headers["Content-Type"].startswith("application/json")
        assert "4111111111111111" not in x.body.decode()
    first = next(x.json()["Payment"] for x in got if "Payment" in x.json())
    assert first["ID"] == p["ID"] and first["Card"]["Number"] == "VISA-1111"
    wait_until(
        lambda: all(
            d["state"] == "succeeded"
            for d in client.get("/_sandbox/deliveries?provider=smart2pay").json()["deliveries"]
        )
    )
    deliveries = client.get(f"/_sandbox/deliveries?provider=smart2pay&objectId={p['ID']}").json()
    assert len(deliveries["deliveries"]) == 4
    for d in deliveries["deliveries"]:
        assert d["request"]["headers"]["Authorization"] == "***"
        full = client.get(f"/_sandbox/deliveries/{d['id']}").json()
        assert full["attemptLog"][0]["request"]["headers"]["Authorization"] == "***"
        assert "gabi" not in str(full) and "MTAxMDpnYWJp" not in str(full)


def test_queued_status_notified_when_the_clock_gets_there(
    client: httpx.Client, receiver: Receiver
) -> None:
    _site(client, receiver)
    pay(client, 10002)
    got = receiver.wait_for(1)
    assert got[0].json()["Payment"]["Status"]["Info"] == "QueuedForCapturing"
    advance(client, 60)
    got = receiver.wait_for(2)
    assert got[1].json()["Payment"]["Status"]["Info"] == "Captured"
    assert got[1].json()["Payment"]["CapturedAmount"] == 10002

    a = pay(client, 10006, capture=False)
    cancel(client, a["ID"])
    receiver.wait_for(4)
    advance(client, 60)
    got = receiver.wait_for(5)
    infos = [x.json()["Payment"]["Status"]["Info"] for x in got[2:]]
    assert sorted(infos[:2]) == ["Authorized", "QueuedForCanceling"]  # sent concurrently
    assert infos[2] == "Cancelled"


def test_failed_and_open_refunds_are_notified(client: httpx.Client, receiver: Receiver) -> None:
    _site(client, receiver)
    p = pay(client, 10004)
    refund(client, p["ID"], 20000)  # Failed (2206)
    refund(client, p["ID"], 100)  # Open
    got = receiver.wait_for(3)
    refunds = [x.json()["Refund"]["Status"] for x in got if "Refund" in x.json()]
    assert sorted(s["Info"] for s in refunds) == ["Failed", "Open"]
    failed = next(s for s in refunds if s["Info"] == "Failed")
    assert failed["Reasons"][0]["Code"] == "2206"


def test_failing_receiver_is_retried(client: httpx.Client, receiver: Receiver) -> None:
    receiver.script = [(500, b"no")]
    receiver.default = (204, b"")
    _site(client, receiver)
    pay(client, 2000)
    receiver.wait_for(1)
    wait_settled(client)
    advance(client, 10)
    got = receiver.wait_for(2)
    assert got[0].body == got[1].body


def test_no_notification_url_no_delivery(client: httpx.Client) -> None:
    pay(client, 2000)
    assert client.get("/_sandbox/deliveries?provider=smart2pay").json()["deliveries"] == []
