"""``paysandbox serve [--host] [--port] [--db URL] [--config FILE] …``.

Flags → ``Settings`` → ``create_app`` → uvicorn; nothing else happens here.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from . import ctl, startup
from .config import load
from .providers import REGISTERED
from .settings import Settings


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
    s.add_argument("--no-demo", action="store_true", help="do not seed the demo credentials")
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
        settings.public_url = args.public_url
    if args.sqlite_synchronous:
        settings.sqlite_synchronous = args.sqlite_synchronous
    settings.seed_demo = settings.seed_demo and not args.no_demo
    settings.access_log = args.access_log
    for provider in REGISTERED:
        provider.apply_arguments(args, provider.config(settings), settings.seed_demo)
    return settings


def banner(settings: Settings, lines: Sequence[str]) -> str:
    out = [f"paysandbox listening on {settings.base_url}", f"database   {_safe_db(settings)}"]
    out.extend(lines)
    out.append("control    /_sandbox/  (clock, reset, deliveries, simulate customers)")
    return "\n".join(out)


def _safe_db(settings: Settings) -> str:
    """The database URL without a password."""
    url = settings.db_url
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}@{host}"
    return url


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return startup.serve(args, build_settings, banner)
    return ctl.run(args)
