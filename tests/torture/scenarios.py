"""The torture scenarios. Each runs real ``paysandbox serve`` processes on a fresh database
(a SQLite file or a PostgreSQL schema) and returns ``Result`` lines whose failures must all
be 0. ``Size`` says how much of each to do (``SHORT`` inside pytest, ``LONG`` on demand)."""

from __future__ import annotations

import itertools
import random
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from paysandbox.app import create_app
from paysandbox.settings import Settings

from ..kplus.builders import creds, generate_body
from ..nicepay import builders as np
from ..smart2pay.builders import AUTH, payment_body
from .harness import Result, Server, TortureReceiver, database, servers


@dataclass(frozen=True)
class Size:
    kills: int  # kill -9 under mixed load, per database
    load_workers: int
    load_seconds: tuple[float, float]  # how long the load runs before each kill
    race_objects: int  # per provider case and per process layout
    callback_tokens: int
    callback_kills: int
    callback_timeout: float  # the sender's timeout; slow receivers answer in 50-95 % of it
    migration_kills: int
    serve_kills: int
    at_once: int  # processes started at the same moment


SHORT = Size(
    kills=2,
    load_workers=4,
    load_seconds=(0.4, 1.6),
    race_objects=12,
    callback_tokens=16,
    callback_kills=1,
    callback_timeout=2.0,
    migration_kills=4,
    serve_kills=1,
    at_once=3,
)
LONG = Size(
    kills=20,
    load_workers=6,
    load_seconds=(1.0, 4.0),
    race_objects=80,
    callback_tokens=96,
    callback_kills=4,
    callback_timeout=6.0,
    migration_kills=20,
    serve_kills=10,
    at_once=10,
)


def _timed(fn: Callable[..., Result]) -> Callable[..., Result]:
    def run(*args: Any, **kw: Any) -> Result:
        t0 = time.monotonic()
        r = fn(*args, **kw)
        r.seconds = time.monotonic() - t0
        return r

    run.__name__ = fn.__name__
    return run


# ------------------------------------------------------------------ kill -9 under mixed load


@dataclass
class _Ledger:
    """Acknowledged changes, and what each object must be found as after a restart."""

    lock: threading.Lock
    kp_open: list[str]  # tokens acknowledged as REQUESTED, free for one more change
    np_open: list[str]
    expect: dict[tuple[str, str], set[str]]  # (kind, id) -> acceptable states
    acked: dict[str, int]


