"""An Open payment (3-D Secure page, hosted card form) expires at the end of its
``PaymentTokenLifetime`` on the sandbox clock: answers, listing, page and notifications say
Expired (5), and the customer finishing first wins instead — exactly one of the two."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from paysandbox.core.clock import US
from paysandbox.delivery.outbox import Outbox, RetryPolicy
from paysandbox.providers.smart2pay.service import hosted, queues
from paysandbox.store.db import Conn

from ..support import LiveServer, Receiver, wait_settled, wait_until
from .builders import AUTH, advance, capture, codes, payment_body, status_of

EXPIRED = {"ID": 5, "Info": "Expired", "Reasons": []}
RETURN = "http://demo.smart2pay.com/redirect.php"
CARD_FORM = {
    "action": "card",
    "HolderName": "John Doe",
    "Number": "4111111111111111",
    "ExpirationMonth": "02",
    "ExpirationYear": "2030",
    "SecurityCode": "312",
}


def _notify_to(client: httpx.Client, receiver: Receiver) -> None:
    r = client.put("/_sandbox/smart2pay/sites/1010", json={"notificationUrl": receiver.url + "/n"})
    assert r.status_code == 200, r.text


def _open(client: httpx.Client, *, card_form: bool = False, **extra: Any) -> dict[str, Any]:
    body = payment_body(2000, capture=True, ReturnURL=RETURN, **extra)
    if card_form:
        del body["Payment"]["Card"]
    else:
        body["Payment"]["3DSecure"] = True
    r = client.post("/v1/payments", json=body, headers=AUTH)
    assert r.status_code == 201, r.text
    p: dict[str, Any] = r.json()["Payment"]
    assert p["Status"] == {"ID": 1, "Info": "Open", "Reasons": []}
    return p


def _site_advance(client: httpx.Client, seconds: float) -> None:
    r = client.post("/_sandbox/smart2pay/sites/1010/clock/advance", json={"seconds": seconds})
    assert r.status_code == 200, r.text


def _payment(client: httpx.Client, pid: int) -> dict[str, Any]:
    r = client.get(f"/v1/payments/{pid}", headers=AUTH)
    assert r.status_code == 200, r.text
    p: dict[str, Any] = r.json()["Payment"]
    return p


def _deliveries(client: httpx.Client, pid: int) -> list[dict[str, Any]]:
    r = client.get("/_sandbox/deliveries", params={"provider": "smart2pay", "objectId": pid})
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()["deliveries"]
    return found


def test_a_3d_secure_payment_expires_at_the_end_of_its_lifetime(
    client: httpx.Client, receiver: Receiver
) -> None:
    receiver.default = (204, b"")
    _notify_to(client, receiver)
    p = _open(client, PaymentTokenLifetime=5)
    assert p["PaymentTokenLifetime"] == 5
    path = urlsplit(p["RedirectURL"]).path
    assert receiver.wait_for(1)[0].json()["Payment"]["Status"]["Info"] == "Open"

    advance(client, 5 * 60 - 1)
    assert status_of(client, p["ID"]) == (1, "Open")
    advance(client, 1)
    # the notification needs no read to go out: it was queued at creation, due now
    got = receiver.wait_for(2)
    assert len(got) == 2
    note = got[1].json()["Payment"]
    assert note["ID"] == p["ID"] and note["Status"] == EXPIRED
    assert note["RedirectURL"] is None and note["PaymentTokenLifetime"] == 5
    assert note["MerchantTransactionID"] == p["MerchantTransactionID"]
    assert got[1].headers["Authorization"] == AUTH["Authorization"]

    r = client.get(f"/v1/payments/{p['ID']}/status", headers=AUTH)
    assert r.json() == {
        "Payment": {
            "ID": p["ID"],
            "MerchantTransactionID": p["MerchantTransactionID"],
            "Status": EXPIRED,
        }
    }
    after = _payment(client, p["ID"])
    assert after["Status"] == EXPIRED and after["RedirectURL"] is None
    assert after["CapturedAmount"] == 0 and after["CaptureDetails"] is None

    # the page shows the outcome, and refuses to pay: the browser goes back with data=5
    page = client.get(path)
    assert page.status_code == 200 and 'id="authenticate"' not in page.text
    assert "This payment is Expired." in page.text
    done = client.post(path, data={"action": "authenticate"})
    assert done.status_code == 303
    assert dict(parse_qsl(urlsplit(done.headers["location"]).query))["data"] == "5"
    assert status_of(client, p["ID"]) == (5, "Expired")

    # nothing the merchant does moves it either
    r = capture(client, p["ID"])
    assert r.status_code == 402 and codes(r.json(), "Payment") == ["1006"]
    assert r.json()["Payment"]["Status"]["ID"] == 5

    inspected = client.get(f"/_sandbox/smart2pay/payments/{p['ID']}").json()
    kinds = [e["kind"] for e in inspected["events"]]
    assert "settled" in kinds and "notification_withdrawn" not in kinds
    wait_until(lambda: all(d["state"] == "succeeded" for d in _deliveries(client, p["ID"])))
    events = sorted(d["event"] for d in _deliveries(client, p["ID"]))
    assert events == ["payment", "payment_expired"]
    assert len(receiver.requests) == 2  # no second Expired notification for the reads


def test_the_hosted_card_form_expires_after_the_default_ten_minutes(
    client: httpx.Client,
) -> None:
    p = _open(client, card_form=True, GenerateCreditCardToken=True)
    assert p["PaymentTokenLifetime"] == 10
    path = urlsplit(p["RedirectURL"]).path
    _site_advance(client, 599)  # the site's own clock counts too
    assert status_of(client, p["ID"]) == (1, "Open")
    _site_advance(client, 1)
    # the listing's status filter sees the expiry before anything wrote it down
    listed = client.get("/v1/payments", params={"statusID": 5}, headers=AUTH).json()
    assert [x["ID"] for x in listed["Payments"]] == [p["ID"]]
    assert listed["Payments"][0]["Status"] == EXPIRED
    still_open = client.get("/v1/payments", params={"statusID": 1}, headers=AUTH).json()
    assert still_open["Payments"] == []
    # a card entered now is not taken: nothing stored, no token
    r = client.post(path, data=CARD_FORM)
    assert r.status_code == 303
    assert dict(parse_qsl(urlsplit(r.headers["location"]).query))["data"] == "5"
    after = _payment(client, p["ID"])
    assert after["Status"] == EXPIRED
    assert after["Card"] is None and after["CreditCardToken"] is None
    # the control API and the dashboard's state show it too
    state = client.get("/_sandbox/smart2pay/payments", params={"state": "Expired"}).json()
    assert [x["id"] for x in state["payments"]] == [p["ID"]]


def test_the_customer_who_finishes_first_wins_and_no_expiry_is_notified(
    client: httpx.Client, receiver: Receiver
) -> None:
    receiver.default = (204, b"")
    _notify_to(client, receiver)
    p = _open(client, PaymentTokenLifetime=1)
    advance(client, 59)
    done = client.post(urlsplit(p["RedirectURL"]).path, data={"action": "authenticate"})
    assert done.status_code == 303
    assert dict(parse_qsl(urlsplit(done.headers["location"]).query))["data"] == "11"
    advance(client, 3600)
    assert status_of(client, p["ID"]) == (11, "Captured")
    got = receiver.wait_for(2)
    wait_settled(client)
    assert [x.json()["Payment"]["Status"]["Info"] for x in got] == ["Open", "Captured"]
    deliveries = _deliveries(client, p["ID"])
    assert sorted(d["event"] for d in deliveries) == ["payment", "payment"]
    inspected = client.get(f"/_sandbox/smart2pay/payments/{p['ID']}").json()
    withdrawn = [e for e in inspected["events"] if e["kind"] == "notification_withdrawn"]
    assert len(withdrawn) == 1 and withdrawn[0]["data"]["kind"] == "payment_expired"
    # the card form's Cancel also takes the expiry back
    q = _open(client, card_form=True)
    assert (
        client.post(urlsplit(q["RedirectURL"]).path, data={"action": "cancel"}).status_code == 303
    )
    advance(client, 3600)
    assert status_of(client, q["ID"]) == (3, "Cancelled")
    receiver.wait_for(4)
    wait_settled(client)
    infos = [x.json()["Payment"]["Status"]["Info"] for x in receiver.requests]
    assert infos == ["Open", "Captured", "Open", "Cancelled"]


@pytest.mark.parametrize("card_form", [False, True])
def test_an_expiry_already_sent_stands_against_the_customer(
    client: httpx.Client, receiver: Receiver, card_form: bool
) -> None:
    """The Expired notification is queued ahead; once a sender has it, the merchant has been
    told, so a customer who comes later loses even if the lifetime has not ended by the
    clock their request read (the PostgreSQL race: a clock moved and a sender claimed it
    meanwhile). Forced here by retrying the queued notification before its time."""
    receiver.default = (204, b"")
    _notify_to(client, receiver)
    p = _open(client, card_form=card_form, PaymentTokenLifetime=30)
    expiry = wait_until(
        lambda: [d for d in _deliveries(client, p["ID"]) if d["event"] == "payment_expired"]
    )
    assert expiry[0]["state"] == "pending" and expiry[0]["attempts"] == 0
    assert client.post(f"/_sandbox/deliveries/{expiry[0]['id']}/retry").status_code == 200
    got = receiver.wait_for(2)
    assert sorted(x.json()["Payment"]["Status"]["Info"] for x in got) == ["Expired", "Open"]
    wait_settled(client)
    form = CARD_FORM if card_form else {"action": "authenticate"}
    r = client.post(urlsplit(p["RedirectURL"]).path, data=form)
    assert r.status_code == 303
    assert dict(parse_qsl(urlsplit(r.headers["location"]).query))["data"] == "5"
    after = _payment(client, p["ID"])
    assert after["Status"] == EXPIRED and after["Card"] == (None if card_form else p["Card"])
    inspected = client.get(f"/_sandbox/smart2pay/payments/{p['ID']}").json()
    settled = [e for e in inspected["events"] if e["kind"] == "settled"]
    assert settled[0]["data"]["by"] == "its Expired notification was already sent"
    # changed when it was written down, not at the lifetime's end, 30 minutes ahead
    now = datetime.fromisoformat(client.get("/_sandbox/clock").json()["now"])
    updated = datetime.fromisoformat(inspected["updatedAt"])
    assert timedelta(0) <= now - updated < timedelta(minutes=1), (now, updated)
    assert len(receiver.requests) == 2  # nothing else was told


def test_an_expiry_sent_once_of_its_two_copies_still_sends_both(
    client: httpx.Client, receiver: Receiver
) -> None:
    """With the duplicate fault the Expired notice is queued twice. Once a sender has one copy,
    the expiry stands against a later customer, and the other copy is not taken back: the
    merchant is told Expired twice, as every other notice of that site (it used to be taken
    back, with a ``notification_withdrawn`` event, leaving one Expired)."""
    receiver.default = (204, b"")
    r = client.put(
        "/_sandbox/smart2pay/sites/1010",
        json={"notificationUrl": receiver.url + "/n", "faults": {"duplicate": True}},
    )
    assert r.status_code == 200, r.text
    p = _open(client, PaymentTokenLifetime=30)
    expiry = wait_until(
        lambda: [d for d in _deliveries(client, p["ID"]) if d["event"] == "payment_expired"]
    )
    assert len(expiry) == 2
    assert client.post(f"/_sandbox/deliveries/{expiry[0]['id']}/retry").status_code == 200
    got = receiver.wait_for(3)
    assert sorted(x.json()["Payment"]["Status"]["Info"] for x in got) == ["Expired", "Open", "Open"]
    wait_settled(client)
    r = client.post(urlsplit(p["RedirectURL"]).path, data={"action": "authenticate"})
    assert dict(parse_qsl(urlsplit(r.headers["location"]).query))["data"] == "5"
    twin = [d for d in _deliveries(client, p["ID"]) if d["id"] == expiry[1]["id"]]
    assert twin and twin[0]["state"] == "pending"  # still queued, due at the lifetime's end
    inspected = client.get(f"/_sandbox/smart2pay/payments/{p['ID']}").json()
    assert "notification_withdrawn" not in [e["kind"] for e in inspected["events"]]

    advance(client, 30 * 60)
    receiver.wait_for(4)
    wait_settled(client)
    infos = sorted(x.json()["Payment"]["Status"]["Info"] for x in receiver.requests)
    assert infos == ["Expired", "Expired", "Open", "Open"]
    assert status_of(client, p["ID"]) == (5, "Expired")


def test_a_payment_with_a_card_does_not_expire(client: httpx.Client) -> None:
    body = payment_body(2000, capture=False, PaymentTokenLifetime="1")  # digits as text too
    r = client.post("/v1/payments", json=body, headers=AUTH)
    assert r.status_code == 201, r.text
    p = r.json()["Payment"]
    assert p["Status"]["Info"] == "Authorized" and p["PaymentTokenLifetime"] == 1
    advance(client, 3600)
    assert status_of(client, p["ID"]) == (9, "Authorized")
    assert capture(client, p["ID"]).status_code == 200
    plain = client.post("/v1/payments", json=payment_body(2000), headers=AUTH).json()["Payment"]
    assert plain["PaymentTokenLifetime"] is None


@pytest.mark.parametrize(
    ("value", "info"),
    [
        (0, "must be 1 to 525600 minutes"),
        (525_601, "must be 1 to 525600 minutes"),
        ("999999999999", "must be 1 to 525600 minutes"),
        (-1, "RegEx: ^\\d{1,12}$"),
        ("1000000000000", "RegEx: ^\\d{1,12}$"),
        ("ten", "must be an integer"),
        (1.5, "must be an integer"),
        (True, "must be an integer"),
    ],
)
def test_bad_lifetimes_are_refused_in_smart2pay_format(
    client: httpx.Client, value: Any, info: str
) -> None:
    body = payment_body(2000, **{"3DSecure": True, "PaymentTokenLifetime": value})
    r = client.post("/v1/payments", json=body, headers=AUTH)
    assert r.status_code == 400, r.text
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    assert r.json() == {
        "Payment": {
            "MerchantTransactionID": body["Payment"]["MerchantTransactionID"],
            "Amount": 2000,
            "Currency": "EUR",
            "Status": {
                "ID": 4,
                "Info": "Failed",
                "Reasons": [
                    {"Code": "2", "Info": f"Payment.PaymentTokenLifetime is invalid - {info}"}
                ],
            },
        }
    }
    assert client.get("/v1/payments", headers=AUTH).json()["Payments"] == []


def test_paying_and_expiring_race_with_exactly_one_winner(
    client: httpx.Client, server: LiveServer, receiver: Receiver
) -> None:
    """The customer presses Authenticate while the clock reaches the end of the lifetime
    (and the sender picks the Expired notification up): whichever wins, the answers, the page
    and the notifications tell the same single outcome."""
    receiver.default = (204, b"")
    _notify_to(client, receiver)
    trials = 8
    outcomes: dict[int, str] = {}
    for _ in range(trials):
        p = _open(client, PaymentTokenLifetime=1)
        path = urlsplit(p["RedirectURL"]).path

        def press(path: str = path) -> str:
            with server.client() as c:
                r = c.post(path, data={"action": "authenticate"})
                assert r.status_code == 303, r.text
                return dict(parse_qsl(urlsplit(r.headers["location"]).query))["data"]

        def tick() -> None:
            with server.client() as c:
                advance(c, 60)

        with ThreadPoolExecutor(2) as pool:
            pressed = pool.submit(press)
            pool.submit(tick).result()
            data = pressed.result()
        sid, info = status_of(client, p["ID"])
        assert (sid, info) in ((11, "Captured"), (5, "Expired"))
        assert data == str(sid)  # the browser was told the outcome that stands
        outcomes[p["ID"]] = info
    wait_until(lambda: len(receiver.requests) >= 2 * trials)
    wait_settled(client)
    told: dict[int, list[str]] = {}
    for x in receiver.requests:
        note = x.json()["Payment"]
        told.setdefault(note["ID"], []).append(note["Status"]["Info"])
    assert told == {pid: ["Open", info] for pid, info in outcomes.items()}
    for pid, info in outcomes.items():
        deliveries = _deliveries(client, pid)
        assert len(deliveries) == 2 and all(d["state"] == "succeeded" for d in deliveries)
        expiry = [d for d in deliveries if d["event"] == "payment_expired"]
        assert len(expiry) == (1 if info == "Expired" else 0)


@pytest.fixture
def customer_in_between(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A read that finds an expiry due settles it (``queues.settle_tx``) after its first look.
    Set ``plan["key"]`` to a payment page's key: the next such settle is preceded by that
    customer's Authenticate, from a request that read the clock a second earlier (before the
    clock was moved to the lifetime's end) and commits between the read's first look and its
    settle — on PostgreSQL, a customer's request holding the row lock while the clock moves
    and the GET looks. (The customer shares the settle's transaction here.)"""
    real_settle = queues.settle_tx
    real_now = hosted.now_for
    plan: dict[str, str] = {}

    def settle_after_the_customer(conn: Conn, payment_id: int) -> None:
        key = plan.pop("key", None)
        if key is not None:
            with pytest.MonkeyPatch.context() as earlier:
                earlier.setattr(hosted, "now_for", lambda c, site: real_now(c, site) - US)
                won = hosted.decide_tx(conn, Outbox(RetryPolicy()), key, hosted.AUTHENTICATE)
            assert won.status == "Captured"
        real_settle(conn, payment_id)

    monkeypatch.setattr(queues, "settle_tx", settle_after_the_customer)
    yield plan
    assert plan == {}, "the read never settled the expiry: the race was not played"


