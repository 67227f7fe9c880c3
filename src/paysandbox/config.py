"""Read a TOML config file into ``Settings`` (the CLI's flags are applied on top).

The format is documented in docs/config.md. Core sections are ``[server]`` and ``[delivery]``;
every provider reads its own section (``[<name>]``) through ``Provider.parse_config``. Every
key is checked: an unknown key, a wrong type or a bad value is an error naming the key and its
line, never a silently ignored setting.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

import msgspec
from msgspec import Meta

from .delivery.outbox import RetryPolicy
from .delivery.policy import OutboundPolicy
from .delivery.urls import BadUrl, check_callback_url
from .plugin import AnyProvider
from .settings import ConfigError, Settings

__all__ = ["ConfigError", "account", "callback_url", "control_token", "convert", "load"]

T = TypeVar("T")


class ServerSection(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    host: Annotated[str, Meta(min_length=1)] | None = None
    port: Annotated[int, Meta(ge=0, le=65535)] | None = None
    db: Annotated[str, Meta(min_length=1)] | None = None
    public_url: str | None = None
    sqlite_synchronous: str | None = None
    pg_pool_size: Annotated[int, Meta(ge=1, le=1000)] | None = None
    max_body_bytes: Annotated[int, Meta(ge=1024, le=64 * 1024 * 1024)] | None = None
    control_token: str | None = None
    allowed_hosts: list[Annotated[str, Meta(min_length=1, max_length=255)]] = []
    header_timeout_seconds: Annotated[float, Meta(gt=0, le=3600)] | None = None
    body_timeout_seconds: Annotated[float, Meta(gt=0, le=3600)] | None = None
    keep_alive_seconds: Annotated[float, Meta(gt=0, le=3600)] | None = None
    max_connections: Annotated[int, Meta(ge=1)] | None = None
    control_token_attempts: Annotated[int, Meta(ge=0, le=1_000_000)] | None = None


class JournalSection(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The request journal (docs/control.md): on by default, capped by count and age."""

    enabled: bool | None = None
    max_entries: Annotated[int, Meta(ge=1)] | None = None
    # at most ten years: inf / nan made every age prune fail (a traceback a minute)
    max_age_seconds: Annotated[float, Meta(gt=0, le=10 * 365 * 86400)] | None = None
    queue_size: Annotated[int, Meta(ge=1)] | None = None
    hold_back_below: Annotated[float, Meta(ge=0, le=4096)] | None = None
    hold_back_mib: Annotated[int, Meta(ge=0, le=1 << 20)] | None = None


