"""NICEPay merchants' delivery faults (``PUT /_sandbox/nicepay/merchants/{iMid}`` with
``faults``), the same switches as K PLUS partners and Smart2Pay sites: each changes what the
dbProcessUrl notification delivery does."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

import httpx

from ..support import Receiver, wait_settled
from .builders import IMID, REG, register, registration, sign_order

MERCHANT = f"/_sandbox/nicepay/merchants/{IMID}"
ALL_OFF = {"duplicate": False, "delaySeconds": 0, "outOfOrder": False, "reorderWindowSeconds": 5}


def set_faults(client: httpx.Client, faults: dict[str, Any], imid: str = IMID) -> Any:
    r = client.put(f"/_sandbox/nicepay/merchants/{imid}", json={"faults": faults})
    assert r.status_code == 200, r.text
    return r.json()


def paid_va(client: httpx.Client, receiver: Receiver, **extra: Any) -> str:
    t_xid = str(register(client, "02", dbProcessUrl=receiver.url, **extra)["tXid"])
    r = client.post(f"/_sandbox/nicepay/transactions/{t_xid}/pay")
    assert r.status_code == 200, r.text
    return t_xid


def deliveries(client: httpx.Client, t_xid: str) -> list[dict[str, Any]]:
    r = client.get("/_sandbox/deliveries", params={"provider": "nicepay", "objectId": t_xid})
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()["deliveries"]
    return found


def advance(client: httpx.Client, seconds: float) -> None:
    client.post("/_sandbox/clock/advance", json={"seconds": seconds}).raise_for_status()


def tx_ids(receiver: Receiver) -> list[str]:
    return [dict(parse_qsl(r.body.decode()))["tXid"] for r in receiver.requests]


def test_faults_are_shown_and_put_without_the_key(client: httpx.Client) -> None:
    assert client.get("/_sandbox/nicepay/merchants").json()["merchants"] == [
        {"iMid": IMID, "faults": {}}
    ]
    view = set_faults(client, {"duplicate": True})
    assert view == {"iMid": IMID, "faults": {**ALL_OFF, "duplicate": True}}
    assert client.get("/_sandbox/nicepay/merchants").json()["merchants"] == [view]
    register(client, "02")  # the key was kept: the demo key still signs
    assert set_faults(client, {}) == {"iMid": IMID, "faults": ALL_OFF}
    client.post("/_sandbox/reset").raise_for_status()  # back to the configuration
    assert client.get("/_sandbox/nicepay/merchants").json()["merchants"] == [
        {"iMid": IMID, "faults": {}}
    ]


def test_bad_faults_are_refused_and_change_nothing(client: httpx.Client) -> None:
    for body, message in (
        ({"faults": {"delaySeconds": -1}}, "Expected `float` >= 0"),
        ({"faults": {"twice": True}}, "unknown field `twice`"),
        ({"faults": {"duplicate": "yes"}}, "Expected `bool`"),
    ):
        r = client.put(MERCHANT, json=body)
        assert r.status_code == 400 and r.json()["error"] == "bad_request", r.text
        assert message in r.json()["message"]
    r = client.put("/_sandbox/nicepay/merchants/NEWSHOP01", json={"faults": {"duplicate": True}})
    assert r.status_code == 400
    assert r.json() == {"error": "bad_request", "message": "a new merchant needs a merchantKey"}
    merchants = client.get("/_sandbox/nicepay/merchants").json()["merchants"]
    assert merchants == [{"iMid": IMID, "faults": {}}]


def test_duplicate_sends_the_notification_twice(client: httpx.Client, receiver: Receiver) -> None:
    set_faults(client, {"duplicate": True})
    t_xid = paid_va(client, receiver)
    got = receiver.wait_for(2)
    assert got[0].body == got[1].body and tx_ids(receiver) == [t_xid, t_xid]
    wait_settled(client)
    found = deliveries(client, t_xid)
    assert [(d["state"], d["attempts"]) for d in found] == [("succeeded", 1)] * 2
    events = client.get(f"/_sandbox/nicepay/transactions/{t_xid}").json()["events"]
    [queued] = [e for e in events if e["kind"] == "notification_queued"]
    assert sorted(queued["data"]["deliveries"]) == sorted(d["id"] for d in found)
    assert len(receiver.requests) == 2


def test_delay_holds_the_notification_until_the_clock_passes_it(
    client: httpx.Client, receiver: Receiver
) -> None:
    set_faults(client, {"delaySeconds": 120})
    t_xid = paid_va(client, receiver)
    [dlv] = deliveries(client, t_xid)
    assert (dlv["state"], dlv["attempts"]) == ("pending", 0)
    due = datetime.fromisoformat(dlv["nextAttemptAt"])
    assert (due - datetime.fromisoformat(dlv["createdAt"])).total_seconds() == 120
    advance(client, 110)
    now = datetime.fromisoformat(client.get("/_sandbox/clock").json()["now"])
    assert now < due
    wait_settled(client)
    assert receiver.requests == [] and deliveries(client, t_xid)[0]["attempts"] == 0
    advance(client, 11)
    receiver.wait_for(1)
    assert tx_ids(receiver) == [t_xid]


def test_out_of_order_delivers_the_second_payment_first(
    client: httpx.Client, receiver: Receiver
) -> None:
    set_faults(client, {"outOfOrder": True, "reorderWindowSeconds": 5})
    first = paid_va(client, receiver)
    second = paid_va(client, receiver)
    [older], [newer] = deliveries(client, first), deliveries(client, second)
    assert datetime.fromisoformat(older["nextAttemptAt"]) > datetime.fromisoformat(
        newer["nextAttemptAt"]
    )  # the first was pushed behind the second
    advance(client, 5.5)  # the second is due; the first is not yet
    receiver.wait_for(1)
    advance(client, 2)
    receiver.wait_for(2)
    assert tx_ids(receiver) == [second, first]


def test_faults_are_per_merchant(client: httpx.Client, receiver: Receiver) -> None:
    made = client.post("/_sandbox/nicepay/merchants").json()
    set_faults(client, {"duplicate": True})  # the demo merchant only
    body = registration("02", iMid=made["iMid"], dbProcessUrl=receiver.url, sign=False)
    reg = client.post(REG, json=sign_order(body, made["merchantKey"])).json()
    assert reg["resultCd"] == "0000", reg
    client.post(f"/_sandbox/nicepay/transactions/{reg['tXid']}/pay").raise_for_status()
    receiver.wait_for(1)
    wait_settled(client)
    assert len(deliveries(client, reg["tXid"])) == 1 and tx_ids(receiver) == [reg["tXid"]]
    listed = client.get("/_sandbox/nicepay/merchants").json()["merchants"]
    merchants = {m["iMid"]: m["faults"] for m in listed}
    assert merchants == {IMID: {**ALL_OFF, "duplicate": True}, made["iMid"]: {}}
