"""generate-token's per-process copy of each partner (it spares the partner read) is bounded."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from paysandbox.delivery.outbox import Outbox, RetryPolicy
from paysandbox.providers import REGISTERED
from paysandbox.providers.kplus import store as rows
from paysandbox.providers.kplus.schemas import GenerateToken
from paysandbox.providers.kplus.service import KPlusService
from paysandbox.store import migrate
from paysandbox.store.db import Database, open_database

from ..delivery.test_outbox import run_async


@pytest.fixture
def service(fresh_db_url: str) -> Iterator[KPlusService]:
    migrate.upgrade(fresh_db_url, [p.migrations for p in REGISTERED])
    db: Database = open_database(fresh_db_url)
    for n in range(1, 5):
        db.write_sync(
            lambda c, n=n: rows.upsert_partner(
                c, f"P{n}", defaults={"secret": f"secret-of-p{n}", "token_ttl_seconds": 600}
            )
        )
    yield KPlusService(db, Outbox(RetryPolicy()), default_ttl_seconds=1800)
    db.close()


async def _generate(svc: KPlusService, partner: str, n: int) -> str:
    req = GenerateToken(
        partnerTxnUid=f"u{n}",
        partnerId=partner,
        partnerSecret=f"secret-of-{partner.lower()}",
        requestDt="2019-07-04T18:00:42.411",
        reference1="KS1",
        totalAmount="500",
        shippingFee="0",
        shopName="Shop",
        shopImageUrl="https://shop.example/a.png",
        osPlatform="IOS",
        currencyCode="THB",
        currencyExponent="2",
    )
    return (await svc.generate(req)).token_id


def test_the_copy_keeps_the_most_recently_read_partners(service: KPlusService) -> None:
    async def scenario() -> None:
        service.partners_seen_max = 2
        for n, partner in enumerate(("P1", "P2", "P3")):
            assert (await _generate(service, partner, n)).startswith("KMCMPT")
        assert list(service._partners_seen) == ["P2", "P3"]  # P1, read longest ago: forgotten
        assert await _generate(service, "P1", 10)  # read afresh, and it works
        assert list(service._partners_seen) == ["P3", "P1"]
        assert await _generate(service, "P3", 11)  # from the copy: not re-read, order kept
        assert list(service._partners_seen) == ["P3", "P1"]
        service.partners_seen_max = 1
        assert await _generate(service, "P4", 12)
        assert list(service._partners_seen) == ["P4"]

    run_async(scenario)
