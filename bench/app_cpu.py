"""CPU per K PLUS request through the whole app, in process: no sockets, no HTTP server.

Builds the app as ``paysandbox serve`` does (``create_app`` on a fresh SQLite file, or
``--db``), runs its lifespan, creates one token, then calls the ASGI app ``--n`` times from
``--tasks`` concurrent coroutines on uvloop with a prebuilt scope, as uvicorn would call it,
and prints this process's CPU per request (``time.process_time``). What a request costs
paysandbox's own code — the edge, the observation middleware, the provider, the database —
without uvicorn's protocol and the kernel's sockets (``bench/bare_server.py`` measures those).

Each caller lets the loop turn every 64 requests, so the request journal's flusher runs as in
the server: the serving side of the journal (the entry, ``marshal``, the pipe) is counted; its
writer process is another process, not counted (``bench/journal_writer.py`` measures it).

    PYTHONPATH=src .venv/bin/python bench/app_cpu.py                 # inquire and generate
    PYTHONPATH=src .venv/bin/python bench/app_cpu.py --op inquire-token --n 50000 --rounds 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop

from paysandbox.app import create_app
from paysandbox.settings import Settings

CREDS = (
    '"partnerId":"PTR1902369","partnerSecret":"7da57c4eb242435fa3e91bb7a69e2a28",'
    '"requestDt":"2019-07-04T18:00:42.411"'
)


def generate_body(uid: str) -> bytes:
    """The body ``bench/wrk_kplus.lua`` sends for generate-token."""
    return (
        f'{{"partnerTxnUid":"{uid}",{CREDS},"reference1":"KS1234567","totalAmount":"500",'
        '"shopImageUrl":"https://shop.example/a.png","shopName":"Bench Shop","shippingFee":"0",'
        '"osPlatform":"IOS","items":[{"itemName":"A","quantity":"1","amount":"500"}],'
        '"currencyCode":"THB","currencyExponent":"2"}'
    ).encode()


def inquire_body(uid: str, token: str) -> bytes:
    return f'{{"partnerTxnUid":"{uid}",{CREDS},"tokenId":"{token}"}}'.encode()


def scope(path: str, body: bytes) -> dict[str, Any]:
    """A scope as uvicorn builds it for wrk's request."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "server": ("127.0.0.1", 8080),
        "client": ("127.0.0.1", 50000),
        "state": {},
        "headers": [
            (b"host", b"127.0.0.1:8080"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
    }


class Client:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.last: list[dict[str, Any]] = []

    async def call(self, path: str, body: bytes) -> tuple[int, bytes]:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await self.app(scope(path, body), receive, send)
        return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])


async def lifespan(app: Any) -> tuple[asyncio.Future[Any], asyncio.Event]:
    started = asyncio.Event()
    stop = asyncio.Event()
    messages = [{"type": "lifespan.startup"}]

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop()
        await stop.wait()
        return {"type": "lifespan.shutdown"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "lifespan.startup.complete":
            started.set()
        elif message["type"].endswith("failed"):
            raise RuntimeError(message)

    task = asyncio.ensure_future(
        app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
    )
    await started.wait()
    return task, stop


async def measure(args: argparse.Namespace, db_url: str) -> None:
    app = create_app(Settings(db_url=db_url, journal_enabled=not args.no_journal))
    running, stop = await lifespan(app)
    client = Client(app)
    status, body = await client.call("/kplus/payment/generate-token", generate_body("seed"))
    assert status == 200, body
    token = json.loads(body)["tokenId"]

    async def one(op: str, i: int) -> None:
        if op == "inquire-token":
            status, answer = await client.call(
                "/kplus/payment/inquire-token", inquire_body(f"u{i}", token)
            )
        else:
            status, answer = await client.call(
                "/kplus/payment/generate-token", generate_body(f"g{args.tag}{i}")
            )
        if status != 200 or b'"statusCode":"00"' not in answer:
            raise RuntimeError(f"{op}: {status} {answer[:200]!r}")

    async def run(op: str, start: int, n: int) -> float:
        async def task(k: int) -> None:
            for j, i in enumerate(range(start + k, start + n, args.tasks)):
                await one(op, i)
                if j % 64 == 63:
                    await asyncio.sleep(0)  # the loop turns: the journal's flusher runs

        t0 = time.process_time()
        await asyncio.gather(*(task(k) for k in range(args.tasks)))
        return (time.process_time() - t0) / n * 1e6

    offset = 0
    for op in args.op.split(","):
        await run(op, offset, min(2_000, args.n))  # warm-up: caches, prepared statements
        offset += args.n
        figures = []
        for _ in range(args.rounds):
            figures.append(await run(op, offset, args.n))
            offset += args.n
        print(
            f"{op:<15} CPU µs per request: median {statistics.median(figures):6.1f}"
            f"  (rounds: {', '.join(f'{f:.1f}' for f in figures)})"
            f"  journal {'off' if args.no_journal else 'on'}",
            flush=True,
        )
    stop.set()  # lifespan shutdown: the journal is flushed, its writer ends
    await running


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--op", default="inquire-token,generate-token")
    ap.add_argument("--n", type=int, default=20_000, help="requests per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tasks", type=int, default=32, help="concurrent callers (wrk's -c)")
    ap.add_argument("--no-journal", action="store_true")
    ap.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    args = ap.parse_args()
    args.tag = str(int(time.time()))
    with tempfile.TemporaryDirectory(prefix="paysandbox-app-cpu-") as tmp:
        db_url = args.db or f"sqlite:///{Path(tmp) / 'app.db'}"
        uvloop.run(measure(args, db_url))


if __name__ == "__main__":
    main()
