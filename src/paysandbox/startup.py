"""``paysandbox serve`` from parsed flags to a listening server, explaining every mistake.

Order, so that nothing claims to listen before it can:

1. check the flags that need no I/O (``--log-level``, the ``--db`` scheme, a SQLite file's
   folder) and build the settings (flags over the config file);
2. bind the listening socket ourselves (``--port 0`` picks a free port, and the banner shows
   the real one; a port in use is one line, not a traceback after a "listening" banner);
3. reach PostgreSQL (a short connect with a timeout), then migrate and open the database;
4. print the banner, hand the bound socket to uvicorn, and once it accepts connections print
   ``paysandbox ready url=http://HOST:PORT pid=PID`` on stdout and write the same line to
   ``--ready-file`` (atomically: a temporary file renamed into place; removed at exit).

Every failure before the banner is ONE line on stderr, ``paysandbox: …``, and a non-zero exit:
2 for a wrong flag or config value, 1 for an environment problem (port taken, database
unreachable or unusable). Heavy modules (uvicorn, the app, SQLAlchemy) are imported only once
the cheap checks passed; SQLAlchemy and Alembic only when the schema needs a migration.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import os
import re
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import workers

if TYPE_CHECKING:
    from .settings import Settings

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
USAGE, ENVIRONMENT = 2, 1

log = logging.getLogger("paysandbox")


class StartupError(Exception):
    """A start-up mistake: its message is the one line printed, ``code`` the exit status."""

    def __init__(self, message: str, code: int = USAGE) -> None:
        super().__init__(message)
        self.code = code


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("paysandbox")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


def add_flags(serve: argparse.ArgumentParser) -> None:
    serve.add_argument(
        "--ready-file",
        metavar="PATH",
        help="once listening, write 'paysandbox ready url=… pid=…' to PATH (atomically)",
    )


def check_log_level(level: str) -> str:
    if level.lower() not in LOG_LEVELS:
        raise StartupError(f"--log-level {level!r} is not one of {', '.join(LOG_LEVELS)}")
    return level.lower()


_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")


#: ``--workers`` at most (each is a server process with its own journal writer and pool).
MAX_WORKERS = 64


def check_db_url(url: str) -> None:
    """``sqlite:///path`` (or a bare path) whose folder exists, or ``postgresql://…``."""
    if url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        return
    m = _SCHEME.match(url)
    if m and m.group(1).lower() != "sqlite" and len(m.group(1)) > 1:  # "C:" is a drive
        raise StartupError(
            f"--db {safe_url(url)}: unsupported database {m.group(1)!r}; "
            "use sqlite:///PATH or postgresql://USER@HOST/DB"
        )
    from .store.base import sqlite_path

    path = sqlite_path(url)
    if path == ":memory:":
        raise StartupError("--db: an in-memory SQLite database cannot be shared; use a file")
    folder = Path(path).absolute().parent
    if not folder.is_dir():
        raise StartupError(f"--db {url}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise StartupError(f"--db {url}: folder {folder} is not writable", ENVIRONMENT)


def bind(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: a free one). ``reuse_port``: open to
    ``SO_REUSEPORT`` (``--workers``: each worker then listens on the same port with a socket
    of its own, and the kernel spreads connections over them; see ``workers.py``)."""
    if not 0 <= port <= 65535:
        raise StartupError(f"--port {port} is not between 0 and 65535")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise StartupError(f"--host {host!r}: {exc.strerror}", ENVIRONMENT) from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        if os.name != "nt":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port and workers.BALANCED:
            if port:  # taken by anyone, another paysandbox's SO_REUSEPORT workers included?
                workers.check_free(family, address)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        sock.listen(workers.BACKLOG)
    except OSError as exc:
        sock.close()
        where = f"{host}:{port}"
        if exc.errno == errno.EADDRINUSE:
            raise StartupError(
                f"cannot listen on {where}: the port is already in use "
                "(another paysandbox? pick another --port, or --port 0 for a free one)",
                ENVIRONMENT,
            ) from None
        raise StartupError(f"cannot listen on {where}: {exc.strerror}", ENVIRONMENT) from None
    sock.setblocking(False)
    return sock


_PASSWORD_PARAM = re.compile(r"(?i)([?&]password=)[^&#]*")


def safe_url(url: str) -> str:
    """A database URL without its password: the user-info's (``u:pw@``) and a libpq
    ``?password=`` parameter's (which the banner and the start-up errors printed)."""
    m = re.match(r"^([^:/]+://)([^@/]*)@(.*)$", url)
    if m:
        url = f"{m.group(1)}{m.group(2).split(':', 1)[0]}@{m.group(3)}"
    return _PASSWORD_PARAM.sub(r"\1***", url)


def without_password(text: str, url: str) -> str:
    """``text`` (a driver's message) with the URL it may repeat, and its password, hidden."""
    text = text.replace(url, safe_url(url))
    m = re.match(r"^[^:/]+://[^:@/]*:([^@/]*)@", url)
    if m and m.group(1):
        text = text.replace(m.group(1), "***")
    for found in re.finditer(r"(?i)[?&]password=([^&#]*)", url):
        if found.group(1):
            text = text.replace(found.group(1), "***")
    return text


def _one_line(exc: BaseException) -> str:
    text = " ".join(part.strip() for part in str(exc).splitlines() if part.strip())
    return text or type(exc).__name__


def check_postgres(url: str, timeout_seconds: int = 5) -> None:
    if not url.startswith(("postgresql", "postgres")):
        return
    import psycopg

    from .store.base import libpq_url

    try:
        with psycopg.connect(libpq_url(url), connect_timeout=timeout_seconds):
            pass
    except psycopg.Error as exc:
        raise StartupError(
            f"cannot reach PostgreSQL at {safe_url(url)}: {without_password(_one_line(exc), url)}",
            ENVIRONMENT,
        ) from None


def _remove_stale_ready_file(target: Path) -> None:
    """Remove a ready file left by a server that is gone (``kill -9``): it must not announce
    this one before it is ready. One whose ``pid=`` still runs is left alone: that server is
    up, and this start will either fail (its port) or replace the file once ready."""
    try:
        text = target.read_text("utf-8", errors="replace")
    except OSError:
        return
    m = re.search(r"\bpid=(\d{1,9})\b", text)
    if m:
        try:
            os.kill(int(m.group(1)), 0)
            return  # alive (or not ours to signal): leave it
        except ProcessLookupError:
            pass
        except OSError:
            return
    with contextlib.suppress(OSError):
        target.unlink()


def write_ready_file(path: str, line: str) -> None:
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(line + "\n", "utf-8")
    os.replace(tmp, target)


def serve(
    args: argparse.Namespace,
    build_settings: Callable[[argparse.Namespace], Settings],
    banner: Callable[[Settings, Sequence[str]], str],
) -> int:
    """Run ``paysandbox serve``; the exit status."""
    from .settings import ConfigError

    sock: socket.socket | None = None
    try:
        level = check_log_level(args.log_level)
        logging.basicConfig(
            level=level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
        )
        logging.getLogger("alembic").setLevel(logging.WARNING)  # migrations log only problems
        try:
            settings = build_settings(args)
            if not 1 <= args.workers <= MAX_WORKERS:
                raise ConfigError(f"--workers wants a number from 1 to {MAX_WORKERS}")
        except ConfigError as exc:
            raise StartupError(str(exc)) from None
        from .security import guard, limits

        generated = guard.ensure_control_token(settings)
        check_db_url(settings.db_url)
        if args.ready_file:
            args.ready_file = os.path.expanduser(args.ready_file)  # as --db and --config
            # checked, not removed: a start that fails (the port in use) must not delete the
            # ready file of the server already running there; writing it replaces it atomically
            target = Path(args.ready_file).absolute()
            if not target.parent.is_dir():
                raise StartupError(f"--ready-file {args.ready_file}: its folder does not exist")
            if target.is_dir():
                raise StartupError(f"--ready-file {args.ready_file}: is a folder")
            if not os.access(target.parent, os.W_OK):
                raise StartupError(
                    f"--ready-file {args.ready_file}: its folder is not writable", ENVIRONMENT
                )
            _remove_stale_ready_file(target)
        sock = bind(settings.host, settings.port, reuse_port=args.workers > 1)
        settings.port = sock.getsockname()[1]
        check_postgres(settings.db_url)
        from .app import create_app

        try:
            app = create_app(settings)
        except ConfigError as exc:  # e.g. a [[faults]] entry: a config value, not the database
            raise StartupError(f"config: {exc}") from None
        except Exception as exc:
            log.debug("database start-up failed", exc_info=True)
            raise StartupError(
                f"cannot open the database {safe_url(settings.db_url)}: {_one_line(exc)}",
                ENVIRONMENT,
            ) from None
    except StartupError as exc:
        if sock is not None:
            sock.close()
        print(f"paysandbox: {exc}", file=sys.stderr, flush=True)
        return exc.code

    def announce(s: Settings, lines: Sequence[str]) -> None:
        print(banner(s, lines), flush=True)
        if generated:  # printed once, here, never logged
            print(
                f"control token {generated}\n"
                "           (generated: the server is not on loopback; give "
                "--control-token or PAYSANDBOX_CONTROL_TOKEN to choose it)",
                flush=True,
            )

    limits.raise_descriptor_limit()
    ready = f"paysandbox ready url={settings.base_url} pid={os.getpid()}"
    options: dict[str, Any] = {
        "loop": "uvloop" if sys.platform != "win32" else "asyncio",
        "access_log": settings.access_log,
        "log_level": level,
        "server_header": False,
        "date_header": False,
    }
    try:
        if args.workers > 1:
            app.state.sandbox.ctx.db.close()
            del app

            def announce_ready(s: Settings, lines: Sequence[str]) -> None:
                announce(s, lines)
                if args.ready_file:
                    write_ready_file(args.ready_file, ready)
                print(ready, flush=True)

            return workers.serve(settings, args.workers, options, announce_ready, sock=sock)
        announce(settings, app.state.sandbox.banner_lines())
        options.update(limits.uvicorn_options(settings))
        _run(app, sock, options, ready, args.ready_file)
    finally:
        if args.ready_file:
            with contextlib.suppress(OSError):
                Path(args.ready_file).unlink(missing_ok=True)
    return 0


def _run(
    app: object,
    sock: socket.socket,
    options: dict[str, Any],
    ready: str,
    ready_file: str | None,
) -> None:
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started:
                if ready_file:
                    write_ready_file(ready_file, ready)
                print(ready, flush=True)

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            # uvicorn re-raises SIGTERM/SIGINT after shutting down, so clean up here.
            if ready_file:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(ready_file)
            await super().shutdown(sockets)

    config = uvicorn.Config(app, **options)  # type: ignore[arg-type]
    Server(config).run(sockets=[sock])
