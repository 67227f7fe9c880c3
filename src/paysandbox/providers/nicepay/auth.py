"""merchantToken: lower-case hex SHA-256 of a plain concatenation, per operation.

| operation | formula |
|---|---|
| registration, payment, inquiry | timeStamp + iMid + referenceNo + amt + merchantKey |
| cancel | timeStamp + iMid + tXid + amt + merchantKey |
| notification (NICEPay → merchant) | iMid + tXid + amt + merchantKey |

A refusal names the formula but never the expected value; the comparison is constant-time.
Upper-case hex is accepted too (the digest is the same number).
"""

from __future__ import annotations

import hashlib

from ...core.credentials import secret_matches
from .errors import NicepayError

FORMULAS = {
    "registration": "timeStamp + iMid + referenceNo + amt + merchantKey",
    "payment": "timeStamp + iMid + referenceNo + amt + merchantKey",
    "inquiry": "timeStamp + iMid + referenceNo + amt + merchantKey",
    "cancel": "timeStamp + iMid + tXid + amt + merchantKey",
    "notification": "iMid + tXid + amt + merchantKey",
}


def sha256_hex(*parts: str) -> str:
    return hashlib.sha256("".join(parts).encode("utf-8")).hexdigest()


def order_token(time_stamp: str, imid: str, reference_no: str, amt: str, key: str) -> str:
    """registration / payment / inquiry."""
    return sha256_hex(time_stamp, imid, reference_no, amt, key)


def cancel_token(time_stamp: str, imid: str, t_xid: str, amt: str, key: str) -> str:
    return sha256_hex(time_stamp, imid, t_xid, amt, key)


def notification_token(imid: str, t_xid: str, amt: str, key: str) -> str:
    return sha256_hex(imid, t_xid, amt, key)


def verify(given: str | None, expected: str, operation: str) -> None:
    """Raise 9010 unless ``given`` is ``expected``; the message names only the formula."""
    ok = secret_matches(given.lower() if given is not None else None, expected)
    if not ok:
        raise NicepayError(
            "token_invalid", f"merchantToken must be SHA256({FORMULAS[operation]}), lower-case hex"
        )
