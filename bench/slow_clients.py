"""Slow clients against one ``paysandbox serve`` process: are normal clients still answered?

Opens ``--slow`` connections that never finish (half send unfinished headers, half promise a
100-byte body and send one byte), keeps them open, and meanwhile sends one normal request
(``GET /_sandbox/clock`` on a new connection, 5 s timeout) every ``--interval`` seconds.
Prints how many slow connections the server had closed after each 5 s, and the normal
requests' success count and latency. Extra arguments after ``--`` go to ``paysandbox serve``
(e.g. ``-- --header-timeout 3600 --body-timeout 3600`` to see the server without limits).

    .venv/bin/python bench/slow_clients.py                       # 2,000 slow, 30 s, defaults
    .venv/bin/python bench/slow_clients.py --nofile 256 --slow 300
    .venv/bin/python bench/slow_clients.py -- --header-timeout 3600 --body-timeout 3600
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def slow_connection(port: int, trickle: bool, closed: list[float], t0: float) -> None:
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        closed.append(-1.0)  # could not even connect
        return
    if trickle:
        writer.write(
            b"POST /kplus/payment/generate-token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
        )
    else:
        writer.write(b"GET /_sandbox/clock HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: 1\r\n")
    try:
        await writer.drain()
        while await reader.read(4096):
            pass
        closed.append(time.monotonic() - t0)
    except OSError:
        closed.append(time.monotonic() - t0)
    finally:
        writer.close()


async def normal_clients(
    port: int, seconds: float, interval: float
) -> tuple[list[float], int, int]:
    latencies: list[float] = []
    failures = 0
    limits = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=5, limits=limits) as c:
        end = time.monotonic() + seconds
        sent = 0
        while time.monotonic() < end:
            started = time.perf_counter()
            sent += 1
            try:
                r = await c.get(f"http://127.0.0.1:{port}/_sandbox/clock")
                if r.status_code == 200 and "now" in r.json():
                    latencies.append((time.perf_counter() - started) * 1000)
                else:
                    failures += 1
            except httpx.HTTPError:
                failures += 1
            await asyncio.sleep(interval)
    return latencies, sent, failures


async def main_async(args: argparse.Namespace, port: int) -> None:
    closed: list[float] = []
    t0 = time.monotonic()
    tasks = [
        asyncio.create_task(slow_connection(port, i % 2 == 1, closed, t0)) for i in range(args.slow)
    ]
    await asyncio.sleep(1)  # let them connect
    report = asyncio.create_task(normal_clients(port, args.duration, args.interval))
    for tick in range(5, int(args.duration) + 1, 5):
        await asyncio.sleep(max(0.0, t0 + tick - time.monotonic()))
        print(f"  t={tick:>3}s  slow connections closed by the server: {len(closed)}/{args.slow}")
    latencies, sent, failures = await report
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1] if latencies else float("nan")
    print(
        f"normal requests: {sent} sent, {len(latencies)} answered 200, {failures} failed; "
        f"latency p50 {statistics.median(latencies) if latencies else float('nan'):.1f} ms, "
        f"p99 {p99:.1f} ms, max {max(latencies) if latencies else float('nan'):.1f} ms"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--slow", type=int, default=2000, help="slow connections (default 2000)")
    p.add_argument("--duration", type=float, default=30, help="seconds of normal traffic")
    p.add_argument("--interval", type=float, default=0.05, help="pause between normal requests")
    p.add_argument("--nofile", type=int, help="descriptor limit of the server process")
    p.add_argument("serve_args", nargs="*", help="after --: extra `paysandbox serve` flags")
    args = p.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # this process holds the slow ones

    def limit_server() -> None:
        if args.nofile:
            resource.setrlimit(resource.RLIMIT_NOFILE, (args.nofile, args.nofile))

    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "paysandbox", "serve", "--port", str(port)]
        cmd += ["--db", f"sqlite:///{tmp}/bench.db", "--log-level", "warning", *args.serve_args]
        server = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, preexec_fn=limit_server)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    httpx.get(f"http://127.0.0.1:{port}/_sandbox/clock", timeout=1)
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        sys.exit("server did not start")
                    time.sleep(0.2)
            print(
                f"{args.slow} slow connections, server flags {args.serve_args or '(defaults)'}"
                + (f", server descriptor limit {args.nofile}" if args.nofile else "")
            )
            asyncio.run(main_async(args, port))
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
