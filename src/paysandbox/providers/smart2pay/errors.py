"""Smart2Pay return codes and the error body.

Every error answer carries the same top-level object as a success answer (``Payment``,
``Refund``, ``CardAuthentication``, ``Refunds`` lists aside) with ``Status.Reasons[]`` of
``{"Code": "<digits>", "Info": "…"}`` — ``Code`` is a JSON string, as in Smart2Pay's examples.

``CODES`` is the single table of every return code paysandbox sends on the Smart2Pay routes,
with the HTTP status it goes with and its Info text; docs/smart2pay.md prints the same table.
Field codes (1000–2404) get a field-specific Info built by ``rules.py`` ("Card.Number is
invalid - RegEx: …").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ...edge import WireError
from ...web import json_response

MEDIA = "application/json; charset=utf-8"


@dataclass(frozen=True)
class Code:
    http_status: int
    info: str
    when: str


CODES: dict[str, Code] = {
    "0": Code(401, "No valid authorization header provided", "missing or wrong Basic credentials"),
    "1": Code(400, "Invalid data", "body not JSON / not an object / root object missing"),
    "2": Code(400, "Validation failed", "a field without a more specific code is invalid"),
    "13": Code(
        402,
        "Generic error",
        "test amount 10001: the authorization fails; or Fail on paysandbox's 3-D Secure page",
    ),
    "17": Code(404, "Payment is invalid", "no such payment on this site"),
    "18": Code(500, "Technical error", "unexpected failure inside paysandbox"),
    "20": Code(400, "Key is duplicated", "MerchantTransactionID already used on this site"),
    "100": Code(404, "Invalid route", "no Smart2Pay route at this path"),
    "104": Code(402, "Transaction lifetime expired", "test amount 10005: capture time limit"),
    "105": Code(405, "Action is invalid", "the route exists with another HTTP method"),
    "106": Code(400, "Invalid offset", "GET /v1/payments ?offset not a whole number"),
    "107": Code(400, "Invalid limit", "GET /v1/payments ?limit not 1-1000"),
    "108": Code(400, "Invalid country", "GET /v1/payments ?country not ISO-3166 alpha-2"),
    "109": Code(400, "Invalid currency", "GET /v1/payments ?currency not ISO-4217 alpha-3"),
    "111": Code(400, "Amount is invalid", "GET /v1/payments ?minimumAmount/maximumAmount"),
    "112": Code(400, "DateTime is invalid", "DateOfBirth / InputDateTime / ?startDate/endDate"),
    "119": Code(
        200,
        "Transaction cancelled by customer",
        "Cancel on paysandbox's hosted card form (the payment becomes Cancelled)",
    ),
    "114": Code(400, "Skin ID is invalid", "Payment.SkinID invalid"),
    "1000": Code(400, "Payment.MerchantTransactionID is invalid", "missing or bad format"),
    "1001": Code(400, "Payment.Amount is invalid", "missing, not digits, or 0"),
    "1002": Code(400, "Payment.Currency is invalid", "missing or not 3 upper-case letters"),
    "1003": Code(400, "Payment.ReturnURL is invalid", "longer than 2048 characters"),
    "1004": Code(400, "Payment.Description is invalid", "longer than 255 characters"),
    "1005": Code(400, "Payment.StatementDescriptor is invalid", "longer than 255 characters"),
    "1006": Code(402, "Payment.State is invalid", "capture/cancel outside Authorized"),
    "1011": Code(400, "Payment.OriginatorTransactionID is invalid", "bad format"),
    "1012": Code(400, "Payment.AmountToCapture format is invalid", "capture ?amount not digits"),
    "1013": Code(
        400,
        "Payment.AmountToCapture exceeds initial payment authorized amount",
        "capture amount 0 or above the authorized amount",
    ),
    "1200": Code(400, "Card.HolderName is invalid", "contains digits"),
    "1201": Code(400, "Card.Number is invalid", "not 16-19 digits, or Luhn check fails"),
    "1202": Code(400, "Card.ExpirationMonth is invalid", "not 1-12"),
    "1203": Code(400, "Card.ExpirationYear is invalid", "not YY or 20YY"),
    "1204": Code(400, "Card.SecurityCode is invalid", "not 3-4 digits"),
    "1206": Code(400, "Card details are missing", "CardAuthentication without Card"),
    "1401": Code(400, "Address.City is invalid", "longer than 255"),
    "1402": Code(400, "Address.ZipCode is invalid", "longer than 255"),
    "1403": Code(400, "Address.State is invalid", "longer than 255"),
    "1404": Code(400, "Address.Street is invalid", "longer than 255"),
    "1405": Code(400, "Address.StreetNumber is invalid", "longer than 255"),
    "1406": Code(400, "Address.HouseNumber is invalid", "longer than 255"),
    "1407": Code(400, "Address.HouseExtension is invalid", "longer than 255"),
    "1408": Code(400, "Address.Country is invalid", "not ISO-3166 alpha-2"),
    "1410": Code(400, "Address.ID is invalid", "not 1-12 digits"),
    "1600": Code(400, "Customer.MerchantCustomerID is invalid", "bad format"),
    "1601": Code(400, "Customer.Email is invalid", "bad format"),
    "1602": Code(400, "Customer.FirstName is invalid", "not text"),
    "1603": Code(400, "Customer.LastName is invalid", "not text"),
    "1604": Code(400, "Customer.Gender is invalid", "not text"),
    "1605": Code(400, "Customer.SocialSecurityNumber is invalid", "not text"),
    "1606": Code(400, "Customer.Phone is invalid", "not text"),
    "1607": Code(400, "Customer.Company is invalid", "not text"),
    "1608": Code(400, "Customer.ID is invalid", "not 1-12 digits"),
    "2200": Code(400, "Refund.MerchantTransactionID is invalid", "missing or bad format"),
    "2201": Code(400, "Refund.Amount is invalid", "missing, not digits, or 0"),
    "2202": Code(400, "Refund.Currency is invalid", "bad format or not the payment's currency"),
    "2203": Code(400, "Refund.Description is invalid", "longer than 255"),
    "2204": Code(400, "Refund.StatementDescriptor is invalid", "longer than 255"),
    "2205": Code(402, "Refund.State is invalid", "payment not captured (or failed/cancelled)"),
    "2206": Code(
        402,
        "Refund.Amount exceeds initial payment available amount",
        "refund above captured minus refunded (stored as a Failed refund)",
    ),
    "2207": Code(402, "Another refund is in process", "an Open refund exists (test amount 10004)"),
    "2209": Code(400, "Refund.OriginatorTransactionID is invalid", "bad format"),
    "2400": Code(400, "CreditCardToken is invalid", "unknown token (404 on the token routes)"),
    "2401": Code(402, "CreditCardToken is not available", "token canceled"),
    "2404": Code(400, "CreditCardToken details are missing", "CreditCardToken without Value"),
    "2600": Code(400, "Credit card details are missing", "payment without Card or token"),
    "5288": Code(
        201, "Capture failed but will retry again later", "test amount 10002 (QueuedForCapturing)"
    ),
}

Reason = tuple[str, str]  # (code, info)


def reason(code: str, info: str | None = None) -> Reason:
    if code not in CODES:
        raise ValueError(f"undocumented Smart2Pay return code {code!r}")
    return code, info if info is not None else CODES[code].info


def reasons_json(reasons: list[Reason] | tuple[Reason, ...]) -> list[dict[str, str]]:
    return [{"Code": c, "Info": i} for c, i in reasons]


class Smart2PayError(WireError):
    """An error answer: ``reasons`` (codes of ``CODES``), HTTP status, and optionally the object
    body to show (``body``, without its Status) and the status to put in it."""

    def __init__(
        self,
        reasons: list[Reason],
        *,
        http_status: int | None = None,
        body: dict[str, Any] | None = None,
        status: tuple[int | None, str | None] = (None, None),
    ) -> None:
        super().__init__("; ".join(f"{c} {i}" for c, i in reasons))
        if not reasons:
            raise ValueError("an error needs at least one reason")
        for c, _ in reasons:
            if c not in CODES:
                raise ValueError(f"undocumented Smart2Pay return code {c!r}")
        self.reasons = reasons
        self.http_status = http_status or CODES[reasons[0][0]].http_status
        self.body = body
        self.status = status

    @property
    def wire_code(self) -> str:
        return self.reasons[0][0]

    @property
    def wire_message(self) -> str:
        return self.reasons[0][1]

    def render(self, request: Request) -> Response:
        return error_response(root_for(request.url.path), self)


def root_for(path: str) -> str:
    """The top-level object of the answers on ``path`` (errors carry it too)."""
    if path.startswith("/v1/card/"):
        return "CardAuthentication"
    if "/refunds" in path:
        return "Refund"
    return "Payment"


def error_body(
    root: str, reasons: list[Reason], body: dict[str, Any] | None, status: tuple[Any, Any]
) -> dict[str, Any]:
    obj = dict(body or {})
    obj["Status"] = {"ID": status[0], "Info": status[1], "Reasons": reasons_json(reasons)}
    return {root: obj}


def error_response(root: str, exc: Smart2PayError) -> Response:
    headers = {"WWW-Authenticate": 'Basic realm="GlobalPay"'} if exc.http_status == 401 else None
    return json_response(
        error_body(root, exc.reasons, exc.body, exc.status), exc.http_status, headers, MEDIA
    )
