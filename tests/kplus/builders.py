"""Request bodies for K PLUS tests, starting from the documents' own examples."""

from __future__ import annotations

import itertools
from typing import Any

from ..support import KPLUS_ID, KPLUS_SECRET

_seq = itertools.count(1)


def uid(prefix: str = "uid") -> str:
    return f"{prefix}{next(_seq):06d}"


def creds(**extra: Any) -> dict[str, Any]:
    return {
        "partnerTxnUid": uid(),
        "partnerId": KPLUS_ID,
        "partnerSecret": KPLUS_SECRET,
        "requestDt": "2019-07-04T18:00:42.411",
        **extra,
    }


def generate_body(**extra: Any) -> dict[str, Any]:
    body = creds(
        reference1="KS1234567",
        reference2="",
        totalAmount="500",
        shopImageUrl="https://shop.example/logo.png",
        partnerIconUrl=None,
        shopName="Kasikorn Shop",
        shippingFee="0",
        osPlatform="IOS",
        items=[{"itemName": "Shirt", "quantity": "2", "amount": "250"}],
        currencyCode="THB",
        currencyExponent="2",
    )
    body.update(extra)
    return body


V1_HEADERS = {"Partner-Id": KPLUS_ID, "Partner-Secret": KPLUS_SECRET}
