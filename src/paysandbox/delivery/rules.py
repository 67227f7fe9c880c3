"""When does a merchant's answer count as a successful delivery? One rule per provider contract.

* ``http_2xx`` — any 2xx status (Smart2Pay notifications).
* ``http_200`` — exactly 200 (NICEPay: "retried until the merchant answers HTTP 200").
* ``kplus_status00`` — 2xx and a JSON body whose ``statusCode`` is ``"00"`` (K PLUS Confirm
  Payment: "anything but statusCode 00, or no answer, is a failed delivery").
"""

from __future__ import annotations

import json
from collections.abc import Callable

SuccessRule = Callable[[int, bytes], bool]


def _http_2xx(status: int, body: bytes) -> bool:
    return 200 <= status < 300


def _http_200(status: int, body: bytes) -> bool:
    return status == 200


def _kplus_status00(status: int, body: bytes) -> bool:
    if not 200 <= status < 300:
        return False
    try:
        doc = json.loads(body)
    except ValueError:
        return False
    return isinstance(doc, dict) and doc.get("statusCode") == "00"


RULES: dict[str, SuccessRule] = {
    "http_2xx": _http_2xx,
    "http_200": _http_200,
    "kplus_status00": _kplus_status00,
}
