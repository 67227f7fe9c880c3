"""Smart2Pay HTTP handlers: credentials → decode → service → encode.

Card API: ``POST /v1/card/authenticate``, ``GET /v1/card/token/{value}``,
``POST /v1/card/token/{value}/cancel``. Payments: ``POST|GET /v1/payments``,
``GET /v1/payments/{id}``, ``GET …/status``, ``POST …/capture[?amount=N | ?N]``,
``POST …/cancel``, ``POST|GET …/refunds``, ``GET …/refunds/{refundId}[/status]``,
``GET /v1/refunds/{refundId}/status``, ``GET /v1/payments/{id}/captures[/{captureId}]``.
Every path also answers with a trailing slash (Smart2Pay's PHP SDK sends ``…/cancel/``).
``OPTIONS /v1/card/authenticate`` is the CORS preflight of Smart2Pay's browser js-sdk
(``cors.py``). A POST with a ``RequestId`` header is answered once per RequestId
(``service/requests.py``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from ...edge import Failure, Op
from ...web import BodyError, decode_json, json_response, own_base_url, read_body, require_json
from . import listing, views
from .cors import Cors
from .errors import MEDIA, Smart2PayError, reason
from .schemas import CardAuthenticationIn, PaymentIn, RefundIn
from .service import Body, Credentials, RequestKey, Smart2PayService, unauthorized

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
    except msgspec.ValidationError as exc:  # untyped: only a number past msgspec's range
        return Smart2PayError([reason("1", f"Invalid data - {exc}")])
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
    ``capture?{amount}``); no query = full capture. Any other query (``?amt=4500``,
    ``?-5``, ``?4500&x=1``) is refused with 1012: a mistyped partial capture must not
    capture the whole amount."""
    query = request.url.query
    if not query:
        return None
    pairs = parse_qsl(query, keep_blank_values=True)
    found = next((v for k, v in pairs if k.lower() == "amount"), None)
    if found is None and "=" not in query and "&" not in query:
        found = query  # the ``?N`` form: the whole query is the amount
    if found is None:
        raise Smart2PayError(
            [
                reason(
                    "1012",
                    "Payment.AmountToCapture format is invalid - a partial capture is "
                    "?amount=N or ?N",
                )
            ]
        )
    if not re.fullmatch(r"\d{1,12}", found, re.ASCII):
        raise Smart2PayError(
            [reason("1012", "Payment.AmountToCapture format is invalid - digits expected")]
        )
    return int(found)


def _names_amount(doc: Any, depth: int = 0) -> bool:
    """Does a JSON document have a key with "amount" in its name, at any depth (bounded)?"""
    if depth > 32:
        return True  # nested past any real request: not read as a full capture either
    if isinstance(doc, dict):
        return any(
            "amount" in str(k).lower() or _names_amount(v, depth + 1) for k, v in doc.items()
        )
    if isinstance(doc, list):
        return any(_names_amount(v, depth + 1) for v in doc)
    return False


def body_amount_refused(body: bytes) -> Smart2PayError | None:
    """A capture's amount travels in the query only (``capture_amount``); Smart2Pay's SDKs send
    no body. A JSON body naming an amount (``{"Amount": 100}``, ``{"Payment": {"Amount":
    100}}``) is a partial capture asked the wrong way: refused with 1012 rather than read as
    a full capture. Any other body (``{}``, text) is ignored, as before."""
    if not body.strip():
        return None
    try:
        doc = msgspec.json.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError, RecursionError):
        return None
    if not _names_amount(doc):
        return None
    return Smart2PayError(
        [
            reason(
                "1012",
                "Payment.AmountToCapture format is invalid - a partial capture's amount is "
                "sent as ?amount=N or ?N, not in the body",
            )
        ]
    )


def answer(body: dict[str, Any], status: int = 200) -> Response:
    return json_response(body, status, media=MEDIA)


_REQUEST_ID = re.compile(r"^[\x21-\x7e]{1,128}$", re.ASCII)


def request_key(request: Request, body: bytes) -> RequestKey | None:
    """The POST's ``RequestId`` header and the fingerprint of what it asks: method, path (any
    trailing slash aside), query and body (JSON compared by meaning, not by spacing)."""
    request_id = request.headers.get("requestid")
    if request_id is None:
        return None
    request_id = request_id.strip()
    if not _REQUEST_ID.match(request_id):
        raise Smart2PayError(
            [reason("1", "Invalid data - RequestId must be 1 to 128 visible ASCII characters")]
        )
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        canonical = body
    digest = hashlib.sha256()
    for part in (request.method, request.url.path.rstrip("/"), request.url.query):
        digest.update(part.encode() + b"\n")
    digest.update(canonical)
    return RequestKey(request_id, digest.hexdigest())


def _replay(request: Request, body: bytes) -> Request:
    """The same request with its body already read (so the action can read it again)."""

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(request.scope, receive)


