"""Unguessable identifiers.

Every id that grants access to an object (token ids, card tokens, transaction ids) draws from
``secrets``; providers only choose the alphabet, length and decoration of their wire format.
"""

from __future__ import annotations

import secrets
import string

LOWER_ALNUM = string.ascii_lowercase + string.digits
UPPER_HEX = "0123456789ABCDEF"
DIGITS = string.digits


def random_string(length: int, alphabet: str = LOWER_ALNUM) -> str:
    """``length`` characters drawn uniformly from ``alphabet`` by the OS CSPRNG."""
    return "".join(secrets.choice(alphabet) for _ in range(length))


def random_digits(length: int) -> str:
    """A string of ``length`` random decimal digits (leading zeros allowed)."""
    return random_string(length, DIGITS)


def internal_id(prefix: str) -> str:
    """An id for sandbox-internal rows (deliveries, events): prefix + 24 url-safe characters."""
    return f"{prefix}_{secrets.token_hex(12)}"
