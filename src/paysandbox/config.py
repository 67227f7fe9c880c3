"""Read a TOML config file into ``Settings`` (the CLI's flags are applied on top).

```toml
[server]
host = "127.0.0.1"
port = 8080
db = "sqlite:///paysandbox.db"   # or postgresql://user@host/db
public_url = "http://sandbox.local:8080"
sqlite_synchronous = "NORMAL"    # FULL: also safe against power loss
max_body_bytes = 1048576
control_token = "..."            # or PAYSANDBOX_CONTROL_TOKEN / --control-token
allowed_hosts = ["sandbox.internal"]   # Host names served besides loopback / bind / public_url
header_timeout_seconds = 10      # to send a request's headers
body_timeout_seconds = 10        # longest pause between two pieces of a body
keep_alive_seconds = 5           # idle keep-alive connection
max_connections = 4096           # open connections (also bounded by the descriptor limit)

[outbound]                       # where callbacks may go (link-local / metadata: never)
deny = ["10.0.0.0/8", "internal.example.com"]
allow = []                       # non-empty: only these host names / CIDRs

[delivery]
schedule = [5, 30, 120, 600, 1800, 3600]   # seconds after attempt 1, 2, …; last repeats
max_attempts = 8
timeout_seconds = 10
poll_seconds = 0.5

[kplus]
token_ttl_seconds = 1800
[[kplus.partners]]
partner_id = "PTR0000001"
partner_secret = "..."
callback_url = "http://127.0.0.1:9000/kplus/callback"
token_ttl_seconds = 600

[[nicepay.merchants]]
imid = "MYSHOP0001"
merchant_key = "..."

[[smart2pay.sites]]
site_id = 2020
api_key = "..."
notification_url = "http://127.0.0.1:9000/s2p"
```
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from .delivery.outbox import RetryPolicy
from .delivery.policy import OutboundPolicy
from .delivery.urls import BadUrl, check_callback_url
from .settings import KPlusPartner, NicepayMerchant, Settings, Smart2PaySite


class ConfigError(ValueError):
    """The config file is unreadable or has a wrong value; the message says which."""


def load(path: str | Path, settings: Settings | None = None) -> Settings:
    try:
        raw = tomllib.loads(Path(path).read_text("utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    s = settings or Settings()
    try:
        _apply(raw, s)
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: {exc!r}") from None
    return s


MAX_SITE_ID = 2**31 - 1


def site_id(value: object) -> int:
    """A Smart2Pay SiteID: a positive 32-bit integer (the documents' ``1010``), in ASCII digits
    without leading zeros."""
    text = str(value) if isinstance(value, int | str) and not isinstance(value, bool) else ""
    if not (text.isascii() and text.isdigit() and text[0] != "0" and int(text) <= MAX_SITE_ID):
        raise ValueError(f"a SiteID is a whole number from 1 to {MAX_SITE_ID}")
    return int(text)


def control_token(value: object) -> str | None:
    """A control token: printable ASCII, 16–256 characters (empty: none)."""
    text = str(value)
    if not text:
        return None
    if not (16 <= len(text) <= 256 and text.isascii() and text.isprintable() and " " not in text):
        raise ValueError("control_token must be 16-256 printable ASCII characters, no spaces")
    return text


def _url(value: object, field: str) -> str | None:
    if value is None or value == "":
        return None
    try:
        return check_callback_url(str(value), field=field)
    except BadUrl as exc:
        raise ValueError(str(exc)) from None


def _apply(raw: dict[str, Any], s: Settings) -> None:
    server = raw.get("server", {})
    s.host = str(server.get("host", s.host))
    s.port = int(server.get("port", s.port))
    s.db_url = str(server.get("db", s.db_url))
    s.public_url = server.get("public_url", s.public_url)
    s.sqlite_synchronous = str(server.get("sqlite_synchronous", s.sqlite_synchronous)).upper()
    s.max_body_bytes = int(server.get("max_body_bytes", s.max_body_bytes))
    token = server.get("control_token")
    if token is not None:
        s.control_token = control_token(token)
    s.allowed_hosts += [str(h) for h in server.get("allowed_hosts", [])]
    for key in ("header_timeout_seconds", "body_timeout_seconds", "keep_alive_seconds"):
        value = float(server.get(key, getattr(s, key)))
        if not 0 < value <= 3600:
            raise ValueError(f"server.{key} must be between 0 and 3600 seconds")
        setattr(s, key, value)
    s.max_connections = int(server.get("max_connections", s.max_connections))
    if s.max_connections < 1:
        raise ValueError("server.max_connections must be at least 1")
    outbound = raw.get("outbound", {})
    s.outbound_allow += [str(x) for x in outbound.get("allow", [])]
    s.outbound_deny += [str(x) for x in outbound.get("deny", [])]
    OutboundPolicy.build(s.outbound_allow, s.outbound_deny)  # ValueError names a bad entry
    delivery = raw.get("delivery", {})
    if delivery:
        s.retry = RetryPolicy(
            schedule=tuple(float(x) for x in delivery.get("schedule", s.retry.schedule)),
            max_attempts=int(delivery.get("max_attempts", s.retry.max_attempts)),
            timeout_seconds=float(delivery.get("timeout_seconds", s.retry.timeout_seconds)),
        )
        s.delivery_poll_seconds = float(delivery.get("poll_seconds", s.delivery_poll_seconds))
    kplus = raw.get("kplus", {})
    s.kplus_token_ttl_seconds = int(kplus.get("token_ttl_seconds", s.kplus_token_ttl_seconds))
    for p in kplus.get("partners", []):
        s.kplus_partners.append(
            KPlusPartner(
                partner_id=str(p["partner_id"]),
                partner_secret=str(p["partner_secret"]),
                callback_url=_url(p.get("callback_url"), "kplus.partners.callback_url"),
                token_ttl_seconds=p.get("token_ttl_seconds"),
            )
        )
    for m in raw.get("nicepay", {}).get("merchants", []):
        s.nicepay_merchants.append(NicepayMerchant(str(m["imid"]), str(m["merchant_key"])))
    for site in raw.get("smart2pay", {}).get("sites", []):
        s.smart2pay_sites.append(
            Smart2PaySite(
                site_id(site["site_id"]),
                str(site["api_key"]),
                _url(site.get("notification_url"), "smart2pay.sites.notification_url"),
            )
        )
