"""Two server instances on one database behave as one sandbox: shared clock, shared state,
one winner when they race on one token."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx

from ..kplus.builders import creds, generate_body
from ..support import LiveServer, test_settings


def test_two_servers_one_sandbox(fresh_db_url: str) -> None:
    a = LiveServer(test_settings(fresh_db_url))
    b = LiveServer(test_settings(fresh_db_url))
    try:
        with a.client() as ca, b.client() as cb:
            token = ca.post("/kplus/payment/generate-token", json=generate_body()).json()["tokenId"]
            assert (
                cb.post("/kplus/payment/inquire-token", json=creds(tokenId=token)).json()[
                    "paymentStatus"
                ]
                == "REQUESTED"
            )
            ca.post("/_sandbox/clock/advance", json={"seconds": 600})
            assert cb.get("/_sandbox/clock").json()["offsetSeconds"] == 600

        n = 16
        barrier = threading.Barrier(n)

        def go(i: int) -> httpx.Response:
            server = a if i % 2 else b
            with server.client() as c:
                c.get("/_sandbox/clock")
                barrier.wait()
                if i % 4 < 2:
                    return c.post(f"/_sandbox/kplus/tokens/{token}/pay")
                return c.post(
                    "/kplus/payment/cancel-token", json=creds(tokenId=token, reference1="r")
                )

        with ThreadPoolExecutor(n) as pool:
            answers = list(pool.map(go, range(n)))
        assert sum(r.status_code == 200 for r in answers) == 1
        assert all(r.status_code in (200, 409) for r in answers)
        with b.client() as cb:
            kinds = [e["kind"] for e in cb.get(f"/_sandbox/kplus/tokens/{token}").json()["events"]]
        assert kinds.count("paid") + kinds.count("cancelled") == 1
    finally:
        a.stop()
        b.stop()
