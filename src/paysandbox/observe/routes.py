"""Control routes of the journal, faults, metrics and health.

``GET /_sandbox/requests`` (``?provider=&account=&route=&status=&objectId=&since=&limit=``),
``GET /_sandbox/requests/{id}``, ``DELETE /_sandbox/requests``; ``POST|GET /_sandbox/faults``,
``GET|DELETE /_sandbox/faults/{id}``; ``GET /_sandbox/metrics``; ``GET /_sandbox/health``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from ..control.errors import ControlError, no_input, parse_limit
from ..core.clock import from_datetime, real_now_us
from ..edge import Op
from ..store import observe as rows
from ..store.db import Conn, Database
from ..web import decode_json, json_response, read_body, require_json
from . import faults as fault_specs
from . import journal as journal_views
from .faults import FaultBook, FaultError, FaultSpec
from .journal import Journal
from .metrics import CONTENT_TYPE_LATEST, Metrics, count_all
from .spec import ProviderObserve

Handler = Callable[[Request], Awaitable[Response]]
HEALTH_TIMEOUT_SECONDS = 5.0

_STATUS = re.compile(r"^([1-5])(?:xx|XX)$")
_SPEC = msgspec.json.Decoder()


def parse_status(value: str | None) -> tuple[int, int] | None:
    """``404`` or a class such as ``4xx``."""
    if value is None:
        return None
    m = _STATUS.match(value)
    if m:
        first = int(m.group(1)) * 100
        return first, first + 99
    if len(value) == 3 and value.isascii() and value.isdigit() and 100 <= int(value) <= 599:
        return int(value), int(value)
    raise ControlError("bad_request", "status must be an HTTP status (404) or a class (4xx)")


#: 9999-12-31T23:59:59.999Z in Unix milliseconds: the last ``since`` an ISO date can spell.
_LAST_MS = 253_402_300_799_999


def parse_since(value: str | None) -> int | None:
    """ISO-8601 date-time (with an offset or ``Z``; without one it is UTC) or Unix ms."""
    if value is None:
        return None
    if value.isascii() and value.isdigit():  # ("²" is a digit to isdigit, not to int)
        if len(value) > len(str(_LAST_MS)) or int(value) > _LAST_MS:
            raise ControlError("bad_request", "since is after the year 9999")
        return int(value) * 1000
    try:
        return from_datetime(datetime.fromisoformat(value.replace("Z", "+00:00")))
    except ValueError:
        raise ControlError(
            "bad_request", "since must be an ISO-8601 date-time or Unix milliseconds"
        ) from None


def add_fault_tx(conn: Conn, spec: FaultSpec) -> Any:
    """Store a fault made through the control API (or the dashboard's form); its row."""
    fault_id = fault_specs.new_id()
    rows.insert_fault(
        conn,
        {
            "id": fault_id,
            "spec": fault_specs.spec_json(spec),
            "remaining": spec.times,
            "hits": 0,
            "source": "api",
            "created_at_us": real_now_us(),
        },
    )
    return rows.get_fault(conn, fault_id)


def make_ops(
    db: Database,
    *,
    journal: Journal,
    book: FaultBook,
    metrics: Metrics,
    providers: Mapping[str, tuple[ProviderObserve, Sequence[str]]],
    max_body: int,
) -> list[Op]:
    counters = [(name, obs.count_objects) for name, (obs, _) in providers.items()]
    count_hooks = [(n, h) for n, h in counters if h is not None]

    def routes_for(route: str) -> list[str]:
        """Every template equal to ``route`` for some provider (e.g. two path families of one
        provider that are one route)."""
        found = {route}
        for obs, templates in providers.values():
            key = obs.route_key(route)
            found.update(t for t in templates if obs.route_key(t) == key)
        return sorted(found)

    async def list_requests(request: Request) -> Response:
        q = request.query_params
        unknown = set(q) - {"provider", "account", "route", "status", "objectId", "since", "limit"}
        if unknown:
            raise ControlError("bad_request", f"unknown filter {sorted(unknown)[0]!r}")
        provider = q.get("provider")
        if provider is not None and provider not in providers:
            raise ControlError(
                "bad_request", f"provider must be one of {', '.join(sorted(providers))}"
            )
        limit = parse_limit(q)
        status = parse_status(q.get("status"))
        since = parse_since(q.get("since"))
        route = q.get("route")
        complete = await journal.settle()
        found = await db.read(
            lambda c: rows.list_entries(
                c,
                provider=provider,
                account=q.get("account"),
                routes=routes_for(route) if route is not None else None,
                status=status,
                object_id=q.get("objectId"),
                since_us=since,
                limit=limit,
            )
        )
        return json_response(
            {
                "requests": [journal_views.view(r) for r in found],
                "enabled": journal.enabled,
                "dropped": journal.dropped,
                # False: the journal's writer had not stored this process's latest requests
                # within read_wait_seconds; the answer is what was stored
                "complete": complete,
            }
        )

    async def get_request(request: Request) -> Response:
        await journal.settle()
        row = await db.read(rows.get_entry, request.path_params["request_id"])
        if row is None:
            raise ControlError("not_found", f"no journal entry {request.path_params['request_id']}")
        return json_response(journal_views.view(row))

    async def delete_requests(request: Request) -> Response:
        # no filters: ?account= emptied every team member's journal (one account's entries go
        # with that account's reset, POST /_sandbox/<accounts>/{id}/reset)
        await no_input(request, max_body)
        # this process's entries in full; other processes' writers, if they hold any back
        # (a busy machine), for read_wait_seconds at most
        await journal.everywhere(journal.settings.read_wait_seconds)
        n = await db.write(rows.delete_entries)
        return json_response({"deleted": n})

    async def create_fault(request: Request) -> Response:
        require_json(request)
        body = await read_body(request, max_body)
        try:
            raw = decode_json(_SPEC, body)
            spec = fault_specs.parse(raw, providers)
        except msgspec.ValidationError as exc:
            raise ControlError("bad_request", f"invalid body: {exc}") from None
        except FaultError as exc:
            raise ControlError("bad_request", f"invalid fault: {exc}") from None
        row = await db.write(add_fault_tx, spec)
        await book.refresh()
        return json_response(fault_specs.view(row), 201)

    async def list_faults(request: Request) -> Response:
        found = await db.read(rows.list_faults)
        return json_response({"faults": [fault_specs.view(r) for r in found]})

    async def get_fault(request: Request) -> Response:
        row = await db.read(rows.get_fault, request.path_params["fault_id"])
        if row is None:
            raise ControlError("not_found", f"no fault {request.path_params['fault_id']}")
        return json_response(fault_specs.view(row))

    async def delete_fault(request: Request) -> Response:
        fault_id = request.path_params["fault_id"]
        if not await db.write(rows.delete_fault, fault_id):
            raise ControlError("not_found", f"no fault {fault_id}")
        await book.refresh()
        return json_response({"deleted": fault_id})

    async def get_metrics(request: Request) -> Response:
        try:
            counts = await db.read(count_all, count_hooks)
        except Exception:  # metrics stay readable while the database is away
            counts = []
        return Response(metrics.render(counts), media_type=CONTENT_TYPE_LATEST)

    async def health(request: Request) -> Response:
        try:
            await asyncio.wait_for(db.read(rows.ping), HEALTH_TIMEOUT_SECONDS)
        except TimeoutError:
            return _unhealthy(f"database did not answer within {HEALTH_TIMEOUT_SECONDS:g}s")
        except Exception as exc:
            return _unhealthy(f"database unreachable ({type(exc).__name__})")
        problem = db.problem()
        if problem is not None:
            return _unhealthy(problem)
        return json_response(
            {
                "status": "ok",
                "database": db.dialect,
                "journal": {
                    "enabled": journal.enabled,
                    "dropped": journal.dropped,
                },
                # faults this process knows of (refreshed every faults_refresh_seconds)
                "faults": {"active": sum(len(f) for f in book.active.values())},
            }
        )

    requests, faults = "/_sandbox/requests", "/_sandbox/faults"
    return [
        Op(
            "GET",
            requests,
            list_requests,
            "The request journal, newest first (?provider=&account=&route=&status=&objectId="
            "&since=&limit=)",
        ),
        Op("DELETE", requests, delete_requests, "Empty the journal"),
        Op("GET", f"{requests}/{{request_id}}", get_request, "One journal entry"),
        Op("POST", faults, create_fault, "Create a fault on provider API answers", FaultSpec),
        Op("GET", faults, list_faults, "Faults, with their remaining uses and hits"),
        Op("GET", f"{faults}/{{fault_id}}", get_fault, "One fault"),
        Op("DELETE", f"{faults}/{{fault_id}}", delete_fault, "Remove a fault"),
        Op("GET", "/_sandbox/metrics", get_metrics, "Prometheus metrics of this process"),
        Op(
            "GET",
            "/_sandbox/health",
            health,
            "200 when the database answers, else 503 with the reason",
        ),
    ]


def _unhealthy(reason: str) -> Response:
    return json_response({"status": "unavailable", "reason": reason}, 503)
