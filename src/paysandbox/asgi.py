"""The ASGI application object: lifespan, the middleware chain and a direct route dispatch.

paysandbox declares every route once as an ``edge.Op``, guards every handler (``edge.guard``:
all failures answered in the owner's format) and answers unknown paths and methods itself, so
of a web framework's application it needs only path matching. ``App`` does that and no more,
without the layers a general framework puts around every request (two error middlewares, a
per-request exception wrapper, a linear scan of every route's regular expression): paths
without parameters are found in one dictionary lookup, and a handler is called with a
``Request`` and its ``Response`` sent as it is. Starlette's ``Route`` still compiles the paths
(``{name}`` parameters and their convertors), and ``Request``/``Response`` are Starlette's.

Dispatch gives the same answer as Starlette's router: the first route in declaration order
whose path and method match wins; a path matched only with other methods is a 405 naming the
methods allowed (``Allow``); nothing matched is a 404. An exception that escapes the chain
(the guarded handlers raise none) is logged and answered by ``unrouted(request, 500, None)``
when nothing was sent yet.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from starlette.datastructures import State
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger("paysandbox")

#: ``(request, status, allow)`` → the answer for 404 (``allow`` None) or 405 (``allow`` the
#: methods the path takes) or 500 (an exception escaped; ``allow`` None).
Unrouted = Callable[[Request, int, str | None], Response]
Lifespan = Callable[[Any], AbstractAsyncContextManager[None]]


class Dispatch:
    """Finds the route of a request and runs its handler (see the module docstring)."""

    def __init__(self, routes: Sequence[Route], unrouted: Unrouted) -> None:
        self.routes = list(routes)
        self.unrouted = unrouted
        patterns = [r for r in self.routes if r.param_convertors]
        #: exact paths that no parameterised route can also match: found by one lookup
        self.exact: dict[str, Route] = {}
        for r in self.routes:
            if r.param_convertors or r.path in self.exact:
                continue
            if not any(p.path_regex.match(r.path) for p in patterns):
                self.exact[r.path] = r

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self.exact.get(scope["path"])
        if route is not None and route.methods is not None and scope["method"] in route.methods:
            scope["path_params"] = {}
            response = await route.endpoint(Request(scope, receive, send))
        else:
            response = await self._slow(scope, receive, send)
        await response(scope, receive, send)

    async def _slow(self, scope: Scope, receive: Receive, send: Send) -> Response:
        """The ordered scan: parameterised paths, 405 and 404."""
        partial: tuple[Route, Scope] | None = None
        for r in self.routes:
            match, child = r.matches(scope)
            if match is Match.FULL:
                scope.update(child)
                response: Response = await r.endpoint(Request(scope, receive, send))
                return response
            if match is Match.PARTIAL and partial is None:
                partial = (r, child)
        request = Request(scope, receive, send)
        if partial is not None:
            return self.unrouted(request, 405, ", ".join(sorted(partial[0].methods or ())))
        return self.unrouted(request, 404, None)


class App:
    """The ASGI application: ``middleware`` (outermost first) around a ``Dispatch``.

    ``wrap(fn)`` puts one more layer around the whole chain (the observation edge, which must
    see every answer as sent). ``routes`` and ``state`` are there for the tests and tools that
    look at a running app (``app.state.sandbox``)."""

    def __init__(
        self,
        routes: Sequence[Route],
        *,
        unrouted: Unrouted,
        lifespan: Lifespan,
        middleware: Sequence[Callable[[ASGIApp], ASGIApp]] = (),
    ) -> None:
        self.routes = list(routes)
        self.state = State()
        self.unrouted = unrouted
        self.lifespan_context = lifespan
        chain: ASGIApp = Dispatch(self.routes, unrouted)
        for layer in reversed(middleware):
            chain = layer(chain)
        self.http: ASGIApp = self._catching(chain)

    def wrap(self, outer: Callable[[ASGIApp], ASGIApp]) -> None:
        self.http = outer(self.http)

    def _catching(self, chain: ASGIApp) -> ASGIApp:
        unrouted = self.unrouted

        async def catching(scope: Scope, receive: Receive, send: Send) -> None:
            try:
                await chain(scope, receive, send)
            except Exception:
                log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
                try:  # fails when an answer was already started: the server closes it then
                    await unrouted(Request(scope, receive, send), 500, None)(scope, receive, send)
                except Exception:
                    log.debug("could not answer after an unhandled error", exc_info=True)

        return catching

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self.http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "websocket":  # no route takes a websocket: refuse the handshake
            await send({"type": "websocket.close", "code": 1000})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        started = False
        await receive()  # lifespan.startup
        try:
            async with self.lifespan_context(self):
                await send({"type": "lifespan.startup.complete"})
                started = True
                await receive()  # lifespan.shutdown
        except BaseException:
            failed = "lifespan.shutdown.failed" if started else "lifespan.startup.failed"
            await send({"type": failed, "message": traceback.format_exc()})
            raise
        await send({"type": "lifespan.shutdown.complete"})
