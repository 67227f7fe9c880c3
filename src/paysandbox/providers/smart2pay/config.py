"""Smart2Pay settings: sites (config file ``[smart2pay]`` section, ``--smart2pay-site``) and the
public demo site seeded into every empty database.

```toml
[smart2pay]
cors_origins = ["https://shop.example"]   # browsers allowed on /v1/card/authenticate; default any
[[smart2pay.sites]]
site_id = 2020
api_key = "..."
notification_url = "http://127.0.0.1:9000/s2p"
```
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from ...config import account, callback_url, convert, no_repeats
from ...delivery.urls import BadUrl, check_callback_url
from ...settings import ConfigError

DEMO_SITE_ID = 1010
DEMO_API_KEY = "gabi"
MAX_SITE_ID = 2**31 - 1


def site_id(value: object) -> int:
    """A Smart2Pay SiteID: a positive 32-bit integer (the documents' ``1010``), in ASCII digits
    without leading zeros."""
    text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
    if not (text.isascii() and text.isdigit() and text[0] != "0" and int(text) <= MAX_SITE_ID):
        raise ValueError(f"a SiteID is a whole number from 1 to {MAX_SITE_ID}")
    return int(text)


@dataclass
class Site:
    site_id: int
    api_key: str
    notification_url: str | None = None


@dataclass
class Smart2PayConfig:
    sites: list[Site] = field(default_factory=list)
    #: Origins allowed to call ``POST /v1/card/authenticate`` from a browser (CORS); ``*`` = any.
    cors_origins: list[str] = field(default_factory=lambda: ["*"])

    def all_sites(self, seed_demo: bool) -> list[Site]:
        sites = list(self.sites)
        if seed_demo and not any(s.site_id == DEMO_SITE_ID for s in sites):
            sites.insert(0, Site(DEMO_SITE_ID, DEMO_API_KEY))
        return sites


class _SiteSection(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    site_id: Annotated[int, Meta(ge=1, le=MAX_SITE_ID)]
    api_key: Annotated[str, Meta(min_length=1, max_length=256)]
    notification_url: str | None = None


class _Section(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    sites: list[_SiteSection] = []
    cors_origins: list[Annotated[str, Meta(min_length=1, max_length=2048)]] | None = None


def parse_section(section: Mapping[str, Any], config: Smart2PayConfig) -> None:
    parsed = convert("smart2pay", section, _Section)
    no_repeats([str(site.site_id) for site in parsed.sites], "smart2pay.sites.site_id")
    for site in parsed.sites:
        url = callback_url(site.notification_url, "smart2pay.sites.notification_url")
        config.sites.append(Site(site.site_id, site.api_key, url))
    if parsed.cors_origins is not None:
        config.cors_origins = list(parsed.cors_origins)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--smart2pay-site",
        action="append",
        default=[],
        metavar="ID:APIKEY[=URL]",
        help="add a Smart2Pay site, optionally with its notification URL",
    )
    parser.add_argument(
        "--smart2pay-cors-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="browser origin allowed on POST /v1/card/authenticate (repeatable; default any)",
    )


def apply_arguments(args: argparse.Namespace, config: Smart2PayConfig) -> None:
    """``--smart2pay-site ID:APIKEY[=URL]``, checked as a ``[[smart2pay.sites]]`` table is."""
    given = []
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
        try:
            number = site_id(site)
        except ValueError as exc:
            raise ConfigError(f"--smart2pay-site wants ID:APIKEY[=URL]: {exc}") from None
        if not key:
            raise ConfigError("--smart2pay-site wants ID:APIKEY[=URL]")
        raw = {"site_id": number, "api_key": key, "notification_url": url or None}
        given.append(account("smart2pay.sites", raw, _SiteSection, "--smart2pay-site"))
    no_repeats([str(s.site_id) for s in given], "--smart2pay-site")
    config.sites.extend(Site(s.site_id, s.api_key, s.notification_url) for s in given)
    if args.smart2pay_cors_origin:
        config.cors_origins = list(args.smart2pay_cors_origin)
