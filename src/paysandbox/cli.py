"""``paysandbox serve [--host] [--port] [--db URL] [--config FILE] …``.

Flags → ``Settings`` → ``create_app`` → uvicorn; nothing else happens here.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from .config import load
from .providers import REGISTERED
from .settings import ConfigError, Settings


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="paysandbox", description="Stateful payment-gateway sandbox")
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
    s.add_argument("--no-demo", action="store_true", help="do not seed the demo credentials")
    s.add_argument("--access-log", action="store_true", help="log every request line")
    s.add_argument("--log-level", default="info")
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
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)  # migrations log only problems
    try:
        settings = build_settings(args)
        if args.workers < 1:
            raise ConfigError("--workers wants a number ≥ 1")
        import uvicorn

        from .app import create_app

        options = {
            "loop": "uvloop" if sys.platform != "win32" else "asyncio",
            "http": "httptools",
            "access_log": settings.access_log,
            "log_level": args.log_level.lower(),
            "server_header": False,
            "date_header": False,
        }
        if args.workers > 1:
            from . import workers

            return workers.serve(
                settings,
                args.workers,
                options,
                lambda s, lines: print(banner(s, lines), flush=True),
            )
        app = create_app(settings)
    except ConfigError as exc:
        print(f"paysandbox: {exc}", file=sys.stderr)
        return 2
    print(banner(settings, app.state.sandbox.banner_lines()), flush=True)
    uvicorn.run(app, host=settings.host, port=settings.port, **options)
    return 0
