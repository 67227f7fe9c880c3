"""Per-account isolation: throwaway accounts, an account's own clock (expiry, queued states,
delivery schedules follow it; other accounts do not move), and an account reset that forgets
only that account's objects — on every provider, and across two processes on one database."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import pytest

from ..kplus.builders import generate_body
from ..nicepay.builders import INQ, REG, registration
from ..smart2pay.builders import payment_body
from ..support import LiveServer, Receiver, test_settings, wait_settled


def new_account(client: httpx.Client, path: str, **options: Any) -> dict[str, Any]:
    r = client.post(path, json=options) if options else client.post(path)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def advance(client: httpx.Client, path: str, seconds: float) -> dict[str, Any]:
    r = client.post(f"{path}/clock/advance", json={"seconds": seconds})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


# ---------------------------------------------------------------- K PLUS


def kplus_token(client: httpx.Client, partner: dict[str, Any]) -> str:
    body = generate_body(partnerId=partner["partnerId"], partnerSecret=partner["partnerSecret"])
    r = client.post("/kplus/payment/generate-token", json=body)
    assert r.status_code == 200, r.text
    return str(r.json()["tokenId"])


def kplus_status(client: httpx.Client, partner: dict[str, Any], token: str) -> Any:
    body = generate_body(partnerId=partner["partnerId"], partnerSecret=partner["partnerSecret"])
    body = {k: body[k] for k in ("partnerTxnUid", "partnerId", "partnerSecret", "requestDt")}
    r = client.post("/kplus/payment/inquire-token", json={**body, "tokenId": token})
    return r.json()


def test_kplus_partners_have_their_own_clock_and_reset(client: httpx.Client) -> None:
    a = new_account(client, "/_sandbox/kplus/partners")
    b = new_account(client, "/_sandbox/kplus/partners")
    assert a["partnerId"] != b["partnerId"] and len(a["partnerSecret"]) == 32
    ta, tb = kplus_token(client, a), kplus_token(client, b)
    pa = f"/_sandbox/kplus/partners/{a['partnerId']}"

    moved = advance(client, pa, 1801)
    assert moved["offsetSeconds"] == 1801 and moved["sandboxOffsetSeconds"] == 0
    assert kplus_status(client, a, ta)["paymentStatus"] == "EXPIRED"
    assert kplus_status(client, b, tb)["paymentStatus"] == "REQUESTED"
    assert (
        client.get(f"/_sandbox/kplus/partners/{b['partnerId']}/clock").json()["offsetSeconds"] == 0
    )
    assert client.get("/_sandbox/clock").json()["offsetSeconds"] == 0

    r = client.post(f"{pa}/reset")
    assert r.json() == {"reset": True, "provider": "kplus", "account": a["partnerId"]}
    gone = kplus_status(client, a, ta)
    assert gone["errorCode"] == "token_not_found", gone
    assert client.get(f"{pa}/clock").json()["offsetSeconds"] == 0
    assert kplus_status(client, b, tb)["paymentStatus"] == "REQUESTED"
    # the account itself is kept: it can still issue tokens
    assert kplus_status(client, a, kplus_token(client, a))["paymentStatus"] == "REQUESTED"
    assert client.get(f"/_sandbox/kplus/tokens/{tb}").status_code == 200


def test_deliveries_follow_the_account_clock(client: httpx.Client, receiver: Receiver) -> None:
    receiver.script = [(500, b"busy")]  # first attempt fails, the retry succeeds
    a = new_account(client, "/_sandbox/kplus/partners", callbackUrl=receiver.url + "/cb")
    assert a["callbackUrl"] == receiver.url + "/cb"
    token = kplus_token(client, a)
    assert client.post(f"/_sandbox/kplus/tokens/{token}/pay").status_code == 200
    receiver.wait_for(1)
    wait_settled(client)
    [d] = client.get("/_sandbox/deliveries", params={"objectId": token}).json()["deliveries"]
    assert d["state"] == "pending" and d["attempts"] == 1
    advance(client, f"/_sandbox/kplus/partners/{a['partnerId']}", 11)  # schedule: 10 s
    receiver.wait_for(2)
    wait_settled(client)
    [d] = client.get("/_sandbox/deliveries", params={"objectId": token}).json()["deliveries"]
    assert d["state"] == "succeeded" and d["attempts"] == 2
    assert client.get("/_sandbox/clock").json()["offsetSeconds"] == 0


# ---------------------------------------------------------------- NICEPay


def nicepay_va(client: httpx.Client, merchant: dict[str, Any]) -> dict[str, Any]:
    body = registration("02", iMid=merchant["iMid"], sign=False)
    body["merchantToken"] = hashlib.sha256(
        f"{body['timeStamp']}{merchant['iMid']}{body['referenceNo']}{body['amt']}"
        f"{merchant['merchantKey']}".encode()
    ).hexdigest()
    r = client.post(REG, json=body)
    assert r.json()["resultCd"] == "0000", r.text
    return {**r.json(), "_body": body}


def nicepay_status(client: httpx.Client, merchant: dict[str, Any], va: dict[str, Any]) -> str:
    b = va["_body"]
    body = {
        "timeStamp": b["timeStamp"],
        "tXid": va["tXid"],
        "iMid": merchant["iMid"],
        "referenceNo": b["referenceNo"],
        "amt": b["amt"],
        "merchantToken": b["merchantToken"],
    }
    r = client.post(INQ, json=body).json()
    return str(r.get("status", r["resultCd"]))


def test_nicepay_merchants_have_their_own_clock_and_reset(client: httpx.Client) -> None:
    a = new_account(client, "/_sandbox/nicepay/merchants")
    b = new_account(client, "/_sandbox/nicepay/merchants")
    assert len(a["iMid"]) == 10 and a["iMid"] != b["iMid"]
    va_a, va_b = nicepay_va(client, a), nicepay_va(client, b)
    advance(client, f"/_sandbox/nicepay/merchants/{a['iMid']}", 25 * 3600)
    assert nicepay_status(client, a, va_a) == "4"  # expired
    assert nicepay_status(client, b, va_b) == "3"  # unpaid
    # another merchant's tXid, signed with b's own key and order: none of b's (8004)
    assert nicepay_status(client, b, {"tXid": va_a["tXid"], "_body": va_b["_body"]}) == "8004"
    client.post(f"/_sandbox/nicepay/merchants/{a['iMid']}/reset").raise_for_status()
    assert client.get(f"/_sandbox/nicepay/transactions/{va_a['tXid']}").status_code == 404
    assert client.get(f"/_sandbox/nicepay/transactions/{va_b['tXid']}").status_code == 200
    assert nicepay_status(client, a, nicepay_va(client, a)) == "3"


# ---------------------------------------------------------------- Smart2Pay


def test_smart2pay_queued_states_follow_the_site_clock(client: httpx.Client) -> None:
    a = new_account(client, "/_sandbox/smart2pay/sites")
    b = new_account(client, "/_sandbox/smart2pay/sites")
    assert a["authorization"].startswith("Basic ") and isinstance(a["siteId"], int)

    def pay(site: dict[str, Any]) -> int:
        r = client.post(
            "/v1/payments",
            json=payment_body(10002),
            headers={"Authorization": site["authorization"]},
        )
        assert r.status_code == 201, r.text
        return int(r.json()["Payment"]["ID"])

    def status(site: dict[str, Any], pid: int) -> str:
        r = client.get(
            f"/v1/payments/{pid}/status", headers={"Authorization": site["authorization"]}
        )
        return str(r.json()["Payment"]["Status"]["Info"])

    pa, pb = pay(a), pay(b)
    advance(client, f"/_sandbox/smart2pay/sites/{a['siteId']}", 61)
    assert status(a, pa) == "Captured"
    assert status(b, pb) == "QueuedForCapturing"
    client.post(f"/_sandbox/smart2pay/sites/{a['siteId']}/reset").raise_for_status()
    assert client.get(f"/_sandbox/smart2pay/payments/{pa}").status_code == 404
    assert status(b, pb) == "QueuedForCapturing"


# ---------------------------------------------------------------- errors and processes


@pytest.mark.parametrize(
    "path", ["/_sandbox/kplus/partners", "/_sandbox/nicepay/merchants", "/_sandbox/smart2pay/sites"]
)
def test_unknown_accounts_and_bad_options(client: httpx.Client, path: str) -> None:
    for sub in ("clock", "reset"):
        r = client.request("GET" if sub == "clock" else "POST", f"{path}/99999999/{sub}")
        assert r.status_code == 404 and r.json()["error"] == "not_found", r.text
    r = client.post(f"{path}/99999999/clock/advance", json={"seconds": 5})
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = client.post(path, json={"bogus": 1})
    assert r.status_code == 400 and r.json()["error"] == "bad_request", r.text
    r = client.post(path, json=[1])
    assert r.status_code == 400 and r.json()["error"] == "bad_request", r.text
    r = client.post(path, json={"seconds": -1})
    assert r.status_code == 400 and r.json()["error"] == "bad_request", r.text
    assert "unknown field seconds" in r.json()["message"]


def test_account_clocks_are_shared_by_processes(fresh_db_url: str) -> None:
    one = LiveServer(test_settings(fresh_db_url, run_sender=False))
    two = LiveServer(test_settings(fresh_db_url, run_sender=False))
    try:
        with one.client() as c1, two.client() as c2:
            a = new_account(c1, "/_sandbox/kplus/partners")
            token = kplus_token(c1, a)
            advance(c2, f"/_sandbox/kplus/partners/{a['partnerId']}", 1801)
            assert kplus_status(c1, a, token)["paymentStatus"] == "EXPIRED"
            assert (
                c1.get(f"/_sandbox/kplus/partners/{a['partnerId']}/clock").json()["offsetSeconds"]
                == 1801
            )
    finally:
        one.stop()
        two.stop()


@pytest.mark.parametrize("path", ["/_sandbox/reset", "/_sandbox/kplus/partners/PTR1902369/reset"])
def test_a_reset_refuses_input_it_cannot_honour(client: httpx.Client, path: str) -> None:
    """A reset takes no parameters: a narrowing it would drop (``{"account": …}``,
    ``?account=``), a body that is not JSON or not an empty object is refused, and nothing is
    forgotten (each of these reset the whole sandbox before)."""
    token = client.post("/kplus/payment/generate-token", json=generate_body()).json()["tokenId"]
    refused = [
        ({"json": {"account": "PTR1902369"}}, 400, "unknown field"),
        ({"params": {"account": "PTR1902369"}}, 400, "takes no query parameters (account)"),
        ({"content": b"garbage", "headers": {"Content-Type": "application/json"}}, 400, ""),
        ({"content": b"x", "headers": {"Content-Type": "text/plain"}}, 415, ""),
    ]
    for kwargs, status, words in refused:
        r = client.post(path, **kwargs)  # type: ignore[arg-type]
        assert r.status_code == status, (kwargs, r.text)
        assert r.json()["error"] in ("bad_request", "unsupported_media_type"), r.text
        assert words in r.json()["message"], r.text
        assert client.get(f"/_sandbox/kplus/tokens/{token}").status_code == 200
    for kwargs in ({}, {"json": {}}):
        assert client.post(path, **kwargs).status_code == 200  # type: ignore[arg-type]
    assert client.get(f"/_sandbox/kplus/tokens/{token}").status_code == 404


def test_an_account_id_is_taken_only_as_written(client: httpx.Client) -> None:
    """A Smart2Pay site's id with a leading zero is not that site (it found the site, but
    moved a clock of its own and left the deleted payments' deliveries to be sent)."""
    site = client.post("/_sandbox/smart2pay/sites").json()["siteId"]
    for path in ("clock", "clock/advance", "reset"):
        method = client.get if path == "clock" else client.post
        kwargs = {"json": {"seconds": 60}} if path == "clock/advance" else {}
        r = method(f"/_sandbox/smart2pay/sites/0{site}/{path}", **kwargs)  # type: ignore[operator]
        assert r.status_code == 404 and r.json()["error"] == "not_found", (path, r.text)
    assert client.get(f"/_sandbox/smart2pay/sites/{site}/clock").json()["offsetSeconds"] == 0


def test_no_clock_moves_past_the_year_9000(client: httpx.Client) -> None:
    """Advances add up: the one that would carry the sandbox or an account past 9000-01-01 is
    a 400 and changes nothing (past 9999 no date can be written: it was a 500)."""
    decade = 10 * 365 * 86400
    partner = client.post("/_sandbox/kplus/partners").json()["partnerId"]
    own = f"/_sandbox/kplus/partners/{partner}/clock"
    for path in ("/_sandbox/clock", own):
        while True:
            r = client.post(f"{path}/advance", json={"seconds": decade})
            if r.status_code != 200:
                break
        assert r.status_code == 400 and r.json()["error"] == "bad_request", r.text
        assert "past the year 9000" in r.json()["message"]
        now = client.get(path).json()["now"]
        assert "8990" <= now[:4] < "9000", now
    # an account's clock rides on the sandbox's: neither can push the other past it
    r = client.post("/_sandbox/clock/advance", json={"seconds": decade})
    assert r.status_code == 400
    assert client.post("/_sandbox/reset").status_code == 200