def _load_worker(srv: Server, ledger: _Ledger, stop: threading.Event) -> None:
    rnd = random.Random()
    with srv.client() as c:
        while not stop.is_set():
            op = rnd.choice(
                ["kp_gen", "kp_gen", "kp_pay", "kp_pay", "kp_cancel", "np_reg", "np_pay", "s2p"]
            )
            obj: str | None = None
            if op in ("kp_pay", "kp_cancel", "np_pay"):
                with ledger.lock:
                    pool = ledger.kp_open if op.startswith("kp") else ledger.np_open
                    if pool:
                        obj = pool.pop(rnd.randrange(len(pool)))
                if obj is None:  # nothing to change yet: create instead (never spin)
                    op = "kp_gen" if op.startswith("kp") else "np_reg"
            if obj is not None:
                kind = "kp" if op.startswith("kp") else "np"
                new = {"kp_pay": "PAID", "kp_cancel": "CANCELLED", "np_pay": "PAID"}[op]
                with ledger.lock:  # sent: either state may be found until it is acknowledged
                    ledger.expect[(kind, obj)] = ledger.expect[(kind, obj)] | {new}
            try:
                if op == "kp_gen":
                    r = c.post("/kplus/payment/generate-token", json=generate_body())
                    if r.status_code == 200 and r.json()["statusCode"] == "00":
                        tid = r.json()["tokenId"]
                        with ledger.lock:
                            ledger.expect[("kp", tid)] = {"REQUESTED"}
                            ledger.kp_open.append(tid)
                            ledger.acked["generate"] += 1
                elif op == "kp_pay":
                    r = c.post(f"/_sandbox/kplus/tokens/{obj}/pay")
                    if r.status_code == 200:
                        with ledger.lock:
                            ledger.expect[("kp", str(obj))] = {"PAID"}
                            ledger.acked["pay"] += 1
                elif op == "kp_cancel":
                    r = c.post(
                        "/kplus/payment/cancel-token",
                        json=creds(tokenId=obj, reference1="KS1234567"),
                    )
                    if r.status_code == 200 and r.json()["statusCode"] == "00":
                        with ledger.lock:
                            ledger.expect[("kp", str(obj))] = {"CANCELLED"}
                            ledger.acked["cancel"] += 1
                elif op == "np_reg":
                    r = c.post(np.REG, json=np.registration("02"))
                    if r.status_code == 200 and r.json()["resultCd"] == "0000":
                        txid = r.json()["tXid"]
                        with ledger.lock:
                            ledger.expect[("np", txid)] = {"UNPAID"}
                            ledger.np_open.append(txid)
                            ledger.acked["register"] += 1
                elif op == "np_pay":
                    r = c.post(f"/_sandbox/nicepay/transactions/{obj}/pay")
                    if r.status_code == 200:
                        with ledger.lock:
                            ledger.expect[("np", str(obj))] = {"PAID"}
                            ledger.acked["pay"] += 1
                else:
                    r = c.post("/v1/payments", json=payment_body(2000), headers=AUTH)
                    if r.status_code == 201:
                        with ledger.lock:
                            ledger.expect[("s2p", str(r.json()["Payment"]["ID"]))] = {"Captured"}
                            ledger.acked["payment"] += 1
            except httpx.HTTPError:
                return  # the server was killed


def _found(c: httpx.Client, kind: str, obj: str) -> str:
    if kind == "kp":
        r = c.get(f"/_sandbox/kplus/tokens/{obj}")
        return str(r.json().get("status")) if r.status_code == 200 else "missing"
    if kind == "np":
        r = c.get(f"/_sandbox/nicepay/transactions/{obj}")
        return str(r.json().get("state")) if r.status_code == 200 else "missing"
    r = c.get(f"/v1/payments/{obj}/status", headers=AUTH)
    return str(r.json()["Payment"]["Status"]["Info"]) if r.status_code == 200 else "missing"


@_timed
def kill9_under_load(kind: str, size: Size, workdir: Path) -> Result:
    ledger = _Ledger(
        threading.Lock(),
        [],
        [],
        {},
        {"generate": 0, "register": 0, "payment": 0, "pay": 0, "cancel": 0},
    )
    lost = wrong = failed_restarts = 0
    with database(kind, workdir, "kill9") as url:
        srv = Server(url, workdir)
        srv.start()
        try:
            for _ in range(size.kills):
                stop = threading.Event()
                workers = [
                    threading.Thread(target=_load_worker, args=(srv, ledger, stop))
                    for _ in range(size.load_workers)
                ]
                for w in workers:
                    w.start()
                time.sleep(random.uniform(*size.load_seconds))
                srv.kill9()
                stop.set()
                for w in workers:
                    w.join()
                srv.launch()
                if not srv.wait_up():
                    failed_restarts += 1
                    srv.launch()
                    srv.wait_up()
            with srv.client() as c:
                for (k, obj), states in list(ledger.expect.items()):
                    found = _found(c, k, obj)
                    if found == "missing":
                        lost += 1
                    elif found not in states:
                        wrong += 1
        finally:
            srv.stop()
    acked = sum(ledger.acked.values())
    return Result(
        "kill -9 under mixed load (K PLUS, NICEPay, Smart2Pay)",
        kind,
        {"kills": size.kills, "acknowledged": acked, **ledger.acked},
        {"lost": lost, "state not as acknowledged": wrong, "restart failures": failed_restarts},
    )


