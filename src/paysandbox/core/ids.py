"""Unguessable identifiers.

Every id that grants access to an object (token ids, card tokens, transaction ids) draws from
the OS CSPRNG (``os.urandom`` / ``secrets``); providers only choose the alphabet, length and
decoration of their wire format.
"""

from __future__ import annotations

import os
import secrets
import string

LOWER_ALNUM = string.ascii_lowercase + string.digits
UPPER_HEX = "0123456789ABCDEF"
DIGITS = string.digits


def random_string(length: int, alphabet: str = LOWER_ALNUM) -> str:
    """``length`` characters drawn uniformly from ``alphabet`` (ASCII) by the OS CSPRNG.

    Random bytes mapped through a table: a byte below the largest multiple of
    ``len(alphabet)`` under 256 picks ``alphabet[byte % len(alphabet)]``, every other byte is
    dropped, so each character is equally likely (this runs on every token issued).
    """
    table, drop = _tables.get(alphabet) or _table(alphabet)
    out = b""
    while len(out) < length:
        out += os.urandom(length + length // 2 + 8).translate(table, drop)
    return out[:length].decode("ascii")


_tables: dict[str, tuple[bytes, bytes]] = {}


def _table(alphabet: str) -> tuple[bytes, bytes]:
    if not alphabet.isascii() or not 1 < len(alphabet) <= 256:
        raise ValueError("random_string needs 2 to 256 ASCII characters")
    limit = 256 - 256 % len(alphabet)
    codes = alphabet.encode("ascii")
    table = bytes(codes[b % len(codes)] for b in range(256))
    found = _tables[alphabet] = (table, bytes(range(limit, 256)))
    return found


def random_digits(length: int) -> str:
    """A string of ``length`` random decimal digits (leading zeros allowed)."""
    return random_string(length, DIGITS)


def internal_id(prefix: str) -> str:
    """An id for sandbox-internal rows (deliveries, events): prefix + 24 url-safe characters."""
    return f"{prefix}_{secrets.token_hex(12)}"
