"""The observation edge: a pure ASGI middleware around the whole app.

For every request under a provider's path prefixes (API routes and customer pages alike) it

* gives the request an id, returned as ``X-Sandbox-Request-Id``;
* checks the fault book (an in-memory lookup; the body is only buffered and parsed when a
  fault of that provider and route exists) and applies the winning fault;
* passes the raw request and answer to the journal (one queue append) and the metrics.

Control routes (``/_sandbox/…``) and unknown paths pass straight through.

Dropping a connection (faults ``timeout``, ``reset``, ``lost-answer``) needs the connection's
transport, which ``paysandbox.observe.server.HttpToolsProtocol`` puts into the scope (the CLI
and the tests run uvicorn with it). Without it those kinds answer the provider's internal
error instead, and say so in the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import struct
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass, field
from itertools import count
from typing import Any

from starlette.routing import BaseRoute, Route

from ..core.clock import real_now_us
from .faults import Fault, FaultBook
from .journal import Journal
from .metrics import Metrics
from .server import TRANSPORT_KEY
from .spec import Exchange, ProviderObserve

log = logging.getLogger("paysandbox.faults")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

REQUEST_ID_HEADER = b"x-sandbox-request-id"
MAX_FAULT_BODY = 1_048_576


@dataclass
class Provider:
    name: str
    obs: ProviderObserve
    routes: list[tuple[Route, str]]  # (route, template) under this provider's prefixes
    #: (path, method) → resolve's answer, for paths that are a route's own (no parameters)
    _known: dict[tuple[str, str], tuple[str | None, dict[str, str]]] = field(
        default_factory=dict, repr=False
    )

    def resolve(self, path: str, method: str) -> tuple[str | None, dict[str, str]]:
        known = self._known.get((path, method))
        if known is not None:
            return known[0], {}
        fallback: tuple[str | None, dict[str, str]] = (None, {})
        for route, template in self.routes:
            m = route.path_regex.match(path)
            if m is None:
                continue
            params = {k: str(v) for k, v in m.groupdict().items()}
            if route.methods is None or method in route.methods:
                if not params and path == template:  # bounded: one entry per route and method
                    self._known[(path, method)] = (template, params)
                return template, params
            if fallback[0] is None:
                fallback = (template, params)
        return fallback


def provider_routes(
    prefixes: tuple[str, ...], routes: Sequence[BaseRoute]
) -> list[tuple[Route, str]]:
    return [
        (r, r.path)
        for r in routes
        if isinstance(r, Route) and any(r.path.startswith(p) for p in prefixes)
    ]


class _Ids:
    """Request ids unique across processes: a random per-process prefix and a counter."""

    def __init__(self) -> None:
        self.prefix = "req_" + os.urandom(5).hex()
        self.n = count(1)

    def next(self) -> str:
        return f"{self.prefix}{next(self.n):08x}"


class ObserveMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        providers: list[tuple[tuple[str, ...], Provider]],
        journal: Journal,
        faults: FaultBook,
        metrics: Metrics,
    ) -> None:
        self.app = app
        # longest prefix first, so a more specific prefix (/v1/<p>/) wins over a shorter one
        self.prefixes = sorted(
            ((pre, p) for prefixes, p in providers for pre in prefixes),
            key=lambda x: -len(x[0]),
        )
        self.journal = journal
        self.faults = faults
        self.metrics = metrics
        self.ids = _Ids()

    def provider_for(self, path: str) -> Provider | None:
        """The provider of the longest prefix ``path`` starts with, or is without its last
        ``/`` (``Provider.owns``' rule: ``/pay`` belongs where ``/pay/`` does)."""
        for prefix, p in self.prefixes:
            if path.startswith(prefix) or (prefix[-1] == "/" and path == prefix[:-1]):
                return p
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        provider = None if path.startswith("/_sandbox/") else self.provider_for(path)
        if provider is None:
            await self.app(scope, receive, send)
            return
        await self._observe(provider, scope, receive, send)

    async def _observe(
        self, provider: Provider, scope: Scope, receive: Receive, send: Send
    ) -> None:
        started = time.perf_counter()
        rid = self.ids.next()
        method: str = scope["method"]
        route, params = provider.resolve(scope["path"], method)
        body_parts: list[bytes] = []
        answer: dict[str, Any] = {"status": None, "headers": [], "body": []}
        fault: Fault | None = None
        outcome = "answered"
        forward = [True]  # False: the answer is recorded, never sent (lost-answer)

        candidates = (
            self.faults.candidates(provider.name, provider.obs.route_key(route) if route else None)
            if self.faults.active
            else None
        )
        if candidates:
            body, receive = await _buffer(receive)
            body_parts.append(body)
            exchange = _exchange(scope, method, route, params, body)
            try:
                fault = await self.faults.pick(candidates, exchange, provider.obs)
            except Exception:  # the fault check must never cost the request its answer
                log.warning("fault check failed; request served without a fault", exc_info=True)
        else:

            async def receive_recording() -> Message:
                message = await receive_inner()
                if message["type"] == "http.request":
                    chunk = message.get("body", b"")
                    if chunk:
                        body_parts.append(chunk)
                return message

            receive_inner = receive
            receive = receive_recording

        async def send_recording(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (REQUEST_ID_HEADER, rid.encode())]
                message = {**message, "headers": headers}
                answer["status"] = message["status"]
                answer["headers"] = headers
            elif message["type"] == "http.response.body":
                chunk = message.get("body", b"")
                if chunk:
                    answer["body"].append(chunk)
            if forward[0]:
                await send(message)

        try:
            if fault is None:
                await self.app(scope, receive, send_recording)
            else:
                self.metrics.faults.labels(provider.name, fault.spec.kind).inc()
                outcome = await self._apply(
                    fault,
                    provider,
                    scope,
                    receive,
                    send_recording,
                    body_parts[0],
                    route,
                    params,
                    forward,
                )
        except BaseException:
            outcome = "error"
            raise
        finally:
            elapsed = time.perf_counter() - started
            produced = answer["status"]
            sent = outcome == "answered"
            label = route or "unmatched"
            self.metrics.answered(
                provider.name, label, method, str(produced) if sent else "none", elapsed
            )
            if self.journal.enabled:
                self.journal.put(
                    (  # a Raw's fields in its order, as a plain tuple (see ``Raw``)
                        rid,  # id
                        real_now_us() - int(elapsed * 1_000_000),  # at_us
                        provider.name,  # provider
                        method,  # method
                        route,  # route
                        scope["path"],  # path
                        params,  # path_params
                        scope.get("query_string", b""),  # query
                        scope["headers"],  # request_headers
                        b"".join(body_parts),  # request_body
                        produced,  # status
                        sent,  # sent
                        answer["headers"],  # response_headers
                        b"".join(answer["body"]),  # response_body
                        elapsed * 1000,  # latency_ms
                        fault.id if fault else None,  # fault_id
                        fault.spec.kind if fault else None,  # fault_kind
                        outcome,  # outcome
                    )
                )

    async def _apply(
        self,
        fault: Fault,
        provider: Provider,
        scope: Scope,
        receive: Receive,
        send: Send,
        body: bytes,
        route: str | None,
        params: dict[str, str],
        forward: list[bool],
    ) -> str:
        """Run the request as the fault says; returns the journal outcome."""
        kind = fault.spec.kind
        delay = fault.delay_seconds()
        transport = scope.get(TRANSPORT_KEY)
        if kind in ("timeout", "reset", "lost-answer") and transport is None:
            log.warning(
                "fault %s (%s) needs paysandbox's HTTP protocol; answering an error instead",
                fault.id,
                kind,
            )
            exchange = _exchange(scope, scope["method"], route, params, body)
            await provider.obs.render_error(provider.obs.default_error, exchange)(
                scope, receive, send
            )
            return "answered"
        if kind == "timeout":
            await _wait_disconnect(receive, delay)
            await _drop(transport, receive, rst=False)
            return "dropped"
        if delay:
            await asyncio.sleep(delay)
        if kind == "latency":
            await self.app(scope, receive, send)
            return "answered"
        if kind == "error":
            exchange = _exchange(scope, scope["method"], route, params, body)
            code = fault.spec.error or provider.obs.default_error
            await provider.obs.render_error(code, exchange)(scope, receive, send)
            return "answered"
        if kind == "reset":
            await _drop(transport, receive, rst=True)
            return "dropped"
        # lost-answer: the request runs to its end (state committed, callbacks queued); its
        # answer is recorded for the journal and never sent.
        forward[0] = False
        try:
            await self.app(scope, receive, send)
        except Exception:  # already answered (unsent) in the provider's format; drop anyway
            log.exception("request under fault %s failed", fault.id)
        await _drop(transport, receive, rst=True)
        return "answer-lost"


def _exchange(
    scope: Scope, method: str, route: str | None, params: dict[str, str], body: bytes
) -> Exchange:
    return Exchange(
        method=method,
        path=scope["path"],
        route=route,
        path_params=params,
        query=scope.get("query_string", b"").decode("latin-1"),
        raw_headers=scope["headers"],
        body=body,
    )


async def _buffer(receive: Receive) -> tuple[bytes, Receive]:
    """Read the whole body (up to MAX_FAULT_BODY for matching) and replay it to the app."""
    parts: list[bytes] = []
    size = 0
    more = True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        parts.append(chunk)
        size += len(chunk)
        more = message.get("more_body", False)
        if size > MAX_FAULT_BODY:
            break
    body = b"".join(parts)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": more}
        return await receive()

    return body, replay


async def _wait_disconnect(receive: Receive, seconds: float) -> None:
    """Hold until the client goes away or ``seconds`` pass."""

    async def gone() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(gone(), seconds)


async def _drop(transport: Any, receive: Receive, *, rst: bool) -> None:
    """Close the connection without an answer; ``rst``: at once, with a TCP reset."""
    if rst:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError, AttributeError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    else:
        transport.close()
    # Let the server see the connection gone, so it does not answer on its own.
    await _wait_disconnect(receive, 1.0)
