"""CORS for the one browser-facing Smart2Pay route, ``POST /v1/card/authenticate``: Smart2Pay's
js-sdk tokenizes the card from the merchant's page with ``fetch``/``XMLHttpRequest``, sending
``Authorization`` and ``Content-Type: application/json`` (so the browser sends a preflight
``OPTIONS`` first).

Allowed origins come from the settings (``--smart2pay-cors-origin``, ``[smart2pay]
cors_origins``); the default ``*`` allows any origin, as suits a sandbox. An allowed origin is
echoed back (``Vary: Origin``), which also works for credentialed requests; a request from any
other origin gets no CORS headers, so the browser refuses it. No other route gets CORS headers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from starlette.requests import Request
from starlette.responses import Response

_TOKEN = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
MAX_AGE_SECONDS = 600


class Cors:
    def __init__(self, origins: Sequence[str]) -> None:
        self.any = "*" in origins
        self.origins = frozenset(o.strip().rstrip("/").lower() for o in origins if o != "*")

    def allowed(self, origin: str | None) -> bool:
        if not origin:
            return False
        return self.any or origin.strip().rstrip("/").lower() in self.origins

    def headers(self, request: Request) -> dict[str, str]:
        """CORS headers for an actual request (none without an allowed ``Origin``)."""
        origin = request.headers.get("origin")
        if not self.allowed(origin):
            return {"Vary": "Origin"} if origin else {}
        assert origin is not None
        return {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Expose-Headers": "WWW-Authenticate",
            "Vary": "Origin",
        }

    def preflight(self, request: Request) -> Response:
        """``OPTIONS``: 204, with the allowance only for an allowed origin asking for POST."""
        origin = request.headers.get("origin")
        wanted = request.headers.get("access-control-request-method", "").upper()
        headers: dict[str, str] = {"Vary": "Origin", "Allow": "POST, OPTIONS"}
        if self.allowed(origin) and wanted in ("POST", ""):
            assert origin is not None
            asked = [
                h.strip()
                for h in request.headers.get("access-control-request-headers", "").split(",")
                if h.strip()
            ]
            allow = sorted(
                {h.lower() for h in asked if _TOKEN.match(h)}
                | {"authorization", "content-type", "requestid"}
            )
            headers.update(
                {
                    "Access-Control-Allow-Origin": origin,
                    "Access-Control-Allow-Methods": "POST, OPTIONS",
                    "Access-Control-Allow-Headers": ", ".join(allow),
                    "Access-Control-Max-Age": str(MAX_AGE_SECONDS),
                }
            )
        return Response(status_code=204, headers=headers)
