"""Concurrent requests on one token: exactly one transition wins; the rest get the documented
error. Real HTTP, many connections at once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from ..support import LiveServer
from .builders import creds, generate_body
from .test_api_generate import stored

N = 24


def _race(
    server: LiveServer, calls: list[tuple[str, str, dict[str, Any] | None]]
) -> list[httpx.Response]:
    barrier = threading.Barrier(len(calls))

    def go(call: tuple[str, str, dict[str, Any] | None]) -> httpx.Response:
        _, path, body = call
        with server.client() as c:
            c.get("/_sandbox/clock")  # connect before the barrier
            barrier.wait()
            return c.post(path, json=body)

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(go, calls))


def test_many_cancels_one_winner(server: LiveServer, client: httpx.Client) -> None:
    token = client.post("/kplus/payment/generate-token", json=generate_body()).json()["tokenId"]
    calls = [
        ("cancel", "/kplus/payment/cancel-token", creds(tokenId=token, reference1="r"))
        for _ in range(N)
    ]
    answers = _race(server, calls)
    ok = [r for r in answers if r.status_code == 200]
    assert len(ok) == 1 and ok[0].json()["tokenList"][0]["status"] == "CANCELLED"
    for r in answers:
        if r.status_code != 200:
            assert r.status_code == 409 and r.json()["errorCode"] == "qr_cancelled"
    events = client.get(f"/_sandbox/kplus/tokens/{token}").json()["events"]
    assert [e["kind"] for e in events] == ["created", "cancelled"]


def test_cancel_racing_pay_one_winner(server: LiveServer, client: httpx.Client) -> None:
    for _ in range(3):
        token = client.post("/kplus/payment/generate-token", json=generate_body()).json()["tokenId"]
        calls: list[tuple[str, str, dict[str, Any] | None]] = []
        for i in range(N):
            if i % 2:
                calls.append(("pay", f"/_sandbox/kplus/tokens/{token}/pay", None))
            else:
                calls.append(
                    ("cancel", "/kplus/payment/cancel-token", creds(tokenId=token, reference1="r"))
                )
        answers = _race(server, calls)
        winners = [
            (kind, r)
            for (kind, _, _), r in zip(calls, answers, strict=True)
            if r.status_code == 200
        ]
        assert len(winners) == 1, [r.text for r in answers]
        kind = winners[0][0]
        final = "PAID" if kind == "pay" else "CANCELLED"
        for (k, _, _), r in zip(calls, answers, strict=True):
            if r.status_code == 200:
                continue
            assert r.status_code == 409
            code = r.json()["detail"] if k == "pay" else r.json()["errorCode"]
            assert code == ("qr_paid" if final == "PAID" else "qr_cancelled")
        token_view = client.get(f"/_sandbox/kplus/tokens/{token}").json()
        assert token_view["status"] == final
        kinds = [e["kind"] for e in token_view["events"]]
        assert kinds.count("paid") + kinds.count("cancelled") == 1


def test_many_generates_with_one_uid_one_token(server: LiveServer, client: httpx.Client) -> None:
    body = generate_body()
    answers = _race(server, [("gen", "/kplus/payment/generate-token", body)] * N)
    codes = sorted(r.json()["statusCode"] for r in answers)
    assert codes == ["00"] + ["10"] * (N - 1)
    assert {r.json()["errorCode"] for r in answers if r.status_code != 200} == {"duplicate_request"}
    counts = stored(server, body["partnerTxnUid"])
    assert (counts["uid tokens"], counts["uid claims"], counts["uid events"]) == (1, 1, 1)


def test_expire_racing_pay_one_winner(server: LiveServer, client: httpx.Client) -> None:
    for _ in range(3):
        token = client.post("/kplus/payment/generate-token", json=generate_body()).json()["tokenId"]
        calls: list[tuple[str, str, dict[str, Any] | None]] = [
            (kind, f"/_sandbox/kplus/tokens/{token}/{kind}", None)
            for kind in ["pay", "expire"] * (N // 2)
        ]
        answers = _race(server, calls)
        winners = [k for (k, _, _), r in zip(calls, answers, strict=True) if r.status_code == 200]
        assert len(winners) == 1, [r.text for r in answers]
        loser_code = "qr_paid" if winners[0] == "pay" else "qr_expired"
        assert {r.json()["detail"] for r in answers if r.status_code != 200} == {loser_code}
        view = client.get(f"/_sandbox/kplus/tokens/{token}").json()
        assert view["status"] == ("PAID" if winners[0] == "pay" else "EXPIRED")
        kinds = [e["kind"] for e in view["events"]]
        assert kinds.count("paid") + kinds.count("expired") == 1