@pytest.mark.parametrize("read", ["payment", "status", "page"])
def test_a_read_answers_the_customer_who_won_while_it_settled_the_expiry(
    client: httpx.Client, customer_in_between: dict[str, str], read: str
) -> None:
    """The read saw the lifetime over (Expired), but the customer finished before its settle:
    the payment is Captured, and the read says so — it used to answer its own stale Expired."""
    p = _open(client, PaymentTokenLifetime=1)
    path = urlsplit(p["RedirectURL"]).path
    advance(client, 60)  # the lifetime's end: a read now finds the expiry due
    customer_in_between["key"] = path.rsplit("/", 1)[-1]
    if read == "page":
        page = client.get(path)
        assert page.status_code == 200, page.text
        assert "This payment is Captured." in page.text and "Expired" not in page.text
    else:
        r = client.get(
            f"/v1/payments/{p['ID']}{'/status' if read == 'status' else ''}", headers=AUTH
        )
        assert r.status_code == 200, r.text
        assert r.json()["Payment"]["Status"] == {"ID": 11, "Info": "Captured", "Reasons": []}
    assert customer_in_between == {}  # the customer did come in between
    after = _payment(client, p["ID"])
    assert after["Status"]["Info"] == "Captured" and after["CapturedAmount"] == 2000
    inspected = client.get(f"/_sandbox/smart2pay/payments/{p['ID']}").json()
    assert "settled" not in [e["kind"] for e in inspected["events"]]


