"""NICEPay settings: merchants (config file ``[nicepay]`` section, ``--nicepay-merchant``) and
the public demo merchant seeded into every empty database.

```toml
[[nicepay.merchants]]
imid = "MYSHOP0001"
merchant_key = "..."
```
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from ...config import account, convert, no_repeats
from ...settings import ConfigError

DEMO_IMID = "IONPAYTEST"
DEMO_MERCHANT_KEY = (  # public sandbox key from NICEPay's documents
    "33F49GnCMS1mFYlGXisbUDzVf2ATWCl9k3R++d5hDd3Frmuos/XLx8XhXpe+LDYAbpGKZYSwtlyyLOtS/8aD7A=="
)


@dataclass
class Merchant:
    imid: str
    merchant_key: str


@dataclass
class NicepayConfig:
    merchants: list[Merchant] = field(default_factory=list)

    def all_merchants(self, seed_demo: bool) -> list[Merchant]:
        merchants = list(self.merchants)
        if seed_demo and not any(m.imid == DEMO_IMID for m in merchants):
            merchants.insert(0, Merchant(DEMO_IMID, DEMO_MERCHANT_KEY))
        return merchants


class _MerchantSection(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    imid: Annotated[str, Meta(min_length=1, max_length=10)]
    merchant_key: Annotated[str, Meta(min_length=1, max_length=256)]


class _Section(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    merchants: list[_MerchantSection] = []


def parse_section(section: Mapping[str, Any], config: NicepayConfig) -> None:
    merchants = convert("nicepay", section, _Section).merchants
    no_repeats([m.imid for m in merchants], "nicepay.merchants.imid")
    for m in merchants:
        config.merchants.append(Merchant(m.imid, m.merchant_key))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--nicepay-merchant",
        action="append",
        default=[],
        metavar="IMID:KEY",
        help="add a NICEPay merchant (repeatable)",
    )


def apply_arguments(args: argparse.Namespace, config: NicepayConfig) -> None:
    """``--nicepay-merchant IMID:KEY``, checked as a ``[[nicepay.merchants]]`` table is."""
    given = []
    for spec in args.nicepay_merchant:
        imid, _, key = spec.partition(":")
        if not imid or not key:
            raise ConfigError("--nicepay-merchant wants IMID:KEY")
        raw = {"imid": imid, "merchant_key": key}
        given.append(account("nicepay.merchants", raw, _MerchantSection, "--nicepay-merchant"))
    no_repeats([m.imid for m in given], "--nicepay-merchant")
    config.merchants.extend(Merchant(m.imid, m.merchant_key) for m in given)
