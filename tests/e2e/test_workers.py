"""``paysandbox serve --workers 2``: the real CLI, two worker processes on one port, one sandbox
— shared clock, one winner per race, every delivery claimed and sent exactly once."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from ..kplus.builders import creds, generate_body
from ..support import KPLUS_ID, Receiver, child_env, wait_until

BIN = Path(sys.executable).parent / "paysandbox"


def _children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(c) for c in (task / "children").read_text().split()]
    return out


def _workers_of(pid: int) -> list[int]:
    return [
        c
        for c in _children(pid)
        if b"multiprocessing.spawn" in Path(f"/proc/{c}/cmdline").read_bytes()
    ]


class Served:
    def __init__(self, proc: subprocess.Popen[bytes], base: str, log: Path) -> None:
        self.proc, self.base, self.log = proc, base, log

    def client(self) -> httpx.Client:
        # a new connection per request: the kernel hands each to either worker
        return httpx.Client(
            base_url=self.base, timeout=15, limits=httpx.Limits(max_keepalive_connections=0)
        )


@pytest.fixture
def serve(fresh_db_url: str, tmp_path: Path) -> Iterator[Served]:
    """``--workers 2 --port 0``: the banner names the port the parent bound for both."""
    yield from _serve(fresh_db_url, tmp_path, [])


def _serve(db_url: str, tmp_path: Path, extra: list[str]) -> Iterator[Served]:
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        cmd = [str(BIN), "serve", "--workers", "2", "--port", "0", "--db", db_url]
        proc = subprocess.Popen(
            [*cmd, "--log-level", "warning", *extra],
            cwd=tmp_path,
            env=child_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        found = wait_until(
            lambda: (
                proc.poll() is not None
                or re.search(r"listening on (http://127\.0\.0\.1:\d+)", log.read_text())
            ),
            timeout=60,
        )
        assert proc.poll() is None, log.read_text()
        assert isinstance(found, re.Match)
        base = found.group(1)
        assert not base.endswith(":0")

        def up() -> bool:
            try:
                return httpx.get(f"{base}/_sandbox/clock", timeout=2).status_code == 200
            except httpx.TransportError:
                return False

        wait_until(up, timeout=60)
        wait_until(lambda: len(_workers_of(proc.pid)) == 2, timeout=30)
        yield Served(proc, base, log)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise


def test_two_workers_are_one_sandbox(serve: Served) -> None:
    workers = _workers_of(serve.proc.pid)
    assert len(workers) == 2
    with serve.client() as c:
        token = c.post("/kplus/payment/generate-token", json=generate_body()).json()["tokenId"]
        for _ in range(6):  # whichever worker answers sees the token and the clock
            r = c.post("/kplus/payment/inquire-token", json=creds(tokenId=token)).json()
            assert r["statusCode"] == "00" and r["paymentStatus"] == "REQUESTED", r
        assert c.post("/_sandbox/clock/advance", json={"seconds": 600}).status_code == 200
        for _ in range(6):
            assert c.get("/_sandbox/clock").json()["offsetSeconds"] == 600

    n = 16
    barrier = threading.Barrier(n)

    def go(i: int) -> httpx.Response:
        with serve.client() as c:
            c.get("/_sandbox/clock")
            barrier.wait()
            if i % 2:
                return c.post(f"/_sandbox/kplus/tokens/{token}/pay")
            return c.post("/kplus/payment/cancel-token", json=creds(tokenId=token, reference1="r"))

    with ThreadPoolExecutor(n) as pool:
        answers = list(pool.map(go, range(n)))
    assert sum(r.status_code == 200 for r in answers) == 1, [r.text for r in answers]
    assert all(r.status_code in (200, 409) for r in answers)
    with serve.client() as c:
        kinds = [e["kind"] for e in c.get(f"/_sandbox/kplus/tokens/{token}").json()["events"]]
    assert kinds.count("paid") + kinds.count("cancelled") == 1


def test_each_delivery_is_sent_once_by_one_of_the_workers(
    fresh_db_url: str, tmp_path: Path
) -> None:
    receiver = Receiver().start()
    try:
        flag = f"{KPLUS_ID}={receiver.url}/kplus/confirm"
        gen = _serve(fresh_db_url, tmp_path, ["--kplus-callback", flag])
        serve = next(gen)
        try:
            with serve.client() as c:
                tokens = [
                    c.post("/kplus/payment/generate-token", json=generate_body()).json()["tokenId"]
                    for _ in range(20)
                ]

            def pay(token: str) -> int:
                with serve.client() as c:
                    r = c.post(f"/_sandbox/kplus/tokens/{token}/pay")
                    return r.status_code

            with ThreadPoolExecutor(8) as pool:
                assert set(pool.map(pay, tokens)) == {200}
            receiver.wait_for(20, timeout=30)

            def all_delivered() -> bool:
                with serve.client() as c:
                    ds = c.get("/_sandbox/deliveries", params={"limit": 100}).json()
                done = [d for d in ds["deliveries"] if d["state"] == "succeeded"]
                if len(done) < 20:
                    return False
                # a second claim would have counted a second attempt
                assert [d["attempts"] for d in done] == [1] * 20, done
                return True

            wait_until(all_delivered, timeout=30)
            sent = sorted(json.loads(r.body)["tokenId"] for r in receiver.requests)
            assert sent == sorted(tokens)  # every one, each exactly once
        finally:
            gen.close()
    finally:
        receiver.stop()


def _listening_sockets(port: int) -> int:
    """Sockets listening on ``port`` (``/proc/net/tcp``: state 0A)."""
    n = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            n += state == "0A" and int(local.rsplit(":", 1)[1], 16) == port
    return n


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_REUSEPORT balancing")
def test_connections_opened_at_once_are_spread_over_the_workers(serve: Served) -> None:
    """As a load tester opens them: 32 connections at once, then one request on each. Each
    worker answers with its own request-id prefix; both must have a fair share (a hash split
    of 32 gives one of them fewer than 5 about once in 50,000 runs; on one shared socket the
    first worker awake took nearly all: 31/1, 4/28, 32/0)."""
    import socket

    host, port = serve.base.removeprefix("http://").rsplit(":", 1)
    wait_until(lambda: _listening_sockets(int(port)) == 2, timeout=30)  # each worker its own
    body = b"{}"
    request = (
        b"POST /kplus/payment/inquire-token HTTP/1.1\r\nHost: " + host.encode() + b"\r\n"
        b"Content-Type: application/json\r\nContent-Length: 2\r\n\r\n" + body
    )
    conns = [socket.create_connection((host, int(port)), timeout=15) for _ in range(32)]
    try:
        for c in conns:
            c.sendall(request)
        prefixes: list[str] = []
        for c in conns:
            answer = b""
            while b"\r\n\r\n" not in answer:
                chunk = c.recv(65536)
                assert chunk, answer
                answer += chunk
            m = re.search(rb"x-sandbox-request-id: (req_[0-9a-f]{10})", answer, re.I)
            assert m is not None and answer.startswith(b"HTTP/1.1 400"), answer
            prefixes.append(m.group(1).decode())
    finally:
        for c in conns:
            c.close()
    counts = sorted(prefixes.count(p) for p in set(prefixes))
    assert len(counts) == 2 and counts[0] >= 5, counts


def test_a_second_server_on_the_same_port_is_refused(serve: Served, fresh_db_url: str) -> None:
    """The workers' sockets carry ``SO_REUSEPORT``, which would let a second server of the same
    user listen beside them and take a share of their connections: it is refused instead,
    with or without ``--workers``, and the first one keeps every connection."""
    port = serve.base.rsplit(":", 1)[1]
    for extra in (["--workers", "2"], []):
        cmd = [str(BIN), "serve", *extra, "--port", port, "--db", fresh_db_url]
        second = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            out, _ = second.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(second.pid, signal.SIGKILL)  # its workers too (they hold the pipe)
            second.communicate()
            raise AssertionError(f"a second server started on port {port} ({extra})") from None
        assert second.returncode != 0, out
        assert b"the port is already in use" in out, out
    with serve.client() as c:
        assert c.get("/_sandbox/clock").status_code == 200


def test_the_workers_share_one_servers_postgresql_pool_unless_told() -> None:
    """``--workers N`` without ``server.pg_pool_size``: each worker pools PG_POOL_SIZE / N
    connections (at least MIN_WORKER_POOL), so a few workers open about as many as one
    server; a configured size is each worker's own."""
    from paysandbox import workers
    from paysandbox.settings import Settings
    from paysandbox.store.db import PG_POOL_SIZE

    assert PG_POOL_SIZE == 16
    sizes = {n: workers.worker_settings(Settings(), n).pg_pool_size for n in (1, 2, 3, 4, 8)}
    assert sizes == {1: 16, 2: 8, 3: 5, 4: 4, 8: workers.MIN_WORKER_POOL}
    told = Settings(pg_pool_size=3, port=9999)
    assert workers.worker_settings(told, 2) is told
    shared = workers.worker_settings(Settings(port=9999, db_url="postgresql://x/y"), 2)
    assert (shared.port, shared.db_url) == (9999, "postgresql://x/y")  # the rest as given


