"""What the request journal costs per entry, in CPU µs (``time.process_time``), on SQLite and
PostgreSQL, for K PLUS inquire-token and generate-token exchanges as the middleware captures
them (headers as uvicorn gives them to the app, bodies as ``bench/wrk_kplus.lua`` sends them,
answers as paysandbox gives them).

Two measurements per database and operation, each on a fresh database (SQLite: a new file;
PostgreSQL: a new schema, dropped afterwards) first filled to the journal's cap, so every
batch also pays its share of trimming, as under load:

* ``pieces`` — the writer process's work, in this process, step by step: ``decode`` (the
  batch frame as the writer decodes it), ``build`` (``entries.build_rows``: parse, redact, ids)
  and ``store`` (``_Writer.insert`` plus the count trim the journal asks for after each
  ``max_entries / 10`` entries).
* ``e2e`` — a real ``Journal`` with its writer process: ``server`` is this process's CPU per
  entry for making the ``Raw`` (as the middleware does), ``put`` and the flusher's turn
  (pickle, pipe, answer); ``writer`` is the child's CPU per entry (``/proc/<pid>/stat``, 10 ms
  ticks: use a large ``--n``).

    PYTHONPATH=src .venv/bin/python bench/journal_writer.py                 # both databases
    PYTHONPATH=src .venv/bin/python bench/journal_writer.py --pg none --n 50000
    PYTHONPATH=/other/checkout/src .venv/bin/python bench/journal_writer.py   # its code

A checkout from before the writer's ``insert`` / the journal's ``_turn`` split needs those two
small refactors applied to be measured (``git show 785fdb0 -- src/paysandbox/observe``).

Run it under ``flock /work/heavy.lock`` on a shared machine. The best of ``--rounds`` is shown.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import os
import pickle
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from paysandbox.core.clock import real_now_us
from paysandbox.observe import entries, writer
from paysandbox.observe.entries import Raw, build_rows, hooks_of
from paysandbox.observe.journal import Journal, JournalSettings
from paysandbox.observe.metrics import Metrics
from paysandbox.providers.kplus.observe import OBSERVE as KPLUS
from paysandbox.store import migrate
from paysandbox.store.base import libpq_url

CREDS = (
    b'"partnerId":"PTR1902369","partnerSecret":"7da57c4eb242435fa3e91bb7a69e2a28",'
    b'"requestDt":"2019-07-04T18:00:42.411"'
)
HOST = b"127.0.0.1:8000"


def _token(i: int) -> bytes:
    return b"KMCMPT%040dPMT" % i


def exchange(op: str, i: int) -> tuple[bytes, list[tuple[bytes, bytes]], bytes]:
    """Request body, request headers and answer body of exchange ``i``."""
    uid = b"b%d" % i
    if op == "generate":
        body = (
            b'{"partnerTxnUid":"' + uid + b'",' + CREDS + b',"reference1":"KS1234567",'
            b'"totalAmount":"500","shopImageUrl":"https://shop.example/a.png",'
            b'"shopName":"Bench Shop","shippingFee":"0","osPlatform":"IOS",'
            b'"items":[{"itemName":"A","quantity":"1","amount":"500"}],'
            b'"currencyCode":"THB","currencyExponent":"2"}'
        )
        answer = (
            b'{"partnerTxnUid":"' + uid + b'","partnerId":"PTR1902369","statusCode":"00",'
            b'"errorCode":null,"errorDesc":null,"tokenId":"' + _token(i) + b'",'
            b'"callBackAppUrl":"http://127.0.0.1:8000/kplus/app/' + _token(i) + b'",'
            b'"expiryDate":"2026-11-28T06:19:51"}'
        )
    else:
        body = b'{"partnerTxnUid":"' + uid + b'",' + CREDS + b',"tokenId":"' + _token(7) + b'"}'
        answer = (
            b'{"partnerTxnUid":"' + uid + b'","partnerId":"PTR1902369","statusCode":"00",'
            b'"errorCode":null,"errorDesc":null,"paymentStatus":"REQUESTED",'
            b'"paymentTimeStamp":null,"paymentRefernceId":null,"slipImage":null,'
            b'"paymentAccount":null,"paymentDt":null,"reference1":"KS1234567",'
            b'"reference2":null,"totalAmount":500.00,"currencyCode":"THB",'
            b'"currencyExponent":"2","tokenId":"' + _token(7) + b'","additionalInfo1":null,'
            b'"additionalInfo2":null,"additionalInfo3":null}'
        )
    headers = [
        (b"host", HOST),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    return body, headers, answer


RawTuple = tuple[Any, ...]
#: A paysandbox from before the middleware made plain tuples (``--baseline`` runs): Raw(...)
_KEYWORDS = not hasattr(entries, "RawTuple")


def make_raw(op: str, i: int, parts: tuple[bytes, list[tuple[bytes, bytes]], bytes]) -> RawTuple:
    """As the middleware's ``_observe`` makes it (the same calls, in the same order)."""
    body, headers, answer = parts
    rid = f"req_00bench00{i:08x}"
    elapsed = 0.000612
    route = f"/kplus/payment/{op}-token"
    if _KEYWORDS:
        return Raw(
            id=rid,
            at_us=real_now_us() - int(elapsed * 1_000_000),
            provider="kplus",
            method="POST",
            route=route,
            path=route,
            path_params={},
            query=b"",
            request_headers=headers,
            request_body=b"".join([body]),
            status=200,
            sent=True,
            response_headers=[
                (b"content-length", str(len(answer)).encode()),
                (b"content-type", b"application/json"),
                (b"x-sandbox-request-id", rid.encode()),
            ],
            response_body=b"".join([answer]),
            latency_ms=elapsed * 1000,
            fault_id=None,
            fault_kind=None,
            outcome="answered",
        )
    return (
        rid,
        real_now_us() - int(elapsed * 1_000_000),
        "kplus",
        "POST",
        route,
        route,
        {},
        b"",
        headers,
        b"".join([body]),
        200,
        True,
        [
            (b"content-length", str(len(answer)).encode()),
            (b"content-type", b"application/json"),
            (b"x-sandbox-request-id", rid.encode()),
        ],
        b"".join([answer]),
        elapsed * 1000,
        None,
        None,
        "answered",
    )


