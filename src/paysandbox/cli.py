"""``paysandbox serve [--host] [--port] [--db URL] [--config FILE] …``.

Flags → ``Settings`` → ``create_app`` → uvicorn; nothing else happens here.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from collections.abc import Sequence

from . import ctl, startup, workers
from .config import check_public_url, load
from .config import control_token as check_token
from .delivery.policy import OutboundPolicy
from .providers import REGISTERED
from .settings import ConfigError, Settings
from .store.base import sqlite_url

TOKEN_ENV = "PAYSANDBOX_CONTROL_TOKEN"  # noqa: S105 - the variable's name


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="paysandbox", description="Stateful payment-gateway sandbox")
    p.add_argument("--version", action="version", version=f"paysandbox {startup.version()}")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run the sandbox server")
    s.add_argument("--host", help="address to bind (default 127.0.0.1)")
    s.add_argument("--port", type=int, help="port (default 8080)")
    s.add_argument("--db", help="sqlite:///path (default ./paysandbox.db) or postgresql://…")
    s.add_argument("--config", help="TOML config file (flags override it)")
    s.add_argument("--public-url", help="base URL for pages and links (default http://host:port)")
    s.add_argument(
        "--sqlite-synchronous",
        choices=["NORMAL", "FULL"],
        help="NORMAL: survives a crash (default); FULL: also a power loss",
    )
    for provider in REGISTERED:
        provider.add_arguments(s)
    s.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="server processes sharing the port and the database (default 1)",
    )
    s.add_argument("--no-journal", action="store_true", help="do not keep the request journal")
    s.add_argument(
        "--journal-max-entries", type=int, metavar="N", help="journal cap by count (10000)"
    )
    s.add_argument(
        "--journal-max-age", type=float, metavar="SECONDS", help="journal cap by age (86400)"
    )
    s.add_argument("--no-demo", action="store_true", help="do not seed the demo credentials")
    sec = s.add_argument_group("security (README: Security)")
    sec.add_argument(
        "--control-token",
        help="token the /_sandbox/ control plane requires (env PAYSANDBOX_CONTROL_TOKEN); "
        "generated at start when binding a non-loopback address without one",
    )
    sec.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a Host name to serve besides loopback, the bound address and --public-url "
        "(repeatable; .example.com = the domain and its subdomains; * = any)",
    )
    sec.add_argument(
        "--outbound-deny",
        action="append",
        default=[],
        metavar="CIDR|HOST",
        help="never send callbacks there (repeatable; link-local/metadata always refused)",
    )
    sec.add_argument(
        "--outbound-allow",
        action="append",
        default=[],
        metavar="CIDR|HOST",
        help="send callbacks only there (repeatable)",
    )
    sec.add_argument("--header-timeout", type=float, metavar="S", help="default 10")
    sec.add_argument("--body-timeout", type=float, metavar="S", help="default 10")
    sec.add_argument("--keep-alive-timeout", type=float, metavar="S", help="default 5")
    sec.add_argument("--max-connections", type=int, metavar="N", help="default 4096")
    sec.add_argument(
        "--control-token-attempts",
        type=int,
        metavar="N",
        help="wrong control tokens allowed per client address a minute (default 10; 0: no limit)",
    )
    s.add_argument("--access-log", action="store_true", help="log every request line")
    s.add_argument("--log-level", default="info", help="critical|error|warning|info|debug")
    startup.add_flags(s)
    ctl.add_commands(sub)
    return p


def build_settings(args: argparse.Namespace) -> Settings:
    settings = load(args.config, REGISTERED) if args.config else Settings()
    if args.host:
        settings.host = args.host
    if args.port is not None:
        settings.port = args.port
    if args.db:
        settings.db_url = args.db
    if args.public_url:
        settings.public_url = check_public_url(args.public_url, "--public-url")
    if args.sqlite_synchronous:
        settings.sqlite_synchronous = args.sqlite_synchronous
    settings.db_url = sqlite_url(settings.db_url)  # a SQLite path's "~" expanded, once
    settings.seed_demo = settings.seed_demo and not args.no_demo
    _apply_security(args, settings)
    _journal_flags(args, settings)
    settings.access_log = args.access_log
    for provider in REGISTERED:
        provider.apply_arguments(args, provider.config(settings), settings.seed_demo)
    return settings


def _journal_flags(args: argparse.Namespace, settings: Settings) -> None:
    if args.no_journal:
        settings.journal_enabled = False
    if args.journal_max_entries is not None:
        if args.journal_max_entries < 1:
            raise ConfigError("--journal-max-entries must be at least 1")
        settings.journal_max_entries = args.journal_max_entries
    if args.journal_max_age is not None:
        if not 0 < args.journal_max_age <= 10 * 365 * 86400:  # also refuses nan and inf
            raise ConfigError("--journal-max-age must be more than 0 and at most ten years")
        settings.journal_max_age_seconds = args.journal_max_age


def _apply_security(args: argparse.Namespace, settings: Settings) -> None:
    """Flags over environment over config file."""
    token = args.control_token or os.environ.get(TOKEN_ENV) or None
    if token is not None:
        try:
            settings.control_token = check_token(token)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    settings.allowed_hosts += args.allowed_host
    settings.outbound_allow += args.outbound_allow
    settings.outbound_deny += args.outbound_deny
    try:
        OutboundPolicy.build(settings.outbound_allow, settings.outbound_deny)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    for flag, key in (
        ("header_timeout", "header_timeout_seconds"),
        ("body_timeout", "body_timeout_seconds"),
        ("keep_alive_timeout", "keep_alive_seconds"),
    ):
        value = getattr(args, flag)
        if value is not None:
            if not 0 < value <= 3600:
                raise ConfigError(f"--{flag.replace('_', '-')} wants 0 < seconds <= 3600")
            setattr(settings, key, value)
    if args.max_connections is not None:
        if args.max_connections < 1:
            raise ConfigError("--max-connections wants a positive number")
        settings.max_connections = args.max_connections
    if args.control_token_attempts is not None:
        if args.control_token_attempts < 0:
            raise ConfigError("--control-token-attempts wants 0 (no limit) or more")
        settings.control_token_attempts = args.control_token_attempts


def banner(settings: Settings, lines: Sequence[str]) -> str:
    out = [f"paysandbox listening on {settings.base_url}", f"database   {_safe_db(settings)}"]
    out.extend(lines)
    out.append("control    /_sandbox/  (clock, reset, deliveries, simulate customers)")
    if settings.control_token:
        out.append(
            "           needs the control token (Authorization: Bearer …, or /_sandbox/login)"
        )
    return "\n".join(out)


def _safe_db(settings: Settings) -> str:
    """The database URL without a password (user-info or ``?password=``)."""
    return startup.safe_url(settings.db_url)


#: exit status when the reader of our output went away (``paysandbox list … | head -1``):
#: 128 + SIGPIPE, what a shell reports for ``seq 1000000 | head -1``'s writer
CLOSED_OUTPUT = 141


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
        if args.command == "serve":
            try:
                return startup.serve(args, build_settings, banner)
            except KeyboardInterrupt:
                # Ctrl-C, the usual way to stop `dev.py serve`: uvicorn has shut down cleanly
                # and re-raises SIGINT (or it came during start-up) — no traceback, the shell's 130
                return 130
            except workers.Terminated:
                # SIGTERM stopped `--workers N`: die of it, as uvicorn makes `--workers 1` do
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.raise_signal(signal.SIGTERM)
                return 128 + signal.SIGTERM  # where SIGTERM does not end the process
        status = ctl.run(args)
        # written here, not at interpreter exit, where a closed pipe can only be reported
        # ("Exception ignored … BrokenPipeError") and not handled
        sys.stdout.flush()
        return status
    except SystemExit:
        _flush_quietly()  # --help, a usage error: argparse wrote, then exits
        raise
    except BrokenPipeError:
        _silence_output()
        return CLOSED_OUTPUT


def _flush_quietly() -> None:
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_output()


def _silence_output() -> None:
    """The reader has gone: point stdout and stderr at the null device, so neither the rest of
    the output nor the interpreter's flush at exit writes into the closed pipe (and nothing
    prints a traceback about it). The status tells a script that cares."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # no such stream: nothing to quiet
            os.dup2(devnull, stream.fileno())
    os.close(devnull)
