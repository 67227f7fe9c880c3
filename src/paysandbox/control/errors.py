"""The control API's own error body: ``{"error": code, "message": text}``.

| error | HTTP | when |
|---|---|---|
| bad_request | 400 | body not JSON, not an object, a field of the wrong type; a bad path id |
| invalid_host | 400 | the ``Host`` header names a host this sandbox does not answer |
| unauthorized | 401 | a control token is set; the request has neither it nor the cookie |
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

from ..web import BodyError, decode_json, json_response, read_body, require_json

T = TypeVar("T")

STATUS = {
    "bad_request": 400,
    "invalid_host": 400,
    "unauthorized": 401,
    "cross_site_request": 403,
    "unsupported_media_type": 415,
    "request_too_large": 413,
    "not_found": 404,
    "method_not_allowed": 405,
    "conflict": 409,
    "internal_error": 500,
}


class ControlError(Exception):
    def __init__(self, code: str, message: str, detail: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.detail = detail


def error_response(code: str, message: str, detail: str | None = None) -> Response:
    body: dict[str, Any] = {"error": code, "message": message}
    if detail:
        body["detail"] = detail
    return json_response(body, STATUS[code])


_BODY = {
    "content_type": "unsupported_media_type",
    "too_large": "request_too_large",
    "malformed": "bad_request",
}


async def decode_optional(request: Request, struct: type[T], limit: int) -> T:
    """Decode an optional JSON body into ``struct`` (an empty body means all defaults)."""
    try:
        body = await read_body(request, limit)
        decoder = msgspec.json.Decoder(struct)
        if not body.strip():
            return decoder.decode(b"{}")
        require_json(request)
        return decode_json(decoder, body)
    except BodyError as exc:
        raise ControlError(_BODY[exc.kind], str(exc)) from None
    except msgspec.DecodeError as exc:
        raise ControlError("bad_request", f"invalid body: {exc}") from None


def parse_limit(query: Mapping[str, str], default: int = 100, most: int = 1000) -> int:
    """The ``?limit=`` of a listing route, clamped to 1…``most``."""
    try:
        return min(max(int(query.get("limit", str(default))), 1), most)
    except ValueError:
        raise ControlError("bad_request", "limit must be an integer") from None
