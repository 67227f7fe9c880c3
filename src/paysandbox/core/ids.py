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
    """``length`` characters drawn uniformly from ``alphabet`` by the OS CSPRNG.

    One big random integer written in base ``len(alphabet)``: uniform, and ~30x cheaper than a
    ``secrets.choice`` per character (this runs on every token issued).
    """
    base = len(alphabet)
    n = secrets.randbelow(base**length)
    out = []
    for _ in range(length):
        n, digit = divmod(n, base)
        out.append(alphabet[digit])
    return "".join(out)


def random_digits(length: int) -> str:
    """A string of ``length`` random decimal digits (leading zeros allowed)."""
    return random_string(length, DIGITS)


def internal_id(prefix: str) -> str:
    """An id for sandbox-internal rows (deliveries, events): prefix + 24 url-safe characters."""
    return f"{prefix}_{secrets.token_hex(12)}"
