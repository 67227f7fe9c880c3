"""One typed settings object, built by the CLI (or a test) and passed into ``create_app``.

Nothing reads the environment or a file at import time; ``config.load`` turns a TOML file into
these dataclasses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .delivery.outbox import RetryPolicy

DEMO_KPLUS_PARTNER_ID = "PTR1902369"
DEMO_KPLUS_PARTNER_SECRET = "7da57c4eb242435fa3e91bb7a69e2a28"  # noqa: S105 - public demo value
DEMO_NICEPAY_IMID = "IONPAYTEST"
DEMO_NICEPAY_MERCHANT_KEY = (  # public sandbox key from NICEPay's documents
    "33F49GnCMS1mFYlGXisbUDzVf2ATWCl9k3R++d5hDd3Frmuos/XLx8XhXpe+LDYAbpGKZYSwtlyyLOtS/8aD7A=="
)
DEMO_SMART2PAY_SITE_ID = 1010
DEMO_SMART2PAY_API_KEY = "gabi"


@dataclass
class KPlusPartner:
    partner_id: str
    partner_secret: str
    callback_url: str | None = None
    token_ttl_seconds: int | None = None


@dataclass
class NicepayMerchant:
    imid: str
    merchant_key: str


@dataclass
class Smart2PaySite:
    site_id: int
    api_key: str
    notification_url: str | None = None


@dataclass
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    db_url: str = "sqlite:///paysandbox.db"
    #: Base URL that pages and deep links are built on; defaults to http://host:port.
    public_url: str | None = None
    #: SQLite ``synchronous``: NORMAL survives a process crash, FULL also a power loss.
    sqlite_synchronous: str = "NORMAL"
    max_body_bytes: int = 1_048_576
    kplus_token_ttl_seconds: int = 1800
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    delivery_poll_seconds: float = 0.5
    run_sender: bool = True
    seed_demo: bool = True
    access_log: bool = False
    kplus_partners: list[KPlusPartner] = field(default_factory=list)
    nicepay_merchants: list[NicepayMerchant] = field(default_factory=list)
    smart2pay_sites: list[Smart2PaySite] = field(default_factory=list)
    #: Request journal (docs/control.md): on by default, capped by count and age.
    journal_enabled: bool = True
    journal_max_entries: int = 10_000
    journal_max_age_seconds: float = 86_400
    journal_queue_size: int = 10_000
    journal_max_body_bytes: int = 65_536
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

    def all_kplus_partners(self) -> list[KPlusPartner]:
        """Configured partners, with the public demo partner first unless disabled."""
        partners = list(self.kplus_partners)
        if self.seed_demo and not any(p.partner_id == DEMO_KPLUS_PARTNER_ID for p in partners):
            partners.insert(0, KPlusPartner(DEMO_KPLUS_PARTNER_ID, DEMO_KPLUS_PARTNER_SECRET))
        return partners

    def all_nicepay_merchants(self) -> list[NicepayMerchant]:
        merchants = list(self.nicepay_merchants)
        if self.seed_demo and not any(m.imid == DEMO_NICEPAY_IMID for m in merchants):
            merchants.insert(0, NicepayMerchant(DEMO_NICEPAY_IMID, DEMO_NICEPAY_MERCHANT_KEY))
        return merchants

    def all_smart2pay_sites(self) -> list[Smart2PaySite]:
        sites = list(self.smart2pay_sites)
        if self.seed_demo and not any(s.site_id == DEMO_SMART2PAY_SITE_ID for s in sites):
            sites.insert(0, Smart2PaySite(DEMO_SMART2PAY_SITE_ID, DEMO_SMART2PAY_API_KEY))
        return sites
