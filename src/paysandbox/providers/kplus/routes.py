"""K PLUS HTTP handlers: decode → service → encode, at ``/kplus/payment/<op>`` and
``/v1/kplus/payment/<op>`` (the latter also requires matching ``Partner-Id`` /
``Partner-Secret`` headers, seed 001).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from ...core.credentials import secret_matches
from ...edge import Failure, Op
from ...validation import explain
from ...web import decode_json, json_response, own_base_url, read_body, require_json
from . import views
from .errors import KPlusError, echo
from .schemas import CancelToken, Common, GenerateToken, InquireToken
from .service import KPlusService

S = TypeVar("S", bound=Common)

_AMOUNT_FIELDS = {"totalAmount", "shippingFee"}


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
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
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


async def decode(request: Request, decoder: msgspec.json.Decoder[S], max_body: int, v1: bool) -> S:
    """The request struct; every failure raises (the edge answers in K PLUS format)."""
    require_json(request)
    body = await read_body(request, max_body)
    try:
        req = decode_json(decoder, body)
    except msgspec.ValidationError as exc:
        echo(request, *_echo(body))
        raise _validation_error(exc) from None
    echo(request, req.partnerTxnUid, req.partnerId)
    if v1:
        _check_headers(request, req)
    return req


def ops(service: KPlusService, *, max_body: int, public_url: str | None) -> list[Op]:
    def api(
        struct: type[S], v1: bool, action: Callable[[Request, S], Awaitable[dict[str, Any]]]
    ) -> Callable[[Request], Awaitable[Response]]:
        decoder = msgspec.json.Decoder(struct)

        async def handle(request: Request) -> Response:
            return json_response(
                await action(request, await decode(request, decoder, max_body, v1))
            )

        return handle

    async def generate(request: Request, req: GenerateToken) -> dict[str, Any]:
        token = await service.generate(req)
        url = app_url(request, token.token_id, public_url)
        return views.generated(req.partnerTxnUid, req.partnerId, token, url)

    async def inquire(request: Request, req: InquireToken) -> dict[str, Any]:
        return views.inquired(req.partnerTxnUid, req.partnerId, await service.inquire(req))

    async def cancel(request: Request, req: CancelToken) -> dict[str, Any]:
        return views.cancelled(req.partnerTxnUid, req.partnerId, await service.cancel(req))

    table: list[tuple[str, Any, Any, str]] = [
        ("generate-token", GenerateToken, generate, "Issue a payment token"),
        ("inquire-token", InquireToken, inquire, "The token's true status"),
        ("cancel-token", CancelToken, cancel, "Cancel an unpaid token"),
    ]
    out: list[Op] = []
    for prefix, v1, how in (
        ("/kplus/payment", False, "credentials in the body"),
        ("/v1/kplus/payment", True, "and Partner-Id / Partner-Secret headers"),
    ):
        for name, struct, action, summary in table:
            out.append(
                Op(
                    "POST",
                    f"{prefix}/{name}",
                    api(struct, v1, action),
                    f"{summary} ({how})",
                    struct,
                    public=True,
                )
            )
    return out


def edge_error(failure: Failure, message: str) -> KPlusError:
    code = {
        "not_found": "not_found",
        "method_not_allowed": "method_not_allowed",
        "content_type": "unsupported_media_type",
        "too_large": "request_too_large",
        "malformed": "bad_request",
        "internal": "internal_error",
    }[failure]
    desc = {
        "not_found": f"no K PLUS route at {message}",
        "method_not_allowed": "method not allowed; use POST",
        "internal": "system unavailable, please retry",
    }.get(failure, message)
    return KPlusError(code, desc)
