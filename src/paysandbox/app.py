"""``create_app(settings)``: migrate and open the database, mount every registered provider and
the control plane on one request edge (``edge.py``), and answer unknown paths and methods in the
format of the path's owner.
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

import httpx
from starlette.requests import Request
from starlette.responses import Response

from . import edge, logs, openapi
from .asgi import App
from .control import accounts as control_accounts
from .control import errors as control_errors
from .control import routes as control_routes
from .dashboard import pages as dashboard
from .dashboard import render as dashboard_render
from .dashboard.extras import Extras as DashboardExtras
from .delivery.outbox import Outbox
from .delivery.policy import OutboundPolicy
from .delivery.rules import with_rules
from .delivery.sender import Sender
from .edge import Op, Owner, WireError
from .observe import dashboard as observe_dashboard
from .observe.setup import Observer
from .paths import CollapseSlashes
from .plugin import AnyProvider, AppContext, Mounted
from .providers import REGISTERED
from .security import guard
from .settings import Settings
from .store import admin, migrate
from .store import observe as observe_rows
from .store.db import PG_POOL_SIZE, Conn, open_database
from .web import json_response

log = logging.getLogger("paysandbox")
logging.getLogger("alembic").setLevel(logging.WARNING)

CONTROL_PREFIX = "/_sandbox/"
DASHBOARD_PREFIX = "/_sandbox/ui/"


@dataclass
class Sandbox:
    """What a running app holds; ``app.state.sandbox``."""

    ctx: AppContext
    providers: Sequence[AnyProvider]
    mounted: dict[str, Mounted]
    ops: list[Op]

    def owner_of(self, path: str) -> Owner:
        """The control plane for ``/_sandbox/…``, else the provider with the longest prefix of
        ``path``, else the control plane (paths nobody claims get its JSON error)."""
        if path == CONTROL_PREFIX or path.startswith(DASHBOARD_PREFIX):
            return dashboard_render.DASHBOARD  # pages: their errors are pages too
        if path.startswith(CONTROL_PREFIX):
            return control_errors.CONTROL
        best = max(self.providers, key=lambda p: p.owns(path), default=None)
        if best is not None and best.owns(path):
            return best
        return control_errors.CONTROL

    def banner_lines(self) -> list[str]:
        lines: list[str] = []
        for p in self.providers:
            body = [*edge.public_lines([op for op in self.ops if p.owns(op.path)])]
            body += self.mounted[p.name].credentials
            for n, line in enumerate(body):
                lines.append(f"{(p.title if n == 0 else ''):<10} {line}")
        return lines


def _no_translation(exc: Exception) -> WireError | None:
    return None


def create_app(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    providers: Sequence[AnyProvider] = REGISTERED,
) -> App:
    """Build the ASGI app. Migrates the schema and opens the database now (synchronously)."""
    migrate.upgrade(settings.db_url, [p.migrations for p in providers])
    db = open_database(
        settings.db_url,
        synchronous=settings.sqlite_synchronous,
        pg_pool_size=settings.pg_pool_size or PG_POOL_SIZE,
    )
    rules = with_rules({k: v for p in providers for k, v in p.success_rules.items()})
    outbox = Outbox(settings.retry, rules)
    sender = (
        Sender(
            db,
            settings.retry,
            transport=transport,
            poll_seconds=settings.delivery_poll_seconds,
            rules=rules,
            outbound=OutboundPolicy.build(settings.outbound_allow, settings.outbound_deny),
        )
        if settings.run_sender
        else None
    )
    ctx = AppContext(settings=settings, db=db, outbox=outbox, sender=sender)
    mounted = {p.name: p.mount(ctx) for p in providers}
    provider_ops = [op for m in mounted.values() for op in m.ops]
    observer = Observer(settings, db, providers, provider_ops)  # journal, faults, metrics, health
    if sender is not None:
        sender.on_attempt = observer.metrics.delivery_attempt

    def seed(conn: Conn) -> None:
        for m in mounted.values():
            m.seed(conn)
        observer.seed(conn)

    db.write_sync(seed)
    db.end_startup()
    tables = [
        *(t for p in providers for t in p.object_tables),
        *admin.CORE_OBJECT_TABLES,
        *(t for p in providers for t in p.credential_tables),
        *observe_rows.RESET_TABLES,
    ]
    ops = list(provider_ops)
    ops += control_routes.ops(
        db,
        sender,
        max_body=settings.max_body_bytes,
        tables=tables,
        reseed=seed,
        providers=[p.name for p in providers],
        after_reset=observer.refresh,
    )
    ops += control_accounts.ops(
        providers,
        db,
        sender,
        max_body=settings.max_body_bytes,
        forgetters=[observer.forget_account],
        after_reset=observer.refresh,
    )
    ops += observer.ops()
    sections = [
        dashboard.Section(p.name, p.title, part)
        for p in providers
        if (part := mounted[p.name].dashboard) is not None
    ]
    extras = DashboardExtras(
        journal=observe_dashboard.JournalSource(db, observer.journal),
        faults=observe_dashboard.FaultSource(db, observer.book, observer.known),
        clocks=control_accounts.ClockSource(
            providers,
            db,
            sender,
            forgetters=[observer.forget_account],
            after_reset=observer.refresh,
        ),
    )
    ops += dashboard.ops(db, sections, wake=ctx.wake_sender, extras=extras)
    sandbox = Sandbox(ctx, providers, mounted, ops)

    tags = [(CONTROL_PREFIX.rstrip("/"), "control")]
    tags += [(pre, p.name) for p in providers for pre in p.prefixes]
    tags += [(f"{CONTROL_PREFIX}{p.name}/", f"control: {p.name}") for p in providers]
    document: dict[str, object] = {}

    async def openapi_document(request: Request) -> Response:
        if not document:  # built on first use, then kept
            names = ", ".join(p.title for p in providers)
            document.update(
                openapi.build(
                    ops,
                    tags,
                    f"paysandbox: {names} sandbox routes, and /_sandbox/.",
                    guard.OPENAPI_PATHS,
                )
            )
        return json_response(document)

    ops.append(Op("GET", "/_sandbox/openapi.json", openapi_document, "This document"))

    def translate_for(path: str) -> Callable[[Exception], WireError | None]:
        return control_errors.to_control if path.startswith(CONTROL_PREFIX) else _no_translation

    routes = edge.routes(ops, sandbox.owner_of, translate_for)

    @contextlib.asynccontextmanager
    async def lifespan(app: App) -> AsyncIterator[None]:
        if sender is not None:
            sender.start()
        await observer.start()
        gc.collect()
        gc.freeze()  # start-up objects never need scanning again: shorter GC pauses, lower p99
        try:
            yield
        finally:
            await observer.stop()
            if sender is not None:
                await sender.stop()
            db.close()

    def unrouted(request: Request, status: int, allow: str | None) -> Response:
        """No route matched (404), only with other methods (405, naming them in ``Allow``), or
        an exception escaped the chain (500): answered in the format of the path's owner."""
        owner = sandbox.owner_of(request.url.path)
        if status == 405:
            response = owner.edge_error("method_not_allowed", "method not allowed").render(request)
            if allow:
                response.headers["Allow"] = allow
            return response
        if status == 404:
            return owner.edge_error("not_found", request.url.path).render(request)
        return owner.edge_error("internal", "unexpected failure").render(request)

    def refuse_host(path: str) -> Response:
        """A Host this sandbox does not answer: a provider path gets the provider's unknown-route
        answer; everything else the control API's ``invalid_host``."""
        owner = sandbox.owner_of(path)
        if owner is control_errors.CONTROL:
            return control_errors.error_response("invalid_host", "not a Host of this sandbox")
        request = Request({"type": "http", "path": path, "headers": [], "state": {}})
        return owner.edge_error("not_found", path).render(request)

    def refuse(scope: guard.Scope, code: str, message: str) -> Response:
        """The guard's refusal of a bad id or a cross-site request: a page on the dashboard's
        paths (a person's browser shows it), else the control API's JSON."""
        if sandbox.owner_of(scope["path"]) is dashboard_render.DASHBOARD:
            status = control_errors.STATUS[code]
            heading = "Not allowed" if status == 403 else "Sorry"
            return dashboard_render.PageError(status, heading, message).render(Request(scope))
        return control_errors.error_response(code, message)

    app = App(
        routes,
        unrouted=unrouted,
        lifespan=lifespan,
        middleware=[CollapseSlashes, guard.layer(settings, refuse_host, refuse)],
    )
    # Outermost, around the error catching: the journal sees every answer as sent.
    app.wrap(lambda chain: observer.wrap(chain, routes))
    logs.install()
    app.state.sandbox = sandbox
    return app
