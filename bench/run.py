"""Benchmark paysandbox's K PLUS inquire-token and generate-token; prints every table.

See bench/README.md for what each figure means. Never part of the test suite.

    .venv/bin/python bench/run.py                 # all tables, 10 s per measurement
    .venv/bin/python bench/run.py --quick         # all tables, 3 s each, scale up to 100 000
    .venv/bin/python bench/run.py --only backends,workers --duration 20
    .venv/bin/python bench/run.py --only backends,workers --repeat 3   # medians of 3 runs
    .venv/bin/python bench/run.py --only scale --scale-sizes 1000,1000000,10000000
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx

import prefill

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
TOOLS = HERE / ".tools"  # git-ignored: WireMock from the npm registry
RESULTS = HERE / "results"  # git-ignored: one JSON file per run
WIREMOCK_VERSION = "3.13.2"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
CREDS = {
    "partnerId": "PTR1902369",
    "partnerSecret": "7da57c4eb242435fa3e91bb7a69e2a28",
    "requestDt": "2019-07-04T18:00:42.411",
}
GENERATE = {
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
}


@dataclass
class Result:
    target: str
    op: str
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    failures: int
    extra: dict[str, float] = field(default_factory=dict)


# ------------------------------------------------------------------ tools


def ensure_wrk() -> str:
    path = shutil.which("wrk")
    if not path and shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True)
        path = shutil.which("wrk")
    if not path:
        sys.exit("wrk is needed (Debian package 'wrk')")
    return path


def ensure_wiremock() -> Path:
    """WireMock's standalone jar from the ``wiremock`` npm package, in bench/.tools."""
    jar = TOOLS / "node_modules/wiremock/build" / f"wiremock-standalone-{WIREMOCK_VERSION}.jar"
    if not jar.exists():
        TOOLS.mkdir(exist_ok=True)
        subprocess.run(
            [
                "npm",
                "install",
                "--no-save",
                "--no-audit",
                "--no-fund",
                "--prefix",
                str(TOOLS),
                f"wiremock@{WIREMOCK_VERSION}",
            ],
            check=True,
        )
    return jar


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not come up") from None
            time.sleep(0.1)


def rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants, in MB."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            for task in Path(f"/proc/{p}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
    return total / 1024


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_ticks(root: int) -> dict[int, int]:
    """user+system CPU ticks of a process and its descendants, by pid."""
    ticks, todo = {}, [root]
    while todo:
        p = todo.pop()
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            ticks[p] = int(fields[11]) + int(fields[12])
            for task in Path(f"/proc/{p}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
    return ticks


def backend_ticks(pg_url: str | None, app_name: str) -> dict[int, int]:
    """CPU ticks of the PostgreSQL backends serving the benchmarked server (found by the
    application_name its connections carry)."""
    if not pg_url:
        return {}
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as c:
        pids = [
            r[0]
            for r in c.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (app_name,)
            )
        ]
    out: dict[int, int] = {}
    for pid in pids:
        out.update({pid: cpu_ticks(pid).get(pid, 0)})
    return out


class CpuMeter:
    """CPU time the server (all its processes) and its database backends spend: a figure a
    loaded, shared machine disturbs far less than requests per second."""

    def __init__(self, pid: int | None, pg_url: str | None, app_name: str) -> None:
        self.pid, self.pg_url, self.app_name = pid, pg_url, app_name

    def snapshot(self) -> tuple[dict[int, int], dict[int, int]]:
        server = cpu_ticks(self.pid) if self.pid else {}
        return server, backend_ticks(self.pg_url, self.app_name)

    @staticmethod
    def spent(before: dict[int, int], after: dict[int, int]) -> float:
        return sum(t - before.get(p, 0) for p, t in after.items()) / _TICK


def cpu_times() -> list[int]:
    """The machine's CPU time so far (``/proc/stat``'s first line: user, nice, system, idle,
    iowait, irq, softirq, steal …), in ticks."""
    return [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]


