"""Smart2Pay HTTP handlers: credentials → decode → service → encode.

Card API: ``POST /v1/card/authenticate``, ``GET /v1/card/token/{value}``,
``POST /v1/card/token/{value}/cancel``. Payments: ``POST|GET /v1/payments``,
``GET /v1/payments/{id}``, ``GET …/status``, ``POST …/capture[?amount=N | ?N]``,
``POST …/cancel``, ``POST|GET …/refunds``, ``GET …/refunds/{refundId}[/status]``,
``GET /v1/refunds/{refundId}/status``. Every path also answers with a trailing slash
(Smart2Pay's PHP SDK sends ``…/cancel/``).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from ...core.clock import from_datetime
from ...edge import Failure, Op
from ...web import BodyError, decode_json, json_response, read_body, require_json
from . import views
from .errors import MEDIA, Smart2PayError, reason
from .schemas import CardAuthenticationIn, PaymentIn, RefundIn
from .service import Body, Credentials, Smart2PayService, unauthorized

Action = Callable[[Request, Credentials], Awaitable[Response]]

_DIGITS = re.compile(r"^\d{1,18}$", re.ASCII)
_JSON: msgspec.json.Decoder[Any] = msgspec.json.Decoder()


def credentials(request: Request) -> Credentials:
    """``Authorization: Basic base64(SiteID:ApiKey)``; anything else is a 401."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic" or not value.strip():
        raise unauthorized()
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise unauthorized() from None
    site, sep, key = decoded.partition(":")
    if not sep or not _DIGITS.match(site):
        raise unauthorized()
    return Credentials(int(site), key)


async def root_object(request: Request, root: str, max_body: int) -> Body:
    """The object under the body's ``root`` key (matched case-insensitively), or the error to
    answer — raised by the service only after the credentials are checked, so a caller with a
    wrong key always gets 401."""
    body = await read_body(request, max_body)
    try:
        if request.headers.get("content-type") is not None:
            require_json(request)  # absent is tolerated; anything but JSON is refused (415)
        doc = decode_json(_JSON, body)
    except BodyError as exc:
        return Smart2PayError([reason("1", f"Invalid data - {exc}")], http_status=exc.http_status)
    obj: Any = None
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key.lower() == root.lower():
                obj = value
    if not isinstance(obj, dict):
        return Smart2PayError(
            [reason("1", f"Invalid data - the body must be a JSON object with a {root} object")]
        )
    return obj


def _id(request: Request, name: str, *, refund: bool = False) -> int:
    raw = request.path_params[name]
    if not _DIGITS.match(raw):
        if refund:
            raise Smart2PayError(
                [reason("1", f"Invalid data - no refund {raw[:40]}")], http_status=404
            )
        raise Smart2PayError([reason("17", "Payment is invalid - no such payment")])
    return int(raw)


def capture_amount(request: Request) -> int | None:
    """Partial capture: ``?amount=N`` (Smart2Pay's .NET SDK) or ``?N`` (the capture page's
    ``capture?{amount}``); no amount = full capture."""
    query = request.url.query
    if not query:
        return None
    found = (
        query
        if query.isdigit()
        else next(
            (v for k, v in parse_qsl(query, keep_blank_values=True) if k.lower() == "amount"), None
        )
    )
    if found is None:
        return None
    raw: str = found
    if not re.fullmatch(r"\d{1,12}", raw, re.ASCII):
        raise Smart2PayError(
            [reason("1012", "Payment.AmountToCapture format is invalid - digits expected")]
        )
    return int(raw)


def answer(body: dict[str, Any], status: int = 200) -> Response:
    return json_response(body, status, media=MEDIA)


