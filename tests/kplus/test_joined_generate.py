"""generate-token's joined write (``store.create_tokens`` through ``write_joined``): the
requests of one loop turn in one statement on PostgreSQL, each with its own claim, guard and
rows — the same outcomes as one by one, on both engines. The core directly."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from paysandbox.core.clock import sandbox_now_us
from paysandbox.providers.kplus import store as rows
from paysandbox.store import events
from paysandbox.store.db import Database, open_database

from ..support import KPLUS_ID, LiveServer, count_rows
from .builders import uid


@pytest.fixture
def db(server: LiveServer) -> Iterator[Database]:
    d = open_database(server.settings.db_url)
    yield d
    d.close()


def new_token(partner: dict[str, Any], txn_uid: str, n: int, n_events: int = 1) -> rows.NewToken:
    """Request ``n`` of a test: its token id is its own."""
    now = sandbox_now_us(partner["clock_offset_us"])
    token_id = f"KMCMPT{txn_uid[-34:]:0>34}{n:0>6}PMT"
    token = {
        "token_id": token_id,
        "partner_id": KPLUS_ID,
        "partner_txn_uid": txn_uid,
        "status": "REQUESTED",
        "reference1": "r1",
        "reference2": None,
        "total_amount": 50000,
        "shipping_fee": 0,
        "currency_code": "THB",
        "currency_exponent": 2,
        "shop_name": "Shop",
        "shop_image_url": "https://shop.example/a.png",
        "partner_icon_url": None,
        "os_platform": "IOS",
        "items": "[]",
        "buyer_name": None,
        "partner_token": None,
        "promotion_code": None,
        "additional_info1": None,
        "additional_info2": None,
        "additional_info3": "with a NUL \x00 in it",
        "request_dt": "2019-07-04T18:00:42.411",
        "created_at_us": now,
        "expires_at_us": now + 600_000_000,
        "updated_at_us": now,
    }
    history = [
        events.row("kplus_token", token_id, kind, now, {"n": i})
        for i, kind in enumerate(["created", "declined"][:n_events])
    ]
    claim = {
        "partner_id": KPLUS_ID,
        "partner_txn_uid": txn_uid,
        "operation": "generate-token",
        "at_us": now,
    }
    return rows.NewToken(claim, token, history, partner)


def run(main: Any) -> Any:
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(main())).result()


def counts(server: LiveServer, txn_uid: str) -> tuple[int, int, int]:
    tokens = "SELECT token_id FROM kplus_tokens WHERE partner_txn_uid = ?"
    found = count_rows(
        server.settings.db_url,
        {
            "tokens": (
                "SELECT COUNT(*) AS n FROM kplus_tokens WHERE partner_txn_uid = ?",
                (txn_uid,),
            ),
            "claims": (
                "SELECT COUNT(*) AS n FROM kplus_request_uids WHERE partner_txn_uid = ?",
                (txn_uid,),
            ),
            "events": (
                f"SELECT COUNT(*) AS n FROM events WHERE object_id IN ({tokens})",
                (txn_uid,),
            ),
        },
    )
    return found["tokens"], found["claims"], found["events"]


def test_joined_generates_keep_one_winner_per_uid_and_their_own_guards(
    server: LiveServer, db: Database
) -> None:
    """In one turn: two new uids, a repeat of the first (it loses to it), a request checked
    against a partner that is no longer so (nothing written), and, for a fourth uid, a stale
    request before a good one (the good one wins: the stale one claimed nothing)."""
    a, b, c = uid("ja"), uid("jb"), uid("jc")

    async def main() -> tuple[list[str], int]:
        found = await db.read(rows.partner_with_clock, KPLUS_ID)
        assert found is not None
        partner = rows.partner_as_read(found)
        stale = {**partner, "partner_secret": "no-longer-this"}
        items = [
            new_token(partner, a, 0, n_events=2),
            new_token(partner, b, 1),
            new_token(partner, a, 2),
            new_token(stale, uid("jd"), 3),
            new_token(stale, c, 4),
            new_token(partner, c, 5),
        ]
        answers = await asyncio.gather(*(db.write_joined(rows.create_tokens, i) for i in items))
        joined = db._pool().joiner.joined if db.dialect == "postgresql" else 1  # type: ignore[attr-defined]
        return list(answers), joined

    answers, joined = run(main)
    assert answers == [
        rows.CREATED,
        rows.CREATED,
        rows.DUPLICATE,
        rows.PARTNER_CHANGED,
        rows.PARTNER_CHANGED,
        rows.CREATED,
    ]
    assert joined == 1
    assert counts(server, a) == (1, 1, 2)
    assert counts(server, b) == (1, 1, 1)
    assert counts(server, c) == (1, 1, 1)
