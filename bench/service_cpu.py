"""CPU per K PLUS operation from ``KPlusService`` down (no HTTP), on SQLite and PostgreSQL.

Runs ``service.generate`` (a fresh ``partnerTxnUid`` each time) and ``service.inquire`` (of one
stored token) from ``--tasks`` concurrent coroutines on one event loop (uvloop, as the server
runs), and prints this process's CPU per operation (``os.times``, user + system; it includes
the loop and the load driver itself, a constant few µs) and, on PostgreSQL, the backends' CPU
per operation (found by ``application_name``). CPU per operation is the
figure to compare on a shared machine; operations per second are shown for reference only.

    PYTHONPATH=src .venv/bin/python bench/service_cpu.py [--seconds 5] [--rounds 3]
        [--pg URL | --pg none] [--only pg-generate,pg-inquire,sqlite-generate,sqlite-inquire,
                                        pg-journal,sqlite-journal]

``*-journal`` rows: the request journal's writer process's part (100-row INSERTs through
``write_sync``, as ``observe/writer.py`` stores entries), per journal entry — one per request
served.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import tempfile
import time
from typing import Any

import msgspec
import psycopg

import prefill
from drivers import backend_ticks  # the same PostgreSQL backend CPU reading
from paysandbox.delivery.outbox import Outbox, RetryPolicy
from paysandbox.providers.kplus import store as rows
from paysandbox.providers.kplus.schemas import GenerateToken, InquireToken, Item
from paysandbox.providers.kplus.service import KPlusService
from paysandbox.store import observe as observe_rows
from paysandbox.store.db import open_database
from paysandbox.store.pg import PostgresDatabase

PARTNER, SECRET = prefill.PARTNER, "bench-secret"
GENERATE = GenerateToken(
    partnerTxnUid="x",
    partnerId=PARTNER,
    partnerSecret=SECRET,
    requestDt="2019-07-04T18:00:42.411",
    reference1="KS1234567",
    totalAmount="500",
    shippingFee="0",
    shopName="Bench Shop",
    shopImageUrl="https://shop.example/logo.png",
    osPlatform="IOS",
    items=[Item(itemName="Shirt", quantity="2", amount="250")],
    currencyCode="THB",
    currencyExponent="2",
)


async def load(svc: KPlusService, op: str, seconds: float, tasks: int, token: str) -> int:
    done = 0
    stop = time.monotonic() + seconds
    inquire = InquireToken(
        partnerTxnUid="i", partnerId=PARTNER, partnerSecret=SECRET, requestDt=0, tokenId=token
    )

    async def one() -> None:
        nonlocal done
        n = 0
        while time.monotonic() < stop:
            for _ in range(20):
                if op == "inquire":
                    await svc.inquire(inquire)
                else:
                    uid = f"G{secrets.token_hex(10)}"
                    await svc.generate(msgspec.structs.replace(GENERATE, partnerTxnUid=uid))
                n += 1
        done += n

    await asyncio.gather(*(one() for _ in range(tasks)))
    return done


async def measure(
    url: str, ops: list[str], args: argparse.Namespace, admin: str | None, app: str
) -> dict[str, tuple[float, ...]]:
    db = open_database(url)
    if args.pool and isinstance(db, PostgresDatabase):
        db.pool_size = args.pool
    svc = KPlusService(db, Outbox(RetryPolicy()), default_ttl_seconds=1800)
    uid = f"first-{secrets.token_hex(6)}"
    first = await svc.generate(msgspec.structs.replace(GENERATE, partnerTxnUid=uid))
    token = first.token_id
    out: dict[str, tuple[float, ...]] = {}
    if "journal" in ops:
        out["journal"] = journal_rows(db, args.seconds, admin, app)
        ops = [op for op in ops if op != "journal"]
    for op in ops:
        await load(svc, op, 1, args.tasks, token)  # warm-up
        t0, times0 = time.monotonic(), os.times()
        db0 = backend_ticks(admin, app) if admin else 0
        n = await load(svc, op, args.seconds, args.tasks, token)
        wall, times1 = time.monotonic() - t0, os.times()
        user, system = times1.user - times0.user, times1.system - times0.system
        dbcpu = (backend_ticks(admin, app) - db0) / os.sysconf("SC_CLK_TCK") if admin else 0.0
        out[op] = (n / wall, (user + system) / n * 1e6, dbcpu / n * 1e6, system / n * 1e6)
    db.close()
    return out


def journal_rows(db: Any, seconds: float, admin: str | None, app: str) -> tuple[float, ...]:
    """The journal writer's part: ``write_sync(insert_entries)`` of 100-row chunks (as the
    writer process stores them), CPU per row."""
    exchange = json.dumps({"request": {"body": "x" * 700}, "response": {"body": "y" * 600}})

    def entry() -> tuple[Any, ...]:
        at = time.time_ns() // 1000
        ids = json.dumps(["KMCMPT" + "a" * 40 + "PMT"])
        route = "/kplus/payment/inquire-token"
        return (secrets.token_hex(12), at, "kplus", PARTNER, "POST", route, 200, 0.5, ids, None)

    chunk = [(*entry(), exchange) for _ in range(100)]
    db.write_sync(observe_rows.insert_entries, chunk)  # warm-up: the prepared statement
    n, stop = 0, time.monotonic() + seconds
    t0, times0 = time.monotonic(), os.times()
    db0 = backend_ticks(admin, app) if admin else 0
    while time.monotonic() < stop:
        db.write_sync(observe_rows.insert_entries, chunk)
        n += len(chunk)
    wall, times1 = time.monotonic() - t0, os.times()
    user, system = times1.user - times0.user, times1.system - times0.system
    dbcpu = (backend_ticks(admin, app) - db0) / os.sysconf("SC_CLK_TCK") if admin else 0.0
    return (n / wall, (user + system) / n * 1e6, dbcpu / n * 1e6, system / n * 1e6)


def seed(url: str) -> None:
    prefill.create_schema(url)
    db = open_database(url)
    db.write_sync(
        lambda conn: rows.upsert_partner(
            conn, PARTNER, secret=SECRET, defaults={"secret": SECRET, "token_ttl_seconds": 1800}
        )
    )
    db.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument(
        "--pg",
        default=os.environ.get("PAYSANDBOX_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--tasks", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument(
        "--only",
        default="pg-generate,pg-inquire,sqlite-generate,sqlite-inquire,pg-journal,sqlite-journal",
    )
    ap.add_argument("--pool", type=int, default=0, help="PostgreSQL pool size (0: the default)")
    ap.add_argument("--loop", default="uvloop", choices=("uvloop", "asyncio"))
    args = ap.parse_args()
    loop_factory = asyncio.new_event_loop
    if args.loop == "uvloop":  # as ``paysandbox serve`` runs
        import uvloop

        loop_factory = uvloop.new_event_loop
    wanted = args.only.split(",")
    results: dict[str, list[tuple[float, ...]]] = {w: [] for w in wanted}
    with tempfile.TemporaryDirectory() as tmp:
        targets: list[tuple[str, str, str | None, str]] = []
        schema = f"svc_{secrets.token_hex(4)}"
        if any(w.startswith("sqlite") for w in wanted):
            url = f"sqlite:///{tmp}/bench.db"
            seed(url)
            targets.append(("sqlite", url, None, ""))
        if args.pg != "none" and any(w.startswith("pg") for w in wanted):
            with psycopg.connect(args.pg, autocommit=True) as c:
                c.execute(f"CREATE SCHEMA {schema}")
            sep = "&" if "?" in args.pg else "?"
            url = f"{args.pg}{sep}options=-csearch_path%3D{schema}&application_name={schema}"
            seed(url)
            targets.append(("pg", url, args.pg, schema))
        try:
            for _ in range(args.rounds):
                for name, url, admin, app in targets:
                    ops = [w.split("-", 1)[1] for w in wanted if w.startswith(name + "-")]
                    with asyncio.Runner(loop_factory=loop_factory) as runner:
                        got = runner.run(measure(url, ops, args, admin, app))
                    for op, r in got.items():
                        results[f"{name}-{op}"].append(r)
        finally:
            if any(t[0] == "pg" for t in targets):
                with psycopg.connect(args.pg, autocommit=True) as c:
                    c.execute(f"DROP SCHEMA {schema} CASCADE")
    print(f"\n{args.tasks} tasks, {args.seconds:g} s per row, {args.rounds} rounds (median)\n")
    print(
        "| row | ops/s | process CPU µs/op | of which system | PG backend CPU µs/op "
        "| all rounds (CPU µs/op) |"
    )
    print("|---|---:|---:|---:|---:|---|")
    for w, rs in results.items():
        med = [statistics.median(r[i] for r in rs) for i in range(4)]
        each = ", ".join(f"{r[1]:.0f}" for r in rs)
        print(f"| {w} | {med[0]:,.0f} | {med[1]:.1f} | {med[3]:.1f} | {med[2]:.1f} | {each} |")


if __name__ == "__main__":
    main()
