"""A cancel that loses a race inside the database gets the answer a serial request would get.

The race is made deterministic: the conditional update is wrapped so that, the first time, a
competing cancel commits its change just before this one and this one changes nothing — as
when another process wins on PostgreSQL. Before issue 10 the loser always got the generic
8061/8062 "the transaction changed meanwhile; inquire and retry". (The simulated winner
shares the loser's transaction here, so a refused loser rolls it back too: only the answers
are asserted in those cases.)"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from paysandbox.providers.nicepay import store

from .builders import CAN, cancel, register
from .test_registration import assert_error


@pytest.fixture
def paid_ewallet(client: httpx.Client) -> str:
    t_xid = str(register(client, "05", amt="10000")["tXid"])
    assert client.post(f"/_sandbox/nicepay/transactions/{t_xid}/pay").status_code == 200
    return t_xid


@pytest.fixture
def competitor(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    """``competitor["amount"]`` is cancelled by 'another process' right before the next
    cancel's own update, which then changes nothing."""
    real = store.add_cancel_amount
    plan: dict[str, int] = {}

    def racing(conn: Any, t_xid: str, amount: int, **kw: Any) -> bool:
        if plan.get("amount"):
            assert real(conn, t_xid, plan.pop("amount"), **kw)  # the winner
            return False  # ... and this request's update found the row changed
        return real(conn, t_xid, amount, **kw)

    monkeypatch.setattr(store, "add_cancel_amount", racing)
    yield plan


def test_partial_cancel_loser_that_no_longer_fits_gets_8067(
    client: httpx.Client, paid_ewallet: str, competitor: dict[str, int]
) -> None:
    competitor["amount"] = 8000
    r = client.post(CAN, json=cancel(paid_ewallet, "3000", "2"))
    assert_error(r, "partial_amount")  # 8067: 3000 > the 2000 left by the winner


def test_partial_cancel_loser_that_still_fits_succeeds(
    client: httpx.Client, paid_ewallet: str, competitor: dict[str, int]
) -> None:
    competitor["amount"] = 5000
    r = client.post(CAN, json=cancel(paid_ewallet, "3000", "2"))
    assert r.json()["resultCd"] == "0000", r.text  # serially it fits: it succeeds
    view = client.get(f"/_sandbox/nicepay/transactions/{paid_ewallet}").json()
    assert view["cancelAmt"] == 8000 and view["remainingAmt"] == 2000


def test_full_cancel_loser_after_a_partial_one_gets_9320(
    client: httpx.Client, paid_ewallet: str, competitor: dict[str, int]
) -> None:
    competitor["amount"] = 1000
    r = client.post(CAN, json=cancel(paid_ewallet, "10000", "1"))
    assert_error(r, "after_partial")  # 9320
