"""Read a TOML config file into ``Settings`` (the CLI's flags are applied on top).

```toml
[server]
host = "127.0.0.1"
port = 8080
db = "sqlite:///paysandbox.db"   # or postgresql://user@host/db
public_url = "http://sandbox.local:8080"
sqlite_synchronous = "NORMAL"    # FULL: also safe against power loss
max_body_bytes = 1048576

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

[journal]                      # the request journal (docs/control.md)
enabled = true
max_entries = 10000
max_age_seconds = 86400

[[faults]]                     # API faults, as POST /_sandbox/faults takes them
provider = "kplus"
route = "/kplus/payment/inquire-token"
kind = "latency"
latencyMs = [200, 800]
```
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from .delivery.outbox import RetryPolicy
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
                int(site["site_id"]),
                str(site["api_key"]),
                _url(site.get("notification_url"), "smart2pay.sites.notification_url"),
            )
        )
    _journal_and_faults(raw, s)


def _journal_and_faults(raw: dict[str, Any], s: Settings) -> None:
    """``[journal]`` and ``[[faults]]`` (each fault is checked against the providers by
    ``create_app``, which knows their routes and error codes)."""
    journal = raw.get("journal", {})
    if not isinstance(journal, dict):
        raise TypeError("[journal] must be a table")
    unknown = set(journal) - {"enabled", "max_entries", "max_age_seconds", "queue_size"}
    if unknown:
        raise ValueError(f"unknown [journal] key {sorted(unknown)[0]!r}")
    if "enabled" in journal:
        if not isinstance(journal["enabled"], bool):
            raise TypeError("journal.enabled must be true or false")
        s.journal_enabled = journal["enabled"]
    s.journal_max_entries = int(journal.get("max_entries", s.journal_max_entries))
    s.journal_max_age_seconds = float(journal.get("max_age_seconds", s.journal_max_age_seconds))
    s.journal_queue_size = int(journal.get("queue_size", s.journal_queue_size))
    if s.journal_max_entries < 1 or s.journal_max_age_seconds <= 0 or s.journal_queue_size < 1:
        raise ValueError("journal max_entries, max_age_seconds and queue_size must be positive")
    faults = raw.get("faults", [])
    if not isinstance(faults, list) or not all(isinstance(f, dict) for f in faults):
        raise TypeError("faults must be an array of tables ([[faults]])")
    s.faults.extend(faults)
