"""cancel over HTTP: full and partial, cancelAmt arithmetic, and every documented refusal."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from paysandbox.providers.nicepay.config import Merchant, NicepayConfig

from ..support import LiveServer, test_settings
from .builders import CAN, INQ, cancel, inquiry, pay_through_page, register, sha
from .test_registration import assert_error


def paid_card(client: httpx.Client, amt: str = "10000") -> tuple[str, str]:
    reg = register(client, "01", amt=amt)
    result = pay_through_page(client, reg["tXid"], reg["referenceNo"], amt=amt)
    assert result["resultCd"] == "0000"
    return reg["tXid"], reg["referenceNo"]


def test_partial_cancel_arithmetic(client: httpx.Client) -> None:
    t_xid, ref = paid_card(client)
    ok = client.post(CAN, json=cancel(t_xid, "3000", "2")).json()
    assert ok["resultCd"] == "0000" and ok["amt"] == "3000" and ok["canceltXid"]
    inq = client.post(INQ, json=inquiry(t_xid, ref)).json()
    assert (inq["status"], inq["cancelAmt"]) == ("0", "3000")

    body = assert_error(client.post(CAN, json=cancel(t_xid, "7001", "2")), "partial_amount")
    assert "remaining 7000" in body["resultMsg"]
    assert_error(client.post(CAN, json=cancel(t_xid, "10000", "1")), "after_partial")

    second = client.post(CAN, json=cancel(t_xid, "2500", "2")).json()
    assert second["resultCd"] == "0000" and second["canceltXid"] != ok["canceltXid"]
    assert client.post(INQ, json=inquiry(t_xid, ref)).json()["cancelAmt"] == "5500"

    last = client.post(CAN, json=cancel(t_xid, "4500", "2")).json()
    assert last["resultCd"] == "0000"
    inq = client.post(INQ, json=inquiry(t_xid, ref)).json()
    assert (inq["status"], inq["cancelAmt"], inq["resultMsg"]) == ("2", "10000", "canceled")

    assert_error(client.post(CAN, json=cancel(t_xid, "1", "2")), "partial_cancel")
    view = client.get(f"/_sandbox/nicepay/transactions/{t_xid}").json()
    assert [c["amt"] for c in view["cancels"]] == [3000, 2500, 4500]
    assert view["remainingAmt"] == 0
    kinds = [e["kind"] for e in view["events"]]
    assert kinds[-3:] == ["partially_canceled", "partially_canceled", "canceled"]


def test_full_cancel_of_paid_card_and_double_cancel(client: httpx.Client) -> None:
    t_xid, ref = paid_card(client)
    assert_error(client.post(CAN, json=cancel(t_xid, "9999", "1")), "full_cancel")
    ok = client.post(CAN, json=cancel(t_xid, "10000", "1")).json()
    assert ok["resultCd"] == "0000"
    inq = client.post(INQ, json=inquiry(t_xid, ref)).json()
    assert (inq["status"], inq["cancelAmt"]) == ("2", "10000")
    body = assert_error(client.post(CAN, json=cancel(t_xid, "10000", "1")), "full_cancel")
    assert "already canceled" in body["resultMsg"]


def test_cancel_refusals(client: httpx.Client) -> None:
    t_xid, _ = paid_card(client)
    unpaid = register(client, "05")["tXid"]
    unknown = "IONPAYTEST01201804191157304666"
    cases = [
        (cancel(t_xid, "10000", pay_method="02"), "full_cancel"),
        (cancel(t_xid, "100", "2", pay_method="05"), "partial_cancel"),
        (cancel(unknown, "10000"), "full_txid"),
        (cancel(unknown, "10000", "2"), "partial_txid"),
        (cancel(t_xid, "10000", "3"), "cancel_type"),
        (cancel(t_xid, "10000", "X"), "cancel_type"),
        (cancel(t_xid, "0", "2"), "cancel_amt_zero"),
        (cancel(t_xid, "1O0", "2"), "cancel_amt"),
        (cancel(unpaid, "100", "2"), "partial_before_purchase"),
        (cancel(t_xid, "10000", iMid="NOSUCHMID1"), "mid_invalid"),
        ({**cancel(t_xid, "10000"), "merchantToken": sha("x")}, "token_invalid"),
        ({**cancel(t_xid, "10000"), "cancelMsg": "x" * 256}, "full_cancel"),
        ({**cancel(t_xid, "10", "2"), "cancelUserId": "u" * 31}, "partial_cancel"),
        ({**cancel(t_xid, "10000"), "cancelRetryCnt": "a"}, "full_cancel"),
    ]
    for body, name in cases:
        assert_error(client.post(CAN, json=body), name)
    for field, name in (
        ("tXid", "full_txid"),
        ("iMid", "full_mid"),
        ("cancelType", "cancel_type"),
        ("amt", "cancel_amt"),
        ("payMethod", "full_cancel"),
        ("merchantToken", "token_invalid"),
        ("timeStamp", "timestamp"),
    ):
        body = cancel(t_xid, "10000")
        del body[field]
        assert_error(client.post(CAN, json=body), name)
    # nothing of the above changed the paid transaction
    view = client.get(f"/_sandbox/nicepay/transactions/{t_xid}").json()
    assert view["status"] == "0" and view["cancelAmt"] == 0 and view["cancels"] == []


def test_seed_cancel_example_shape(client: httpx.Client) -> None:
    """Seed 003's request (its token cannot be reproduced) gets a NICEPay answer, not a crash."""
    seed = {
        "timeStamp": "20180305115011",
        "tXid": "TESTIDTEST01201803051530400331",
        "iMid": "TESTIDTEST",
        "payMethod": "01",
        "cancelType": "1",
        "cancelMsg": "Request Cancel",
        "merchantToken": "306a14c6b6effbe9979ec13dfd6cfe17ddfee2eabe7a7d8bbe55630e27e9e86e",
        "preauthToken": "",
        "amt": "10000",
        "cancelServerIp": "127.0.0.1",
        "cancelUserId": "admin",
        "cancelUserIp": "127.0.0.1",
        "cancelUserInfo": "Customer Cancel Transaction",
        "cancelRetryCnt": "",
        "worker": "",
    }
    assert_error(client.post(CAN, json=seed), "mid_invalid")


