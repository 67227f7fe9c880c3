"""``paysandbox serve --workers N``: N server processes on one port, one sandbox.

The parent migrates and seeds the database once (``create_app``), binds the socket once (so
``--port 0`` picks one free port that every worker shares), prints the banner, then starts N
worker processes (``spawn``) that each build the app and serve. On Linux the first worker
serves on the parent's socket and every other one listens on the same address with a socket
of its own (``SO_REUSEPORT``, set on all of them): the kernel then hands each new connection
to one socket by a hash of its addresses, so a burst of connections is spread over the
workers. On one shared socket it was not: every idle worker is woken, and the first takes
what is queued — 32 connections opened at once by ``wrk`` split 31/1, 4/28, 1/31, 2/30 and
32/0 between two workers (five runs, 2026-11-28), so one core served nearly all of them.
Connections that arrive before the other workers listen wait on the first socket, as they
did on the shared one. Elsewhere, one shared socket, as before.

Every worker is a full server (its own delivery sender included): they share nothing but the
database, which is what already makes several servers one sandbox — the clock is a row, races
are settled by conditional updates and ``ON CONFLICT`` claims, and delivery claims are
exclusive (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite).

SIGINT/SIGTERM stop the workers (each finishes its requests) and then the parent, which ends
as one server does: Ctrl-C (SIGINT) with status 130, SIGTERM by dying of SIGTERM once it has
cleaned up (uvicorn re-raises the signal it stopped on; the parent exited 0 instead, so a
supervisor saw two different ends of the same stop). When a worker dies on its own, the others
are stopped too and the parent exits with status 1: a sandbox that quietly lost a worker would
be harder to notice than one that stopped.

On PostgreSQL the workers share one server's pool of connections (``store.db.PG_POOL_SIZE``,
16) unless ``server.pg_pool_size`` says how many each one pools (``worker_settings``). With
16 each, ``--workers 8`` could open 128 connections plus a journal writer's and a start-up
one each, past PostgreSQL's default ``max_connections`` of 100; under ``wrk -c64`` two
workers held 36 where they now hold 18 (2 × 8 and a journal writer's each; the start-up one
is closed once the app is built). Throughput did not move beyond the noise
(docs/design.md).
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import multiprocessing.connection
import signal
import socket
import sys
import threading
from collections.abc import Callable
from typing import Any

from .settings import Settings
from .store.db import PG_POOL_SIZE

log = logging.getLogger("paysandbox")


#: Does the kernel spread connections over sockets that share a port (``SO_REUSEPORT``)?
#: Linux does, by a hash; other systems either lack the option or give them all to one socket.
BALANCED = sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")
BACKLOG = 2048
#: The fewest PostgreSQL connections a worker pools when the pool is shared out.
MIN_WORKER_POOL = 4


class Terminated(BaseException):
    """SIGTERM stopped the workers: raised once they are gone, so that the caller cleans up
    (the ready file) and then dies of SIGTERM itself, as ``serve --workers 1`` does (``cli``).
    A ``BaseException``, as ``KeyboardInterrupt`` is for SIGINT: no ``except Exception`` on
    the way may take it for an error."""


def worker_settings(settings: Settings, workers: int) -> Settings:
    """What each of ``workers`` processes runs with: the configured settings, with the
    PostgreSQL pool shared out between them when none was configured."""
    if settings.pg_pool_size is not None:
        return settings
    return dataclasses.replace(
        settings, pg_pool_size=max(MIN_WORKER_POOL, PG_POOL_SIZE // max(workers, 1))
    )


def check_free(family: int, address: Any) -> None:
    """Raise ``EADDRINUSE`` when something listens on ``address``. A socket bound with
    ``SO_REUSEPORT`` would otherwise join another server of the same user that listens there
    with it (a second ``serve --workers`` on the same port) and share its connections; a
    plain bind, as this probe's, is refused instead. (Port 0 needs no probe: the kernel never
    picks a port someone holds.)"""
    probe = socket.socket(family, socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(address)
    finally:
        probe.close()


def _balanced(sock: socket.socket) -> bool:
    """Can other workers listen beside ``sock`` (it was bound with ``SO_REUSEPORT``)?"""
    return BALANCED and bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT))


def _listen_beside(family: int, address: Any) -> socket.socket:
    """A worker's own listening socket on the parent's address (``SO_REUSEPORT``)."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock


def serve(
    settings: Settings,
    workers: int,
    uvicorn_options: dict[str, Any],
    announce: Callable[[Settings, list[str]], None],
    *,
    sock: socket.socket,
) -> int:
    """Run ``workers`` processes on ``sock`` (``startup.bind``'s, with ``reuse_port``); the
    exit status."""
    from .app import create_app

    sock.set_inheritable(True)
    settings.port = int(sock.getsockname()[1])  # the real port when --port 0 was asked for
    app = create_app(settings)  # migrate and seed once, before any worker starts
    app.state.sandbox.ctx.db.close()
    announce(settings, app.state.sandbox.banner_lines())
    del app

    ctx = multiprocessing.get_context("spawn")
    # the first worker serves on our socket; the others beside it, where the kernel balances
    own = _balanced(sock)
    where = (int(sock.family), sock.getsockname())
    each = worker_settings(settings, workers)
    procs = [
        ctx.Process(
            target=_worker,
            args=(each, None if own and n else sock, where, uvicorn_options),
            name=f"paysandbox-worker-{n}",
            daemon=False,
        )
        for n in range(workers)
    ]
    stop = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, frame: object) -> None:
        received.append(signum)
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
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        sock.close()
    if status == 0 and received:  # stopped on a signal: end as a single server does
        if received[0] == signal.SIGINT:
            raise KeyboardInterrupt
        raise Terminated
    return status


def _worker(
    settings: Settings,
    sock: socket.socket | None,
    where: tuple[int, Any],
    uvicorn_options: dict[str, Any],
) -> None:
    """One worker: serves on ``sock``, or (None) on a socket of its own at ``where`` (the
    parent socket's family and address), beside the others."""
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
    if sock is None:  # listen only once the app is built: until then the others take all
        sock = _listen_beside(*where)
    config = uvicorn.Config(app, **uvicorn_options, **limits.uvicorn_options(settings))
    server = uvicorn.Server(config)
    _stop_with_the_parent(server)
    server.run(sockets=[sock])
    sys.exit(0)


def _stop_with_the_parent(server: Any) -> None:
    """A worker whose parent is gone (``kill -9``) stops, gracefully, as on SIGTERM: orphaned
    workers went on serving and sending callbacks, and a restart found the port taken."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        server.should_exit = True  # uvicorn's own graceful stop: answers finish, lifespan ends

    threading.Thread(target=watch, daemon=True, name="paysandbox-parent-watch").start()
