"""K PLUS HTTP handlers: decode → service → encode, at ``/kplus/payment/<op>`` and
``/v1/kplus/payment/<op>`` (the latter also requires matching ``Partner-Id`` /
``Partner-Secret`` headers, seed 001).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from ...core.credentials import secret_matches
from ...validation import explain
from ...web import (
    BodyError,
    decode_json,
    json_response,
    own_base_url,
    read_body,
    require_json,
)
from . import page, views
from .errors import KPlusError, error_response
from .schemas import CancelToken, Common, GenerateToken, InquireToken
from .service import KPlusService

S = TypeVar("S", bound=Common)

_AMOUNT_FIELDS = {"totalAmount", "shippingFee"}
_BODY_CODES = {
    "content_type": "unsupported_media_type",
    "too_large": "request_too_large",
    "malformed": "bad_request",
}


def app_url(request: Request, token_id: str, public_url: str | None) -> str:
    """The customer page's URL: on ``public_url`` when configured, else on the address the
    merchant reached (never on the Host header, which the caller chooses)."""
    return f"{own_base_url(request, public_url)}/kplus/app/{token_id}"


def _validation_error(exc: msgspec.ValidationError) -> KPlusError:
    p = explain(str(exc))
    if p.kind == "not_object":
        return KPlusError("bad_request", p.message)
    if p.kind == "missing":
        if p.field == "reference1":
            return KPlusError("invalid_reference1", "reference1 must not be empty")
        return KPlusError("missing_parameter", p.message)
    if p.field in _AMOUNT_FIELDS:
        return KPlusError("invalid_txn_amount", f"{p.field} must be a number or numeric string")
    return KPlusError("invalid_parameter", p.message)


def _echo(body: bytes) -> tuple[str | None, str | None]:
    """partnerTxnUid / partnerId to echo in an error answer, when the body has them as text."""
    try:
        doc = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None, None
    if not isinstance(doc, dict):
        return None, None
    uid, pid = doc.get("partnerTxnUid"), doc.get("partnerId")
    return (
        uid if isinstance(uid, str) and len(uid) <= 64 else None,
        pid if isinstance(pid, str) and len(pid) <= 64 else None,
    )


def _check_headers(request: Request, req: Common) -> None:
    """``/v1`` family: Partner-Id and Partner-Secret headers are mandatory and match the body."""
    hid = request.headers.get("partner-id")
    hsecret = request.headers.get("partner-secret")
    if hid is None or hsecret is None:
        raise KPlusError(
            "authentication_error", "Partner-Id and Partner-Secret headers are required"
        )
    if hid != req.partnerId or not secret_matches(hsecret, req.partnerSecret):
        raise KPlusError(
            "authentication_error", "Partner-Id/Partner-Secret headers do not match the body"
        )


def make_routes(service: KPlusService, *, max_body: int, public_url: str | None) -> list[BaseRoute]:
    def endpoint(
        struct: type[S], v1: bool, action: Callable[[Request, S], Awaitable[dict[str, Any]]]
    ) -> Callable[[Request], Awaitable[Response]]:
        decoder = msgspec.json.Decoder(struct)

        async def handle(request: Request) -> Response:
            uid = pid = None
            try:
                require_json(request)
                body = await read_body(request, max_body)
                try:
                    req = decode_json(decoder, body)
                except msgspec.ValidationError as exc:
                    uid, pid = _echo(body)
                    raise _validation_error(exc) from None
                except msgspec.DecodeError:
                    raise KPlusError("bad_request", "request body is not valid JSON") from None
                uid, pid = req.partnerTxnUid, req.partnerId
                if v1:
                    _check_headers(request, req)
                return json_response(await action(request, req))
            except KPlusError as exc:
                return error_response(exc.code, exc.desc, partner_txn_uid=uid, partner_id=pid)
            except BodyError as exc:
                return error_response(_BODY_CODES[exc.kind], str(exc))

        return handle

    async def generate(request: Request, req: GenerateToken) -> dict[str, Any]:
        token = await service.generate(req)
        url = app_url(request, token.token_id, public_url)
        return views.generated(req.partnerTxnUid, req.partnerId, token, url)

    async def inquire(request: Request, req: InquireToken) -> dict[str, Any]:
        return views.inquired(req.partnerTxnUid, req.partnerId, await service.inquire(req))

    async def cancel(request: Request, req: CancelToken) -> dict[str, Any]:
        return views.cancelled(req.partnerTxnUid, req.partnerId, await service.cancel(req))

    ops: list[tuple[str, Any, Any]] = [
        ("generate-token", GenerateToken, generate),
        ("inquire-token", InquireToken, inquire),
        ("cancel-token", CancelToken, cancel),
    ]
    routes: list[BaseRoute] = []
    for name, struct, action in ops:
        routes.append(
            Route(f"/kplus/payment/{name}", endpoint(struct, False, action), methods=["POST"])
        )
        routes.append(
            Route(f"/v1/kplus/payment/{name}", endpoint(struct, True, action), methods=["POST"])
        )
    routes.extend(page.make_routes(service))
    return routes


def not_found(path: str, method_not_allowed: bool = False) -> Response:
    if method_not_allowed:
        return error_response("method_not_allowed", "method not allowed; use POST")
    return error_response("not_found", f"no K PLUS route at {path}")


def internal_error() -> Response:
    return error_response("internal_error", "system unavailable, please retry")


__all__ = ["HTMLResponse", "internal_error", "make_routes", "not_found"]