def test_unpaid_ewallet_full_cancel(client: httpx.Client) -> None:
    reg = register(client, "05")
    assert client.post(CAN, json=cancel(reg["tXid"], "10000")).json()["resultCd"] == "0000"
    inq = client.post(INQ, json=inquiry(reg["tXid"], reg["referenceNo"])).json()
    assert inq["status"] == "2"


@pytest.fixture
def two_merchants(fresh_db_url: str) -> Iterator[httpx.Client]:
    settings = test_settings(
        fresh_db_url,
        run_sender=False,
        providers={"nicepay": NicepayConfig([Merchant("OTHERMID01", "other-key")])},
    )
    live = LiveServer(settings)
    try:
        with live.client() as c:
            yield c
    finally:
        live.stop()


def test_cancel_with_another_merchants_txid(two_merchants: httpx.Client) -> None:
    client = two_merchants
    t_xid = register(client, "05")["tXid"]
    body = cancel(t_xid, "10000", imid="OTHERMID01", key="other-key")
    assert_error(client.post(CAN, json=body), "full_mid")
    body = cancel(t_xid, "100", "2", imid="OTHERMID01", key="other-key")
    assert_error(client.post(CAN, json=body), "partial_mid")
    assert_error(
        client.post(INQ, json=inquiry(t_xid, "x", imid="OTHERMID01", key="other-key")),
        "inquiry_txid",
    )


def test_racing_partial_cancels_never_over_cancel(client: httpx.Client, server: LiveServer) -> None:
    """Eight concurrent partial cancels of 3000 on 10000: exactly three win."""
    from concurrent.futures import ThreadPoolExecutor

    t_xid, ref = paid_card(client)

    def one(_: int) -> str:
        with server.client() as c:
            return str(c.post(CAN, json=cancel(t_xid, "3000", "2")).json()["resultCd"])

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(8)))
    assert results.count("0000") == 3, results
    assert set(results) - {"0000"} == {"8067"}  # the serial answer, never a generic 8062
    inq = client.post(INQ, json=inquiry(t_xid, ref)).json()
    assert (inq["status"], inq["cancelAmt"]) == ("0", "9000")
    view = client.get(f"/_sandbox/nicepay/transactions/{t_xid}").json()
    assert len(view["cancels"]) == 3


def test_cancel_with_numbers_for_codes(client: httpx.Client) -> None:
    """payMethod 2 and cancelType 1 as JSON numbers; amt as a number signs its digits."""
    reg = register(client, "02")
    body = {**cancel(reg["tXid"], "10000"), "payMethod": 2, "cancelType": 1, "amt": 10000}
    r = client.post(CAN, json=body).json()
    assert r["resultCd"] == "0000", r
    assert client.post(INQ, json=inquiry(reg["tXid"], reg["referenceNo"])).json()["status"] == "2"
    t_xid, ref = paid_card(client)
    body = {**cancel(t_xid, "3000", "2"), "payMethod": 1, "cancelType": 2, "amt": 3000}
    r = client.post(CAN, json=body).json()
    assert r["resultCd"] == "0000", r
    assert client.post(INQ, json=inquiry(t_xid, ref)).json()["cancelAmt"] == "3000"
