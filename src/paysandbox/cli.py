"""``paysandbox serve [--host] [--port] [--db URL] [--config FILE] …``.

Flags → ``Settings`` → ``create_app`` → uvicorn; nothing else happens here.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from .config import ConfigError, load
from .delivery.urls import BadUrl, check_callback_url
from .observe.server import PROTOCOL as HTTP_PROTOCOL
from .settings import KPlusPartner, NicepayMerchant, Settings, Smart2PaySite


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
    s.add_argument(
        "--kplus-partner",
        action="append",
        default=[],
        metavar="ID:SECRET",
        help="add a K PLUS partner (repeatable)",
    )
    s.add_argument(
        "--kplus-callback",
        action="append",
        default=[],
        metavar="ID=URL",
        help="Confirm Payment callback URL of a K PLUS partner (repeatable)",
    )
    s.add_argument(
        "--nicepay-merchant",
        action="append",
        default=[],
        metavar="IMID:KEY",
        help="add a NICEPay merchant (repeatable)",
    )
    s.add_argument(
        "--smart2pay-site",
        action="append",
        default=[],
        metavar="ID:APIKEY[=URL]",
        help="add a Smart2Pay site, optionally with its notification URL",
    )
    s.add_argument("--no-journal", action="store_true", help="do not keep the request journal")
    s.add_argument(
        "--journal-max-entries", type=int, metavar="N", help="journal cap by count (10000)"
    )
    s.add_argument(
        "--journal-max-age", type=float, metavar="SECONDS", help="journal cap by age (86400)"
    )
    s.add_argument("--no-demo", action="store_true", help="do not seed the demo credentials")
    s.add_argument("--access-log", action="store_true", help="log every request line")
    s.add_argument("--log-level", default="info")
    return p


def build_settings(args: argparse.Namespace) -> Settings:
    settings = load(args.config) if args.config else Settings()
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
    _journal_flags(args, settings)
    for spec in args.kplus_partner:
        pid, _, secret = spec.partition(":")
        if not pid or not secret:
            raise ConfigError(f"--kplus-partner wants ID:SECRET, got {pid!r}:…")
        settings.kplus_partners.append(KPlusPartner(pid, secret))
    for spec in args.kplus_callback:
        pid, _, url = spec.partition("=")
        try:
            check_callback_url(url, field="--kplus-callback URL")
        except BadUrl as exc:
            raise ConfigError(f"{exc} (wants ID=http(s)://…)") from None
        known = {p.partner_id: p for p in settings.all_kplus_partners()}
        if pid not in known:
            raise ConfigError(f"--kplus-callback: unknown partner {pid!r}")
        partner = known[pid]
        partner.callback_url = url
        if partner not in settings.kplus_partners:
            settings.kplus_partners.append(partner)
    for spec in args.nicepay_merchant:
        imid, _, key = spec.partition(":")
        if not imid or not key:
            raise ConfigError("--nicepay-merchant wants IMID:KEY")
        settings.nicepay_merchants.append(NicepayMerchant(imid, key))
    for spec in args.smart2pay_site:
        # ID:APIKEY[=URL]; an API key may itself contain "=" (base64), so split at "=http".
        creds, url = spec, ""
        for marker in ("=http://", "=https://"):
            if marker in spec:
                creds, rest = spec.split(marker, 1)
                url = marker[1:] + rest
                break
        site, _, key = creds.partition(":")
        if url:
            try:
                check_callback_url(url, field="--smart2pay-site URL")
            except BadUrl as exc:
                raise ConfigError(str(exc)) from None
        if not site.isdigit() or not key:
            raise ConfigError("--smart2pay-site wants ID:APIKEY[=URL] with a numeric ID")
        settings.smart2pay_sites.append(Smart2PaySite(int(site), key, url or None))
    return settings


def _journal_flags(args: argparse.Namespace, settings: Settings) -> None:
    if args.no_journal:
        settings.journal_enabled = False
    if args.journal_max_entries is not None:
        if args.journal_max_entries < 1:
            raise ConfigError("--journal-max-entries must be at least 1")
        settings.journal_max_entries = args.journal_max_entries
    if args.journal_max_age is not None:
        if args.journal_max_age <= 0:
            raise ConfigError("--journal-max-age must be positive")
        settings.journal_max_age_seconds = args.journal_max_age


def banner(settings: Settings, lines: Sequence[str]) -> str:
    out = [f"paysandbox listening on {settings.base_url}", f"database   {_safe_db(settings)}"]
    out.extend(lines)
    out.append(
        "control    /_sandbox/  (clock, reset, deliveries, requests, faults, metrics, health)"
    )
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
        import uvicorn

        from .app import create_app

        app = create_app(settings)
    except ConfigError as exc:
        print(f"paysandbox: {exc}", file=sys.stderr)
        return 2
    plugin_lines = [line for p in app.state.sandbox.plugins for line in p.banner]
    print(banner(settings, plugin_lines), flush=True)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop" if sys.platform != "win32" else "asyncio",
        http=HTTP_PROTOCOL,  # httptools, with the transport in the scope (API faults)
        access_log=settings.access_log,
        log_level=args.log_level.lower(),
        server_header=False,
        date_header=False,
    )
    return 0
