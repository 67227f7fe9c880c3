"""Migrations: the core's revisions and each provider's own branch apply to a fresh database,
and a database made before providers had branches of their own (one chain 0001→0002→0003→0004,
``alembic_version`` holding only its tip) opens and keeps its rows."""

from __future__ import annotations

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


def test_fresh_database_gets_every_head(fresh_db_url: str) -> None:
    migrate.upgrade(fresh_db_url, [p.migrations for p in REGISTERED])
    heads = _versions(fresh_db_url)
    # every head of the scripts, one per provider branch (later revisions move a branch's head)
    every = migrate._code_heads(
        [migrate._MIGRATIONS / "versions", *(p.migrations for p in REGISTERED)]
    )
    assert every is not None and heads == every and len(every) >= 4
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
    every = migrate._code_heads([migrate._MIGRATIONS / "versions", *locations])
    assert every is not None and {"c0002"} <= every and _versions(fresh_db_url) == every


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
