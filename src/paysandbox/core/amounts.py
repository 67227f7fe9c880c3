"""Money amounts: parsing what clients send, storing integer minor units, formatting answers.

Providers send amounts as JSON numbers or strings, in major units ("500", 500.5) or as
zero-padded minor-unit strings ("000000005000"). The core stores every amount as an ``int`` of
minor units, so arithmetic (partial cancels, refunds) is exact.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from .errors import InvalidInput

#: A numeric string: ASCII digits with an optional decimal point (Python's ``Decimal`` would
#: also take "١٢٣٤", "1_000", "1e3" or "+5", which no provider document allows).
_NUMERIC_TEXT = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
MAX_MINOR = 10**15  # a generous ceiling: 10 trillion in major units with two decimals


def parse_major(value: object, *, exponent: int = 2, field: str = "amount") -> int:
    """Parse a major-unit amount (``"500"``, ``500``, ``"12.50"``) into minor units.

    Refuses booleans, negatives, NaN/inf, more fraction digits than ``exponent`` and absurd sizes.
    """
    dec = _to_decimal(value, field)
    scaled = dec.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        raise InvalidInput(f"{field} has more than {exponent} decimal places", field)
    return _bounded(int(scaled), field)


def parse_minor(value: object, *, field: str = "amount") -> int:
    """Parse an integer amount already in minor units (``"10000"``, ``10000``)."""
    dec = _to_decimal(value, field)
    if dec != dec.to_integral_value():
        raise InvalidInput(f"{field} must be a whole number of minor units", field)
    return _bounded(int(dec), field)


def format_major(minor: int, *, exponent: int = 2) -> Decimal:
    """Minor units back to a ``Decimal`` with exactly ``exponent`` fraction digits."""
    return Decimal(minor).scaleb(-exponent).quantize(Decimal(1).scaleb(-exponent))


#: a tuple, not ``str | int | …``: a union written in an expression is built on every call
_NUMBER_TYPES = (str, int, float, Decimal)


def _to_decimal(value: object, field: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, _NUMBER_TYPES):
        raise InvalidInput(f"{field} must be a number or a numeric string", field)
    text = value.strip(" \t\r\n") if isinstance(value, str) else value
    if isinstance(text, str) and (not text or len(text) > 32):
        raise InvalidInput(f"{field} must be a number or a numeric string", field)
    if isinstance(text, str) and not _NUMERIC_TEXT.fullmatch(text):
        if text.lower().lstrip("+-") in ("nan", "inf", "infinity"):
            raise InvalidInput(f"{field} is not a finite number", field)
        raise InvalidInput(f"{field} must be written in ASCII digits (0-9, one '.')", field)
    try:
        dec = Decimal(str(text)) if isinstance(text, float) else Decimal(text)
    except InvalidOperation:
        raise InvalidInput(f"{field} is not a number", field) from None
    if not dec.is_finite():
        raise InvalidInput(f"{field} is not a finite number", field)
    if dec < 0:
        raise InvalidInput(f"{field} must not be negative", field)
    return dec


def _bounded(minor: int, field: str) -> int:
    if minor > MAX_MINOR:
        raise InvalidInput(f"{field} is too large", field)
    return minor
