"""Migrations: the core's revisions and each provider's own branch apply to a fresh database,
and a database made before providers had branches of their own (one chain 0001→0002→0003→0004,
``alembic_version`` holding only its tip) opens and keeps its rows."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa

from paysandbox.providers import REGISTERED
from paysandbox.store import migrate

from ..support import KPLUS_ID, KPLUS_SECRET, LiveServer, test_settings


def _versions(url: str) -> set[str]:
    engine = sa.create_engine(migrate.sqlalchemy_url(url), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as c:
            return {r[0] for r in c.execute(sa.text("SELECT version_num FROM alembic_version"))}
    finally:
        engine.dispose()


def _restamp(url: str, versions: list[str]) -> None:
    engine = sa.create_engine(migrate.sqlalchemy_url(url), poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as c:
            c.execute(sa.text("DELETE FROM alembic_version"))
            for v in versions:
                c.execute(sa.text("INSERT INTO alembic_version VALUES (:v)"), {"v": v})
    finally:
        engine.dispose()


def _heads() -> set[str]:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(migrate._MIGRATIONS))
    cfg.set_main_option("path_separator", "os")
    folders = [migrate._MIGRATIONS / "versions", *(p.migrations for p in REGISTERED)]
    cfg.set_main_option("version_locations", os.pathsep.join(str(f) for f in folders))
    return set(ScriptDirectory.from_config(cfg).get_heads())


def test_fresh_database_gets_every_head(fresh_db_url: str) -> None:
    migrate.upgrade(fresh_db_url, [p.migrations for p in REGISTERED])
    heads = _versions(fresh_db_url)
    assert heads == _heads() and len(heads) >= len(REGISTERED) + 1  # the core's and each branch
    migrate.upgrade(fresh_db_url, [p.migrations for p in REGISTERED])  # idempotent
    assert _versions(fresh_db_url) == heads


def test_a_database_of_the_single_chain_migrates_forward(fresh_db_url: str) -> None:
    """Every database made before this layout holds the tables of 0001–0004 and "0004"."""
    locations = [p.migrations for p in REGISTERED]
    migrate.upgrade(fresh_db_url, locations, targets=("0002", "0003", "0004"))
    _restamp(fresh_db_url, ["0004"])  # exactly what the old single chain left behind
    engine = sa.create_engine(migrate.sqlalchemy_url(fresh_db_url), poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as c:
            assert not sa.inspect(c).has_table("account_clocks")  # the old schema
            c.execute(
                sa.text("INSERT INTO kplus_partners VALUES (:p, :s, NULL, 1800, '{}')"),
                {"p": "OLDPARTNER", "s": "made-before-the-branches"},
            )
    finally:
        engine.dispose()
    live = LiveServer(test_settings(fresh_db_url, run_sender=False))
    try:
        with live.client() as c:
            made = c.post(
                "/_sandbox/kplus/tokens", json={"tokenId": "KEEPME0001", "totalAmount": "12.34"}
            )
            assert made.status_code == 200, made.text
    finally:
        live.stop()
    live = LiveServer(test_settings(fresh_db_url, run_sender=False))  # and once more
    try:
        with live.client() as c:
            partners = c.get("/_sandbox/kplus/partners").json()["partners"]
            assert "OLDPARTNER" in [p["partnerId"] for p in partners]  # a row from before
            kept = c.get("/_sandbox/kplus/tokens/KEEPME0001")
            assert kept.status_code == 200, kept.text
            assert str(kept.json()["totalAmount"]) == "12.34"
            body = {
                "partnerTxnUid": "AFTER-MIGRATION",
                "partnerId": KPLUS_ID,
                "partnerSecret": KPLUS_SECRET,
                "requestDt": "1562240442",
                "tokenId": "KEEPME0001",
            }
            r = c.post("/kplus/payment/inquire-token", json=body)
            assert r.json()["paymentStatus"] == "REQUESTED", r.text
    finally:
        live.stop()
    assert _versions(fresh_db_url) == _heads()  # every branch at its head, as a new database


def test_a_provider_branch_never_chains_after_another() -> None:
    """Each provider's first revision sits directly on the core's first one."""
    import ast

    for p in REGISTERED:
        for f in sorted(p.migrations.glob("r*.py")):
            tree = ast.parse(f.read_text("utf-8"))
            values = {
                t.id: n.value.value
                for n in tree.body
                if isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant)
                for t in n.targets
                if isinstance(t, ast.Name)
            }
            labels = [
                n.value
                for n in ast.walk(tree)
                if isinstance(n, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "branch_labels" for t in n.targets)
            ]
            if values.get("down_revision") == "0001":
                assert labels and p.name in ast.literal_eval(labels[0]), f


@pytest.mark.sqlite_only
def test_smart2pay_ids_keep_counting_from_the_rows_kept(fresh_db_url: str) -> None:
    """s0006 rebuilds Smart2Pay's id tables as AUTOINCREMENT ones with their rows: a payment
    stored before is kept, the next id follows it, and a reset does not bring ids back."""
    locations = [p.migrations for p in REGISTERED]
    before = tuple(sorted((_heads() - {"s0008", "s0007", "s0006"}) | {"s0005"}))
    migrate.upgrade(fresh_db_url, locations, targets=before)
    engine = sa.create_engine(migrate.sqlalchemy_url(fresh_db_url), poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as c:
            c.execute(
                sa.text(
                    "INSERT INTO smart2pay_sites (site_id, api_key, notification_url, faults) "
                    "VALUES (1010, 'gabi', NULL, '{}')"
                )
            )
            c.execute(
                sa.text(
                    "INSERT INTO smart2pay_payments (id, site_id, merchant_transaction_id, "
                    "amount, currency, captured_amount, refunded_amount, open_refund_amount, "
                    "status, reasons, capture_flag, generate_token, moto, card, created_at_us, "
                    "updated_at_us) VALUES (41, 1010, 'made-before', 2000, 'EUR', 2000, 0, 0, "
                    "'Captured', '[]', 1, 0, 0, '{}', 1, 1)"
                )
            )
    finally:
        engine.dispose()
    live = LiveServer(test_settings(fresh_db_url, run_sender=False))
    try:
        with live.client() as c:
            auth = {"Authorization": "Basic MTAxMDpnYWJp"}
            kept = c.get("/v1/payments/41", headers=auth)
            assert kept.status_code == 200 and kept.json()["Payment"]["Amount"] == 2000, kept.text
            body = {
                "Payment": {"MerchantTransactionID": "after-1", "Amount": 100, "Currency": "EUR"}
            }
            made = c.post("/v1/payments", json=body, headers=auth)
            assert made.status_code == 201 and made.json()["Payment"]["ID"] == 42, made.text
            assert c.post("/_sandbox/reset").status_code == 200
            body["Payment"]["MerchantTransactionID"] = "after-2"
            again = c.post("/v1/payments", json=body, headers=auth)
            assert again.status_code == 201 and again.json()["Payment"]["ID"] == 43, again.text
    finally:
        live.stop()
    assert _versions(fresh_db_url) == _heads()


@pytest.mark.sqlite_only
def test_the_claims_busy_endpoint_check_is_an_index_lookup(fresh_db_url: str) -> None:
    """The claim asks, per due delivery, whether its endpoint has one in flight: a lookup in
    the index of the deliveries in flight (c0005; it scanned every pending delivery each time
    before c0004, and every pending delivery of the endpoint before c0005). The whole claim's
    plans: tests/delivery/test_claim_plan.py."""
    migrate.upgrade(fresh_db_url, [p.migrations for p in REGISTERED])
    engine = sa.create_engine(migrate.sqlalchemy_url(fresh_db_url), poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as c:
            plan = c.execute(
                sa.text(
                    "EXPLAIN QUERY PLAN SELECT 1 FROM deliveries b WHERE b.account_id = 'a' "
                    "AND b.url = 'u' AND b.lease_token IS NOT NULL"
                )
            ).fetchall()
    finally:
        engine.dispose()
    detail = " ".join(str(r[-1]) for r in plan)
    assert "USING INDEX ix_deliveries_in_flight" in detail, detail
