"""Lookups of one object, and a page of a listing, on a PostgreSQL schema that was never
ANALYZEd — what CI's schema per test run is until autovacuum gets to it. Each statement runs
under ``EXPLAIN ANALYZE`` with one account owning every object, and may read only about as
many rows as it returns: no walk of the account's index, no scan of the table, no sort of it.

Without statistics the planner took ``ix_kplus_tokens_partner`` for inquire-token's read (and
``ix_nicepay_tx_merchant`` for NICEPay's inquiry, ``uq_s2p_refund_mtid`` for a Smart2Pay
refund) and filtered the account's objects by id; captures, payment-page sessions and
the deliveries' listing had no index at all. docs/design.md, "Plans on a never-analyzed schema".
(Should autovacuum analyze the schema mid-test the plans only get better: it can make this
test pass without the fixes, never fail with them.)"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from paysandbox.providers import REGISTERED
from paysandbox.providers.kplus import store as kplus
from paysandbox.providers.nicepay import store as nicepay
from paysandbox.providers.smart2pay import store as smart2pay
from paysandbox.store import migrate
from paysandbox.store import outbox as deliveries
from paysandbox.store.db import Conn, open_database

from ..support import Recording, is_postgres

pytestmark = pytest.mark.skipif(not is_postgres(), reason="PostgreSQL only")

N = 3000  # objects of the one account
#: Deliveries: below ~8,000 (of these) the planner rightly finds a sort of them all cheaper
#: than the index; the index is for a table that keeps growing.
DELIVERIES = 20_000
T0 = 1_780_000_000_000_000

_FILL = (
    "INSERT INTO kplus_partners VALUES ('P', 's', NULL, 900, '{{}}')",
    "INSERT INTO kplus_tokens (token_id, partner_id, partner_txn_uid, status, reference1, "
    "total_amount, shipping_fee, currency_code, currency_exponent, shop_name, shop_image_url, "
    "os_platform, items, created_at_us, expires_at_us, updated_at_us) SELECT 'tok' || n, 'P', "
    "'uid' || n, 'REQUESTED', 'r', 100, 0, 'THB', 2, 's', 'u', 'IOS', '[]', {t}, {t}, {t} "
    "FROM generate_series(1, {n}) n",
    "INSERT INTO nicepay_merchants (imid, merchant_key) VALUES ('M', 'k')",
    "INSERT INTO nicepay_transactions (t_xid, imid, pay_method, status, reference_no, amt, "
    "amt_text, cancel_amt, currency, goods_nm, billing_nm, db_process_url, request, cart_data, "
    "created_at_us, updated_at_us) SELECT 'tx' || n, 'M', '01', 'PAID', 'ref', 1, '1', 0, "
    "'IDR', 'g', 'b', 'u', '{{}}', '{{}}', {t}, {t} FROM generate_series(1, {n}) n",
    "INSERT INTO nicepay_sessions (session_id, t_xid, call_back_url, state, created_at_us) "
    "SELECT 'ses' || n, 'tx' || n, 'u', 'done', {t} FROM generate_series(1, {n}) n",
    "INSERT INTO smart2pay_sites VALUES (1010, 'k', NULL, '{{}}')",
    "INSERT INTO smart2pay_payments (id, site_id, merchant_transaction_id, amount, currency, "
    "captured_amount, refunded_amount, open_refund_amount, status, reasons, capture_flag, "
    "generate_token, moto, card, created_at_us, updated_at_us) SELECT n, 1010, 'm' || n, 1, "
    "'EUR', 1, 1, 0, 'Refunded', '[]', TRUE, FALSE, FALSE, '{{}}', {t}, {t} "
    "FROM generate_series(1, {n}) n",
    "INSERT INTO smart2pay_captures (id, payment_id, amount, created_at_us) "
    "SELECT n, n, 1, {t} FROM generate_series(1, {n}) n",
    "INSERT INTO smart2pay_refunds (id, payment_id, site_id, merchant_transaction_id, amount, "
    "currency, status, reasons, created_at_us, updated_at_us) SELECT n, n, 1010, 'r' || n, 1, "
    "'EUR', 'Success', '[]', {t}, {t} FROM generate_series(1, {n}) n",
    "INSERT INTO deliveries (id, provider, account_id, object_id, event, url, method, headers, "
    "body, secret_keys, success_rule, state, attempts, max_attempts, created_at_us, "
    "next_attempt_at_us) SELECT 'd' || n, 'kplus', 'P', 'tok' || n, 'paid', 'http://m.test/', "
    "'POST', '{{}}', '{{}}', '[]', 'http_2xx', 'succeeded', 1, 8, {t} + n, {t} + n "
    "FROM generate_series(1, {deliveries}) n",
)


@pytest.fixture
def db(fresh_db_url: str) -> Iterator[Any]:
    migrate.upgrade(fresh_db_url, [p.migrations for p in REGISTERED])
    database = open_database(fresh_db_url)

    def fill(conn: Conn) -> None:
        for sql in _FILL:
            conn.exec(sql.format(n=N, deliveries=DELIVERIES, t=T0))

    database.write_sync(fill)
    yield database
    database.close()


def _rows_read(node: dict[str, Any]) -> int:
    """Rows every scan under ``node`` produced or filtered out, over all its loops."""
    own = 0
    if "Scan" in node["Node Type"]:
        kept = node["Actual Rows"] + node.get("Rows Removed by Filter", 0)
        own = (kept + node.get("Rows Removed by Index Recheck", 0)) * node["Actual Loops"]
    return own + sum(_rows_read(child) for child in node.get("Plans", ()))


READS: dict[str, tuple[Callable[..., Any], tuple[Any, ...], int]] = {
    # name: (store function, its arguments, the rows it may read)
    "inquire-token": (kplus.token_for_partner, ("tok1500", "P"), 4),
    "NICEPay inquiry": (nicepay.inquiry_row, ("tx1500", "M"), 4),
    "Smart2Pay refund": (smart2pay.get_refund, (1500, 1010), 2),
    "Smart2Pay captures": (smart2pay.list_captures, (1500,), 2),
    "NICEPay sessions": (nicepay.sessions_of, ("tx1500",), 2),
    "deliveries, newest first": (
        lambda conn: deliveries.list_deliveries(conn, limit=50, offset=100),
        (),
        151,
    ),
}


@pytest.mark.parametrize("name", list(READS))
def test_a_read_on_a_never_analyzed_schema_reads_what_it_returns(db: Any, name: str) -> None:
    fn, args, most = READS[name]

    def run(conn: Conn) -> list[tuple[str, Any]]:
        recording = Recording(conn)
        assert fn(recording, *args)  # it finds something
        [(sql, params)] = recording.seen
        plan = conn.one("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, *params)
        assert plan is not None
        return [(sql, plan["QUERY PLAN"][0]["Plan"])]

    [(sql, plan)] = db.write_sync(run)
    assert _rows_read(plan) <= most, (sql, plan)
