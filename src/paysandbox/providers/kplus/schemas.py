"""K PLUS wire structs, with KBank's exact field names (including ``paymentRefernceId``).

Requests: unknown fields are ignored (real clients send extras); amounts and ``requestDt``
accept strings and numbers, as the documents and their examples disagree. Responses are plain
dicts built in ``views.py`` so every documented field is present, null when it has no value.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

Uid = Annotated[str, Meta(min_length=1, max_length=64)]
PartnerId = Annotated[str, Meta(min_length=1, max_length=64)]
Secret = Annotated[str, Meta(max_length=256)]
TokenId = Annotated[str, Meta(min_length=1, max_length=64)]
Ref = Annotated[str, Meta(max_length=64)]
Text = Annotated[str, Meta(max_length=255)]
Url = Annotated[str, Meta(max_length=2048)]
ImageUrl = Annotated[str, Meta(max_length=1_000_000)]  # may be a base64 data: URL
Loose = str | int | float  # amounts, counts and times: string or number on the wire


class Common(msgspec.Struct, kw_only=True):
    partnerTxnUid: Uid
    partnerId: PartnerId
    partnerSecret: Secret
    requestDt: Loose


class Item(msgspec.Struct, kw_only=True):
    itemName: Text | None = None
    quantity: Loose | None = None
    amount: Loose | None = None


class GenerateToken(Common, kw_only=True):
    reference1: Ref
    reference2: Ref | None = None
    totalAmount: Loose
    shopImageUrl: ImageUrl
    partnerIconUrl: ImageUrl | None = None
    shopName: Text
    shippingFee: Loose
    osPlatform: Annotated[str, Meta(max_length=16)]
    items: Annotated[list[Item], Meta(max_length=200)] | None = None
    currencyCode: Annotated[str, Meta(max_length=8)]
    currencyExponent: Loose
    buyerName: Text | None = None
    partnerToken: Text | None = None
    promotionCode: Ref | None = None
    additionalInfo1: Text | None = None
    additionalInfo2: Text | None = None
    additionalInfo3: Text | None = None


class InquireToken(Common, kw_only=True):
    tokenId: TokenId


class CancelToken(Common, kw_only=True):
    tokenId: TokenId
    reference1: Ref


class PayToken(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Body of ``POST /_sandbox/kplus/tokens/{id}/pay`` (optional)."""

    paymentAccount: Annotated[str, Meta(min_length=4, max_length=32)] | None = None
