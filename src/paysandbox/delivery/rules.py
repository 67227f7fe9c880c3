"""When does a merchant's answer count as a successful delivery?

The generic rules live here: ``http_2xx`` (any 2xx, e.g. Smart2Pay notifications) and
``http_200`` (exactly 200, NICEPay: "retried until the merchant answers HTTP 200"). A provider
whose contract needs more registers its own rule with ``register`` (K PLUS: 2xx and
``statusCode`` "00", in ``providers/kplus/callbacks.py``).
"""

from __future__ import annotations

from collections.abc import Callable

SuccessRule = Callable[[int, bytes], bool]


def _http_2xx(status: int, body: bytes) -> bool:
    return 200 <= status < 300


def _http_200(status: int, body: bytes) -> bool:
    return status == 200


RULES: dict[str, SuccessRule] = {
    "http_2xx": _http_2xx,
    "http_200": _http_200,
}


def register(name: str, rule: SuccessRule) -> None:
    """Add a provider's success rule (at import of the provider's callbacks module)."""
    RULES[name] = rule
