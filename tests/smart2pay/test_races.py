"""Racing requests on one payment or one MerchantTransactionID: exactly one winner."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
from starlette.requests import Request

from paysandbox.providers.smart2pay.routes import edge_error

from ..support import LiveServer
from .builders import AUTH, mtid, pay, payment_body, status_of

N = 8


def _post_all(server: LiveServer, path: str, bodies: list[object]) -> list[int]:
    def one(body: object) -> int:
        with server.client() as c:
            return c.post(path, json=body, headers=AUTH).status_code

    with ThreadPoolExecutor(N) as pool:
        return list(pool.map(one, bodies))


def test_racing_duplicate_creates_make_one_payment(
    client: httpx.Client, server: LiveServer
) -> None:
    body = payment_body()
    results = _post_all(server, "/v1/payments", [body] * N)
    assert sorted(results) == [201] + [400] * (N - 1)
    assert len(client.get("/v1/payments", headers=AUTH).json()["Payments"]) == 1


def test_racing_full_refunds_refund_once(client: httpx.Client, server: LiveServer) -> None:
    pid = pay(client, 2000)["ID"]
    bodies = [{"Refund": {"MerchantTransactionID": mtid("r_"), "Amount": 2000}} for _ in range(N)]
    results = _post_all(server, f"/v1/payments/{pid}/refunds", bodies)
    assert sorted(results) == [201] + [402] * (N - 1)
    assert status_of(client, pid) == (22, "Refunded")


def test_racing_captures_and_cancels(client: httpx.Client, server: LiveServer) -> None:
    pid = pay(client, 2000, capture=False)["ID"]

    def one(verb: str) -> int:
        with server.client() as c:
            return c.post(f"/v1/payments/{pid}/{verb}", headers=AUTH).status_code

    with ThreadPoolExecutor(N) as pool:
        results = list(pool.map(one, ["capture", "cancel"] * (N // 2)))
    assert sorted(results) == [200] + [402] * (N - 1)
    assert status_of(client, pid)[1] in ("Captured", "Cancelled")


def test_racing_puts_of_a_new_site_all_succeed(client: httpx.Client, server: LiveServer) -> None:
    """``upsert_site`` is one statement: concurrent PUTs creating one site cannot collide on its
    primary key (a unique violation would be a 500)."""

    def one(arg: tuple[int, int]) -> int:
        site, i = arg
        body: dict[str, object] = {"apiKey": f"key-{i}"}
        if i % 2:
            body["faults"] = {"duplicate": True}
        with server.client() as c:
            return c.put(f"/_sandbox/smart2pay/sites/{site}", json=body).status_code

    sites = range(7000, 7010)
    with ThreadPoolExecutor(N) as pool:
        results = list(pool.map(one, [(site, i) for site in sites for i in range(N)]))
    assert results == [200] * len(results)
    listed = client.get("/_sandbox/smart2pay/sites").json()["sites"]
    assert [x["siteId"] for x in listed] == [1010, *sites]


def test_internal_error_is_in_smart2pay_format() -> None:
    scope = {"type": "http", "path": "/v1/payments", "headers": []}
    r = edge_error("internal", "boom").render(Request(scope))
    assert r.status_code == 500
    assert r.media_type == "application/json; charset=utf-8"
    assert b'"Code":"18"' in r.body and b"Traceback" not in r.body
