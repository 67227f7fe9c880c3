"""``paysandbox serve --workers N``: N server processes on one listening socket, one sandbox.

The parent migrates and seeds the database once (``create_app``), binds the socket once (so
``--port 0`` picks one free port that every worker shares), prints the banner, then starts N
worker processes (``spawn``) that each build the app and serve on the inherited socket; the
kernel hands each new connection to one of them. Every worker is a full server (its own
delivery sender included): they share nothing but the database, which is what already makes
several servers one sandbox — the clock is a row, races are settled by conditional updates
and ``ON CONFLICT`` claims, and delivery claims are exclusive (``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite).

SIGINT/SIGTERM stop the workers (each finishes its requests) and then the parent. When a worker
dies on its own, the others are stopped too and the parent exits with status 1: a sandbox that
quietly lost a worker would be harder to notice than one that stopped.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import sys
import threading
from collections.abc import Callable
from typing import Any

from .settings import Settings

log = logging.getLogger("paysandbox")


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound once in the parent and inherited by every worker."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve(
    settings: Settings,
    workers: int,
    uvicorn_options: dict[str, Any],
    announce: Callable[[Settings, list[str]], None],
    *,
    sock: socket.socket | None = None,
) -> int:
    """Run ``workers`` processes on ``sock`` (bound here when not given); the exit status."""
    from .app import create_app

    if sock is None:
        sock = bind(settings.host, settings.port)
    sock.set_inheritable(True)
    settings.port = int(sock.getsockname()[1])  # the real port when --port 0 was asked for
    app = create_app(settings)  # migrate and seed once, before any worker starts
    app.state.sandbox.ctx.db.close()
    announce(settings, app.state.sandbox.banner_lines())
    del app

    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(
            target=_worker,
            args=(settings, sock, uvicorn_options),
            name=f"paysandbox-worker-{n}",
            daemon=False,
        )
        for n in range(workers)
    ]
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        for p in procs:
            p.start()
        status = 0
        while not stop.wait(0.2):
            if any(p.exitcode is not None for p in procs):
                log.error("a worker process exited; stopping the others")
                status = 1
                break
        for p in procs:
            if p.exitcode is None and p.pid is not None:
                p.terminate()  # SIGTERM: uvicorn's graceful shutdown in the worker
        for p in procs:
            p.join(timeout=30)
            if p.exitcode is None:
                p.kill()
                p.join()
        return status
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        sock.close()


def _worker(settings: Settings, sock: socket.socket, uvicorn_options: dict[str, Any]) -> None:
    import uvicorn

    from .app import create_app

    logging.basicConfig(
        level=str(uvicorn_options.get("log_level", "info")).upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides; SIGTERM stops us
    from .security import limits

    app = create_app(settings)
    config = uvicorn.Config(app, **uvicorn_options, **limits.uvicorn_options(settings))
    server = uvicorn.Server(config)
    server.run(sockets=[sock])
    sys.exit(0)
