"""uvicorn's httptools protocol, with the connection's transport in each request's scope.

Faults that drop a connection (``timeout``, ``reset``, ``lost-answer``) must close it without
an answer; ASGI has no message for that, and an ASGI app that returns without answering gets
uvicorn's own 500. The transport under ``scope[TRANSPORT_KEY]`` lets the fault close (or
reset) the connection itself. Used by ``paysandbox serve`` and the tests' live server:
``uvicorn.Config(http="paysandbox.observe.server:HttpToolsProtocol")``.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _Base

TRANSPORT_KEY = "paysandbox.transport"
PROTOCOL = "paysandbox.observe.server:HttpToolsProtocol"


class HttpToolsProtocol(_Base):
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope[TRANSPORT_KEY] = self.transport  # type: ignore[literal-required]
