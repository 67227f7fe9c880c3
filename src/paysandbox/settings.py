"""One typed settings object, built by the CLI (or a test) and passed into ``create_app``.

Nothing reads the environment or a file at import time; ``config.load`` turns a TOML file into
these settings. Each provider keeps its own settings (accounts, TTLs …) in ``providers`` under
its name, as an object of its own type (see ``plugin.Provider.config``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .delivery.outbox import RetryPolicy


class ConfigError(ValueError):
    """A config-file value or a command-line flag that cannot be used; the message says which.
    ``key`` (dotted, e.g. ``<provider>.accounts.secret``) lets the config loader name the
    line of the file."""

    def __init__(self, message: str, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key


@dataclass
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    db_url: str = "sqlite:///paysandbox.db"
    #: Base URL that pages and deep links are built on; defaults to http://host:port.
    public_url: str | None = None
    #: SQLite ``synchronous``: NORMAL survives a process crash, FULL also a power loss.
    sqlite_synchronous: str = "NORMAL"
    #: PostgreSQL connections each server process pools (None: ``store.db.PG_POOL_SIZE``,
    #: shared out between the processes of ``serve --workers N``; see ``workers.py``).
    pg_pool_size: int | None = None
    max_body_bytes: int = 1_048_576
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    delivery_poll_seconds: float = 0.5
    run_sender: bool = True
    #: Seed each provider's public demo account into the database.
    seed_demo: bool = True
    access_log: bool = False
    #: Provider name → that provider's own settings object.
    providers: dict[str, Any] = field(default_factory=dict)
    # --- security (docs: README "Security"; code: security/, delivery/policy.py)
    #: Control-plane token. None: open on loopback; a non-loopback bind generates one at start.
    control_token: str | None = None
    #: Host names accepted besides loopback names, the bound address and public_url's host
    #: (``"*"``: any; ``".example.com"``: the domain and its subdomains).
    allowed_hosts: list[str] = field(default_factory=list)
    #: Callback destinations: extra denied / the only allowed host names and CIDRs.
    outbound_deny: list[str] = field(default_factory=list)
    outbound_allow: list[str] = field(default_factory=list)
    #: Connection limits (security/limits.py): time to send a request's headers, the longest
    #: pause between body chunks, idle keep-alive, and open connections at most.
    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 10.0
    keep_alive_seconds: float = 5.0
    max_connections: int = 4096
    #: wrong control tokens allowed per client address in a minute (0: no limit)
    control_token_attempts: int = 10
    #: Request journal (docs/control.md): on by default, capped by count and age.
    journal_enabled: bool = True
    journal_max_entries: int = 10_000
    journal_max_age_seconds: float = 86_400
    journal_queue_size: int = 10_000
    journal_max_body_bytes: int = 65_536
    #: The journal's writer holds entries back while fewer processors than this are free
    #: (docs/control.md; 0: never).
    journal_hold_back_below: float | None = None  # None: ``writer.CpuProbe.busy``'s own
    #: … up to this many MiB of entries per server process.
    journal_hold_back_mib: int = 256
    #: Fault specs from the config file (``[[faults]]``), checked by ``create_app``.
    faults: list[dict[str, Any]] = field(default_factory=list)
    #: How often each process re-reads the fault list (faults made in another process).
    faults_refresh_seconds: float = 1.0

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"