def ops(
    service: Smart2PayService,
    *,
    max_body: int,
    cors: Cors | None = None,
    public_url: str | None = None,
) -> list[Op]:
    browser = cors or Cors(["*"])

    def base_url(request: Request) -> str:
        return own_base_url(request, public_url)

    def api(action: Action) -> Callable[[Request], Awaitable[Response]]:
        async def handle(request: Request) -> Response:
            creds = credentials(request)
            if request.method == "POST":
                raw = await read_body(request, max_body)
                request = _replay(request, raw)
                creds = Credentials(creds.site_id, creds.api_key, request_key(request, raw))
            return await action(request, creds)

        return handle

    # -------------------------------------------------------------- card tokens

    async def authenticate(request: Request, creds: Credentials) -> Response:
        doc = await root_object(request, "CardAuthentication", max_body)
        status, body = await service.authenticate(creds, doc)
        return answer(body, status)

    async def get_token(request: Request, creds: Credentials) -> Response:
        row = await service.get_token(creds, request.path_params["value"])
        return answer(views.token(row, with_status=False))

    async def cancel_token(request: Request, creds: Credentials) -> Response:
        status, body = await service.cancel_token(creds, request.path_params["value"])
        return answer(body, status)

    # -------------------------------------------------------------- payments

    async def create_payment(request: Request, creds: Credentials) -> Response:
        doc = await root_object(request, "Payment", max_body)
        status, body = await service.create_payment(creds, doc, base_url(request))
        return answer(body, status)

    async def list_payments(request: Request, creds: Credentials) -> Response:
        query = listing.parse(request.query_params.multi_items())
        return answer(views.payments(await service.list_payments(creds, query)))

    async def get_payment(request: Request, creds: Credentials) -> Response:
        return answer(views.payment(await service.get_payment(creds, _id(request, "pid"))))

    async def get_status(request: Request, creds: Credentials) -> Response:
        return answer(views.payment_status(await service.get_payment(creds, _id(request, "pid"))))

    async def capture(request: Request, creds: Credentials) -> Response:
        payment_id = _id(request, "pid")
        amount: int | Smart2PayError | None
        try:
            amount = capture_amount(request)
        except Smart2PayError as refused:  # answered after the key is checked (else 401)
            amount = refused
        if amount is None or isinstance(amount, int):
            amount = body_amount_refused(await read_body(request, max_body)) or amount
        status, body = await service.capture(creds, payment_id, amount)
        return answer(body, status)

    async def cancel(request: Request, creds: Credentials) -> Response:
        status, body = await service.cancel(creds, _id(request, "pid"))
        return answer(body, status)

    async def list_captures(request: Request, creds: Credentials) -> Response:
        payment, found = await service.captures(creds, _id(request, "pid"))
        return answer(views.captures(payment, found))

    async def get_capture(request: Request, creds: Credentials) -> Response:
        payment_id = _id(request, "pid")
        raw = request.path_params["cid"]
        if not _DIGITS.match(raw):
            raise Smart2PayError(
                [reason("1", f"Invalid data - no capture {raw[:40]}")], http_status=404
            )
        payment, found = await service.capture_of(creds, payment_id, int(raw))
        return answer(views.capture(payment, found))

    # -------------------------------------------------------------- refunds

    async def create_refund(request: Request, creds: Credentials) -> Response:
        payment_id = _id(request, "pid")
        doc = await root_object(request, "Refund", max_body)
        status, body = await service.refund(creds, payment_id, doc)
        return answer(body, status)

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
        ("/v1/payments/{pid}/captures", "GET", list_captures, "A payment's captures", None),
        ("/v1/payments/{pid}/captures/{cid}", "GET", get_capture, "A capture", None),
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

    async def preflight(request: Request) -> Response:
        return browser.preflight(request)

    out: list[Op] = []
    for path, method, action, summary, request_type in table:
        handler = api(action)
        if path == "/v1/card/authenticate":
            handler = _with_cors(handler, browser)
            out.append(Op("OPTIONS", path, preflight, "CORS preflight (Smart2Pay's js-sdk)"))
            out.append(Op("OPTIONS", path + "/", preflight, "CORS preflight", alias=True))
        out.append(Op(method, path, handler, summary, request_type, public=True))
        # Smart2Pay's PHP SDK sends some paths with a trailing slash (``…/cancel/``).
        out.append(Op(method, path + "/", handler, summary, request_type, alias=True))
    return out


def _with_cors(
    handler: Callable[[Request], Awaitable[Response]], browser: Cors
) -> Callable[[Request], Awaitable[Response]]:
    """The browser-facing route: CORS headers on every answer, errors included (so the page's
    script can read a 401 or 400)."""

    async def handle(request: Request) -> Response:
        try:
            response = await handler(request)
        except Smart2PayError as exc:
            response = exc.render(request)
        except BodyError as exc:
            response = edge_error(exc.kind, str(exc)).render(request)
        response.headers.update(browser.headers(request))
        return response

    return handle


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