def _time_filter(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    for fmt in ("%Y%m%d%H%M%S", "%Y%m%d"):
        try:
            return from_datetime(datetime.strptime(value, fmt).replace(tzinfo=UTC))
        except ValueError:
            continue
    raise Smart2PayError([reason("112", f"DateTime is invalid - {name} wants yyyyMMddHHmmss")])


def _amount_filter(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    if not re.fullmatch(r"\d{1,12}", value, re.ASCII):
        raise Smart2PayError([reason("111", f"Amount is invalid - {name} wants digits")])
    return int(value)


def ops(service: Smart2PayService, *, max_body: int) -> list[Op]:
    def api(action: Action) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            return await action(request, credentials(request))

        return handle

    # -------------------------------------------------------------- card tokens

    async def authenticate(request: Request, creds: Credentials) -> Response:
        doc = await root_object(request, "CardAuthentication", max_body)
        return answer(views.card_authentication(await service.authenticate(creds, doc)), 201)

    async def get_token(request: Request, creds: Credentials) -> Response:
        row = await service.get_token(creds, request.path_params["value"])
        return answer(views.token(row, with_status=False))

    async def cancel_token(request: Request, creds: Credentials) -> Response:
        row = await service.cancel_token(creds, request.path_params["value"])
        return answer(views.token(row, with_status=True))

    # -------------------------------------------------------------- payments

    async def create_payment(request: Request, creds: Credentials) -> Response:
        doc = await root_object(request, "Payment", max_body)
        payment, status = await service.create_payment(creds, doc)
        return answer(views.payment(payment), status)

    async def list_payments(request: Request, creds: Credentials) -> Response:
        q = {k.lower(): v for k, v in request.query_params.items()}
        limit_raw = q.get("limit") or "100"
        if not re.fullmatch(r"\d{1,4}", limit_raw, re.ASCII) or not 1 <= int(limit_raw) <= 1000:
            raise Smart2PayError([reason("107", "Invalid limit - 1 to 1000")])
        filters = {
            "merchant_transaction_id": q.get("merchanttransactionid"),
            "currency": q.get("currency"),
            "min_amount": _amount_filter(q.get("minimumamount"), "minimumAmount"),
            "max_amount": _amount_filter(q.get("maximumamount"), "maximumAmount"),
            "start_us": _time_filter(q.get("startdate"), "startDate"),
            "end_us": _time_filter(q.get("enddate"), "endDate"),
        }
        found = await service.list_payments(creds, filters, int(limit_raw))
        return answer(views.payments(found))

    async def get_payment(request: Request, creds: Credentials) -> Response:
        return answer(views.payment(await service.get_payment(creds, _id(request, "pid"))))

    async def get_status(request: Request, creds: Credentials) -> Response:
        return answer(views.payment_status(await service.get_payment(creds, _id(request, "pid"))))

    async def capture(request: Request, creds: Credentials) -> Response:
        payment_id = _id(request, "pid")
        amount = capture_amount(request)
        payment, status = await service.capture(creds, payment_id, amount)
        return answer(views.payment(payment), status)

    async def cancel(request: Request, creds: Credentials) -> Response:
        return answer(views.payment(await service.cancel(creds, _id(request, "pid"))))

    # -------------------------------------------------------------- refunds

    async def create_refund(request: Request, creds: Credentials) -> Response:
        payment_id = _id(request, "pid")
        doc = await root_object(request, "Refund", max_body)
        refund, status = await service.refund(creds, payment_id, doc)
        return answer(views.refund(refund), status)

    async def list_refunds(request: Request, creds: Credentials) -> Response:
        return answer(views.refunds(await service.refunds(creds, _id(request, "pid"))))

    async def get_refund(request: Request, creds: Credentials) -> Response:
        refund = await service.get_refund(
            creds, _id(request, "pid"), _id(request, "rid", refund=True)
        )
        return answer(views.refund(refund))

    async def get_refund_status(request: Request, creds: Credentials) -> Response:
        pid = _id(request, "pid") if "pid" in request.path_params else None
        refund = await service.get_refund(creds, pid, _id(request, "rid", refund=True))
        return answer(views.refund_status(refund))

    table: list[tuple[str, str, Action, str, Any]] = [
        (
            "/v1/card/authenticate",
            "POST",
            authenticate,
            "Card authentication → credit-card token",
            _AUTH,
        ),
        ("/v1/card/token/{value}", "GET", get_token, "A credit-card token", None),
        ("/v1/card/token/{value}/cancel", "POST", cancel_token, "Cancel a credit-card token", None),
        (
            "/v1/payments",
            "POST",
            create_payment,
            "Create a card payment (Card or CreditCardToken)",
            _PAYMENT,
        ),
        ("/v1/payments", "GET", list_payments, "List payments", None),
        ("/v1/payments/{pid}", "GET", get_payment, "A payment", None),
        ("/v1/payments/{pid}/status", "GET", get_status, "A payment's status", None),
        (
            "/v1/payments/{pid}/capture",
            "POST",
            capture,
            "Capture (full, or partial with ?amount=N)",
            None,
        ),
        ("/v1/payments/{pid}/cancel", "POST", cancel, "Cancel an authorized payment", None),
        ("/v1/payments/{pid}/refunds", "POST", create_refund, "Refund (full or partial)", _REFUND),
        ("/v1/payments/{pid}/refunds", "GET", list_refunds, "A payment's refunds", None),
        ("/v1/payments/{pid}/refunds/{rid}", "GET", get_refund, "A refund", None),
        (
            "/v1/payments/{pid}/refunds/{rid}/status",
            "GET",
            get_refund_status,
            "A refund's status",
            None,
        ),
        ("/v1/refunds/{rid}/status", "GET", get_refund_status, "A refund's status", None),
    ]
    out: list[Op] = []
    for path, method, action, summary, request_type in table:
        handler = api(action)
        out.append(Op(method, path, handler, summary, request_type, public=True))
        # Smart2Pay's PHP SDK sends some paths with a trailing slash (``…/cancel/``).
        out.append(Op(method, path + "/", handler, summary, request_type, alias=True))
    return out


def wrapped(root: str, struct: type) -> Any:
    """``{"<root>": struct}``: the one-top-level-object request bodies, for OpenAPI."""
    return msgspec.defstruct(f"{root}Request", [(root, struct)])


_AUTH = wrapped("CardAuthentication", CardAuthenticationIn)
_PAYMENT = wrapped("Payment", PaymentIn)
_REFUND = wrapped("Refund", RefundIn)


def edge_error(failure: Failure, message: str) -> Smart2PayError:
    if failure == "not_found":
        return Smart2PayError([reason("100", "Invalid route - no Smart2Pay route at this path")])
    if failure == "method_not_allowed":
        return Smart2PayError([reason("105", "Action is invalid - method not allowed here")])
    if failure == "internal":
        return Smart2PayError([reason("18")])
    status = {"content_type": 415, "too_large": 413}.get(failure, 400)
    return Smart2PayError([reason("1", f"Invalid data - {message}")], http_status=status)
