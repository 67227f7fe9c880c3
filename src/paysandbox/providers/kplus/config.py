"""K PLUS settings: partners (from the config file's ``[kplus]`` section and ``serve`` flags)
and the public demo partner seeded into every empty database.

```toml
[kplus]
token_ttl_seconds = 1800
[[kplus.partners]]
partner_id = "PTR0000001"
partner_secret = "..."
callback_url = "http://127.0.0.1:9000/kplus/callback"
token_ttl_seconds = 600
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

DEMO_PARTNER_ID = "PTR1902369"
DEMO_PARTNER_SECRET = "7da57c4eb242435fa3e91bb7a69e2a28"  # noqa: S105 - public demo value


@dataclass
class Partner:
    partner_id: str
    partner_secret: str
    callback_url: str | None = None
    token_ttl_seconds: int | None = None


@dataclass
class KPlusConfig:
    token_ttl_seconds: int = 1800
    partners: list[Partner] = field(default_factory=list)

    def all_partners(self, seed_demo: bool) -> list[Partner]:
        """Configured partners, with the public demo partner first unless disabled."""
        partners = list(self.partners)
        if seed_demo and not any(p.partner_id == DEMO_PARTNER_ID for p in partners):
            partners.insert(0, Partner(DEMO_PARTNER_ID, DEMO_PARTNER_SECRET))
        return partners


Ttl = Annotated[int, Meta(ge=1, le=30 * 86400)]


class _PartnerSection(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    partner_id: Annotated[str, Meta(min_length=1, max_length=64)]
    partner_secret: Annotated[str, Meta(min_length=1, max_length=256)]
    callback_url: str | None = None
    token_ttl_seconds: Ttl | None = None


class _Section(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    token_ttl_seconds: Ttl | None = None
    partners: list[_PartnerSection] = []


def parse_section(section: Mapping[str, Any], config: KPlusConfig) -> None:
    parsed = convert("kplus", section, _Section)
    if parsed.token_ttl_seconds is not None:
        config.token_ttl_seconds = parsed.token_ttl_seconds
    no_repeats([p.partner_id for p in parsed.partners], "kplus.partners.partner_id")
    for p in parsed.partners:
        config.partners.append(
            Partner(
                p.partner_id,
                p.partner_secret,
                callback_url(p.callback_url, "kplus.partners.callback_url"),
                p.token_ttl_seconds,
            )
        )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kplus-partner",
        action="append",
        default=[],
        metavar="ID:SECRET",
        help="add a K PLUS partner (repeatable)",
    )
    parser.add_argument(
        "--kplus-callback",
        action="append",
        default=[],
        metavar="ID=URL",
        help="Confirm Payment callback URL of a K PLUS partner (repeatable)",
    )


def apply_arguments(args: argparse.Namespace, config: KPlusConfig, seed_demo: bool) -> None:
    """``--kplus-partner ID:SECRET`` (checked as a ``[[kplus.partners]]`` table is) and
    ``--kplus-callback ID=URL``."""
    given = []
    for spec in args.kplus_partner:
        pid, _, secret = spec.partition(":")
        if not pid or not secret:
            raise ConfigError(f"--kplus-partner wants ID:SECRET, got {pid!r}:…")
        raw = {"partner_id": pid, "partner_secret": secret}
        given.append(account("kplus.partners", raw, _PartnerSection, "--kplus-partner"))
    no_repeats([p.partner_id for p in given], "--kplus-partner")
    config.partners.extend(Partner(p.partner_id, p.partner_secret) for p in given)
    for spec in args.kplus_callback:
        pid, _, url = spec.partition("=")
        try:
            checked = check_callback_url(url, field="--kplus-callback URL")
        except BadUrl as exc:
            raise ConfigError(f"{exc} (wants ID=http(s)://…)") from None
        known = {p.partner_id: p for p in config.all_partners(seed_demo)}
        if pid not in known:
            raise ConfigError(f"--kplus-callback: unknown partner {pid!r}")
        partner = known[pid]
        partner.callback_url = checked
        if partner not in config.partners:
            config.partners.append(partner)