# ------------------------------------------------------------------ races


def _race_pool(
    servers_: list[Server], k: int
) -> Callable[[list[Callable[[httpx.Client], Any]]], list[Any]]:
    """Runs k calls at once (a barrier), spread round-robin over the server processes."""
    local = threading.local()
    pool = ThreadPoolExecutor(k)
    counter = iter(range(10**9))

    def client_for(i: int) -> httpx.Client:
        if not hasattr(local, "clients"):
            local.clients = [s.client() for s in servers_]
        return local.clients[i % len(servers_)]  # type: ignore[no-any-return]

    def race(calls: list[Callable[[httpx.Client], Any]]) -> list[Any]:
        barrier = threading.Barrier(len(calls))
        base = next(counter)

        def go(arg: tuple[int, Callable[[httpx.Client], Any]]) -> Any:
            i, call = arg
            c = client_for(base + i)
            barrier.wait()
            return call(c)

        return list(pool.map(go, enumerate(calls)))

    return race


@_timed
def races(kind: str, size: Size, workdir: Path, processes: int) -> Result:
    counts = {"objects": 0, "requests": 0}
    double = wrong = 0
    with (
        database(kind, workdir, f"races{processes}") as url,
        servers(processes, url, workdir) as ss,
    ):
        race = _race_pool(ss, 5)
        with ss[0].client() as c:
            for _ in range(size.race_objects):
                # K PLUS: pay x2 (customer) vs cancel-token x2 (merchant)
                tid = c.post("/kplus/payment/generate-token", json=generate_body()).json()[
                    "tokenId"
                ]
                answers = race(
                    [(lambda cl, t=tid: cl.post(f"/_sandbox/kplus/tokens/{t}/pay"))] * 2
                    + [
                        (
                            lambda cl, t=tid: cl.post(
                                "/kplus/payment/cancel-token",
                                json=creds(tokenId=t, reference1="KS1234567"),
                            )
                        )
                    ]
                    * 2
                )
                final = c.get(f"/_sandbox/kplus/tokens/{tid}").json()["status"]
                loser_code = {"PAID": "qr_paid", "CANCELLED": "qr_cancelled"}.get(final)
                wins = 0
                for n, r in enumerate(answers):
                    if r.status_code == 200:
                        wins += 1
                        continue
                    code = r.json().get("detail") if n < 2 else r.json().get("errorCode")
                    wrong += r.status_code != 409 or code != loser_code
                double += wins > 1
                counts["objects"] += 1
                counts["requests"] += len(answers)

                # NICEPay VA: pay x2 (customer) vs full cancel x2 (merchant)
                reg = np.register(c, "02")
                txid, amt = reg["tXid"], str(reg["amt"])
                answers = race(
                    [(lambda cl, t=txid: cl.post(f"/_sandbox/nicepay/transactions/{t}/pay"))] * 2
                    + [(lambda cl, t=txid, a=amt: cl.post(np.CAN, json=np.cancel(t, a)))] * 2
                )
                final = c.get(f"/_sandbox/nicepay/transactions/{txid}").json()["state"]
                wins = 0
                for n, r in enumerate(answers):
                    if n < 2:
                        if r.status_code == 200:
                            wins += 1
                        else:
                            wrong += r.status_code != 409
                        continue
                    code = r.json()["resultCd"]
                    if code == "0000":
                        wins += 1
                    else:  # the serial answer: paid VA -> 9330; already cancelled -> 8061
                        wrong += code != {"PAID": "9330", "CANCELED": "8061"}.get(final)
                double += wins > 1
                counts["objects"] += 1
                counts["requests"] += len(answers)

                # NICEPay e-wallet, paid: five partial cancels of 3,333 of 10,000 (3 fit)
                reg = np.register(c, "05", amt="10000")
                txid = reg["tXid"]
                c.post(f"/_sandbox/nicepay/transactions/{txid}/pay")
                answers = race(
                    [
                        (
                            lambda cl, t=txid: cl.post(
                                np.CAN, json=np.cancel(t, "3333", cancel_type="2")
                            )
                        )
                    ]
                    * 5
                )
                codes = [r.json()["resultCd"] for r in answers]
                double += codes.count("0000") > 3
                wrong += sum(code not in ("0000", "8067") for code in codes)
                wrong += codes.count("0000") != 3  # serially, exactly three fit
                counts["objects"] += 1
                counts["requests"] += len(answers)

                # Smart2Pay: capture x2 vs cancel x2 of an authorized payment
                pid = c.post(
                    "/v1/payments", json=payment_body(2000, capture=False), headers=AUTH
                ).json()["Payment"]["ID"]
                answers = race(
                    [(lambda cl, p=pid: cl.post(f"/v1/payments/{p}/capture", headers=AUTH))] * 2
                    + [(lambda cl, p=pid: cl.post(f"/v1/payments/{p}/cancel", headers=AUTH))] * 2
                )
                statuses = [r.status_code for r in answers]
                double += statuses.count(200) > 1
                wrong += statuses.count(200) != 1 or any(s not in (200, 402) for s in statuses)
                counts["objects"] += 1
                counts["requests"] += len(answers)
    return Result(
        f"races on every provider's state changes, {processes} process(es)",
        kind,
        counts,
        {"double winners": double, "loser answers not the serial one": wrong},
    )


