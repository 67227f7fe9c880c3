"""``GET /v1/payments`` query rules: every filter Smart2Pay's SDKs send, checked and turned
into store filters. A filter value that cannot match anything Smart2Pay knows is refused in
Smart2Pay's error format rather than silently ignored (wrong data is worse than an error).

Filters (names matched case-insensitively, as the SDKs spell them differently; the
codes are those of Smart2Pay's return-code table as its .NET SDK lists them):
``limit`` (1–1000, default 100), ``offset`` (0 or more), ``statusID`` (a payment status id),
``country`` (ISO-3166 alpha-2 of the billing address), ``currency`` (ISO-4217 alpha-3),
``merchantTransactionID``, ``minimumAmount`` / ``maximumAmount`` (minor units),
``startDate`` / ``endDate`` (``yyyyMMddHHmmss`` or ``yyyyMMdd``, UTC). Other names are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ...core.clock import from_datetime
from .errors import Reason, Smart2PayError, reason
from .model import STATUS_IDS

_STATUS_BY_ID = {v: k for k, v in STATUS_IDS.items()}


@dataclass(frozen=True)
class ListQuery:
    limit: int
    offset: int
    filters: dict[str, Any]


def _time(value: str, name: str, reasons: list[Reason]) -> int | None:
    for fmt in ("%Y%m%d%H%M%S", "%Y%m%d"):
        try:
            return from_datetime(datetime.strptime(value, fmt).replace(tzinfo=UTC))
        except ValueError:
            continue
    reasons.append(reason("112", f"DateTime is invalid - {name} wants yyyyMMddHHmmss"))
    return None


def _amount(value: str, name: str, reasons: list[Reason]) -> int | None:
    if not re.fullmatch(r"\d{1,12}", value, re.ASCII):
        reasons.append(reason("111", f"Amount is invalid - {name} wants digits"))
        return None
    return int(value)


def parse(params: Iterable[tuple[str, str]]) -> ListQuery:
    """The checked query; every bad value is reported at once (one 400)."""
    q = {k.lower(): v.strip() for k, v in params}
    reasons: list[Reason] = []
    limit_raw = q.get("limit") or "100"
    limit = 100
    if re.fullmatch(r"\d{1,4}", limit_raw, re.ASCII) and 1 <= int(limit_raw) <= 1000:
        limit = int(limit_raw)
    else:
        reasons.append(reason("107", "Invalid limit - 1 to 1000"))
    offset = 0
    if q.get("offset"):
        if re.fullmatch(r"\d{1,9}", q["offset"], re.ASCII):
            offset = int(q["offset"])
        else:
            reasons.append(reason("106", "Invalid offset - 0 or a positive whole number"))
    status: str | None = None
    if q.get("statusid"):
        raw = q["statusid"]
        found = _STATUS_BY_ID.get(int(raw)) if re.fullmatch(r"\d{1,3}", raw, re.ASCII) else None
        if found is None:
            reasons.append(
                reason("2", f"Validation failed - statusID {raw[:20]} is not a payment status id")
            )
        status = found
    country: str | None = None
    if q.get("country"):
        if re.fullmatch(r"[A-Za-z]{2}", q["country"], re.ASCII):
            country = q["country"].upper()
        else:
            reasons.append(reason("108", "Invalid country - ISO-3166 alpha-2 expected"))
    currency: str | None = None
    if q.get("currency"):
        if re.fullmatch(r"[A-Za-z]{3}", q["currency"], re.ASCII):
            currency = q["currency"].upper()
        else:
            reasons.append(reason("109", "Invalid currency - ISO-4217 alpha-3 expected"))
    filters: dict[str, Any] = {
        "merchant_transaction_id": q.get("merchanttransactionid") or None,
        "currency": currency,
        "country": country,
        "status": status,
        "min_amount": _amount(q["minimumamount"], "minimumAmount", reasons)
        if q.get("minimumamount")
        else None,
        "max_amount": _amount(q["maximumamount"], "maximumAmount", reasons)
        if q.get("maximumamount")
        else None,
        "start_us": _time(q["startdate"], "startDate", reasons) if q.get("startdate") else None,
        "end_us": _time(q["enddate"], "endDate", reasons) if q.get("enddate") else None,
    }
    if reasons:
        raise Smart2PayError(reasons, http_status=400)
    return ListQuery(limit, offset, filters)