def test_an_expiry_queued_ahead_holds_no_other_notification_back_out_of_order(
    client: httpx.Client, receiver: Receiver
) -> None:
    """With the out-of-order fault, a new notification holds the site's older unsent ones back
    by its reorder window. The Expired notice is queued at creation, due when the lifetime ends
    (here a year): it held every older notice back a year, and still did once withdrawn."""
    receiver.default = (204, b"")
    r = client.put(
        "/_sandbox/smart2pay/sites/1010",
        json={
            "notificationUrl": receiver.url + "/n",
            "faults": {"outOfOrder": True, "reorderWindowSeconds": 30},
        },
    )
    assert r.status_code == 200, r.text
    try:
        plain = client.post("/v1/payments", json=payment_body(1500, capture=True), headers=AUTH)
        assert plain.status_code == 201, plain.text
        now = datetime.fromisoformat(client.get("/_sandbox/clock").json()["now"])
        _open(client, PaymentTokenLifetime=525600)
        older = _deliveries(client, plain.json()["Payment"]["ID"])
        assert len(older) == 1 and older[0]["state"] == "pending", older
        for d in older:
            due = datetime.fromisoformat(d["nextAttemptAt"])
            assert (due - now).total_seconds() < 120, d  # the window, not the year
    finally:
        r = client.put("/_sandbox/smart2pay/sites/1010", json={"faults": {}})
        assert r.status_code == 200, r.text
