"""Benchmark K PLUS inquire-token and generate-token against a fresh paysandbox process.

See bench/README.md. Prints a Markdown table; never part of the test suite.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
CREDS = {
    "partnerId": "PTR1902369",
    "partnerSecret": "7da57c4eb242435fa3e91bb7a69e2a28",
    "requestDt": "2019-07-04T18:00:42.411",
}


@dataclass
class Result:
    op: str
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    failures: int
    #: CPU time the server process spent per request (user + system): steadier than req/s on
    #: a machine shared with other work.
    cpu_us: float = 0.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_wrk() -> str:
    path = shutil.which("wrk")
    if path:
        return path
    if shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)
        path = shutil.which("wrk")
    if not path:
        sys.exit("wrk is needed (Debian package 'wrk')")
    return path


def fresh_db(args: argparse.Namespace, tmp: Path) -> tuple[str, str | None]:
    if not args.db:
        return f"sqlite:///{tmp / 'bench.db'}", None
    import psycopg

    schema = f"bench_{secrets.token_hex(4)}"
    with psycopg.connect(args.db, autocommit=True) as c:
        c.execute(f"CREATE SCHEMA {schema}")
    parts = urlsplit(args.db)
    return urlunsplit(parts._replace(query=f"options=-csearch_path%3D{schema}")), schema


def ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU of a process so far (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_wrk(
    wrk: str,
    base: str,
    op: str,
    seconds: int,
    conns: int,
    env: dict[str, str],
    server_pid: int | None = None,
) -> Result:
    cpu_before = cpu_seconds(server_pid)
    out = subprocess.run(
        [
            wrk,
            "-t1",
            f"-c{conns}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(HERE / "wrk_kplus.lua"),
            base,
        ],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, **env, "BENCH_OP": op},
    ).stdout
    total = int(re.search(r"(\d+) requests in ([\d.]+)(\w+)", out).group(1))  # type: ignore[union-attr]
    dur = re.search(r"requests in ([\d.]+\w+)", out).group(1)  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    failures = (int(non2xx.group(1)) if non2xx else 0) + (
        sum(int(x) for x in sock.groups()) if sock else 0
    )
    cpu = cpu_seconds(server_pid) - cpu_before
    return Result(
        cpu_us=cpu / total * 1e6 if total else 0.0,
        op=op,
        requests=total,
        seconds=ms(dur) / 1000,
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        p50_ms=ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)),  # type: ignore[union-attr]
        p99_ms=ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)),  # type: ignore[union-attr]
        failures=failures,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--db", help="PostgreSQL URL (default: a fresh SQLite file)")
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--synchronous", default="NORMAL", choices=["NORMAL", "FULL"])
    ap.add_argument(
        "--journal",
        default="on",
        choices=["on", "off"],
        help="request journal of the server (on, its default; off: --no-journal)",
    )
    args = ap.parse_args()
    wrk = ensure_wrk()
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        db_url, schema = fresh_db(args, tmp)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log = (tmp / "server.log").open("w")
        server = subprocess.Popen(
            [
                str(BIN / "paysandbox"),
                "serve",
                "--port",
                str(port),
                "--db",
                db_url,
                "--sqlite-synchronous",
                args.synchronous,
                "--log-level",
                "warning",
                *(["--no-journal"] if args.journal == "off" else []),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp,
        )
        try:
            results = bench(wrk, base, args, server.pid)
        finally:
            server.terminate()
            server.wait(timeout=20)
            if schema:
                import psycopg

                with psycopg.connect(args.db, autocommit=True) as c:
                    c.execute(f"DROP SCHEMA {schema} CASCADE")
    backend = "PostgreSQL" if args.db else f"SQLite (synchronous={args.synchronous})"
    print(
        f"\npaysandbox K PLUS, one server process, {backend}, {args.connections} connections, "
        f"wrk -t1, {args.duration}s per operation, {os.cpu_count()} cores, "
        f"journal {args.journal}\n"
    )
    print("| operation | requests | req/s | p50 ms | p99 ms | failures | server CPU µs/req |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r.op} | {r.requests} | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | "
            f"{r.failures} | {r.cpu_us:.0f} |"
        )


def bench(wrk: str, base: str, args: argparse.Namespace, pid: int) -> list[Result]:
    with httpx.Client(base_url=base, timeout=10) as c:
        deadline = time.monotonic() + 30
        while True:
            try:
                c.get("/_sandbox/clock")
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        gen = c.post(
            "/kplus/payment/generate-token",
            json={
                **CREDS,
                "partnerTxnUid": "bench-setup",
                "reference1": "KS1234567",
                "totalAmount": "500",
                "shopImageUrl": "https://shop.example/a.png",
                "shopName": "Bench Shop",
                "shippingFee": "0",
                "osPlatform": "IOS",
                "currencyCode": "THB",
                "currencyExponent": "2",
            },
        ).json()
        token = gen["tokenId"]
        check = c.post(
            "/kplus/payment/inquire-token",
            json={**CREDS, "partnerTxnUid": "check", "tokenId": token},
        ).json()
        assert check["statusCode"] == "00" and check["paymentStatus"] == "REQUESTED", check
    env = {"BENCH_TOKEN": token}
    # Warm-up (not reported): first requests pay for imports, prepared statements, caches.
    run_wrk(wrk, base, "inquire-token", 2, args.connections, {**env, "BENCH_PREFIX": "w"})
    results = [run_wrk(wrk, base, "inquire-token", args.duration, args.connections, env, pid)]
    results.append(
        run_wrk(
            wrk,
            base,
            "generate-token",
            args.duration,
            args.connections,
            {**env, "BENCH_PREFIX": "g"},
            pid,
        )
    )
    return results


if __name__ == "__main__":
    main()