# ------------------------------------------------------------------ callbacks across processes

_BEHAVIOURS = ("fast", "slow", "failing", "crashing")


def _callback_config(receiver_url: str, endpoints: int, timeout: float) -> str:
    parts = [
        "[delivery]",
        "schedule = [0.5, 1, 2]",
        "max_attempts = 12",
        f"timeout_seconds = {timeout}",
        "poll_seconds = 0.1",
        "",
    ]
    for i in range(endpoints):
        parts += [
            "[[kplus.partners]]",
            f'partner_id = "TORT{i:04d}"',
            f'partner_secret = "torture-secret-{i:04d}"',
            f'callback_url = "{receiver_url}/cb/{_BEHAVIOURS[i % 4]}/{i}"',
            "",
        ]
    return "\n".join(parts)


@_timed
def callbacks(kind: str, size: Size, workdir: Path) -> Result:
    timeout = size.callback_timeout
    endpoints = 8

    def behave(key: str, path: str, n: int) -> tuple[float, int]:
        how = path.split("/")[2]
        if how == "slow":
            return random.uniform(0.5, 0.95) * timeout, 200
        if how == "failing" and n < 2:
            return 0.05, 500
        if how == "crashing" and n < 1:
            return 0.05, 0
        return random.uniform(0, 0.05), 200

    receiver = TortureReceiver(behave, "tokenId").start()
    config = _callback_config(receiver.url, endpoints, timeout)
    tokens: list[str] = []
    killed_mid_send = 0
    try:
        with (
            database(kind, workdir, "callbacks") as url,
            servers(3, url, workdir, config) as ss,
        ):
            clients = [s.client() for s in ss]
            for n in range(size.callback_tokens):
                i = n % endpoints
                body = generate_body()
                body.update(partnerId=f"TORT{i:04d}", partnerSecret=f"torture-secret-{i:04d}")
                r = clients[n % 3].post("/kplus/payment/generate-token", json=body)
                tid = r.json()["tokenId"]
                if (
                    clients[(n + 1) % 3].post(f"/_sandbox/kplus/tokens/{tid}/pay").status_code
                    == 200
                ):
                    tokens.append(tid)
            for _ in range(size.callback_kills):  # kill a process while requests are open
                deadline = time.monotonic() + 20
                while receiver.in_flight() < 2 and time.monotonic() < deadline:
                    time.sleep(0.01)
                ss[0].kill9()
                killed_mid_send += receiver.in_flight() > 0
                time.sleep(0.5)
                ss[0].launch()
                ss[0].wait_up()
                clients[0] = ss[0].client()
            # every delivery settles: succeeded, or failed after its attempts
            deadline = time.monotonic() + 120
            views: list[dict[str, Any]] = []
            while time.monotonic() < deadline:
                views = (
                    clients[1]
                    .get("/_sandbox/deliveries", params={"provider": "kplus", "limit": 1000})
                    .json()["deliveries"]
                )
                if len(views) >= len(tokens) and all(v["state"] != "pending" for v in views):
                    break
                time.sleep(0.25)
            logs = {
                v["objectId"]: clients[1].get(f"/_sandbox/deliveries/{v['id']}").json()
                for v in views
            }
            for c in clients:
                c.close()
    finally:
        receiver.stop()
    ok = receiver.successes()
    seen = receiver.requests_per_key()
    lost = sum(1 for t in tokens if t not in ok or logs.get(t, {}).get("state") != "succeeded")
    abandoned = {
        t
        for t, d in logs.items()
        if any("outcome unknown" in (a["error"] or "") for a in d["attemptLog"])
    }
    resent = sum(1 for t, n in ok.items() if n > 1)
    unexplained = sum(1 for t, n in ok.items() if n > 1 and t not in abandoned)
    unrecorded = sum(1 for t, n in seen.items() if n > len(logs.get(t, {}).get("attemptLog", [])))
    attempts = sum(len(d["attemptLog"]) for d in logs.values())
    # recovery: for a delivery whose attempt a kill cut, the wait from that request to the next
    recovery = 0.0
    for key in abandoned:
        starts = sorted(h.start for h in receiver.hits if h.key == key)
        gaps = [b - a for a, b in itertools.pairwise(starts)]
        recovery = max([recovery, *gaps])
    return Result(
        "callbacks, 3 processes, fast/slow/failing/crashing receivers, kill -9 mid-send",
        kind,
        {
            "deliveries": len(tokens),
            "requests received": sum(seen.values()),
            "attempts recorded": attempts,
            "kills mid-send": killed_mid_send,
            "attempts cut by a kill": sum(
                1
                for d in logs.values()
                for a in d["attemptLog"]
                if "outcome unknown" in (a["error"] or "")
            ),
            "re-sent after a kill took the answer": resent,
            "longest wait to re-send a cut attempt (s)": round(recovery),
        },
        {
            "lost": lost,
            "sent concurrently": receiver.overlaps,
            "duplicates not caused by a kill": unexplained,
            "requests not on record": unrecorded,
        },
    )


