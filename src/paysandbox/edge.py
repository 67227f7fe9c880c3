"""The request edge: every route of every provider and of the control plane is declared once as
an ``Op`` and answered through one wrapper, so every API gets the same guarantees.

    WireError                  an answer in some API's own error format (status + body)
     ├── each provider's error  (in its own folder's errors.py)
     └── ControlError           the /_sandbox/ control API's {"error", "message"} body

What the wrapper turns into answers, in the owner's format (``Owner.edge_error``):

* ``WireError`` raised anywhere below a handler → ``exc.render(request)``;
* ``web.BodyError`` (wrong content type, oversize body, unreadable JSON: invalid UTF-8, deep
  nesting, duplicate keys, not an object) → the owner's ``content_type`` / ``too_large`` /
  ``malformed`` error;
* a client that goes away mid-request → one INFO log line, no traceback;
* a change refused because the SQLite file was deleted under the server (``DatabaseGone``) →
  one WARNING line, no traceback (the database logged the cause once; the health check says
  it), answered as the owner's ``internal`` error;
* anything else → logged with its traceback, answered as the owner's ``internal`` error.

Unknown paths and wrong methods never reach a handler: ``not_found`` answers them in the format
of the owner of the path (longest prefix), a 405 with an ``Allow`` header.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from .store.db import DatabaseGone
from .web import BodyError

log = logging.getLogger("paysandbox")

Handler = Callable[[Request], Awaitable[Response]]
#: Failures the edge itself detects, before or around a handler.
Failure = Literal[
    "not_found", "method_not_allowed", "content_type", "too_large", "malformed", "internal"
]


class WireError(Exception):
    """An error answer in an API's own format. Subclasses set ``http_status`` and render."""

    http_status: int = 500

    @property
    def wire_code(self) -> str:
        """The API's own code for this error (shown as ``detail`` by the control plane)."""
        return type(self).__name__

    @property
    def wire_message(self) -> str:
        return str(self)

    def render(self, request: Request) -> Response:
        raise NotImplementedError


class Owner(Protocol):
    """Who answers for a path: a provider, or the control plane."""

    @property
    def name(self) -> str: ...

    def edge_error(self, failure: Failure, message: str) -> WireError:
        """The owner's error for a failure detected by the edge (for ``not_found``, ``message``
        is the path that nothing answers)."""
        ...


@dataclass(frozen=True)
class Op:
    """One operation: the single declaration behind the HTTP route, its OpenAPI entry and, when
    ``public``, its line in the start-up banner."""

    method: str
    path: str
    handler: Handler
    summary: str
    #: msgspec-describable type of the request body (OpenAPI), if it has one
    request: Any = None
    content_type: str = "application/json"
    #: an operation of the provider's wire API (listed in the banner)
    public: bool = False
    #: a second spelling of another op's path (e.g. a trailing slash): routed, not documented
    alias: bool = False


def _method_dispatch(handlers: dict[str, Handler]) -> Handler:
    async def dispatch(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" and "GET" in handlers else request.method
        return await handlers[method](request)

    return dispatch


def guard(
    handler: Handler, owner: Owner, translate: Callable[[Exception], WireError | None]
) -> Handler:
    """``handler`` with every failure answered in ``owner``'s format (module docstring).

    ``translate`` may turn an exception (e.g. another API's ``WireError`` or a core error raised
    by a service) into the owner's own error; it returns None to leave it alone."""

    async def guarded(request: Request) -> Response:
        try:
            return await handler(request)
        except ClientDisconnect:
            log.info("client went away during %s %s", request.method, request.url.path)
            return Response(status_code=400)
        except Exception as exc:
            return answer_error(request, owner, exc, translate)

    return guarded


def answer_error(
    request: Request,
    owner: Owner,
    exc: Exception,
    translate: Callable[[Exception], WireError | None] = lambda exc: None,
) -> Response:
    try:
        wire = translate(exc)
        if wire is None:
            if isinstance(exc, WireError):
                wire = exc
            elif isinstance(exc, BodyError):
                wire = owner.edge_error(exc.kind, str(exc))
        if wire is not None:
            return wire.render(request)
    except Exception:
        log.exception("error while rendering an error answer")
    if isinstance(exc, DatabaseGone):  # our own condition, not a defect: no traceback
        log.warning("%s %s refused: %s", request.method, request.url.path, exc)
    else:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return owner.edge_error("internal", "unexpected failure").render(request)


def routes(
    ops: Iterable[Op],
    owner_of: Callable[[str], Owner],
    translate_for: Callable[[str], Callable[[Exception], WireError | None]],
) -> list[Route]:
    """One Starlette route per path with all its methods (so a 405 names them in ``Allow``),
    each handler guarded for the owner of its path."""
    by_path: dict[str, dict[str, Handler]] = {}
    for op in ops:
        handlers = by_path.setdefault(op.path, {})
        if op.method in handlers:
            raise ValueError(f"{op.method} {op.path} is declared twice")
        handlers[op.method] = op.handler
    out: list[Route] = []
    for path, handlers in by_path.items():
        owner = owner_of(path)
        endpoint = guard(_method_dispatch(handlers), owner, translate_for(path))
        out.append(Route(path, endpoint, methods=list(handlers)))
    return out


def public_lines(ops: Sequence[Op]) -> list[str]:
    """The banner's endpoint lines: public ops grouped as ``POST /a/b/{x,y,z}``."""
    groups: dict[tuple[str, str], list[str]] = {}
    for op in ops:
        if not op.public or op.alias:
            continue
        parent, _, leaf = op.path.rpartition("/")
        if "{" in leaf:  # a path parameter is never folded into a {a,b} group
            groups.setdefault((op.method, op.path + "\0"), [])
        else:
            groups.setdefault((op.method, parent), []).append(leaf)
    lines = []
    for (method, parent), leaves in groups.items():
        if not leaves:
            lines.append(f"{method} {parent[:-1]}")
        elif len(leaves) == 1:
            lines.append(f"{method} {parent}/{leaves[0]}")
        else:
            lines.append(f"{method} {parent}/{{{','.join(leaves)}}}")
    return lines
