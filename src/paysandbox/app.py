"""``create_app(settings)``: migrate and open the database, mount every provider and the control
plane, and answer every error path in the format of the provider whose path it is.
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from . import logs, openapi
from .control import errors as control_errors
from .control import routes as control_routes
from .delivery.outbox import Outbox
from .delivery.sender import Sender
from .observe.setup import API_DOCS as OBSERVE_DOCS
from .observe.setup import Observer
from .plugin import AppContext, ProviderPlugin
from .providers.kplus.plugin import plugin as kplus_plugin
from .providers.nicepay.plugin import plugin as nicepay_plugin
from .providers.smart2pay.plugin import plugin as smart2pay_plugin
from .settings import Settings
from .store import migrate
from .store.db import Conn, open_database
from .web import json_response

log = logging.getLogger("paysandbox")
logging.getLogger("alembic").setLevel(logging.WARNING)

PLUGINS = [kplus_plugin, nicepay_plugin, smart2pay_plugin]


@dataclass
class Sandbox:
    """What a running app holds; ``app.state.sandbox``."""

    ctx: AppContext
    plugins: list[ProviderPlugin]

    def plugin_for(self, path: str) -> ProviderPlugin | None:
        best: tuple[int, ProviderPlugin] | None = None
        for p in self.plugins:
            for prefix in p.prefixes:
                if path.startswith(prefix) and (best is None or len(prefix) > best[0]):
                    best = (len(prefix), p)
        return best[1] if best else None


def create_app(
    settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None
) -> Starlette:
    """Build the ASGI app. Migrates the schema and opens the database now (synchronously)."""
    migrate.upgrade(settings.db_url)
    db = open_database(settings.db_url, synchronous=settings.sqlite_synchronous)
    outbox = Outbox(settings.retry)
    sender = (
        Sender(db, settings.retry, transport=transport, poll_seconds=settings.delivery_poll_seconds)
        if settings.run_sender
        else None
    )
    ctx = AppContext(settings=settings, db=db, outbox=outbox, sender=sender)
    plugins = [make(ctx) for make in PLUGINS]
    observer = Observer(settings, db, plugins)  # journal, faults, metrics, health
    if sender is not None:
        sender.on_attempt = observer.metrics.delivery_attempt

    def seed(conn: Conn) -> None:
        for p in plugins:
            p.seed(conn)
        observer.seed(conn)

    db.write_sync(seed)
    sandbox = Sandbox(ctx, plugins)

    routes: list[BaseRoute] = []
    for p in plugins:
        routes.extend(p.routes)
    routes.extend(
        control_routes.make_routes(db, sender, max_body=settings.max_body_bytes, reseed=seed)
    )
    routes.extend(observer.routes())

    api_docs = [*control_routes.API_DOCS, *OBSERVE_DOCS, *(d for p in plugins for d in p.api_docs)]
    tags = [("/_sandbox/", "control")] + [(pre, p.name) for p in plugins for pre in p.prefixes]
    tags += [(f"/_sandbox/{p.name}/", f"control: {p.name}") for p in plugins]
    document: dict[str, object] = {}

    async def openapi_document(request: Request) -> Response:
        if not document:  # built on first use: the route table is complete by then
            document.update(openapi.build(routes, api_docs, tags))
        return json_response(document)

    routes.append(Route("/_sandbox/openapi.json", openapi_document, methods=["GET"]))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
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

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        plugin = sandbox.plugin_for(request.url.path)
        if plugin is not None:
            if status in (404, 405):
                return plugin.not_found(request.url.path, status == 405)
            return plugin.internal_error()
        if status == 404:
            return control_errors.error_response("not_found", f"no route at {request.url.path}")
        if status == 405:
            return control_errors.error_response("method_not_allowed", "method not allowed")
        return control_errors.error_response("bad_request", str(getattr(exc, "detail", "")))

    async def crash(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        plugin = sandbox.plugin_for(request.url.path)
        if plugin is not None:
            return plugin.internal_error()
        return control_errors.error_response("internal_error", "unexpected failure")

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={HTTPException: http_error, Exception: crash},
    )
    # A trailing slash is an unknown route answered in the provider's format, not a bare 307
    # redirect (which would also copy the query string, card data included, into Location).
    app.router.redirect_slashes = False
    # Outermost, around Starlette's error handling: the journal sees every answer as sent.
    app.middleware_stack = observer.wrap(app.build_middleware_stack())
    logs.install()
    app.state.sandbox = sandbox
    return app
