"""K PLUS field rules that the struct types cannot express: amounts, currency, dates, masks.

Choices (docs/kplus.md): an amount that is exactly 12 digits is KBank's documented zero-padded
minor-unit form (``000000005000`` = 50.00); anything else is a major-unit decimal with at most
two fraction digits (``"500"``, ``500``, ``"12.50"``). Dates in answers are Bangkok local time
``yyyy-MM-ddTHH:mm:ss`` as in KBank's examples.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

from ...core import amounts
from ...core.errors import InvalidInput
from .errors import KPlusError

BANGKOK = timezone(timedelta(hours=7), "Asia/Bangkok")
_MINOR_12 = re.compile(r"^\d{12}$", re.ASCII)
_ISO = re.compile(
    r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?(Z|[+-]\d{2}:?\d{2})?$",
    re.ASCII,
)
PLATFORMS = {"IOS", "ANDROID"}


def parse_amount(value: object, field: str, *, allow_zero: bool) -> int:
    """A K PLUS amount in satang (minor units)."""
    try:
        if isinstance(value, str) and _MINOR_12.match(value.strip()):
            minor = amounts.parse_minor(value, field=field)
        else:
            minor = amounts.parse_major(value, exponent=2, field=field)
    except InvalidInput as exc:
        raise KPlusError("invalid_txn_amount", str(exc)) from None
    if minor == 0 and not allow_zero:
        raise KPlusError("invalid_txn_amount", f"{field} must be greater than zero")
    return minor


def parse_quantity(value: object, field: str) -> int:
    """A whole, non-negative item count, as a number or digit string."""
    try:
        return amounts.parse_minor(value, field=field)
    except InvalidInput as exc:
        raise KPlusError("invalid_parameter", str(exc)) from None


#: requestDt texts already found valid (a client often sends one value many times); bounded
_VALID_DT: dict[str, None] = {}
_VALID_DT_MAX = 4096


def parse_request_dt(value: object) -> str:
    """Accept unix seconds (or milliseconds) as number or digits, or ISO-8601 text."""
    if type(value) is str and value in _VALID_DT:
        return value.strip()
    if isinstance(value, bool):
        raise KPlusError("invalid_parameter", "requestDt must be a unix timestamp or ISO text")
    if isinstance(value, (int, float)):
        if value < 0 or value > 10**14:
            raise KPlusError("invalid_parameter", "requestDt is out of range")
        return str(int(value))
    text = str(value).strip()
    if text.isascii() and text.isdigit() and len(text) <= 14:
        return text
    if len(text) <= 40 and _ISO.match(text):
        try:
            datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            if type(value) is str:
                if len(_VALID_DT) >= _VALID_DT_MAX:
                    _VALID_DT.clear()
                _VALID_DT[value] = None
            return text
    raise KPlusError("invalid_parameter", "requestDt must be a unix timestamp or ISO-8601 text")


def check_currency(code: str, exponent: object) -> None:
    if code.strip().upper() != "THB":
        raise KPlusError("invalid_currency_code", "currencyCode must be THB")
    if str(exponent).strip() != "2":
        raise KPlusError("invalid_parameter", "currencyExponent must be 2")


def check_platform(value: str) -> str:
    platform = value.strip().upper()
    if platform not in PLATFORMS:
        raise KPlusError("invalid_parameter", "osPlatform must be IOS or ANDROID")
    return platform


def check_image_url(value: str, field: str) -> str:
    if value.startswith(("http://", "https://")) and len(value) <= 2048:
        return value
    if value.startswith("data:image/") and ";base64," in value[:64]:
        return value
    raise KPlusError("invalid_parameter", f"{field} must be an http(s) URL or a data:image URL")


def kbank_time(us: int | None) -> str | None:
    """Bangkok local time as KBank's examples write it (``2019-07-11T13:53:04``)."""
    if us is None:
        return None
    return (_BANGKOK_EPOCH + timedelta(microseconds=us)).isoformat(timespec="seconds")


#: the Unix epoch on a Bangkok wall clock (UTC+7 all year: Thailand keeps no summer time)
_BANGKOK_EPOCH = datetime(1970, 1, 1, 7)


def unix_seconds(us: int | None) -> int | None:
    return None if us is None else us // 1_000_000


#: paysandbox's own test amounts (KBank's sandbox has none), in satang: the customer's side
#: decided at generation, deterministically on the sandbox clock. Other amounts: unchanged.
DECLINE_AMOUNT = 400100  # 4,001.00 THB: the customer declines in the app as the token is issued
EXPIRE_AMOUNT = 400200  # 4,002.00 THB: the token expires the moment it is generated


def test_outcome(total_amount: int) -> str | None:
    """``"decline"``, ``"expire"`` or None for the token's ``totalAmount`` (satang)."""
    return {DECLINE_AMOUNT: "decline", EXPIRE_AMOUNT: "expire"}.get(int(total_amount))


_MASKED = re.compile(r"^x-x-x(\d{4})-x$", re.IGNORECASE)


def mask_account(account: str) -> str:
    """KBank's masked account form ``x-x-x0055-x`` (account format XXX-X-XXXXX-X). An account
    already in that form (as KBank's documents show it) is kept as given (lower-case ``x``)."""
    already = _MASKED.match(account.strip())
    if already:
        return f"x-x-x{already.group(1)}-x"
    digits = re.sub(r"\D", "", account)
    if len(digits) < 5:
        raise KPlusError(
            "invalid_parameter",
            "paymentAccount must hold at least 5 digits, or be masked as x-x-x0055-x",
        )
    return f"x-x-x{digits[-5:-1]}-x"


def utc_iso(us: int) -> str:
    return datetime.fromtimestamp(us / 1_000_000, UTC).isoformat(timespec="milliseconds")
