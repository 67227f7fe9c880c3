"""The control API's own error body: ``{"error": code, "message": text}``.

| error | HTTP | when |
|---|---|---|
| bad_request | 400 | body not JSON, not an object, a field of the wrong type; a bad path id |
| invalid_host | 400 | the ``Host`` header names a host this sandbox does not answer |
| unauthorized | 401 | a control token is set; the request has neither it nor the cookie |
| too_many_attempts | 429 | too many wrong control tokens from this address (``Retry-After``) |
| cross_site_request | 403 | a state-changing request from another site (Origin, Sec-Fetch-Site) |
| unsupported_media_type | 415 | a body that is not application/json |
| request_too_large | 413 | body over the configured limit |
| not_found | 404 | no such route or object |
| method_not_allowed | 405 | the route exists with other methods |
| conflict | 409 | the object's state forbids the action (``detail`` has the provider's code) |
| internal_error | 500 | unexpected failure |
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from ..core.errors import Conflict, InvalidInput, NotFound
from ..edge import Failure, WireError
from ..web import decode_json, json_response, read_body, require_json

T = TypeVar("T")

STATUS = {
    "bad_request": 400,
    "invalid_host": 400,
    "unauthorized": 401,
    "too_many_attempts": 429,
    "cross_site_request": 403,
    "unsupported_media_type": 415,
    "request_too_large": 413,
    "not_found": 404,
    "method_not_allowed": 405,
    "conflict": 409,
    "internal_error": 500,
}


class ControlError(WireError):
    def __init__(self, code: str, message: str, detail: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.detail = detail
        self.http_status = STATUS[code]

    @property
    def wire_code(self) -> str:
        return self.code

    def render(self, request: Request) -> Response:
        return error_response(self.code, self.message, self.detail)


def error_response(code: str, message: str, detail: str | None = None) -> Response:
    body: dict[str, Any] = {"error": code, "message": message}
    if detail:
        body["detail"] = detail
    return json_response(body, STATUS[code])


class ControlPlane:
    """The owner of ``/_sandbox/`` paths for the request edge."""

    name = "control"

    def edge_error(self, failure: Failure, message: str) -> WireError:
        code = {
            "not_found": "not_found",
            "method_not_allowed": "method_not_allowed",
            "content_type": "unsupported_media_type",
            "too_large": "request_too_large",
            "malformed": "bad_request",
            "internal": "internal_error",
        }[failure]
        return ControlError(code, f"no route at {message}" if failure == "not_found" else message)


CONTROL = ControlPlane()


def to_control(exc: Exception) -> WireError | None:
    """A provider's error or a core error raised by a service on behalf of a control route, as
    the control API's own error; the provider's code is kept as ``detail``."""
    if isinstance(exc, ControlError):
        return None
    if isinstance(exc, WireError):
        status = exc.http_status
        code = (
            "not_found"
            if status == 404
            else "conflict"
            if status in (402, 409)
            else "internal_error"
            if status >= 500
            else "bad_request"
        )
        return ControlError(code, exc.wire_message, detail=exc.wire_code)
    if isinstance(exc, NotFound):
        return ControlError("not_found", str(exc))
    if isinstance(exc, Conflict):
        return ControlError("conflict", str(exc), detail=exc.state)
    if isinstance(exc, InvalidInput):
        return ControlError("bad_request", str(exc), detail=exc.field)
    return None


async def decode_optional(request: Request, struct: type[T], limit: int) -> T:
    """Decode an optional JSON body into ``struct`` (an empty body means all defaults)."""
    body = await read_body(request, limit)
    decoder = msgspec.json.Decoder(struct)
    try:
        if not body.strip():
            return decoder.decode(b"{}")  # a struct with a required field refuses it
        require_json(request)
        return decode_json(decoder, body)
    except msgspec.ValidationError as exc:
        raise ControlError("bad_request", f"invalid body: {exc}") from None


class _Nothing(msgspec.Struct, forbid_unknown_fields=True):
    """The body of a route that takes none: empty, or ``{}``."""


async def no_input(request: Request, limit: int) -> None:
    """Refuse any query parameter or body field on a route that takes none (a reset): a
    narrowing that cannot be honoured (``?account=``, ``{"account": …}``) is a 400, never
    quietly dropped while the route acts on everything."""
    if request.url.query:
        names = ", ".join(sorted({k for k, _ in request.query_params.multi_items()})) or "?"
        raise ControlError("bad_request", f"this route takes no query parameters ({names})")
    await decode_optional(request, _Nothing, limit)


def only_params(query: Mapping[str, str], *names: str) -> None:
    """Refuse a query parameter a listing does not know: a mistyped filter (``?account=``
    where the route takes ``accountId``) showed every account's objects."""
    unknown = sorted(set(query) - set(names))
    if unknown:
        raise ControlError(
            "bad_request",
            f"unknown query parameter {', '.join(unknown)}; this route takes {', '.join(names)}",
        )


def parse_limit(query: Mapping[str, str], default: int = 100, most: int = 1000) -> int:
    """The ``?limit=`` of a listing route, clamped to 1…``most``."""
    try:
        return min(max(int(query.get("limit", str(default))), 1), most)
    except ValueError:
        raise ControlError("bad_request", "limit must be an integer") from None
