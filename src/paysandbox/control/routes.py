"""Provider-neutral control routes: the clock, reset, and the delivery outbox.

``GET /_sandbox/clock``, ``POST /_sandbox/clock/advance`` ``{"seconds": N}``,
``POST /_sandbox/reset``, ``GET /_sandbox/deliveries``
(``?provider=&objectId=&accountId=&state=&limit=``; an unknown provider or state is a 400),
``GET /_sandbox/deliveries/{id}``, ``POST /_sandbox/deliveries/{id}/retry``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any

import msgspec
from msgspec import Meta
from starlette.requests import Request
from starlette.responses import Response

from ..core.clock import US, iso, real_now_us
from ..delivery.redact import redact_body, redact_headers
from ..delivery.sender import Sender
from ..delivery.urls import redact_url
from ..edge import Op
from ..store import admin, outbox
from ..store import clock as clock_rows
from ..store.db import Conn, Database, Row
from ..web import json_response
from .errors import ControlError, decode_optional, no_input, only_params, parse_limit

DELIVERY_STATES = ("pending", "succeeded", "failed")


class Advance(msgspec.Struct, forbid_unknown_fields=True):
    seconds: Annotated[float, Meta(ge=0, le=10 * 365 * 86400)]


def clock_view(offset_us: int) -> dict[str, Any]:
    now = real_now_us() + offset_us
    return {"now": iso(now), "nowUnixMs": now // 1000, "offsetSeconds": offset_us / US}


def _recorded_request(recorded: str) -> dict[str, Any]:
    """An attempt's recorded request; its URL shown without a password (rows recorded before
    the sender masked it too)."""
    request: dict[str, Any] = json.loads(recorded)
    if isinstance(request.get("url"), str):
        request["url"] = redact_url(request["url"])
    return request


def delivery_view(row: Row, attempts: list[Row] | None = None) -> dict[str, Any]:
    headers = json.loads(row["headers"])
    secret_keys = json.loads(row["secret_keys"])
    body = redact_body(row["body"], headers.get("Content-Type", ""), secret_keys)
    view: dict[str, Any] = {
        "id": row["id"],
        "provider": row["provider"],
        "accountId": row["account_id"],
        "objectId": row["object_id"],
        "event": row["event"],
        "url": redact_url(row["url"]),
        "method": row["method"],
        "state": row["state"],
        # claimed by a sender whose attempt is not recorded yet (or whose lease has not run out)
        "inFlight": row["lease_token"] is not None,
        "attempts": row["attempts"],
        "maxAttempts": row["max_attempts"],
        "createdAt": iso(row["created_at_us"]),
        "nextAttemptAt": iso(row["next_attempt_at_us"]) if row["state"] == "pending" else None,
        "completedAt": iso(row["completed_at_us"]) if row["completed_at_us"] else None,
        "lastHttpStatus": row["last_http_status"],
        "lastError": row["last_error"],
        "request": {
            "headers": redact_headers(headers, secret_keys),
            "body": body,
        },
    }
    if attempts is not None:
        view["attemptLog"] = [
            {
                "number": a["number"],
                "at": iso(a["started_at_us"]),
                "request": _attempt_request(_recorded_request(a["request"]), body),
                "httpStatus": a["http_status"],
                "response": a["response_body"],
                "error": a["error"],
                "latencyMs": a["latency_ms"],
                "succeeded": bool(a["succeeded"]),
            }
            for a in attempts
        ]
    return view


def _attempt_request(request: dict[str, Any], body: Any) -> dict[str, Any]:
    """An attempt's request without its body when that is the delivery's own (shown once in
    ``request.body``: a callback body may carry a large image, e.g. a ~50 KB payment slip)."""
    if request.get("body") == body:
        return {**{k: v for k, v in request.items() if k != "body"}, "bodyAsDelivery": True}
    return request


def _choice(query: Any, name: str, allowed: Sequence[str]) -> str | None:
    value: str | None = query.get(name)
    if value is not None and allowed and value not in allowed:
        raise ControlError("bad_request", f"{name} must be one of {', '.join(allowed)}")
    return value


def delivery_tx(conn: Conn, delivery_id: str) -> tuple[Row, list[Row]]:
    """One delivery and its attempts (``not_found`` for an unknown id)."""
    row = outbox.get_delivery(conn, delivery_id)
    if row is None:
        raise ControlError("not_found", f"no delivery {delivery_id}")
    return row, outbox.attempts_of(conn, delivery_id)


def retry_tx(conn: Conn, delivery_id: str) -> tuple[Row, list[Row]]:
    """Make a delivery due now (the control API's and the dashboard's retry)."""
    row, _ = delivery_tx(conn, delivery_id)  # 404 for an unknown id
    now = clock_rows.account_now_us(conn, row["provider"], row["account_id"])
    if not outbox.requeue(conn, delivery_id, now, real_now_us()):
        raise ControlError("conflict", "an attempt of this delivery is in flight; retry later")
    return delivery_tx(conn, delivery_id)


def ops(
    db: Database,
    sender: Sender | None,
    *,
    max_body: int,
    tables: Sequence[str],
    reseed: Callable[[Conn], None],
    providers: Sequence[str] = (),
    after_reset: Callable[[], Awaitable[None]] | None = None,
) -> list[Op]:
    """The provider-neutral control operations; ``tables`` are what reset empties;
    ``providers`` the names a ``?provider=`` filter may take."""

    def wake() -> None:
        if sender is not None:
            sender.wake()

    async def get_clock(request: Request) -> Response:
        return json_response(clock_view(await db.read(clock_rows.offset_us)))

    async def advance(request: Request) -> Response:
        body = await decode_optional(request, Advance, max_body)
        offset = await db.write(clock_rows.advance, int(body.seconds * US))
        wake()
        return json_response(clock_view(offset))

    async def reset(request: Request) -> Response:
        await no_input(request, max_body)  # {"account": …} or ?account= reset everything
        await db.write(admin.reset, tables, reseed)
        if after_reset is not None:  # e.g. the fault book re-reads what the reset removed
            await after_reset()
        return json_response({"reset": True, "clock": clock_view(0)})

    async def list_deliveries(request: Request) -> Response:
        q = request.query_params
        only_params(q, "provider", "objectId", "accountId", "state", "limit")
        limit = parse_limit(q)
        provider = _choice(q, "provider", providers)
        state = _choice(q, "state", DELIVERY_STATES)
        found = await db.read(
            lambda c: outbox.list_deliveries(
                c,
                provider=provider,
                object_id=q.get("objectId"),
                state=state,
                account_id=q.get("accountId"),
                limit=limit,
            )
        )
        return json_response({"deliveries": [delivery_view(r) for r in found]})

    async def get_delivery(request: Request) -> Response:
        row, attempts = await db.read(delivery_tx, request.path_params["delivery_id"])
        return json_response(delivery_view(row, attempts))

    async def retry(request: Request) -> Response:
        row, attempts = await db.write(retry_tx, request.path_params["delivery_id"])
        wake()
        return json_response(delivery_view(row, attempts))

    return [
        Op("GET", "/_sandbox/clock", get_clock, "The sandbox clock"),
        Op("POST", "/_sandbox/clock/advance", advance, "Move the sandbox clock forward", Advance),
        Op("POST", "/_sandbox/reset", reset, "Forget every object; restore configured credentials"),
        Op(
            "GET",
            "/_sandbox/deliveries",
            list_deliveries,
            "Callbacks/notifications (?provider=&objectId=&accountId=&state=&limit=)",
        ),
        Op(
            "GET",
            "/_sandbox/deliveries/{delivery_id}",
            get_delivery,
            "One delivery with every attempt",
        ),
        Op("POST", "/_sandbox/deliveries/{delivery_id}/retry", retry, "Make a delivery due now"),
    ]
