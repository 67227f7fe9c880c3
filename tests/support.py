"""Test support: a real paysandbox server on loopback, and a scriptable callback receiver.

``LiveServer`` runs ``create_app(settings)`` under uvicorn in a background thread, so tests
speak real HTTP to the real app. ``Receiver`` is a threaded HTTP server that records every
request and answers from a script (e.g. 500, 500, then 200 with a K PLUS "00" body).
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import uvicorn

from paysandbox.app import create_app
from paysandbox.delivery.outbox import RetryPolicy
from paysandbox.security.limits import uvicorn_options
from paysandbox.settings import Settings

BACKEND = os.environ.get("PAYSANDBOX_TEST_DB", "sqlite")
KPLUS_ID = "PTR1902369"
KPLUS_SECRET = "7da57c4eb242435fa3e91bb7a69e2a28"


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a child process in another working directory: ``$PYTHONPATH``
    made absolute (``PYTHONPATH=src`` from a worktree would otherwise find the installed
    checkout's code in the child), plus ``extra``."""
    parts = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    path = os.pathsep.join(os.path.abspath(p) for p in parts if p)
    return {**os.environ, **({"PYTHONPATH": path} if path else {}), **extra}


def is_postgres() -> bool:
    return BACKEND.startswith("postgres")


def pg_schema_url(base: str, schema: str) -> str:
    """``base`` with ``search_path`` set to ``schema`` (each test run gets its own schema)."""
    parts = urlsplit(base)
    query = f"options=-csearch_path%3D{schema}"
    return urlunsplit(parts._replace(query=f"{parts.query}&{query}" if parts.query else query))


def new_pg_schema(base: str) -> tuple[str, str]:
    import psycopg

    schema = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(base, autocommit=True) as c:
        c.execute(f"CREATE SCHEMA {schema}")
    return schema, pg_schema_url(base, schema)


def drop_pg_schema(base: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(base, autocommit=True) as c:
        c.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def count_rows(db_url: str, queries: dict[str, tuple[str, tuple[Any, ...]]]) -> dict[str, int]:
    """``{name: (SELECT COUNT(*) AS n …, args)}`` → ``{name: n}``, read straight from the
    database (to check what a request left behind, beyond what the API shows)."""
    from paysandbox.store.db import open_database

    db = open_database(db_url)
    try:
        return db.write_sync(
            lambda c: {k: int(c.one(sql, *args)["n"]) for k, (sql, args) in queries.items()}
        )
    finally:
        db.close()


def test_settings(db_url: str, **overrides: Any) -> Settings:
    s = Settings(
        db_url=db_url,
        port=0,
        retry=RetryPolicy(schedule=(10, 60, 300), max_attempts=4, timeout_seconds=3),
        delivery_poll_seconds=0.05,
    )
    for k, v in overrides.items():
        setattr(s, k, v)
    return s


test_settings.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


class LiveServer:
    """The real ASGI app under uvicorn on 127.0.0.1:<free port>, in a thread."""

    def __init__(self, settings: Settings, log_level: str = "warning", **app_kwargs: Any) -> None:
        self.settings = settings
        self.app = create_app(settings, **app_kwargs)
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=0,
            log_level=log_level,
            access_log=settings.access_log,
            lifespan="on",
            loop="asyncio",
            **uvicorn_options(settings),  # the served protocol: httptools with limits
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("paysandbox test server did not start")
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=30)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Records requests; answers with ``script`` in order, then with ``default`` forever."""

    default: tuple[int, bytes] = (200, b'{"statusCode":"00"}')
    script: list[tuple[int, bytes]] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    on_request: Callable[[Received], None] | None = None

    def start(self) -> Receiver:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                got = Received(
                    "POST", self.path, dict(self.headers.items()), self.rfile.read(length)
                )
                with outer._lock:
                    outer.requests.append(got)
                    status, body = outer.script.pop(0) if outer.script else outer.default
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def wait_for(self, n: int, timeout: float = 10) -> list[Received]:
        """Wait (real time, for the background sender) until ``n`` requests arrived."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.requests) >= n:
                    return list(self.requests)
            time.sleep(0.02)
        raise AssertionError(f"receiver got {len(self.requests)} requests, expected {n}")


def wait_until(predicate: Callable[[], Any], timeout: float = 10, interval: float = 0.02) -> Any:
    """Poll ``predicate`` until truthy: for work done by background tasks, never sandbox time."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)


def wait_settled(client: httpx.Client, timeout: float = 10) -> None:
    """Wait until no delivery is in flight: every attempt the merchant has seen is recorded
    and its retry scheduled. Call it between ``receiver.wait_for`` and a clock advance, or the
    advance can land before the retry is scheduled and push it further out."""

    def idle() -> bool:
        r = client.get("/_sandbox/deliveries", params={"limit": 1000})
        return not any(d["inFlight"] for d in r.json()["deliveries"])

    wait_until(idle, timeout)


class Recording:
    """A storage connection (``paysandbox.store.db.Conn``) that notes every statement run
    through it, to look at the plans the code's own SQL gets."""

    def __init__(self, conn: Any) -> None:
        self.conn, self.dialect = conn, conn.dialect
        self.seen: list[tuple[str, tuple[Any, ...]]] = []

    def one(self, sql: str, *args: Any) -> Any:
        self.seen.append((sql, args))
        return self.conn.one(sql, *args)

    def all(self, sql: str, *args: Any) -> Any:
        self.seen.append((sql, args))
        return self.conn.all(sql, *args)

    def exec(self, sql: str, *args: Any) -> int:
        self.seen.append((sql, args))
        return int(self.conn.exec(sql, *args))
