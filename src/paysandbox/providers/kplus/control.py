"""K PLUS control routes under ``/_sandbox/kplus/`` (simulate the customer, inspect, configure).

``POST /_sandbox/kplus/tokens/{tokenId}/pay`` (optional ``{"paymentAccount": "…"}``),
``POST …/decline``, ``POST …/expire``, ``GET /_sandbox/kplus/tokens/{tokenId}`` (with events;
the slip as a link to ``GET …/{tokenId}/slip.png``),
``GET /_sandbox/kplus/tokens?partnerId=&state=&limit=`` (newest first),
``GET /_sandbox/kplus/partners``, ``PUT /_sandbox/kplus/partners/{partnerId}``.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any

import msgspec
from msgspec import Meta
from starlette.requests import Request
from starlette.responses import Response

from ...control.errors import ControlError, decode_optional, only_params, parse_limit
from ...control.schemas import FaultsBody
from ...core.clock import US, real_now_us
from ...core.ids import random_string
from ...delivery.urls import BadUrl, check_callback_url, redact_url
from ...edge import Op
from ...store import clock as clock_rows
from ...store.db import Conn, Database, Row
from ...web import json_response
from . import store as rows
from . import views
from .config import DEMO_PARTNER_ID
from .model import TOKEN_STATES, Token
from .routes import app_url
from .schemas import GenerateToken, Item, PayToken
from .service import KPlusService


class FixtureBody(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /_sandbox/kplus/tokens``: a token with a chosen id (e.g. the documents' example
    ids), owned by ``partnerId`` (default the demo partner); any generate-token field may be
    given, the rest take the defaults below."""

    tokenId: Annotated[str, Meta(pattern=r"^[A-Za-z0-9]{8,64}$")] | None = None
    partnerId: Annotated[str, Meta(min_length=1, max_length=64)] = DEMO_PARTNER_ID
    partnerTxnUid: Annotated[str, Meta(min_length=1, max_length=64)] | None = None
    reference1: str = "KS1234567"
    reference2: str | None = None
    totalAmount: str | int | float = "500"
    shippingFee: str | int | float = "0"
    shopName: str = "paysandbox demo shop"
    shopImageUrl: str = "https://shop.example/logo.png"
    partnerIconUrl: str | None = None
    osPlatform: str = "IOS"
    items: list[Item] | None = None
    additionalInfo1: str | None = None
    additionalInfo2: str | None = None
    additionalInfo3: str | None = None


class PartnerBody(msgspec.Struct, forbid_unknown_fields=True):
    callbackUrl: Annotated[str, Meta(max_length=2048)] | None = None
    partnerSecret: Annotated[str, Meta(min_length=8, max_length=256)] | None = None
    tokenTtlSeconds: Annotated[int, Meta(ge=1, le=30 * 86400)] | None = None
    faults: FaultsBody | None = None


def partner_view(row: Row) -> dict[str, Any]:
    """A partner as the control API shows it: never its secret."""
    return {
        "partnerId": row["partner_id"],
        "callbackUrl": redact_url(row["callback_url"]),
        "tokenTtlSeconds": row["token_ttl_seconds"],
        "faults": json.loads(row["faults"]),
    }


def check_partner(partner_id: str, body: PartnerBody) -> None:
    """What ``PUT …/partners/{partnerId}`` refuses before writing (400 ``bad_request``)."""
    if body.callbackUrl:
        try:
            check_callback_url(body.callbackUrl, field="callbackUrl")
        except BadUrl as exc:
            raise ControlError("bad_request", str(exc)) from None
    if len(partner_id) > 64:
        raise ControlError("bad_request", "partnerId is longer than 64 characters")


def save_partner(conn: Conn, partner_id: str, body: PartnerBody, default_ttl_seconds: int) -> Row:
    """Create or change a partner (the control API's ``PUT`` and the dashboard's new account)."""
    if body.partnerSecret is None and rows.get_partner(conn, partner_id) is None:
        raise ControlError("bad_request", "a new partner needs a partnerSecret")
    return rows.upsert_partner(
        conn,
        partner_id,
        secret=body.partnerSecret,
        callback_url=body.callbackUrl,
        token_ttl_seconds=body.tokenTtlSeconds,
        faults=msgspec.to_builtins(body.faults) if body.faults is not None else None,
        defaults={"secret": body.partnerSecret, "token_ttl_seconds": default_ttl_seconds},
    )


