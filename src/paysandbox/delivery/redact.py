"""Hide secrets (a provider's shared secret inside a callback body) wherever a body is shown."""

from __future__ import annotations

import json
from collections.abc import Iterable
from decimal import Decimal
from urllib.parse import parse_qsl, urlencode

import msgspec

REDACTED = "***"
_ENCODE = msgspec.json.Encoder(decimal_format="number")


def redact_body(body: str, content_type: str, secret_keys: Iterable[str]) -> str:
    keys = set(secret_keys)
    if not keys:
        return body
    if "json" in content_type:
        try:
            # numbers as their text (77.70 stays 77.70, not the float 77.7)
            doc = json.loads(body, parse_float=Decimal, parse_int=Decimal)
        except (ValueError, RecursionError):
            return body
        if isinstance(doc, dict) and keys & doc.keys():
            for k in keys & doc.keys():
                doc[k] = REDACTED
            return _ENCODE.encode(doc).decode()
        return body  # nothing to hide: shown exactly as sent
    if "x-www-form-urlencoded" in content_type:
        pairs = [(k, REDACTED if k in keys else v) for k, v in parse_qsl(body, True)]
        return urlencode(pairs)
    return body


def redact_headers(headers: dict[str, str], secret_keys: Iterable[str]) -> dict[str, str]:
    """Headers named in ``secret_keys`` (case-insensitive, e.g. an ``Authorization``)
    shown as ``***``."""
    keys = {k.lower() for k in secret_keys}
    return {k: REDACTED if k.lower() in keys else v for k, v in headers.items()}
