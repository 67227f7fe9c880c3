"""Smart2Pay control routes under ``/_sandbox/smart2pay/`` (inspect, configure).

``GET /_sandbox/smart2pay/payments/{id}`` (payment, refunds, pending transition, events),
``GET /_sandbox/smart2pay/tokens/{value}`` (token and events),
``GET /_sandbox/smart2pay/sites``, ``PUT /_sandbox/smart2pay/sites/{siteId}``
``{"apiKey", "notificationUrl", "faults"}`` (a new site needs an apiKey; an empty
notificationUrl removes it; the key is never shown).
"""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ...config import site_id
from ...control.errors import ControlError, decode_optional
from ...control.routes import guarded
from ...delivery.urls import BadUrl, check_callback_url
from ...store import smart2pay as rows
from ...store.db import Conn, Database, Row
from ...web import json_response
from . import views
from .errors import Smart2PayError
from .schemas import SiteBody
from .service import Smart2PayService


def _control_error(exc: Smart2PayError) -> ControlError:
    code = "not_found" if exc.http_status == 404 else "bad_request"
    return ControlError(code, exc.reasons[0][1], detail=exc.reasons[0][0])


def make_routes(service: Smart2PayService, db: Database, *, max_body: int) -> list[BaseRoute]:
    async def get_payment(request: Request) -> Response:
        raw = request.path_params["payment_id"]
        if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
            raise ControlError("not_found", f"no Smart2Pay payment {raw[:40]}")
        try:
            payment, refunds, history = await service.inspect_payment(int(raw))
        except Smart2PayError as exc:
            raise _control_error(exc) from None
        return json_response(views.control_payment(payment, refunds, history))

    async def get_token(request: Request) -> Response:
        try:
            row, history = await service.inspect_token(request.path_params["value"])
        except Smart2PayError as exc:
            raise _control_error(exc) from None
        return json_response(views.control_token(row, history))

    async def list_sites(request: Request) -> Response:
        found = await db.read(rows.list_sites)
        return json_response({"sites": [views.site(r) for r in found]})

    def _put(conn: Conn, site_id: int, body: SiteBody) -> Row:
        try:
            return rows.upsert_site(
                conn,
                site_id,
                api_key=body.apiKey,
                notification_url=body.notificationUrl,
                faults=msgspec.to_builtins(body.faults) if body.faults is not None else None,
            )
        except ValueError:
            raise ControlError("bad_request", "a new site needs an apiKey") from None

    async def put_site(request: Request) -> Response:
        body = await decode_optional(request, SiteBody, max_body)
        raw = request.path_params["site_id"]
        try:
            site = site_id(raw)
        except ValueError as exc:
            raise ControlError("bad_request", f"siteId: {exc}") from None
        if body.notificationUrl:
            try:
                check_callback_url(body.notificationUrl, field="notificationUrl")
            except BadUrl as exc:
                raise ControlError("bad_request", str(exc)) from None
        row = await db.write(_put, site, body)
        return json_response(views.site(row))

    return [
        Route("/_sandbox/smart2pay/payments/{payment_id}", guarded(get_payment), methods=["GET"]),
        Route("/_sandbox/smart2pay/tokens/{value}", guarded(get_token), methods=["GET"]),
        Route("/_sandbox/smart2pay/sites", guarded(list_sites), methods=["GET"]),
        Route("/_sandbox/smart2pay/sites/{site_id}", guarded(put_site), methods=["PUT"]),
    ]
