"""Concurrent requests over real HTTP: open VA numbers stay unique, and a forced expiry racing
a payment has exactly one winner. Meaningful on PostgreSQL (SQLite serialises every write), and
the sequential cases pin down the same rules on both."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx

from ..support import LiveServer
from .builders import CAN, INQ, REG, cancel, inquiry, register, registration
from .test_registration import assert_error

N = 16


def _race(
    server: LiveServer, calls: list[Callable[[httpx.Client], httpx.Response]]
) -> list[httpx.Response]:
    barrier = threading.Barrier(len(calls))

    def go(call: Callable[[httpx.Client], httpx.Response]) -> httpx.Response:
        with server.client() as c:
            c.get("/_sandbox/clock")  # connect before the barrier
            barrier.wait()
            return call(c)

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(go, calls))


def _kinds(client: httpx.Client, t_xid: str) -> list[str]:
    view = client.get(f"/_sandbox/nicepay/transactions/{t_xid}").json()
    return [e["kind"] for e in view["events"]]


def test_racing_registrations_of_one_fixed_va_number(
    server: LiveServer, client: httpx.Client
) -> None:
    bodies = [registration("02", merFixAcctId="5550001") for _ in range(N)]
    calls: list[Callable[[httpx.Client], httpx.Response]] = [
        (lambda c, b=b: c.post(REG, json=b)) for b in bodies
    ]
    answers = _race(server, calls)
    ok = [r.json() for r in answers if r.json()["resultCd"] == "0000"]
    assert len(ok) == 1, [r.text for r in answers]
    assert ok[0]["vacctNo"] == "39015550001"
    for r in answers:
        if r.json()["resultCd"] != "0000":
            assert_error(r, "vacct_duplicate")
    listed = client.get("/_sandbox/nicepay/transactions").json()["transactions"]
    assert len(listed) == 1


def test_fixed_va_number_is_free_again_once_closed(client: httpx.Client) -> None:
    def again() -> dict[str, str]:
        r = client.post(REG, json=registration("02", merFixAcctId="777"))
        return dict(r.json())

    first = register(client, "02", merFixAcctId="777")
    assert_error(client.post(REG, json=registration("02", merFixAcctId="777")), "vacct_duplicate")
    # other banks have their own numbers
    assert register(client, "02", merFixAcctId="777", bankCd="BNIN")["vacctNo"] == "8848777"

    assert client.post(f"/_sandbox/nicepay/transactions/{first['tXid']}/pay").status_code == 200
    second = again()
    assert second["resultCd"] == "0000" and second["vacctNo"] == first["vacctNo"]

    assert client.post(CAN, json=cancel(second["tXid"], "10000")).json()["resultCd"] == "0000"
    third = again()
    assert third["resultCd"] == "0000"

    assert client.post(f"/_sandbox/nicepay/transactions/{third['tXid']}/expire").status_code == 200
    fourth = again()
    assert fourth["resultCd"] == "0000"

    # validity over on the sandbox clock, not yet recorded by anyone: the number is free, and the
    # old transaction is recorded as expired on the way
    client.post("/_sandbox/clock/advance", json={"seconds": 86_401})
    fifth = again()
    assert fifth["resultCd"] == "0000" and fifth["vacctNo"] == first["vacctNo"]
    view = client.get(f"/_sandbox/nicepay/transactions/{fourth['tXid']}").json()
    assert view["storedState"] == "EXPIRED" and view["events"][-1]["kind"] == "expired"
    assert_error(client.post(REG, json=registration("02", merFixAcctId="777")), "vacct_duplicate")


def test_expire_after_pay_is_refused(client: httpx.Client) -> None:
    for method in ("02", "03"):
        reg = register(client, method)
        t_xid = reg["tXid"]
        assert client.post(f"/_sandbox/nicepay/transactions/{t_xid}/pay").status_code == 200
        r = client.post(f"/_sandbox/nicepay/transactions/{t_xid}/expire")
        assert r.status_code == 409 and r.json()["detail"] == "PAID"
        assert "expired" not in _kinds(client, t_xid)
        inq = client.post(INQ, json=inquiry(t_xid, reg["referenceNo"])).json()
        assert inq["status"] == "0"


def test_expire_racing_pay_one_winner(server: LiveServer, client: httpx.Client) -> None:
    for _ in range(3):
        t_xid = register(client, "02")["tXid"]
        base = f"/_sandbox/nicepay/transactions/{t_xid}"
        kinds = ["pay" if i % 2 else "expire" for i in range(N)]
        calls: list[Callable[[httpx.Client], httpx.Response]] = [
            (lambda c, p=f"{base}/{k}": c.post(p)) for k in kinds
        ]
        answers = _race(server, calls)
        winners = [k for k, r in zip(kinds, answers, strict=True) if r.status_code == 200]
        assert len(winners) == 1, [r.text for r in answers]
        final = "PAID" if winners[0] == "pay" else "EXPIRED"
        for r in answers:
            if r.status_code != 200:
                assert r.status_code == 409 and r.json()["detail"] == final, r.text
        view = client.get(base).json()
        assert view["storedState"] == final
        events = _kinds(client, t_xid)
        assert events.count("paid") + events.count("expired") == 1, events
