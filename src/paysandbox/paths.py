"""Repeated slashes in a request path are one slash, on every route.

NICEPay's own Python library, with its "cloud" option, builds ``/nicepay//direct/v2/cancel``;
web front ends in front of the real gateways merge such slashes, so paysandbox does too, before
routing (and before any provider sees the path). Nothing else in the path is changed.
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Receive, Scope, Send

_REPEATED = re.compile(r"/{2,}")
_REPEATED_RAW = re.compile(rb"/{2,}")


def collapse(path: str) -> str:
    """``//a///b`` → ``/a/b``."""
    return _REPEATED.sub("/", path)


class CollapseSlashes:
    """ASGI middleware: ``path`` and ``raw_path`` with every run of ``/`` collapsed to one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and "//" in scope.get("path", ""):
            scope = dict(scope)
            scope["path"] = collapse(scope["path"])
            raw = scope.get("raw_path")
            if isinstance(raw, bytes):
                scope["raw_path"] = _REPEATED_RAW.sub(b"/", raw)
        await self.app(scope, receive, send)