def ops(
    service: KPlusService,
    db: Database,
    *,
    max_body: int,
    public_url: str | None,
    default_ttl_seconds: int,
) -> list[Op]:
    async def show(request: Request, token_id: str) -> Response:
        token, history = await service.get(token_id)
        page = app_url(request, token_id, public_url)
        slip = page.rsplit("/kplus/app/", 1)[0] + f"/_sandbox/kplus/tokens/{token_id}/slip.png"
        return json_response(views.control(token, history, page, slip))

    async def list_tokens(request: Request) -> Response:
        q = request.query_params
        only_params(q, "partnerId", "state", "limit")
        limit = parse_limit(q)
        state = q.get("state")
        if state is not None and state not in TOKEN_STATES.states:
            raise ControlError(
                "bad_request", f"state must be one of {', '.join(sorted(TOKEN_STATES.states))}"
            )

        def _list(conn: Conn) -> list[dict[str, Any]]:
            sandbox_now = clock_rows.now_us(conn)
            own = clock_rows.own_offsets(conn, "kplus")
            found = rows.control_list_tokens(conn, q.get("partnerId"), state, sandbox_now, limit)
            return [
                views.summary(Token(r, sandbox_now + own.get(str(r["partner_id"]), 0)))
                for r in found
            ]

        return json_response({"tokens": await db.read(_list)})

    async def slip_png(request: Request) -> Response:
        token_id = request.path_params["token_id"]
        token, _ = await service.get(token_id)
        if not token["slip_image"]:
            raise ControlError("not_found", f"token {token_id} has no slip (it is not paid)")
        try:
            png = base64.b64decode(token["slip_image"], validate=True)
        except binascii.Error:
            raise ControlError("internal_error", "the stored slip is not base64") from None
        return Response(png, media_type="image/png")

    async def decline(request: Request) -> Response:
        token_id = request.path_params["token_id"]
        await service.decline(token_id)
        return await show(request, token_id)

    async def get_token(request: Request) -> Response:
        return await show(request, request.path_params["token_id"])

    async def pay(request: Request) -> Response:
        body = await decode_optional(request, PayToken, max_body)
        token_id = request.path_params["token_id"]
        await service.pay(token_id, body.paymentAccount, via="control-api")
        return await show(request, token_id)

    async def expire(request: Request) -> Response:
        token_id = request.path_params["token_id"]
        await service.expire(token_id)
        return await show(request, token_id)

    def _fixture_secret(conn: Conn, partner_id: str) -> str:
        partner = rows.get_partner(conn, partner_id)
        if partner is None:
            raise ControlError("not_found", f"no K PLUS partner {partner_id}")
        return str(partner["partner_secret"])

    async def create_token(request: Request) -> Response:
        body = await decode_optional(request, FixtureBody, max_body)
        secret = await db.read(_fixture_secret, body.partnerId)
        fields = msgspec.structs.asdict(body)
        token_id = fields.pop("tokenId")
        fields["partnerTxnUid"] = body.partnerTxnUid or f"fixture-{random_string(12)}"
        try:
            req = msgspec.convert(
                {
                    **fields,
                    "partnerSecret": secret,
                    "requestDt": str(real_now_us() // US),
                    "currencyCode": "THB",
                    "currencyExponent": "2",
                    "items": [msgspec.structs.asdict(i) for i in body.items or []],
                },
                GenerateToken,
            )
        except msgspec.ValidationError as exc:
            raise ControlError("bad_request", str(exc)) from None
        token = await service.generate(req, token_id=token_id)
        return await show(request, token.token_id)

    async def list_partners(request: Request) -> Response:
        found = await db.read(rows.list_partners)
        return json_response({"partners": [partner_view(r) for r in found]})

    async def put_partner(request: Request) -> Response:
        body = await decode_optional(request, PartnerBody, max_body)
        partner_id = request.path_params["partner_id"]
        check_partner(partner_id, body)
        row = await db.write(save_partner, partner_id, body, default_ttl_seconds)
        return json_response(partner_view(row))

    tokens = "/_sandbox/kplus/tokens"
    return [
        Op("POST", tokens, create_token, "Create a token with a chosen tokenId", FixtureBody),
        Op("GET", tokens, list_tokens, "Tokens, newest first (?partnerId=&state=&limit=)"),
        Op("GET", f"{tokens}/{{token_id}}", get_token, "A token with its event history"),
        Op("GET", f"{tokens}/{{token_id}}/slip.png", slip_png, "The paid token's slip (PNG)"),
        Op("POST", f"{tokens}/{{token_id}}/decline", decline, "Simulate the customer declining"),
        Op("POST", f"{tokens}/{{token_id}}/pay", pay, "Simulate the customer paying", PayToken),
        Op("POST", f"{tokens}/{{token_id}}/expire", expire, "Expire an unpaid token now"),
        Op("GET", "/_sandbox/kplus/partners", list_partners, "Partners (never their secrets)"),
        Op(
            "PUT",
            "/_sandbox/kplus/partners/{partner_id}",
            put_partner,
            "Create or change a partner: secret, callback URL, token TTL, faults",
            PartnerBody,
        ),
    ]
