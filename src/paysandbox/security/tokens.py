"""Comparing a presented control token (or session) with the expected one: constant time, and
the expected value's length does not leak either."""

from __future__ import annotations

import hashlib
import hmac


def digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8", "surrogateescape")).digest()


def same_secret(given: str, expected_digest: bytes) -> bool:
    return hmac.compare_digest(digest(given), expected_digest)
