"""Connection limits for uvicorn's httptools protocol: slow clients cannot hold the server.

uvicorn closes idle keep-alive connections (``timeout_keep_alive``) and can answer 503 above
``limit_concurrency``, but it never times out a client that is slow to *send*: a connection
that never finishes its headers, or trickles its body, stays open for ever, and enough of them
exhaust the descriptors so that every new client fails. ``protocol_class(limits)`` returns a
small subclass of ``HttpToolsProtocol`` (``observe.server``'s, which puts the connection's
transport in the scope for the faults that drop a connection) that adds:

* a **header timeout**: from the connection (or the first byte of the next request on a
  keep-alive connection) until its headers are complete; then the connection is closed,
  answered ``408`` first if part of a request had arrived (a browser's idle pre-connection
  is closed without an answer it did not ask for);
* a **body timeout**: the longest pause between two pieces of a request body the application
  is waiting for (not while the application itself has paused reading); then the connection is
  closed and the application sees the client gone;
* a **connection cap**: when a new connection would exceed ``max_connections``, the connection
  that has waited longest *without a request in progress* (headers not finished, or idle
  keep-alive) is closed to make room — slow or idle clients give way to new ones; if every
  connection has a request in progress, the new one is answered ``503`` and closed.

``max_connections`` is also kept under the process's descriptor limit (``effective_cap``),
which ``raise_descriptor_limit`` lifts to the hard limit at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from dataclasses import dataclass
from typing import Any

from ..observe.server import HttpToolsProtocol
from ..settings import Settings

#: Descriptors kept for everything that is not a client connection (database files and pool,
#: outgoing callbacks, logs).
RESERVED_DESCRIPTORS = 128
#: ``LimitedProtocol._want`` when a chunk changed nothing: the running timer (if any) stays
_KEEP = -1.0

_408 = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 16\r\nconnection: close\r\n\r\nrequest timeout\n"
)
_503 = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 21\r\nconnection: close\r\n\r\ntoo many connections\n"
)


@dataclass(frozen=True)
class Limits:
    header_timeout: float = 10.0
    body_timeout: float = 10.0
    max_connections: int = 4096


def descriptor_limit() -> int | None:
    if sys.platform == "win32":
        return None
    import resource

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else int(soft)


def raise_descriptor_limit() -> None:
    """Lift the soft descriptor limit to the hard one (many systems start at 1024)."""
    if sys.platform == "win32":
        return
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def effective_cap(max_connections: int) -> int:
    """``max_connections``, lowered to fit under the descriptor limit."""
    limit = descriptor_limit()
    if limit is None:
        return max_connections
    return max(16, min(max_connections, limit - RESERVED_DESCRIPTORS))


def protocol_class(limits: Limits) -> type[HttpToolsProtocol]:
    """A protocol class for ``uvicorn.Config(http=...)``; one per server (it holds the set of
    connections that may be closed to make room)."""
    cap = effective_cap(limits.max_connections)
    #: connections with no request in progress, oldest first (dicts keep insertion order)
    waiting: dict[LimitedProtocol, None] = {}

    class LimitedProtocol(HttpToolsProtocol):
        _timer: asyncio.TimerHandle | None = None
        _in_body = False
        _in_headers = False  # some bytes of a request's head have arrived
        _want: float | None = _KEEP  # the timer the chunk being parsed asks for

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > cap and not self._make_room():
                self.transport.write(_503)
                self.transport.close()
                return
            waiting[self] = None
            self._arm(limits.header_timeout)

        def _make_room(self) -> bool:
            for victim in waiting:
                if victim is not self:
                    waiting.pop(victim)
                    victim._disarm()
                    victim.transport.close()
                    return True
            return False

        def connection_lost(self, exc: Exception | None) -> None:
            waiting.pop(self, None)
            self._disarm()
            super().connection_lost(exc)

        # The parser callbacks below only say which timer the connection needs; it is set
        # once, after the whole chunk of data has been parsed (``data_received``). A request
        # that arrives in one chunk then starts no timer at all, and one that arrives in
        # pieces gets the same clocks as before: they restart when a piece arrives.

        def data_received(self, data: bytes) -> None:
            self._want = _KEEP
            super().data_received(data)
            want = self._want
            if want is None:
                self._disarm()
            elif want is not _KEEP:
                self._arm(want)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._in_body = False
            self._in_headers = True
            self._want = limits.header_timeout

        def on_headers_complete(self) -> None:
            waiting.pop(self, None)
            self._in_headers = False
            self._want = None
            super().on_headers_complete()
            if self.cycle is not None and self.cycle.more_body:
                self._in_body = True
                self._want = limits.body_timeout

        def on_body(self, body: bytes) -> None:
            super().on_body(body)
            if self._in_body:
                self._want = limits.body_timeout

        def on_message_complete(self) -> None:
            self._in_body = False
            self._want = None
            super().on_message_complete()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing():
                waiting[self] = None  # idle keep-alive: uvicorn's own timer closes it

        def _arm(self, seconds: float) -> None:
            self._disarm()
            self._timer = self.loop.call_later(seconds, self._expired)

        def _disarm(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        def _expired(self) -> None:
            self._timer = None
            if self.transport.is_closing():
                return
            if self._in_body:
                if self.flow.read_paused:  # the application is not reading: not the client's fault
                    self._arm(limits.body_timeout)
                    return
                self.transport.close()
                return
            if self._in_headers:  # a connection that never sent a byte is just closed
                self.transport.write(_408)
            self.transport.close()

    return LimitedProtocol


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The uvicorn.Config keyword arguments for the served protocol: the connection limits in
    ``settings``, and no trust in forwarded headers."""
    return {
        "http": protocol_class(
            Limits(
                header_timeout=settings.header_timeout_seconds,
                body_timeout=settings.body_timeout_seconds,
                max_connections=settings.max_connections,
            )
        ),
        "timeout_keep_alive": settings.keep_alive_seconds,
        # X-Forwarded-* never change the client address or scheme: links to the sandbox's own
        # pages come from --public-url or the address reached, never from a request header.
        "proxy_headers": False,
    }
