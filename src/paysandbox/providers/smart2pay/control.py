"""Smart2Pay control routes under ``/_sandbox/smart2pay/`` (inspect, configure).

``GET /_sandbox/smart2pay/payments/{id}`` (payment, refunds, pending transition, events),
``GET /_sandbox/smart2pay/payments?siteId=&state=&limit=`` (newest first; ``state`` is a status
name such as ``Captured``, matched against the status in effect on the site's clock),
``POST …/payments/{id}/capture`` (optional ``{"amount"}``), ``POST …/cancel``,
``POST …/refunds`` ``{"amount", "merchantTransactionId"?}`` (the merchant's verbs, run on behalf
of the payment's own site; the answer is the payment as ``GET`` shows it),
``GET /_sandbox/smart2pay/tokens/{value}`` (token and events),
``POST /_sandbox/smart2pay/tokens`` ``{"Value"?, "siteId"?, "Card"?, "Customer"?,
"BillingAddress"?}`` (a card token with a chosen value; a taken value is a 409),
``GET /_sandbox/smart2pay/sites``, ``PUT /_sandbox/smart2pay/sites/{siteId}``
``{"apiKey", "notificationUrl", "faults"}`` (a new site needs an apiKey; an empty
notificationUrl removes it; the key is never shown).
"""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from ...control.errors import ControlError, decode_optional, only_params, parse_limit
from ...delivery.urls import BadUrl, check_callback_url
from ...edge import Op
from ...store import clock as clock_rows
from ...store.db import Conn, Database, Row
from ...web import json_response
from . import rules, views
from . import store as rows
from .config import site_id
from .model import STATUS_IDS, Payment
from .schemas import CaptureBody, RefundBody, SiteBody, TokenFixtureBody
from .service import Smart2PayService


def check_site(body: SiteBody) -> None:
    """What ``PUT …/sites/{siteId}`` refuses before writing (400 ``bad_request``)."""
    if body.notificationUrl:
        try:
            check_callback_url(body.notificationUrl, field="notificationUrl")
        except BadUrl as exc:
            raise ControlError("bad_request", str(exc)) from None


def save_site(conn: Conn, site: int, body: SiteBody) -> Row:
    """Create or change a site (the control API's ``PUT`` and the dashboard's new account)."""
    try:
        return rows.upsert_site(
            conn,
            site,
            api_key=body.apiKey,
            notification_url=body.notificationUrl,
            faults=msgspec.to_builtins(body.faults) if body.faults is not None else None,
        )
    except ValueError:
        raise ControlError("bad_request", "a new site needs an apiKey") from None


def ops(service: Smart2PayService, db: Database, *, max_body: int) -> list[Op]:
    def _payment_id(request: Request) -> int:
        raw = request.path_params["payment_id"]
        payment_id = rules.whole_number(raw, 18)
        if payment_id is None:
            raise ControlError("not_found", f"no Smart2Pay payment {raw[:40]}")
        return payment_id

    async def show_payment(payment_id: int) -> Response:
        payment, refunds, history = await service.inspect_payment(payment_id)
        return json_response(views.control_payment(payment, refunds, history))

    async def list_payments(request: Request) -> Response:
        q = request.query_params
        only_params(q, "siteId", "state", "limit")
        limit = parse_limit(q)
        state = q.get("state")
        if state is not None and state not in STATUS_IDS:
            raise ControlError("bad_request", f"state must be one of {', '.join(STATUS_IDS)}")
        raw = q.get("siteId")
        if raw is not None and rules.whole_number(raw, 12) is None:
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

    async def get_payment(request: Request) -> Response:
        return await show_payment(_payment_id(request))

    async def capture(request: Request) -> Response:
        payment_id = _payment_id(request)
        body = await decode_optional(request, CaptureBody, max_body)
        await service.capture_for_site(payment_id, body.amount)
        return await show_payment(payment_id)

    async def cancel(request: Request) -> Response:
        payment_id = _payment_id(request)
        await service.cancel_for_site(payment_id)
        return await show_payment(payment_id)

    async def refund(request: Request) -> Response:
        payment_id = _payment_id(request)
        try:
            body = await decode_optional(request, RefundBody, max_body)
        except msgspec.ValidationError as exc:  # an empty body: {"amount"} is required
            raise ControlError("bad_request", f"invalid body: {exc}") from None
        await service.refund_for_site(payment_id, body.amount, body.merchantTransactionId)
        return await show_payment(payment_id)

    async def get_token(request: Request) -> Response:
        row, history = await service.inspect_token(request.path_params["value"])
        return json_response(views.control_token(row, history))

    async def create_token(request: Request) -> Response:
        body = await decode_optional(request, TokenFixtureBody, max_body)
        try:
            site = site_id(body.siteId)
        except ValueError as exc:
            raise ControlError("bad_request", f"siteId: {exc}") from None
        doc = {
            name: part
            for name, part in (
                ("Card", body.Card),
                ("Customer", body.Customer),
                ("BillingAddress", body.BillingAddress),
            )
            if part is not None
        }
        row, history = await service.create_token_fixture(site, body.Value, doc)
        return json_response(views.control_token(row, history), 201)

    async def list_sites(request: Request) -> Response:
        found = await db.read(rows.list_sites)
        return json_response({"sites": [views.site(r) for r in found]})

    async def put_site(request: Request) -> Response:
        body = await decode_optional(request, SiteBody, max_body)
        raw = request.path_params["site_id"]
        try:
            site = site_id(raw)
        except ValueError as exc:
            raise ControlError("bad_request", f"siteId: {exc}") from None
        check_site(body)
        row = await db.write(save_site, site, body)
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
        Op(
            "POST",
            "/_sandbox/smart2pay/payments/{payment_id}/capture",
            capture,
            "Capture it (all, or {amount}) as its site would",
            CaptureBody,
        ),
        Op(
            "POST",
            "/_sandbox/smart2pay/payments/{payment_id}/cancel",
            cancel,
            "Cancel it as its site would",
        ),
        Op(
            "POST",
            "/_sandbox/smart2pay/payments/{payment_id}/refunds",
            refund,
            "Refund {amount} as its site would",
            RefundBody,
        ),
        Op(
            "POST",
            "/_sandbox/smart2pay/tokens",
            create_token,
            "Create a card token with a chosen Value",
            TokenFixtureBody,
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
