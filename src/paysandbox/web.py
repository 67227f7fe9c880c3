"""HTTP plumbing shared by every provider: bounded body reading, content-type checks, JSON.

Failures raise ``BodyError`` with a neutral ``kind``; each provider turns it into its own error
format, so no framework default error body ever reaches a client.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal, TypeVar

import msgspec
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

JSON_ENCODER = msgspec.json.Encoder(decimal_format="number")
T = TypeVar("T")


def decode_json(decoder: msgspec.json.Decoder[T], body: bytes) -> T:
    """``decoder.decode(body)`` for a request body. Anything that is not readable JSON — invalid
    syntax, invalid UTF-8, absurd nesting, a key given twice in one object — raises
    ``BodyError("malformed")``; a readable body of the wrong shape raises msgspec's
    ``ValidationError`` for the caller to word in its API's terms."""
    if not body.isascii():  # fields a struct ignores are skipped unread: check all
        try:
            body.decode("utf-8")
        except UnicodeDecodeError:
            raise BodyError("malformed", "request body is not valid UTF-8", 400) from None
    try:
        value = decoder.decode(body)
    except msgspec.ValidationError:
        if has_duplicate_keys(body):
            raise BodyError("malformed", "a key appears twice in one JSON object", 400) from None
        raise
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise BodyError("malformed", _why(exc), 400) from None
    if has_duplicate_keys(body):
        raise BodyError("malformed", "a key appears twice in one JSON object", 400)
    return value


def _why(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return "request body is not valid UTF-8"
    if isinstance(exc, RecursionError):
        return "JSON is nested too deeply"
    return "request body is not valid JSON"


_KEY_END = re.compile(rb'"\s*:')


class _Duplicate(Exception):
    pass


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        raise _Duplicate
    return found


def _count_keys(doc: Any) -> int:
    n, todo = 0, [doc]
    while todo:
        item = todo.pop()
        if type(item) is dict:
            n += len(item)
            values: Any = item.values()
        else:
            values = item
        todo += [v for v in values if type(v) is dict or type(v) is list]
    return n


def has_duplicate_keys(body: bytes) -> bool:
    """True when some JSON object in ``body`` (already known to be valid JSON) names a key twice.

    Cheap on the hot path: the ``"…":`` key ends in the raw text are counted and compared with
    the keys msgspec keeps (a repeated key collapses into one); only when they differ — a
    duplicate, or a ``":`` inside a string value — is the body parsed again pair by pair."""
    if b'" ' in body or b'"\t' in body or b'"\n' in body or b'"\r' in body:
        raw = len(_KEY_END.findall(body))  # some key may end in blanks before its colon
    else:
        raw = body.count(b'":')
    if raw == 0:
        return False
    try:
        doc = msgspec.json.decode(body)
        # every key of ``doc`` is one match at least, so equal counts leave no room for a repeat
        if (type(doc) is dict and raw == len(doc)) or raw == _count_keys(doc):
            return False
        json.loads(body, object_pairs_hook=_unique_pairs)
    except _Duplicate:
        return True
    except (ValueError, RecursionError, msgspec.DecodeError):
        return False  # not this check's business: the typed decode already judged the syntax
    return False


class BodyError(Exception):
    """The request body cannot be used: ``kind`` is content_type, too_large or malformed."""

    def __init__(
        self,
        kind: Literal["content_type", "too_large", "malformed"],
        message: str,
        http_status: int,
    ) -> None:
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
    receive = request.receive
    while True:  # the ASGI messages themselves: cheaper than ``request.stream()``
        message = await receive()
        if message["type"] != "http.request":
            # A client that goes away (or is closed by the body timeout): the request edge
            # logs one INFO line.
            raise ClientDisconnect()
        chunk: bytes = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise BodyError("too_large", f"request body exceeds {limit} bytes", 413)
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    request._body = body  # what ``request.body()`` / ``stream()`` give from now on
    return body


class JsonAnswer(Response):
    """A ``Response`` whose headers are built directly (every JSON answer takes this path)."""

    def __init__(self, body: bytes, status_code: int, media: str) -> None:
        self.status_code = status_code
        self.media_type = media
        self.background = None
        self.body = body
        self.raw_headers = [
            (b"content-length", str(len(body)).encode("latin-1")),
            (b"content-type", media.encode("latin-1")),
        ]


def json_response(
    content: Any,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    media: str = "application/json",
) -> Response:
    body = JSON_ENCODER.encode(content)
    plain = status_code >= 200 and status_code not in (204, 304) and not media.startswith("text/")
    if headers is None and plain:
        return JsonAnswer(body, status_code, media)
    return Response(body, status_code, headers, media)


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
