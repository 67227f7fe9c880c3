"""HTTP plumbing shared by every provider: bounded body reading, content-type checks, JSON.

Failures raise ``BodyError`` with a neutral ``kind``; each provider turns it into its own error
format, so no framework default error body ever reaches a client.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

JSON_ENCODER = msgspec.json.Encoder(decimal_format="number")
T = TypeVar("T")


def decode_json(decoder: msgspec.json.Decoder[T], body: bytes) -> T:
    """``decoder.decode(body)``, with absurdly deep nesting reported as a ``DecodeError``
    (msgspec raises ``RecursionError`` there, which would otherwise become a 500)."""
    try:
        return decoder.decode(body)
    except RecursionError:
        raise msgspec.DecodeError("JSON is nested too deeply") from None


class BodyError(Exception):
    """The request body cannot be used: ``kind`` is content_type, too_large or malformed."""

    def __init__(self, kind: str, message: str, http_status: int) -> None:
        super().__init__(message)
        self.kind = kind
        self.http_status = http_status


def media_type(request: Request) -> str:
    """The lower-cased media type without parameters (``Application/JSON; charset=x`` → json)."""
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def require_json(request: Request) -> None:
    mt = media_type(request)
    if mt != "application/json" and not (mt.startswith("application/") and mt.endswith("+json")):
        raise BodyError("content_type", "Content-Type must be application/json", 415)


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refusing more than ``limit`` bytes without buffering the excess."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise BodyError("too_large", f"request body exceeds {limit} bytes", 413)
        except ValueError:
            raise BodyError("malformed", "invalid Content-Length", 400) from None
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise BodyError("too_large", f"request body exceeds {limit} bytes", 413)
            chunks.append(chunk)
    except ClientDisconnect:  # gone, or closed by the body timeout: nothing to answer
        raise BodyError("malformed", "the client went away mid-body", 400) from None
    return b"".join(chunks)


def json_response(
    content: Any,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    media: str = "application/json",
) -> Response:
    return Response(JSON_ENCODER.encode(content), status_code, headers, media)


def own_base_url(request: Request, public_url: str | None) -> str:
    """The base URL for links to this sandbox's own pages: the configured public URL, else the
    address this connection reached (``scope["server"]``) — never the ``Host`` header, which
    the client chooses."""
    if public_url:
        return public_url.rstrip("/")
    server = request.scope.get("server")
    if not server:
        return ""
    host, port = server[0], server[1]
    if ":" in host:
        host = f"[{host}]"
    scheme = request.scope.get("scheme", "http")
    default = (scheme == "http" and port == 80) or (scheme == "https" and port == 443)
    return f"{scheme}://{host}" if default or port is None else f"{scheme}://{host}:{port}"
