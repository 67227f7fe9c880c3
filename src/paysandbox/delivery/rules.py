"""When does a merchant's answer count as a successful delivery?

The generic rules live here: ``http_2xx`` (any 2xx) and ``http_200`` (exactly
200, for providers that retry "until the merchant answers HTTP 200"). A provider
whose contract needs more declares its own in ``Provider.success_rules``; ``create_app`` hands
the outbox and the sender the merged table (``with_rules``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

SuccessRule = Callable[[int, bytes], bool]


def _http_2xx(status: int, body: bytes) -> bool:
    return 200 <= status < 300


def _http_200(status: int, body: bytes) -> bool:
    return status == 200


RULES: Mapping[str, SuccessRule] = {
    "http_2xx": _http_2xx,
    "http_200": _http_200,
}


def with_rules(extra: Mapping[str, SuccessRule]) -> dict[str, SuccessRule]:
    """The generic rules plus ``extra`` (a provider may not redefine a generic one)."""
    clash = set(extra) & set(RULES)
    if clash:
        raise ValueError(f"success rules already defined: {sorted(clash)}")
    return {**RULES, **extra}
