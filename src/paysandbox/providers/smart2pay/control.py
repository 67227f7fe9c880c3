"""Smart2Pay control routes under ``/_sandbox/smart2pay/`` (inspect, configure).

``GET /_sandbox/smart2pay/payments/{id}`` (payment, refunds, pending transition, events),
``GET /_sandbox/smart2pay/payments?siteId=&state=&limit=`` (newest first; ``state`` is a status
name such as ``Captured``, matched against the status in effect on the site's clock),
``GET /_sandbox/smart2pay/tokens/{value}`` (token and events),
``GET /_sandbox/smart2pay/sites``, ``PUT /_sandbox/smart2pay/sites/{siteId}``
``{"apiKey", "notificationUrl", "faults"}`` (a new site needs an apiKey; an empty
notificationUrl removes it; the key is never shown).
"""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from ...control.errors import ControlError, decode_optional, parse_limit
from ...delivery.urls import BadUrl, check_callback_url
from ...edge import Op
from ...store import clock as clock_rows
from ...store.db import Conn, Database, Row
from ...web import json_response
from . import store as rows
from . import views
from .config import site_id
from .model import STATUS_IDS, Payment
from .schemas import SiteBody
from .service import Smart2PayService


def ops(service: Smart2PayService, db: Database, *, max_body: int) -> list[Op]:
    async def get_payment(request: Request) -> Response:
        raw = request.path_params["payment_id"]
        if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
            raise ControlError("not_found", f"no Smart2Pay payment {raw[:40]}")
        payment, refunds, history = await service.inspect_payment(int(raw))
        return json_response(views.control_payment(payment, refunds, history))

    async def list_payments(request: Request) -> Response:
        q = request.query_params
        limit = parse_limit(q)
        state = q.get("state")
        if state is not None and state not in STATUS_IDS:
            raise ControlError("bad_request", f"state must be one of {', '.join(STATUS_IDS)}")
        raw = q.get("siteId")
        if raw is not None and (not raw.isascii() or not raw.isdigit() or len(raw) > 12):
            raise ControlError("bad_request", "siteId must be a number of at most 12 digits")

        def _list(conn: Conn) -> list[dict[str, Any]]:
            sandbox_now = clock_rows.now_us(conn)
            own = clock_rows.own_offsets(conn, "smart2pay")
            site = int(raw) if raw is not None else None
            found = rows.control_list_payments(conn, site, state, sandbox_now, limit)
            return [
                views.control_summary(Payment(r, sandbox_now + own.get(str(r["site_id"]), 0)))
                for r in found
            ]

        return json_response({"payments": await db.read(_list)})

    async def get_token(request: Request) -> Response:
        row, history = await service.inspect_token(request.path_params["value"])
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
        Op(
            "GET",
            "/_sandbox/smart2pay/payments",
            list_payments,
            "Payments, newest first (?siteId=&state=&limit=)",
        ),
        Op(
            "GET",
            "/_sandbox/smart2pay/payments/{payment_id}",
            get_payment,
            "A payment with its events",
        ),
        Op("GET", "/_sandbox/smart2pay/tokens/{value}", get_token, "A card token with its events"),
        Op("GET", "/_sandbox/smart2pay/sites", list_sites, "Sites (never their API keys)"),
        Op(
            "PUT",
            "/_sandbox/smart2pay/sites/{site_id}",
            put_site,
            "Create or change a site: apiKey, notificationUrl, faults",
            SiteBody,
        ),
    ]