@contextlib.contextmanager
def fresh_db(kind: str, pg: str) -> Iterator[str]:
    """A migrated, empty database's URL."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as d:
            url = f"sqlite:///{Path(d) / 'journal.db'}"
            migrate.upgrade(url)
            yield url
        return
    import psycopg

    schema = f"bench_{secrets.token_hex(5)}"
    base = libpq_url(pg)
    with psycopg.connect(base, autocommit=True) as c:
        c.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in pg else "?"
    url = f"{pg}{sep}options=-csearch_path%3D{schema}"
    try:
        migrate.upgrade(url)
        yield url
    finally:
        with psycopg.connect(base, autocommit=True) as c:
            c.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def batches(op: str, n: int, size: int, start: int = 0) -> list[list[RawTuple]]:
    raws = [make_raw(op, start + i, exchange(op, start + i)) for i in range(n)]
    return [raws[i : i + size] for i in range(0, n, size)]


def pieces(url: str, op: str, n: int, size: int, cap: int) -> dict[str, float]:
    """µs per entry of the writer's steps, in this process."""
    w = writer._Writer()
    w.init(url, {"kplus": hooks_of(KPLUS)}, 65_536)
    every = max(100, cap // 10)
    try:
        for batch in batches(op, cap, size, start=10_000_000):  # fill to the cap, untimed
            w.store(batch)
        frames = [_frame(b) for b in batches(op, n, size)]
        spent = {"decode": 0.0, "build": 0.0, "store": 0.0}
        since = 0
        clock = time.process_time
        for frame in frames:
            t0 = clock()
            _, (raws,) = _unframe(frame)
            t1 = clock()
            built, failed = build_rows(raws, w.hooks, w.max_body)
            t2 = clock()
            w.insert(built)
            since += len(built)
            if since >= every:
                since = 0
                w.trim(cap)
            t3 = clock()
            assert not failed
            spent["decode"] += t1 - t0
            spent["build"] += t2 - t1
            spent["store"] += t3 - t2
        return {k: v / n * 1e6 for k, v in spent.items()}
    finally:
        w.db.close()


def _frame(batch: list[RawTuple]) -> bytes:
    """A "store" call's frame body as the serving process makes it."""
    encode = getattr(writer, "encode", None)
    if encode is None:  # before the marshal frames
        return pickle.dumps(("store", (batch,)), protocol=5)
    data: bytes = encode(("store", (list(map(tuple, batch)),)))
    return data


def _unframe(body: bytes) -> Any:
    decode = getattr(writer, "decode", None)
    return pickle.loads(body) if decode is None else decode(body)  # noqa: S301 - our own


def _child_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def e2e(url: str, op: str, n: int, size: int, cap: int) -> dict[str, float]:
    """µs per entry of the serving process (Raw, put, flusher turn) and of the writer child."""
    from paysandbox.store.db import open_database

    db = open_database(url)
    journal = Journal(db, JournalSettings(max_entries=cap), Metrics(), {"kplus": KPLUS})
    fill = batches(op, cap, size, start=10_000_000)
    requests = [exchange(op, i) for i in range(n)]

    async def run() -> dict[str, float]:
        journal._started = True
        await journal._writer.start()
        for batch in fill:
            for raw in batch:
                journal.put(raw)
            await journal._turn()
        proc = journal._writer._proc
        assert proc is not None
        child0, t0 = _child_cpu(proc.pid), time.process_time()
        put = journal.put
        for start in range(0, n, size):
            for i in range(start, min(start + size, n)):
                put(make_raw(op, i, requests[i]))
            await journal._turn()
        server = time.process_time() - t0
        child = _child_cpu(proc.pid) - child0
        assert journal.dropped == 0
        await journal.stop()
        return {"server": server / n * 1e6, "writer": child / n * 1e6}

    try:
        return asyncio.run(run())
    finally:
        db.close()


def best(fn: Callable[[], dict[str, float]], rounds: int) -> dict[str, float]:
    results = [fn() for _ in range(rounds)]
    return {k: min(r[k] for r in results) for k in results[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=20_000, help="entries measured per round")
    ap.add_argument("--batch", type=int, default=500, help="entries per batch to the writer")
    ap.add_argument("--cap", type=int, default=10_000, help="the journal's max_entries")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--ops", default="inquire,generate")
    ap.add_argument("--only", default="pieces,e2e")
    ap.add_argument(
        "--pg",
        default=os.environ.get("PAYSANDBOX_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"),
        help="PostgreSQL base URL, or 'none'",
    )
    ap.add_argument("--pg-only", action="store_true")
    args = ap.parse_args()
    dbs = [] if args.pg_only else ["sqlite"]
    if args.pg != "none":
        dbs.append("postgresql")
    only = args.only.split(",")
    print(f"n={args.n} batch={args.batch} cap={args.cap} rounds={args.rounds} (best shown)")
    print(
        f"{'db':<11} {'op':<9} {'decode':>9} {'build':>7} {'store':>7} {'w.total':>8}"
        f" | {'e2e writer':>10} {'e2e server':>10}   µs CPU per entry"
    )
    for kind in dbs:
        for op in args.ops.split(","):
            p: dict[str, float] = {}
            e: dict[str, float] = {}
            if "pieces" in only:
                p = best(functools.partial(_fresh, pieces, kind, op, args), args.rounds)
            if "e2e" in only:
                e = best(functools.partial(_fresh, e2e, kind, op, args), args.rounds)
            cols = [p.get("decode"), p.get("build"), p.get("store")]
            total = sum(c for c in cols if c is not None) if p else None
            cells = [
                f"{c:>{w}.1f}" if c is not None else f"{'-':>{w}}"
                for c, w in zip([*cols, total], [9, 7, 7, 8], strict=True)
            ]
            ecells = [f"{e[k]:>10.1f}" if k in e else f"{'-':>10}" for k in ("writer", "server")]
            print(f"{kind:<11} {op:<9} {' '.join(cells)} | {' '.join(ecells)}", flush=True)


def _fresh(
    fn: Callable[[str, str, int, int, int], dict[str, float]],
    kind: str,
    op: str,
    args: argparse.Namespace,
) -> dict[str, float]:
    with fresh_db(kind, args.pg) as url:
        return fn(url, op, args.n, args.batch, args.cap)


if __name__ == "__main__":
    main()