class OutboundSection(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Where callbacks may go (link-local and metadata addresses: never)."""

    allow: list[str] = []
    deny: list[str] = []


class DeliverySection(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    # each pause at most 30 days, at least one (inf / 1e300 stuck the first failed delivery
    # "in flight" with an OverflowError; [] used every attempt up in three seconds)
    schedule: (
        Annotated[list[Annotated[float, Meta(ge=0, le=30 * 86400)]], Meta(min_length=1)] | None
    ) = None
    max_attempts: Annotated[int, Meta(ge=1, le=1000)] | None = None
    timeout_seconds: Annotated[float, Meta(gt=0, le=600)] | None = None
    poll_seconds: Annotated[float, Meta(gt=0, le=60)] | None = None


CORE_SECTIONS = ("server", "delivery", "outbound", "journal", "faults")
_UNKNOWN = re.compile(r"Object contains unknown field `([^`]+)`(?: - at `\$(.*)`)?")
_AT = re.compile(r"^(.*) - at `\$(.*)`$")
_MISSING = re.compile(r"Object missing required field `([^`]+)`(?: - at `\$(.*)`)?")


def _dotted(section: str, at: str, leaf: str | None = None) -> str:
    parts = [section] + [p for p in re.split(r"[.\[\]]+", at) if p and not p.isdigit()]
    if leaf:
        parts.append(leaf)
    return ".".join(parts)


def no_repeats(ids: Sequence[str], key: str) -> None:
    """Refuse an account given twice in the file (a copied block whose id was not changed: the
    last one silently won)."""
    seen: set[str] = set()
    for i in ids:
        if i in seen:
            raise ConfigError(f"{key} {i!r} is given twice", key)
        seen.add(i)


def convert(section: str, raw: Any, struct: type[T]) -> T:
    """``raw`` (a TOML table) as ``struct``; any problem is a ``ConfigError`` naming the key."""
    try:
        return msgspec.convert(raw, struct)
    except msgspec.ValidationError as exc:
        text = str(exc)
        m = _UNKNOWN.match(text)
        if m:
            key = _dotted(section, m.group(2) or "", m.group(1))
            raise ConfigError(f"unknown key {key}", key) from None
        m = _MISSING.match(text)
        if m:
            key = _dotted(section, m.group(2) or "", m.group(1))
            raise ConfigError(f"{key} is required", key) from None
        m = _AT.match(text)
        if m:
            key = _dotted(section, m.group(2))
            raise ConfigError(f"{key}: {m.group(1)}", key) from None
        raise ConfigError(f"[{section}]: {text}", section) from None


def account(key: str, raw: Mapping[str, Any], struct: type[T], flag: str | None = None) -> T:
    """One account (a ``[[<provider>.<accounts>]]`` table, or the same fields taken from a
    ``serve`` flag) checked against the provider's one struct for it, so that a flag never
    accepts what the file refuses (a too-long account id was taken from a flag). ``key`` is
    the table's dotted name; a flag's mistake names the flag before the very words the file's
    would have (``--<flag>: <provider>.<accounts>.<key>: Expected …``)."""
    try:
        return convert(key, raw, struct)
    except ConfigError as exc:
        if flag is None:
            raise
        raise ConfigError(f"{flag}: {exc}", exc.key) from None


def control_token(value: object) -> str | None:
    """A control token: printable ASCII, 16–256 characters (empty: none)."""
    text = str(value)
    if not text:
        return None
    if not (16 <= len(text) <= 256 and text.isascii() and text.isprintable() and " " not in text):
        raise ValueError("control_token must be 16-256 printable ASCII characters, no spaces")
    return text


def callback_url(value: str | None, key: str) -> str | None:
    """A configured callback/notification URL, checked like every other (empty = none)."""
    if not value:
        return None
    try:
        return check_callback_url(value, field=key)
    except BadUrl as exc:
        raise ConfigError(str(exc), key) from None


def load(
    path: str | Path, providers: Sequence[AnyProvider], settings: Settings | None = None
) -> Settings:
    try:
        # ``~`` expanded as everywhere a file is named (a quoted "~/…" reaches us as it is)
        text = Path(path).expanduser().read_text("utf-8").removeprefix("\ufeff")  # a BOM
        raw = tomllib.loads(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    s = settings or Settings()
    try:
        _apply(raw, s, providers)
    except ConfigError as exc:
        line = _line_of(text, exc.key) if exc.key else None
        where = f"{path}:{line}" if line else str(path)
        raise ConfigError(f"{where}: {exc}", exc.key) from None
    return s


def check_public_url(value: str, name: str) -> str:
    """The sandbox's own base URL (pages, links, callBackAppUrl): an absolute http(s) URL with a
    host, no query or fragment. Unchecked, ``javascript:alert(1)//`` became every token's
    ``callBackAppUrl``."""
    try:
        check_callback_url(value, field=name)
    except BadUrl as exc:
        raise ConfigError(str(exc), name) from None
    if "?" in value or "#" in value:
        raise ConfigError(f"{name} must not carry a query or a fragment", name)
    return value


def _apply(raw: Mapping[str, Any], s: Settings, providers: Sequence[AnyProvider]) -> None:
    by_name = {p.name: p for p in providers}
    for key in raw:
        if (
            key not in ("server", "delivery", "outbound", "journal", "faults")
            and key not in by_name
        ):
            raise ConfigError(f"unknown section [{key}]", key)
    server = convert("server", raw.get("server", {}), ServerSection)
    s.host = server.host or s.host
    s.port = s.port if server.port is None else server.port
    s.db_url = server.db or s.db_url
    if server.public_url:
        s.public_url = check_public_url(server.public_url, "server.public_url")
    if server.sqlite_synchronous is not None:
        mode = server.sqlite_synchronous.upper()
        if mode not in ("NORMAL", "FULL"):
            raise ConfigError(
                "server.sqlite_synchronous must be NORMAL or FULL", "server.sqlite_synchronous"
            )
        s.sqlite_synchronous = mode
    s.pg_pool_size = server.pg_pool_size or s.pg_pool_size
    s.max_body_bytes = server.max_body_bytes or s.max_body_bytes
    if server.control_token is not None:
        try:
            s.control_token = control_token(server.control_token)
        except ValueError as exc:
            raise ConfigError(f"server.{exc}", "server.control_token") from None
    s.allowed_hosts += server.allowed_hosts
    for key in ("header_timeout_seconds", "body_timeout_seconds", "keep_alive_seconds"):
        value = getattr(server, key)
        if value is not None:
            setattr(s, key, value)
    s.max_connections = server.max_connections or s.max_connections
    if server.control_token_attempts is not None:
        s.control_token_attempts = server.control_token_attempts
    outbound = convert("outbound", raw.get("outbound", {}), OutboundSection)
    s.outbound_allow += outbound.allow
    s.outbound_deny += outbound.deny
    try:
        OutboundPolicy.build(s.outbound_allow, s.outbound_deny)
    except ValueError as exc:
        raise ConfigError(f"outbound: {exc}", "outbound") from None
    journal = convert("journal", raw.get("journal", {}), JournalSection)
    if journal.enabled is not None:
        s.journal_enabled = journal.enabled
    s.journal_max_entries = journal.max_entries or s.journal_max_entries
    s.journal_max_age_seconds = journal.max_age_seconds or s.journal_max_age_seconds
    s.journal_queue_size = journal.queue_size or s.journal_queue_size
    if journal.hold_back_below is not None:
        s.journal_hold_back_below = journal.hold_back_below
    if journal.hold_back_mib is not None:
        s.journal_hold_back_mib = journal.hold_back_mib
    faults = raw.get("faults", [])
    if not isinstance(faults, list) or not all(isinstance(f, dict) for f in faults):
        raise ConfigError("faults must be an array of tables ([[faults]])", "faults")
    s.faults.extend(faults)  # each checked against the providers by create_app
    delivery = convert("delivery", raw.get("delivery", {}), DeliverySection)
    s.retry = RetryPolicy(
        schedule=s.retry.schedule if delivery.schedule is None else tuple(delivery.schedule),
        max_attempts=delivery.max_attempts or s.retry.max_attempts,
        timeout_seconds=delivery.timeout_seconds or s.retry.timeout_seconds,
    )
    s.delivery_poll_seconds = delivery.poll_seconds or s.delivery_poll_seconds
    for p in providers:
        section = raw.get(p.name, {})
        if not isinstance(section, dict):
            raise ConfigError(f"{p.name} must be a table ([{p.name}])", p.name)
        p.parse_config(section, p.config(s))


def _line_of(text: str, key: str) -> int | None:
    """The line where ``key`` (dotted) is set or its table starts, best effort."""
    parts = key.split(".")
    leaf = re.escape(parts[-1])
    header = re.escape(".".join(parts))
    patterns = [
        rf"^\s*\[\[?\s*{header}\s*\]\]?",  # [server] / [[<provider>.<table>]]
        rf"^\s*[\"']?{leaf}[\"']?\s*=",  # prot = 9000
        rf"^\s*\[\[?\s*{re.escape(parts[0])}\b",
    ]
    lines = text.splitlines()
    for pattern in patterns:
        rx = re.compile(pattern)
        for n, line in enumerate(lines, 1):
            if rx.search(line):
                return n
    return None
