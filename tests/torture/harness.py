"""What the torture scenarios share: real ``paysandbox serve`` processes (killed with SIGKILL
when a scenario says so), a callback receiver that notices overlapping requests for one
delivery, and the table the results are printed as."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from ..support import drop_pg_schema, new_pg_schema

BIN = Path(sys.executable).parent / "paysandbox"
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"


def pg_base() -> str:
    """The PostgreSQL server the suite uses (each scenario in a schema of its own)."""
    env = os.environ.get("PAYSANDBOX_TEST_DB", "")
    if env.startswith("postgres"):
        return env
    return os.environ.get("PAYSANDBOX_PG_URL", PG_DEFAULT)


@contextmanager
def database(kind: str, workdir: Path, name: str) -> Iterator[str]:
    """A fresh database URL: a new SQLite file, or a new PostgreSQL schema (dropped after)."""
    if kind == "sqlite":
        yield f"sqlite:///{workdir / (name + '.db')}"
        return
    base = pg_base()
    schema, url = new_pg_schema(base)
    try:
        yield url
    finally:
        drop_pg_schema(base, schema)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Result:
    """One line of the table: what ran, what was checked, and the failures (all must be 0)."""

    scenario: str
    db: str
    ran: dict[str, int]
    failures: dict[str, int]
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(self.failures.values())


def table(results: list[Result]) -> str:
    rows = [("scenario", "db", "what ran (counts)", "failures (must all be 0)", "s")]
    for r in results:
        ran = ", ".join(f"{k} {v:,}" for k, v in r.ran.items())
        bad = ", ".join(f"{k} {v}" for k, v in r.failures.items())
        rows.append((r.scenario, r.db, ran, bad, f"{r.seconds:.0f}"))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = []
    for n, row in enumerate(rows):
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
        if n == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


# ------------------------------------------------------------------ server processes


class Server:
    """``paysandbox serve`` in a subprocess with a TOML config of the scenario's choosing."""

    def __init__(
        self, db_url: str, workdir: Path, config: str = "", args: tuple[str, ...] = ()
    ) -> None:
        self.db_url = db_url
        self.workdir = workdir
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.config = workdir / f"cfg-{self.port}.toml"
        self.config.write_text(config)
        self.log = workdir / f"server-{self.port}.log"
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None

    def launch(self) -> Server:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    str(BIN),
                    "serve",
                    "--port",
                    str(self.port),
                    "--db",
                    self.db_url,
                    "--config",
                    str(self.config),
                    "--log-level",
                    "warning",
                    *self.args,
                ],
                cwd=self.workdir,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return self

    def wait_up(self, timeout: float = 60) -> bool:
        """True once the server answers; False if it exited or did not answer in time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                return False
            try:
                if httpx.get(f"{self.base}/_sandbox/clock", timeout=2).status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        return False

    def start(self, timeout: float = 60) -> Server:
        self.launch()
        if not self.wait_up(timeout):
            raise RuntimeError(f"server did not start:\n{self.tail()}")
        return self

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill9()

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base, timeout=30)


@contextmanager
def servers(n: int, db_url: str, workdir: Path, config: str = "") -> Iterator[list[Server]]:
    """``n`` processes on one database, started one after another (the first migrates)."""
    started: list[Server] = []
    try:
        for _ in range(n):
            started.append(Server(db_url, workdir, config).start())
        yield started
    finally:
        for s in started:
            s.stop()


# ------------------------------------------------------------------ callback receiver


@dataclass
class Hit:
    key: str
    path: str
    start: float
    end: float = 0.0
    answered: int | None = None  # HTTP status sent back; None = connection dropped


class TortureReceiver:
    """A threaded merchant endpoint. ``behave(key, path, n)`` picks, for the n-th request of a
    delivery (its key, e.g. the tokenId), ``(delay_seconds, status)``; status ``0`` drops the
    connection without an answer. Every request is kept with its start and end time, so two
    requests for one delivery that overlap in time are caught."""

    def __init__(self, behave: Callable[[str, str, int], tuple[float, int]], key_field: str):
        self.behave = behave
        self.key_field = key_field
        self.hits: list[Hit] = []
        self._lock = threading.Lock()
        self._open: dict[str, int] = {}
        self.overlaps = 0
        self.overlapping_keys: set[str] = set()

    def start(self) -> TortureReceiver:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                import json

                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                try:
                    key = str(json.loads(raw)[outer.key_field])
                except Exception:
                    key = raw.decode(errors="replace")[:80]
                hit = Hit(key, self.path, time.monotonic())
                with outer._lock:
                    n = sum(1 for h in outer.hits if h.key == key)
                    outer.hits.append(hit)
                    if outer._open.get(key, 0) > 0:
                        outer.overlaps += 1
                        outer.overlapping_keys.add(key)
                    outer._open[key] = outer._open.get(key, 0) + 1
                try:
                    delay, status = outer.behave(key, self.path, n)
                    if delay:
                        time.sleep(delay)
                    if status == 0:
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    body = b'{"statusCode":"00"}' if status == 200 else b'{"statusCode":"99"}'
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    hit.answered = status
                except OSError:
                    pass
                finally:
                    hit.end = time.monotonic()
                    with outer._lock:
                        outer._open[key] -= 1

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def in_flight(self) -> int:
        with self._lock:
            return sum(self._open.values())

    def successes(self) -> dict[str, int]:
        out: dict[str, int] = {}
        with self._lock:
            for h in self.hits:
                if h.answered == 200:
                    out[h.key] = out.get(h.key, 0) + 1
        return out

    def requests_per_key(self) -> dict[str, int]:
        out: dict[str, int] = {}
        with self._lock:
            for h in self.hits:
                out[h.key] = out.get(h.key, 0) + 1
        return out


def jitter(lo: float, hi: float) -> float:
    return random.uniform(lo, hi)