# ------------------------------------------------------------------ start-up

_MIGRATE_CHILD = (
    "import sys\n"
    "from paysandbox.providers import REGISTERED\n"
    "from paysandbox.store import migrate\n"
    "print('go', flush=True)\n"
    "migrate.upgrade(sys.argv[1], [p.migrations for p in REGISTERED])\n"
    "print('done', flush=True)\n"
)


def _schema_of(kind: str, url: str) -> tuple[frozenset[str], frozenset[str]]:
    """(tables, alembic versions) as found in the database."""
    if kind == "sqlite":
        path = url.removeprefix("sqlite:///")
        if not Path(path).exists():
            return frozenset(), frozenset()
        with sqlite3.connect(path) as c:
            tables = frozenset(
                r[0]
                for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                if not r[0].startswith("sqlite_")
            )
            versions = (
                frozenset(r[0] for r in c.execute("SELECT version_num FROM alembic_version"))
                if "alembic_version" in tables
                else frozenset()
            )
        return tables, versions
    import psycopg

    with psycopg.connect(url) as c:
        tables = frozenset(
            r[0]
            for r in c.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema()"
            )
        )
        versions = (
            frozenset(r[0] for r in c.execute("SELECT version_num FROM alembic_version"))
            if "alembic_version" in tables
            else frozenset()
        )
    return tables, versions