def steal_pct(before: list[int], after: list[int]) -> float:
    """The share of the machine's CPU time the hypervisor gave to someone else (steal)."""
    spent = [b - a for a, b in zip(before, after, strict=True)]
    return 100.0 * spent[7] / max(sum(spent), 1)


def load_average() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


# ------------------------------------------------------------------ databases


@contextlib.contextmanager
def fresh_db(kind: str, pg_url: str, tmp: Path) -> Iterator[tuple[str, str | None]]:
    """A new empty database: a SQLite file, or a schema of its own on PostgreSQL."""
    if kind == "sqlite":
        path = tmp / f"bench-{secrets.token_hex(3)}.db"
        yield f"sqlite:///{path}", None
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    import psycopg

    schema = f"bench_{secrets.token_hex(4)}"
    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute(f"CREATE SCHEMA {schema}")
    parts = urlsplit(pg_url)
    query = f"options=-csearch_path%3D{schema}&application_name={schema}"
    query = f"{parts.query}&{query}" if parts.query else query
    try:
        yield urlunsplit(parts._replace(query=query)), schema
    finally:
        with psycopg.connect(pg_url, autocommit=True) as c:
            c.execute(f"DROP SCHEMA {schema} CASCADE")


@contextlib.contextmanager
def server(
    db_url: str,
    tmp: Path,
    workers: int = 1,
    src: str | None = None,
    extra: Sequence[str] = (),
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    env = dict(os.environ)
    # The server runs this checkout's code (or, for an A/B, ``src``'s): its src/ comes first on
    # the path, whichever checkout the venv's editable install points at.
    env["PYTHONPATH"] = str(Path(src).resolve() / "src" if src else HERE.parent / "src")
    cmd = [str(BIN / "paysandbox"), "serve", "--port", str(port), "--db", db_url]
    cmd += ["--log-level", "warning"] + (["--workers", str(workers)] if workers > 1 else [])
    cmd += list(extra)
    with (tmp / "server.log").open("ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=tmp, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(f"{base}/_sandbox/clock", proc)
        yield base, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def wiremock(tmp: Path, inquire_body: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """WireMock answering inquire-token with a static copy of paysandbox's own answer."""
    jar = ensure_wiremock()
    root = tmp / "wiremock"
    (root / "mappings").mkdir(parents=True, exist_ok=True)
    (root / "mappings/inquire.json").write_text(
        json.dumps(
            {
                "request": {"method": "POST", "url": "/kplus/payment/inquire-token"},
                "response": {
                    "status": 200,
                    "headers": {"Content-Type": "application/json"},
                    "body": inquire_body,
                },
            }
        )
    )
    port = free_port()
    cmd = ["java", "-jar", str(jar), "--port", str(port), "--bind-address", "127.0.0.1"]
    cmd += ["--root-dir", str(root), "--disable-banner"]
    # WireMock's own performance settings: the bar should be as high as WireMock can make it
    cmd += ["--no-request-journal", "--disable-request-logging", "--disable-response-templating"]
    with (tmp / "wiremock.log").open("ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(f"{base}/__admin/health", proc)
        yield base, proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# ------------------------------------------------------------------ load


def ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def run_wrk(
    args: argparse.Namespace,
    target: str,
    base: str,
    op: str,
    seconds: float,
    env: dict[str, str],
    script: str = "wrk_kplus.lua",
) -> Result:
    done = subprocess.run(
        [
            args.wrk,
            "-t1",
            f"-c{args.connections}",
            f"-d{max(1, round(seconds))}s",
            "--latency",
            "-s",
            str(HERE / script),
            base,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, **env, "BENCH_OP": op},
    )
    if done.returncode:
        raise RuntimeError(f"wrk failed: {done.stderr}{done.stdout}")
    out = done.stdout

    def find(pattern: str) -> str:
        m = re.search(pattern, out, re.M)
        if not m:
            raise RuntimeError(f"unexpected wrk output:\n{out}")
        return m.group(1)

    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    failures = (int(non2xx.group(1)) if non2xx else 0) + (
        sum(int(x) for x in sock.groups()) if sock else 0
    )
    extra = {"non_2xx": float(non2xx.group(1)) if non2xx else 0.0}
    if sock:  # connect, read, write errors and timeouts (wrk's timeout is 2 s)
        extra["socket_errors"] = float(sum(int(x) for x in sock.groups()[:3]))
        extra["timeouts"] = float(sock.group(4))
    return Result(
        extra=extra,
        target=target,
        op=op,
        requests=int(find(r"(\d+) requests in")),
        rps=float(find(r"Requests/sec:\s+([\d.]+)")),
        p50_ms=ms(find(r"^\s+50%\s+(\S+)")),
        p99_ms=ms(find(r"^\s+99%\s+(\S+)")),
        failures=failures,
    )


def setup_token(base: str) -> tuple[str, str]:
    """Create one token; returns it and inquire-token's exact answer body for it."""
    with httpx.Client(base_url=base, timeout=10) as c:
        token = c.post("/kplus/payment/generate-token", json=GENERATE).json()["tokenId"]
        r = c.post(
            "/kplus/payment/inquire-token",
            json={**CREDS, "partnerTxnUid": "check", "tokenId": token},
        )
        body = r.json()
        assert body["statusCode"] == "00" and body["paymentStatus"] == "REQUESTED", body
        return token, r.text


def drain(base: str) -> float:
    """A journal read, asked again until it answers ``complete``: every journal writer of the
    server has then stored what it held back during the row (docs/control.md, "Out of a load
    test's way"). Returns the seconds it took. WireMock has no journal: nothing to wait for."""
    started = time.monotonic()
    with httpx.Client(base_url=base, timeout=60) as c:
        while time.monotonic() - started < 300:
            r = c.get("/_sandbox/requests", params={"limit": 1})
            if r.status_code == 404 or r.json().get("complete", True):
                break
    return time.monotonic() - started


def measure(
    args: argparse.Namespace,
    target: str,
    base: str,
    ops: list[str],
    env: dict[str, str],
    meter: CpuMeter | None = None,
) -> list[Result]:
    """Each operation, after a warm-up of that operation (not reported: imports, each
    operation's prepared statements on every pooled connection, a pool grown to what the
    operation needs, JIT). Until 2026-11-28 evening only the first operation was warmed up:
    generate-token's row began with its statements unprepared and the pool still growing."""
    tag = secrets.token_hex(3)
    results = []
    for op in ops:
        run_wrk(args, target, base, op, args.warmup, {**env, "BENCH_PREFIX": f"w{op[0]}{tag}"})
        if meter:
            drain(base)  # the warm-up's entries, held back: not the row's work
        before = meter.snapshot() if meter else None
        machine = cpu_times()
        r = run_wrk(args, target, base, op, args.duration, {**env, "BENCH_PREFIX": f"{op[0]}{tag}"})
        r.extra["steal_pct"] = steal_pct(machine, cpu_times())
        if meter and before and r.requests:
            after = meter.snapshot()
            r.extra["server_cpu_us"] = meter.spent(before[0], after[0]) / r.requests * 1e6
            if meter.pg_url:
                r.extra["db_cpu_us"] = meter.spent(before[1], after[1]) / r.requests * 1e6
            # what the journal held back during the row, stored after it (and its time)
            r.extra["drain_s"] = drain(base)
            drained = meter.snapshot()
            r.extra["after_cpu_us"] = meter.spent(after[0], drained[0]) / r.requests * 1e6
        results.append(r)
        cpu = "".join(f"  {k} {v:,.0f}" for k, v in r.extra.items())
        print(
            f"  {target:<28} {op:<15} {r.rps:>9,.0f} req/s  p50 {r.p50_ms:6.2f} ms"
            f"  p99 {r.p99_ms:6.2f} ms  failures {r.failures}{cpu}",
            flush=True,
        )
    return results


#: WireMock's warm-up: wrk windows of WARM_WINDOW seconds until PLATEAU windows in a row are
#: within STEADY of the best one before (after at least ``--warmup`` seconds, at most
#: WARM_MAX). A window below that (a dip: the machine, not the JIT) starts the count again.
WARM_WINDOW = 3.0
STEADY = 0.05
PLATEAU = 2
WARM_MAX = 120.0


def warm_until_steady(args: argparse.Namespace, base: str, env: dict[str, str]) -> None:
    """Load WireMock until its JIT has compiled the hot path. Its req/s climbs for tens of
    seconds on a slow machine (2026-11-28, a 2.1 GHz Xeon VM, 6 s windows from its start:
    2,533, 8,722, 15,280, 24,308, 23,910, 21,856 … req/s), so the fixed warm-up of earlier
    runs (twice the row's length) measured it part-way up and set the bar low. Prints the
    windows (they are not rows of any table)."""
    seen: list[float] = []
    flat = 0
    spent = 0.0
    while spent < WARM_MAX:
        prefix = f"warm{len(seen)}{secrets.token_hex(2)}"
        r = run_wrk(
            args,
            "WireMock warm-up",
            base,
            "inquire-token",
            WARM_WINDOW,
            {**env, "BENCH_PREFIX": prefix},
        )
        spent += WARM_WINDOW
        best = max(seen, default=0.0)
        flat = flat + 1 if seen and abs(r.rps - best) <= STEADY * best else 0
        seen.append(r.rps)
        if flat >= PLATEAU and spent >= args.warmup:
            break
    windows = ", ".join(f"{x:,.0f}" for x in seen)
    print(f"  WireMock warm-up, {WARM_WINDOW:.0f} s windows (req/s): {windows}", flush=True)


def meter_for(
    proc: subprocess.Popen[bytes], args: argparse.Namespace, schema: str | None
) -> CpuMeter:
    return CpuMeter(proc.pid, args.pg if schema else None, schema or "")


# ------------------------------------------------------------------ tables


def backends(args: argparse.Namespace, tmp: Path) -> list[Result]:
    """Target 1: one server process, SQLite then PostgreSQL, same run."""
    out: list[Result] = []
    for kind in args.kinds:
        variants: list[tuple[str, str | None]] = [("", None)]
        if args.baseline:
            variants.append((" (baseline)", args.baseline))
        for label, src in variants:
            with fresh_db(kind, args.pg, tmp) as (url, sch), server(url, tmp, src=src) as (b, p):
                token, _ = setup_token(b)
                name = ("SQLite" if kind == "sqlite" else "PostgreSQL") + label
                ops = ["inquire-token", "generate-token"]
                out += measure(args, name, b, ops, {"BENCH_TOKEN": token}, meter_for(p, args, sch))
    return out


def journal(args: argparse.Namespace, tmp: Path) -> list[Result]:
    """Issue 11's bound: the request journal on vs off (``--no-journal``), no fault defined, on
    SQLite, in alternating pairs so drift of the machine falls on both sides alike."""
    out: list[Result] = []
    for n in range(args.rounds):
        for label, extra in (("journal on", ()), ("journal off", ("--no-journal",))):
            with (
                fresh_db("sqlite", args.pg, tmp) as (url, _),
                server(url, tmp, extra=extra) as (
                    b,
                    p,
                ),
            ):
                token, _ = setup_token(b)
                ops = ["inquire-token", "generate-token"]
                name = f"SQLite, {label} #{n + 1}"
                out += measure(args, name, b, ops, {"BENCH_TOKEN": token}, meter_for(p, args, None))
    return out


def workers(args: argparse.Namespace, tmp: Path) -> list[Result]:
    """Target 2: --workers N beside a WireMock static stub of inquire-token, same run."""
    out: list[Result] = []
    body = None
    # SQLite also without the request journal (``--no-journal``, what a load test may choose):
    # the journal's writer process is a third busy process per worker on the same cores.
    variants = [(kind, ()) for kind in args.kinds]
    if "sqlite" in args.kinds:
        variants.insert(1, ("sqlite", ("--no-journal",)))
    for kind, extra in variants:
        with (
            fresh_db(kind, args.pg, tmp) as (url, sch),
            server(url, tmp, args.workers, extra=extra) as (b, p),
        ):
            token, body = setup_token(b)
            name = f"{'SQLite' if kind == 'sqlite' else 'PostgreSQL'}, --workers {args.workers}"
            name += ", --no-journal" if extra else ""
            ops = ["inquire-token", "generate-token"]
            rs = measure(args, name, b, ops, {"BENCH_TOKEN": token}, meter_for(p, args, sch))
            for r in rs:
                r.extra["rss_mb"] = rss_mb(p.pid)
            out += rs
    if body is not None and not args.no_wiremock:
        with wiremock(tmp, body) as (base, proc):
            meter = CpuMeter(proc.pid, None, "")
            env = {"BENCH_TOKEN": "x"}
            warm_until_steady(args, base, env)
            rs = measure(args, "WireMock static stub", base, ["inquire-token"], env, meter)
            rs[0].extra["rss_mb"] = rss_mb(proc.pid)
            out += rs
    return out


def scale(args: argparse.Namespace, tmp: Path) -> list[Result]:
    """Target 3: latency at growing numbers of stored tokens; database size; server memory."""
    out: list[Result] = []
    for kind in args.kinds:
        with fresh_db(kind, args.pg, tmp) as (url, schema):
            prefill.create_schema(url)
            for size in args.scale_sizes:
                print(f"  prefill {kind} to {size:,} tokens …", flush=True)
                seconds = prefill.fill(url, size)
                db_bytes = prefill.size_bytes(url, schema)
                name = f"{'SQLite' if kind == 'sqlite' else 'PostgreSQL'} @ {size:,}"
                with server(url, tmp) as (base, proc):
                    ops = ["inquire-token", "generate-token"]
                    env = {"BENCH_TOKENS": str(size)}
                    rs = measure(args, name, base, ops, env, meter_for(proc, args, schema))
                    for r in rs:
                        r.extra.update(
                            tokens=size,
                            db_mb=db_bytes / 1e6,
                            prefill_s=seconds,
                            rss_mb=rss_mb(proc.pid),
                        )
                out += rs
    return out


def cell(v: float | None) -> str:
    if v is None:
        return "–"
    return f"{v:,.0f}" if abs(v) >= 100 or float(v).is_integer() else f"{v:.1f}"


CPU_COLUMNS = ["server_cpu_us", "after_cpu_us", "drain_s", "db_cpu_us", "steal_pct"]


def spread(results: list[Result]) -> list[str]:
    """The repeat columns, when the rows are medians of repeats."""
    return ["rps_min", "rps_max", "runs"] if any("runs" in r.extra for r in results) else []


#: Tables ``--repeat`` runs again as a whole: each repeat starts every server afresh, so a
#: drift of the machine (this 2-core VM's neighbours) falls on every row of the table alike.
REPEATABLE = ("backends", "workers")


def medians(runs: list[Result]) -> list[Result]:
    """One row per target and operation: the median of each figure over the repeats, all the
    requests and failures, and the lowest and highest req/s (``rps_min``, ``rps_max``)."""
    groups: dict[tuple[str, str], list[Result]] = {}
    for r in runs:
        groups.setdefault((r.target, r.op), []).append(r)
    out = []
    for (target, op), rs in groups.items():
        keys = sorted({k for r in rs for k in r.extra})
        extra = {k: statistics.median(r.extra[k] for r in rs if k in r.extra) for k in keys}
        extra["rps_min"] = min(r.rps for r in rs)
        extra["rps_max"] = max(r.rps for r in rs)
        extra["runs"] = float(len(rs))
        out.append(
            Result(
                target=target,
                op=op,
                requests=sum(r.requests for r in rs),
                rps=statistics.median(r.rps for r in rs),
                p50_ms=statistics.median(r.p50_ms for r in rs),
                p99_ms=statistics.median(r.p99_ms for r in rs),
                failures=sum(r.failures for r in rs),
                extra=extra,
            )
        )
    return out


def table(title: str, results: list[Result], extra: list[str] = ()) -> str:  # type: ignore[assignment]
    heads = ["target", "operation", "requests", "req/s", "p50 ms", "p99 ms", "failures", *extra]
    lines = [f"\n### {title}\n", "| " + " | ".join(heads) + " |"]
    lines.append("|---|---|" + "---:|" * (len(heads) - 2))
    for r in results:
        cells = [r.target, r.op, f"{r.requests:,}", f"{r.rps:,.0f}", f"{r.p50_ms:.2f}"]
        cells += [f"{r.p99_ms:.2f}", str(r.failures)]
        cells += [cell(r.extra.get(k)) for k in extra]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def ratio(results: list[Result], a: str, b: str, op: str, b_op: str | None = None) -> str:
    ra = next((r for r in results if r.target == a and r.op == op), None)
    rb = next((r for r in results if r.target == b and r.op == (b_op or op)), None)
    if not ra or not rb or not rb.rps:
        return "n/a"
    return f"{ra.rps / rb.rps:.2f}×"


def report(args: argparse.Namespace, tables: dict[str, list[Result]], loads: list[str]) -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    out = [
        f"## paysandbox benchmark — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"\nMachine: {os.cpu_count()} cores ({cpu}), Linux {platform.release()}, "
        f"Python {platform.python_version()}; load average before/after: {' → '.join(loads)}. "
        f"wrk -t1 -c{args.connections}, {args.duration:g} s per row after a {args.warmup:g} s "
        "warm-up; server, database and wrk share the machine."
        + (
            f" Tables 1 and 2 ran {args.repeat} times, each time with fresh servers; every row "
            "shows the medians, and the lowest and highest req/s."
            if args.repeat > 1
            else ""
        ),
    ]
    if "backends" in tables:
        rs = tables["backends"]
        out.append(
            table("1. One server process: SQLite beside PostgreSQL", rs, CPU_COLUMNS + spread(rs))
        )
        for op in ("inquire-token", "generate-token"):
            out.append(f"\nPostgreSQL / SQLite, {op}: {ratio(rs, 'PostgreSQL', 'SQLite', op)}")
    if "workers" in tables:
        rs = tables["workers"]
        out.append(
            table(
                f"2. --workers {args.workers} beside a WireMock static stub",
                rs,
                [*CPU_COLUMNS, "rss_mb", *spread(rs)],
            )
        )
        for name in (
            f"SQLite, --workers {args.workers}",
            f"SQLite, --workers {args.workers}, --no-journal",
            f"PostgreSQL, --workers {args.workers}",
        ):
            for op in ("inquire-token", "generate-token"):
                r = ratio(rs, name, "WireMock static stub", op, "inquire-token")
                out.append(f"\n{name} {op} / WireMock inquire-token: {r}")
    if "journal" in tables:
        rs = tables["journal"]
        out.append(table("4. The request journal on and off (SQLite, no fault)", rs, CPU_COLUMNS))
        for op in ("inquire-token", "generate-token"):
            on = [r.rps for r in rs if r.op == op and "journal on" in r.target]
            off = [r.rps for r in rs if r.op == op and "journal off" in r.target]
            if on and off and sum(off):
                out.append(
                    f"\n{op}: journal on / off = {sum(on) / sum(off):.2f}× "
                    f"(mean {sum(on) / len(on):,.0f} vs {sum(off) / len(off):,.0f} req/s, "
                    f"{len(on)} pairs)"
                )
    if "scale" in tables:
        rs = tables["scale"]
        out.append(
            table(
                "3. Scale: stored K PLUS tokens",
                rs,
                ["tokens", *CPU_COLUMNS, "db_mb", "rss_mb", "prefill_s"],
            )
        )
        for kind in ("SQLite", "PostgreSQL"):
            mine = [r for r in rs if r.target.startswith(kind + " @")]
            if len({r.extra["tokens"] for r in mine}) < 2:
                continue
            lo = min(r.extra["tokens"] for r in mine)
            hi = max(r.extra["tokens"] for r in mine)
            for op in ("inquire-token", "generate-token"):
                a = next(r for r in mine if r.op == op and r.extra["tokens"] == lo)
                b = next(r for r in mine if r.op == op and r.extra["tokens"] == hi)
                out.append(
                    f"\n{kind} {op}, {hi:,.0f} vs {lo:,.0f} tokens: p50 {b.p50_ms / a.p50_ms:.2f}×,"
                    f" p99 {b.p99_ms / a.p99_ms:.2f}×"
                )
            a = next(r for r in mine if r.extra["tokens"] == lo)
            b = next(r for r in mine if r.extra["tokens"] == hi)
            per_m = (b.extra["db_mb"] - a.extra["db_mb"]) / ((hi - lo) / 1e6)
            out.append(f"\n{kind} database size: {per_m:,.0f} MB per million tokens")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--only", default="backends,workers,scale", help="tables to run")
    ap.add_argument("--quick", action="store_true", help="3 s rows, scale to 100 000 tokens")
    ap.add_argument("--duration", type=float, help="seconds per row (default 10; quick 3)")
    ap.add_argument("--warmup", type=float, help="seconds of warm-up (default 3; quick 1)")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument(
        "--pg",
        default=os.environ.get("PAYSANDBOX_PG_URL", DEFAULT_PG),
        help="PostgreSQL URL; 'none' for SQLite only",
    )
    ap.add_argument("--sqlite-only", action="store_true")
    ap.add_argument("--pg-only", action="store_true")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3, help="journal on/off pairs (table 4)")
    ap.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run tables 1 and 2 this many times, interleaved; each row shows the medians",
    )
    ap.add_argument("--no-wiremock", action="store_true")
    ap.add_argument("--scale-sizes", help="default 1000,1000000 (quick: 1000,100000)")
    ap.add_argument(
        "--baseline", metavar="CHECKOUT", help="also run table 1 with another checkout's server"
    )
    args = ap.parse_args()
    args.duration = args.duration or (3 if args.quick else 10)
    args.warmup = args.warmup or (1 if args.quick else 3)
    sizes = args.scale_sizes or ("1000,100000" if args.quick else "1000,1000000")
    args.scale_sizes = [int(float(s)) for s in sizes.split(",")]
    args.kinds = ["sqlite"] if args.sqlite_only or args.pg == "none" else ["sqlite", "postgresql"]
    if args.pg_only:
        args.kinds = ["postgresql"]
    args.wrk = ensure_wrk()
    runners = {"backends": backends, "workers": workers, "scale": scale, "journal": journal}
    loads = [load_average()]
    tables: dict[str, list[Result]] = {}
    with tempfile.TemporaryDirectory(prefix="paysandbox-bench-") as tmpdir:
        for name in args.only.split(","):
            times = args.repeat if name in REPEATABLE else 1
            runs: list[Result] = []
            for n in range(times):
                print(f"{name}{f' (run {n + 1} of {times})' if times > 1 else ''}:", flush=True)
                runs += runners[name](args, Path(tmpdir))
            tables[name] = medians(runs) if times > 1 else runs
    loads.append(load_average())
    text = report(args, tables, loads)
    print("\n" + text)
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"{stamp}.md").write_text(text + "\n")
    (RESULTS / f"{stamp}.json").write_text(
        json.dumps({k: [asdict(r) for r in v] for k, v in tables.items()}, indent=1)
    )


if __name__ == "__main__":
    main()
