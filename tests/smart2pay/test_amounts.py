"""Smart2Pay's test amounts ("Testing Requirements"), each with both Capture flags and the
follow-up verbs; queued statuses move on with the sandbox clock (QUEUE_SECONDS)."""

from __future__ import annotations

import httpx
import pytest

from paysandbox.providers.smart2pay.scenarios import QUEUE_SECONDS, SCENARIOS

from .builders import advance, cancel, capture, pay, refund, status_of


def test_every_documented_amount_has_a_row() -> None:
    assert sorted(SCENARIOS) == [10001, 10002, 10003, 10004, 10005, 10006]


@pytest.mark.parametrize("amount", [1, 2000, 9999, 10000, 10007, 123456])
def test_success_range(client: httpx.Client, amount: int) -> None:
    p = pay(client, amount)
    assert p["Status"]["Info"] == "Captured" and p["CapturedAmount"] == amount
    assert refund(client, p["ID"], amount).json()["Refund"]["Status"]["Info"] == "Success"
    a = pay(client, amount, capture=False)
    assert a["Status"]["Info"] == "Authorized"
    assert capture(client, a["ID"]).json()["Payment"]["Status"]["Info"] == "Captured"
    b = pay(client, amount, capture=False)
    assert cancel(client, b["ID"]).json()["Payment"]["Status"]["Info"] == "Cancelled"


@pytest.mark.parametrize("flag", [True, False])
def test_10001_fails(client: httpx.Client, flag: bool) -> None:
    r = client.post(
        "/v1/payments",
        headers={"Authorization": "Basic MTAxMDpnYWJp"},
        json={
            "Payment": {
                "MerchantTransactionID": f"f{flag}",
                "Amount": 10001,
                "Currency": "EUR",
                "Capture": flag,
                "GenerateCreditCardToken": True,
                "Card": {
                    "Number": "4111111111111111",
                    "ExpirationMonth": "02",
                    "ExpirationYear": "2021",
                },
            }
        },
    )
    assert r.status_code == 402
    p = r.json()["Payment"]
    assert p["ID"] > 0 and p["CapturedAmount"] == 0 and p["CreditCardToken"] is None
    assert p["Status"] == {
        "ID": 4,
        "Info": "Failed",
        "Reasons": [{"Code": "13", "Info": "Generic error"}],
    }


def test_10002_capture_true_queued_then_captured(client: httpx.Client) -> None:
    p = pay(client, 10002)
    assert p["Status"] == {
        "ID": 33,
        "Info": "QueuedForCapturing",
        "Reasons": [{"Code": "5288", "Info": "Capture failed but will retry again later"}],
    }
    assert p["CapturedAmount"] == 0
    assert p["CaptureDetails"]["Status"]["Info"] == "Open"
    assert refund(client, p["ID"], 100).status_code == 402  # not captured yet
    advance(client, QUEUE_SECONDS - 1)
    assert status_of(client, p["ID"]) == (33, "QueuedForCapturing")
    advance(client, 1)
    assert status_of(client, p["ID"]) == (11, "Captured")
    g = client.get(f"/v1/payments/{p['ID']}", headers={"Authorization": "Basic MTAxMDpnYWJp"})
    assert g.json()["Payment"]["CapturedAmount"] == 10002
    assert g.json()["Payment"]["CaptureDetails"]["Status"]["Info"] == "Success"
    assert refund(client, p["ID"], 10002).status_code == 201
    events = client.get(f"/_sandbox/smart2pay/payments/{p['ID']}").json()["events"]
    assert [e["kind"] for e in events if e["kind"] != "notification_queued"] == [
        "created",
        "settled",
        "refund",
    ]


def test_10002_capture_false_then_capture_is_queued(client: httpx.Client) -> None:
    p = pay(client, 10002, capture=False)
    assert p["Status"]["Info"] == "Authorized"
    r = capture(client, p["ID"], "?amount=5000")
    assert r.status_code == 200
    assert r.json()["Payment"]["Status"]["ID"] == 33
    assert [x["Code"] for x in r.json()["Payment"]["Status"]["Reasons"]] == ["5288"]
    assert capture(client, p["ID"]).status_code == 402  # queued: not Authorized any more
    assert cancel(client, p["ID"]).status_code == 402
    advance(client, QUEUE_SECONDS)
    assert status_of(client, p["ID"]) == (35, "PartiallyCaptured")


@pytest.mark.parametrize("flag", [True, False])
def test_10003_capture_requested(client: httpx.Client, flag: bool) -> None:
    p = pay(client, 10003, capture=flag)
    if not flag:
        assert p["Status"]["Info"] == "Authorized"
        p = capture(client, p["ID"]).json()["Payment"]
    assert p["Status"] == {"ID": 13, "Info": "CaptureRequested", "Reasons": []}
    advance(client, QUEUE_SECONDS)
    assert status_of(client, p["ID"]) == (11, "Captured")


def test_10004_refund_stays_open(client: httpx.Client) -> None:
    p = pay(client, 10004)
    assert p["Status"]["Info"] == "Captured"
    r = refund(client, p["ID"], 1000)
    assert r.status_code == 201
    assert r.json()["Refund"]["Status"] == {"ID": 1, "Info": "Open", "Reasons": []}
    advance(client, 30 * 86400)
    assert status_of(client, p["ID"]) == (11, "Captured")
    listed = client.get(
        f"/v1/payments/{p['ID']}/refunds", headers={"Authorization": "Basic MTAxMDpnYWJp"}
    ).json()["Refunds"]
    assert listed[0]["Status"]["Info"] == "Open"
    again = refund(client, p["ID"], 1000)
    assert again.status_code == 402
    assert again.json()["Refund"]["Status"]["Reasons"][0]["Code"] == "2207"


def test_10005_capture_time_limit(client: httpx.Client) -> None:
    r = pay(client, 10005)
    assert r["Status"]["ID"] == 4 and r["Status"]["Reasons"][0]["Code"] == "104"
    assert r["CaptureDetails"]["Status"]["Info"] == "Failed"
    a = pay(client, 10005, capture=False)
    assert a["Status"]["Info"] == "Authorized"
    c = capture(client, a["ID"])
    assert c.status_code == 402
    assert c.json()["Payment"]["Status"]["Info"] == "Failed"
    assert c.json()["Payment"]["Status"]["Reasons"][0]["Code"] == "104"


def test_10006_cancel_queued(client: httpx.Client) -> None:
    assert pay(client, 10006)["Status"]["Info"] == "Captured"
    a = pay(client, 10006, capture=False)
    r = cancel(client, a["ID"])
    assert r.status_code == 200
    assert r.json()["Payment"]["Status"] == {"ID": 34, "Info": "QueuedForCanceling", "Reasons": []}
    assert capture(client, a["ID"]).status_code == 402
    advance(client, QUEUE_SECONDS)
    assert status_of(client, a["ID"]) == (3, "Cancelled")
    view = client.get(f"/_sandbox/smart2pay/payments/{a['ID']}").json()
    assert view["storedStatus"] == "Cancelled" and view["pending"] is None
