"""Smart2Pay wire structs, with Smart2Pay's exact field names.

Requests are first walked against the field table in ``rules.py`` (every violation reported,
each naming its field, case-insensitive keys, lenient scalar types); the walk's normalised
output is then converted into these structs, so the service works on typed values. Answers are
plain dicts built in ``views.py`` so every documented field is present, null when it has no
value.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import Meta

from ...control.schemas import FaultsBody
from .config import DEMO_SITE_ID


class CustomerIn(msgspec.Struct, kw_only=True):
    ID: int | None = None
    MerchantCustomerID: str | None = None
    Email: str | None = None
    FirstName: str | None = None
    LastName: str | None = None
    Gender: str | None = None
    DateOfBirth: str | None = None
    SocialSecurityNumber: str | None = None
    Phone: str | None = None
    Company: str | None = None
    InputDateTime: str | None = None


class AddressIn(msgspec.Struct, kw_only=True):
    ID: int | None = None
    Country: str | None = None
    City: str | None = None
    ZipCode: str | None = None
    State: str | None = None
    Street: str | None = None
    StreetNumber: str | None = None
    HouseNumber: str | None = None
    HouseExtension: str | None = None


class CardIn(msgspec.Struct, kw_only=True):
    """Never stored or echoed as such: ``rules.card_facts`` keeps brand, last four, expiry,
    holder and issuing country only."""

    HolderName: str | None = None
    Number: str
    ExpirationMonth: str
    ExpirationYear: str
    IssuingBankCountry: str | None = None
    SecurityCode: str | None = None
    RequireSecurityCode: bool | None = None
    Token: str | None = None
    MaskedNumber: str | None = None


class CreditCardTokenIn(msgspec.Struct, kw_only=True):
    Value: str
    RequireSecurityCode: bool | None = None
    SecurityCode: str | None = None


class CardAuthenticationIn(msgspec.Struct, kw_only=True):
    Customer: CustomerIn | None = None
    BillingAddress: AddressIn | None = None
    Card: CardIn


class PaymentIn(msgspec.Struct, kw_only=True):
    MerchantTransactionID: str
    OriginatorTransactionID: str | None = None
    Amount: int
    Currency: str
    ReturnURL: str | None = None
    Description: str | None = None
    StatementDescriptor: str | None = None
    ClientIP: str | None = None
    SkinID: int | None = None
    Capture: bool | None = None
    GenerateCreditCardToken: bool | None = None
    Moto: bool | None = None
    Retry: bool | None = None
    ThreeDSecure: bool | None = msgspec.field(default=None, name="3DSecure")
    PaymentTokenLifetime: int | None = None
    Articles: list[Any] | None = None
    Customer: CustomerIn | None = None
    BillingAddress: AddressIn | None = None
    ShippingAddress: AddressIn | None = None
    Card: CardIn | None = None
    CreditCardToken: CreditCardTokenIn | None = None


class RefundIn(msgspec.Struct, kw_only=True):
    MerchantTransactionID: str
    OriginatorTransactionID: str | None = None
    Amount: int
    Currency: str | None = None
    Description: str | None = None
    StatementDescriptor: str | None = None
    Details: dict[str, Any] | None = None


# ------------------------------------------------------------------ control API bodies


class SiteBody(msgspec.Struct, forbid_unknown_fields=True):
    """``PUT /_sandbox/smart2pay/sites/{siteId}``; an empty notificationUrl removes it."""

    apiKey: Annotated[str, Meta(min_length=1, max_length=256)] | None = None
    notificationUrl: Annotated[str, Meta(max_length=2048)] | None = None
    faults: FaultsBody | None = None


class TokenFixtureBody(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /_sandbox/smart2pay/tokens``: a card token with a chosen ``Value`` (32 hex
    digits, as Smart2Pay's tokens look; absent = a fresh one) for ``siteId`` (default the demo
    site). ``Card`` (default seed 004's: John Doe, 4111111111111111, 02/2021), ``Customer``
    and ``BillingAddress`` are ``CardAuthentication``'s objects, checked by its rules."""

    Value: Annotated[str, Meta(pattern=r"^[0-9A-Fa-f]{32}$")] | None = None
    siteId: int | str = DEMO_SITE_ID
    Card: dict[str, Any] | None = None
    Customer: dict[str, Any] | None = None
    BillingAddress: dict[str, Any] | None = None


class CaptureBody(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /_sandbox/smart2pay/payments/{id}/capture`` (optional): a partial amount."""

    amount: Annotated[int, Meta(ge=1, le=999_999_999_999)] | None = None


class RefundBody(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /_sandbox/smart2pay/payments/{id}/refunds``."""

    amount: Annotated[int, Meta(ge=1, le=999_999_999_999)]
    merchantTransactionId: Annotated[str, Meta(pattern=r"^[0-9a-zA-Z_-]{1,50}$")] | None = None