def _migrate_until_killed(url: str, delay: float | None) -> float:
    """Migrate ``url`` in a child process and SIGKILL it ``delay`` seconds into the migration
    (``None``: let it finish); returns how long the migration ran."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _MIGRATE_CHILD, url],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    proc.stdout.readline()  # "go": imports done, the migration starts now
    t0 = time.monotonic()
    if delay is None:
        proc.stdout.readline()  # "done"
    else:
        time.sleep(delay)
        proc.kill()
    proc.wait()
    return time.monotonic() - t0


@_timed
def startup(kind: str, size: Size, workdir: Path) -> Result:
    ran = {
        "kills during migration": 0,
        "found old (empty) schema": 0,
        "found new schema": 0,
        "kills of a starting server": 0,
    }
    bad = {"half-migrated schema": 0, "start-up failures after a kill": 0}
    # the complete schema, and how long an uninterrupted migration takes
    with database(kind, workdir, "reference") as url:
        took = _migrate_until_killed(url, None)
        complete = _schema_of(kind, url)
    for n in range(size.migration_kills):
        with database(kind, workdir, f"mig{n}") as url:
            _migrate_until_killed(url, random.uniform(0, took))
            found = _schema_of(kind, url)
            ran["kills during migration"] += 1
            if found == complete:
                ran["found new schema"] += 1
            elif not found[0]:
                ran["found old (empty) schema"] += 1
            else:
                bad["half-migrated schema"] += 1
            try:  # what a server does at start-up: migrate, open, seed
                app = create_app(Settings(db_url=url, run_sender=False))
                app.state.sandbox.ctx.db.close()
            except Exception as exc:
                print(f"--- start-up after a migration kill failed ({kind}): {exc!r}")
                bad["start-up failures after a kill"] += 1
    for n in range(size.serve_kills):
        with database(kind, workdir, f"serve{n}") as url:
            srv = Server(url, workdir)
            srv.launch()
            time.sleep(random.uniform(0.05, 3.0))
            srv.kill9()
            ran["kills of a starting server"] += 1
            try:
                if not srv.launch().wait_up():
                    bad["start-up failures after a kill"] += 1
            finally:
                srv.stop()
    return Result("kill -9 during start-up (migration, server launch)", kind, ran, bad)


@_timed
def at_once(kind: str, size: Size, workdir: Path) -> Result:
    ran = {"processes on a fresh database": 0, "processes on a migrated database": 0}
    bad = {"failed on fresh": 0, "failed on migrated": 0}
    with database(kind, workdir, "atonce") as url:
        for label in ("fresh", "migrated"):
            group = [Server(url, workdir) for _ in range(size.at_once)]
            try:
                for s in group:
                    s.launch()
                up = [s.wait_up(timeout=90) for s in group]
            finally:
                for s in group:
                    s.stop()
            ran[f"processes on a {label} database"] = len(group)
            bad[f"failed on {label}"] = up.count(False)
            for s, ok in zip(group, up, strict=True):
                if not ok:
                    print(f"--- {label} start-up failure ({kind}):\n{s.tail()}", flush=True)
    return Result(f"{size.at_once} processes starting at once", kind, ran, bad)


SCENARIOS = ("startup", "at_once", "kill9", "races", "callbacks")


def run_all(
    kinds: list[str],
    size: Size,
    workdir: Path,
    log: Callable[[Result], None],
    only: frozenset[str] = frozenset(),
) -> list[Result]:
    results: list[Result] = []

    def add(r: Result) -> None:
        results.append(r)
        log(r)

    def want(name: str) -> bool:
        return not only or name in only

    for kind in kinds:
        if want("startup"):
            add(startup(kind, size, workdir))
        if want("at_once"):
            add(at_once(kind, size, workdir))
        if want("kill9"):
            add(kill9_under_load(kind, size, workdir))
        if want("races"):
            add(races(kind, size, workdir, 1))
            add(races(kind, size, workdir, 3))
        if want("callbacks"):
            add(callbacks(kind, size, workdir))
    return results
