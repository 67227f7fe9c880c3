"""Two server processes on one database — an in-test server and the real CLI in a subprocess
(uvloop, paysandbox's HTTP protocol) — share one journal and one set of faults; a fault's
``times`` is spent exactly once across both."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from ..e2e.test_restart import _free_port, _start
from ..support import LiveServer, test_settings, wait_until
from .helpers import add_fault, creds, generate_body, kplus_generate


@pytest.fixture
def pair(fresh_db_url: str, tmp_path: Path) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    a = LiveServer(test_settings(fresh_db_url))
    port = _free_port()
    b = _start(fresh_db_url, port, tmp_path)
    try:
        with a.client() as ca, httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as cb:
            yield ca, cb
    finally:
        b.terminate()
        b.wait(timeout=20)
        a.stop()


def test_one_journal_and_one_fault_book(pair: tuple[httpx.Client, httpx.Client]) -> None:
    ca, cb = pair
    ra = ca.post("/kplus/payment/generate-token", json=generate_body())
    token = ra.json()["tokenId"]
    rb = cb.post("/kplus/payment/inquire-token", json=creds(tokenId=token))
    ra_id = ra.headers["x-sandbox-request-id"]
    rb_id = rb.headers["x-sandbox-request-id"]
    assert ra_id[:14] != rb_id[:14]  # each process its own id prefix

    def both_seen(c: httpx.Client) -> bool:
        ids = {e["id"] for e in c.get("/_sandbox/requests").json()["requests"]}
        return {ra_id, rb_id} <= ids

    wait_until(lambda: both_seen(ca))
    wait_until(lambda: both_seen(cb))

    fault = add_fault(
        ca,
        provider="kplus",
        route="/kplus/payment/inquire-token",
        kind="error",
        error="token_not_found",
        times=5,
    )
    for c in (ca, cb):  # each process has picked the fault up (its refresh period)
        wait_until(lambda c=c: c.get("/_sandbox/health").json()["faults"]["active"] == 1)

    def go(i: int) -> int:
        c = ca if i % 2 else cb
        r = c.post("/kplus/payment/inquire-token", json=creds(tokenId=token))
        assert r.json()["errorCode"] in (None, "token_not_found"), r.text
        return r.status_code

    with ThreadPoolExecutor(10) as pool:
        statuses = list(pool.map(go, range(20)))
    assert sorted(statuses) == [200] * 15 + [404] * 5
    view = cb.get(f"/_sandbox/faults/{fault['id']}").json()
    assert (view["remaining"], view["hits"]) == (0, 5)

    def faulted(c: httpx.Client) -> int:
        found = c.get("/_sandbox/requests", params={"status": "404"}).json()["requests"]
        return sum(1 for e in found if e["fault"] and e["fault"]["id"] == fault["id"])

    wait_until(lambda: faulted(ca) == 5 and faulted(cb) == 5)


def test_reset_and_lost_answer_through_the_cli_server(
    pair: tuple[httpx.Client, httpx.Client],
) -> None:
    ca, cb = pair
    token = kplus_generate(cb)["tokenId"]
    add_fault(cb, provider="kplus", route="/kplus/payment/cancel-token", kind="reset", times=1)
    body = creds(tokenId=token, reference1="KS1234567")
    with pytest.raises(httpx.TransportError) as caught:
        cb.post("/kplus/payment/cancel-token", json=body)
    assert not isinstance(caught.value, httpx.TimeoutException)
    add_fault(
        cb, provider="kplus", route="/kplus/payment/cancel-token", kind="lost-answer", times=1
    )
    with pytest.raises(httpx.TransportError):
        cb.post("/kplus/payment/cancel-token", json=creds(tokenId=token, reference1="KS1234567"))
    inq = ca.post("/kplus/payment/inquire-token", json=creds(tokenId=token)).json()
    assert inq["paymentStatus"] == "CANCELLED"
