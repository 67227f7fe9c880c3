"""uvicorn's httptools protocol, with the connection's transport in each request's scope and
each answer sent in one piece.

Faults that drop a connection (``timeout``, ``reset``, ``lost-answer``) must close it without
an answer; ASGI has no message for that, and an ASGI app that returns without answering gets
uvicorn's own 500. The transport under ``scope[TRANSPORT_KEY]`` lets the fault close (or
reset) the connection itself. Used by ``paysandbox serve`` and the tests' live server:
``uvicorn.Config(http="paysandbox.observe.server:HttpToolsProtocol")``.

uvicorn writes an answer's head and its body with two ``transport.write`` calls, so every
answer costs two sends and wakes the client twice. ``Coalescing`` holds a connection's writes
during one turn of the event loop and sends them joined when the loop comes round again (and
before a ``close``).

Not at once when an answer completes: the answers that complete in one turn of the loop (one
for each connection whose request arrived in the same poll) then leave back to back, so a
client reading many connections (a load generator, a connection pool) is woken once for all
of them instead of once for each — and every wake-up of a sleeping reader costs the sender a
cross-CPU interrupt in the kernel's send path (``perf``: ~10 % of the server's CPU).

Measured with ``wrk -t1 -c32`` on the 2-core machine (a provider's one-read request, SQLite,
one process, no journal): the server's CPU per request fell from 115-146 to 81-112 µs and
req/s rose 30-40 % (docs/design.md). The price: an answer waits for the rest of its turn and for the
callbacks queued ahead of its send in the next one (a group commit of writes, say) — work the
loop would have done before reading that client's next request anyway.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _Base

TRANSPORT_KEY = "paysandbox.transport"
PROTOCOL = "paysandbox.observe.server:HttpToolsProtocol"


class Coalescing(asyncio.Transport):
    """A connection's transport whose writes are joined until ``flush`` (see the module)."""

    def __init__(self, transport: asyncio.Transport) -> None:
        super().__init__()
        self.inner = transport
        self._parts: list[bytes] = []
        self._loop = asyncio.get_running_loop()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not self._parts:
            self._loop.call_soon(self.flush)
        self._parts.append(bytes(data))

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def flush(self) -> None:
        parts = self._parts
        if parts:
            self._parts = []
            # A connection the client closed (or reset) after its answer was made is gone by
            # the time the turn ends: what was held for it is dropped, as a closed socket would
            # (uvloop raises on a write to a closed transport).
            if not self.inner.is_closing():
                self.inner.write(parts[0] if len(parts) == 1 else b"".join(parts))

    def close(self) -> None:
        self.flush()
        self.inner.close()

    def abort(self) -> None:
        self._parts = []
        self.inner.abort()

    def write_eof(self) -> None:
        self.flush()
        self.inner.write_eof()

    def can_write_eof(self) -> bool:
        return self.inner.can_write_eof()

    def is_closing(self) -> bool:
        return self.inner.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.inner.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self.inner.pause_reading()

    def resume_reading(self) -> None:
        self.inner.resume_reading()

    def is_reading(self) -> bool:
        return self.inner.is_reading()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self.inner.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self.inner.get_protocol()

    def get_write_buffer_size(self) -> int:
        return self.inner.get_write_buffer_size() + sum(map(len, self._parts))

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self.inner.get_write_buffer_limits()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self.inner.set_write_buffer_limits(high, low)


class HttpToolsProtocol(_Base):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(Coalescing(transport))

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope[TRANSPORT_KEY] = self.transport  # type: ignore[literal-required]

    def eof_received(self) -> None:
        """The client sends nothing more (``shutdown(SHUT_WR)``, or it closed): uvicorn closes
        the connection when this returns — the end of input is how a gone client is noticed
        (``http.disconnect``, which the ``timeout`` fault waits for). What is held for it is
        sent first, so an answer made before the end of input arrived still reaches a client
        that only half-closed, as when each answer was sent at once."""
        self.transport.flush()  # type: ignore[attr-defined]
