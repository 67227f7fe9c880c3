"""Credential checks that leak nothing.

Secrets are compared in constant time (``hmac.compare_digest`` on UTF-8 bytes) and never appear
in exception messages, so no error path can echo them.
"""

from __future__ import annotations

import hmac


def secret_matches(given: str | None, expected: str) -> bool:
    """True when ``given`` equals ``expected``; constant time in the length of ``expected``."""
    if given is None:
        # Still spend the comparison so a missing secret is not faster than a wrong one.
        hmac.compare_digest(expected.encode(), expected.encode())
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


_UNKNOWN = "x" * 32


def account_secret_matches(given: str | None, expected: str | None) -> bool:
    """For a lookup by account id: ``expected`` is None when the account does not exist. The
    comparison is still made (against a dummy), so an unknown account and a wrong secret take
    the same time and get the same answer."""
    matches = secret_matches(given, expected if expected is not None else _UNKNOWN)
    return expected is not None and matches


def mask(value: str, keep_last: int = 4) -> str:
    """``****1234``: what may appear in logs and the dashboard instead of a secret or number."""
    if len(value) <= keep_last:
        return "*" * len(value)
    return "*" * (len(value) - keep_last) + value[-keep_last:]
