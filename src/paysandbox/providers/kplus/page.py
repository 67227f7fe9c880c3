"""The page behind ``callBackAppUrl``: paysandbox's stand-in for the K PLUS app.

Placeholder: shows the token's state. The full customer page (order, countdown, Pay/Decline)
replaces this module.
"""

from __future__ import annotations

import html

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from .errors import KPlusError
from .service import KPlusService


def make_routes(service: KPlusService) -> list[BaseRoute]:
    async def show(request: Request) -> Response:
        token_id = request.path_params["token_id"]
        try:
            token, _ = await service.get(token_id)
        except KPlusError:
            return HTMLResponse("<h1>Unknown payment token</h1>", status_code=404)
        return HTMLResponse(
            f"<!doctype html><title>K PLUS</title><h1>{html.escape(token['shop_name'])}</h1>"
            f"<p>Token {html.escape(token.token_id)}: {token.status}</p>"
        )

    return [Route("/kplus/app/{token_id}", show, methods=["GET"])]
