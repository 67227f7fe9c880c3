"""NICEPay HTTP handlers at ``/nicepay/direct/v2/<op>``: decode → service → encode.

``registration``, ``inquiry`` and ``cancel`` take JSON (``Content-Type`` matched without regard
to case or parameters). ``payment`` is browser-facing: a form POST, a GET with a query, or JSON;
it answers the 3-D Secure / approval page (``page.py``). Every failure is a NICEPay body
``{"resultCd", "resultMsg"}``; nothing changes state before all checks have passed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from ...edge import Failure, Op
from ...validation import explain
from ...web import decode_json, json_response, media_type, read_body, require_json
from . import page, redirect_page, rules, views
from .errors import NicepayError
from .schemas import Cancel, Inquiry, Payment, Registration
from .service import NicepayService

S = TypeVar("S", Registration, Inquiry, Cancel)

V2 = "/nicepay/direct/v2"


def _field_codes(spec: list[rules.Field], default: str) -> dict[str, str]:
    return {f.name: f.invalid or default for f in spec}


_INVALID: dict[type[Any], tuple[dict[str, str], str]] = {
    Registration: (_field_codes(rules.REGISTRATION, "reg_data"), "reg_data"),
    Inquiry: (_field_codes(rules.INQUIRY, "inquiry_data"), "inquiry_data"),
    Cancel: (_field_codes(rules.cancel_fields(False), "full_cancel"), "full_cancel"),
    Payment: (_field_codes(rules.PAYMENT, "payment_params"), "payment_params"),
}


def validation_error(struct: type[Any], exc: msgspec.ValidationError) -> NicepayError:
    """Only a wrong JSON type gets here (every field is optional text-or-number)."""
    p = explain(str(exc))
    if p.kind == "not_object":
        return NicepayError("http_message", "request body must be a JSON object")
    codes, default = _INVALID[struct]
    field = p.field.split(".", 1)[0]
    return NicepayError(codes.get(field, default), f"{field} must be text or a number")


async def decode(
    request: Request, struct: type[S], decoder: msgspec.json.Decoder[S], max_body: int
) -> S:
    require_json(request)
    body = await read_body(request, max_body)
    try:
        return decode_json(decoder, body)
    except msgspec.ValidationError as exc:
        raise validation_error(struct, exc) from None


def ops(service: NicepayService, *, max_body: int, public_url: str | None) -> list[Op]:
    decoders: dict[type[Any], msgspec.json.Decoder[Any]] = {
        t: msgspec.json.Decoder(t) for t in (Registration, Inquiry, Cancel, Payment)
    }

    def api(
        struct: type[S], action: Callable[[S], Awaitable[dict[str, Any]]]
    ) -> Callable[[Request], Awaitable[Response]]:
        decoder = decoders[struct]

        async def handle(request: Request) -> Response:
            return json_response(await action(await decode(request, struct, decoder, max_body)))

        return handle

    async def register(req: Registration) -> dict[str, Any]:
        return views.registered(await service.register(req))

    async def register_redirect(request: Request) -> Response:
        base = page.base_url(request, public_url)

        async def action(req: Registration) -> dict[str, Any]:
            txn = await service.register_redirect(req)
            return views.registered_redirect(txn, base + redirect_page.PATH)

        return await api(Registration, action)(request)

    async def inquire(req: Inquiry) -> dict[str, Any]:
        return views.inquired(await service.inquire(req))

    async def cancel(req: Cancel) -> dict[str, Any]:
        r = await service.cancel(req)
        return views.cancelled(r.txn, r.cancel_txid, r.amount)

    async def payment(request: Request) -> Response:
        req = await _payment_request(request, decoders[Payment], max_body)
        txn, session, decided = await service.start_payment(req)
        if decided is not None:  # one of paysandbox's test cards: no 3-D Secure page
            return page.continue_page(decided)
        return page.render(txn, session, page.base_url(request, public_url))

    return [
        Op(
            "POST",
            f"{V2}/registration",
            api(Registration, register),
            "Register a transaction (payMethod 01–06)",
            Registration,
            public=True,
        ),
        Op(
            "POST",
            f"{V2}/inquiry",
            api(Inquiry, inquire),
            "The transaction's true status",
            Inquiry,
            public=True,
        ),
        Op(
            "POST",
            f"{V2}/cancel",
            api(Cancel, cancel),
            "Full (cancelType 1) or partial (2) cancel",
            Cancel,
            public=True,
        ),
        Op(
            "GET",
            f"{V2}/payment",
            payment,
            "Browser payment: 3-D Secure or approval page (query)",
            public=True,
        ),
        Op(
            "POST",
            f"{V2}/payment",
            payment,
            "Browser payment (form post)",
            Payment,
            "application/x-www-form-urlencoded",
            public=True,
        ),
        *page.ops(service, public_url=public_url),
        Op(
            "POST",
            "/nicepay/redirect/v2/registration",
            register_redirect,
            "v2 Redirect (Checkout) registration: payMethod 00–06, callBackUrl; answers paymentURL",
            Registration,
            public=True,
        ),
        *redirect_page.ops(service, public_url=public_url),
    ]


async def _payment_request(
    request: Request, decoder: msgspec.json.Decoder[Any], max_body: int
) -> Payment:
    """Payment parameters from the query (GET), a form body, or a JSON body."""
    if request.method == "GET":
        raw = request.url.query
    else:
        body = await read_body(request, max_body)
        mt = media_type(request)
        if mt == "application/json" or (mt.startswith("application/") and mt.endswith("+json")):
            try:
                req: Payment = decode_json(decoder, body)
            except msgspec.ValidationError as exc:
                raise validation_error(Payment, exc) from None
            return req
        if mt not in ("", "application/x-www-form-urlencoded", "text/plain"):
            raise NicepayError(
                "http_message", "payment takes application/x-www-form-urlencoded or JSON"
            )
        raw = body.decode("utf-8", errors="replace")
    params = rules.parse_payment_params(raw)
    return msgspec.convert(params, Payment)


def edge_error(failure: Failure, message: str) -> NicepayError:
    name = {
        "not_found": "no_route",
        "method_not_allowed": "method_not_allowed",
        "content_type": "http_message",
        "too_large": "body_too_large",
        "malformed": "http_message",
        "internal": "server_error",
    }[failure]
    detail = {"internal": "please retry", "not_found": f"no NICEPay API at {message}"}
    return NicepayError(name, detail.get(failure, message))