def test_workers_stop_when_the_parent_is_killed(serve: Served) -> None:
    """``kill -9`` of the parent: its workers stop too (they went on serving and sending
    callbacks as orphans, and a restart found the port taken)."""
    import os

    workers = _workers_of(serve.proc.pid)
    assert len(workers) == 2
    serve.proc.kill()
    serve.proc.wait(timeout=30)

    def gone() -> bool:
        for pid in workers:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                continue
            return False
        return True

    wait_until(gone, timeout=30)


@pytest.mark.parametrize(
    ("workers", "how", "status"),
    [
        (1, signal.SIGTERM, -signal.SIGTERM),
        (2, signal.SIGTERM, -signal.SIGTERM),
        (2, signal.SIGINT, 130),
    ],
)
def test_a_signal_ends_any_number_of_workers_the_same_way(
    fresh_db_url: str, tmp_path: Path, workers: int, how: signal.Signals, status: int
) -> None:
    """SIGTERM: ``--workers 1`` dies of it (uvicorn re-raises it), and so does ``--workers N``
    once its workers are gone (it exited 0); Ctrl-C (SIGINT to the process group) is 130 for
    both. The ready file is removed either way, and nothing prints a traceback."""
    ready = tmp_path / "ready"
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                *(str(BIN), "serve", "--workers", str(workers), "--port", "0"),
                *("--db", fresh_db_url, "--log-level", "warning", "--ready-file", str(ready)),
            ],
            cwd=tmp_path,
            env=child_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, as a terminal's foreground job
        )
    try:
        wait_until(lambda: proc.poll() is not None or ready.exists(), timeout=60)
        assert proc.poll() is None, log.read_text()
        if workers > 1:
            wait_until(lambda: len(_workers_of(proc.pid)) == workers, timeout=30)
            base = dict(p.split("=", 1) for p in ready.read_text().split()[2:])["url"]
            wait_until(lambda: _answers(base), timeout=60)
        if how == signal.SIGINT:
            os.killpg(proc.pid, how)
        else:
            proc.send_signal(how)
        assert proc.wait(timeout=60) == status, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not ready.exists()
    assert "Traceback" not in log.read_text(), log.read_text()


def _answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/_sandbox/clock", timeout=2).status_code == 200
    except httpx.TransportError:
        return False
