"""``Observer``: the journal, fault book, metrics and their control routes for one app.

``create_app`` builds one after the provider plugins, adds its routes and seeding, starts it in
the lifespan, and wraps the app's middleware stack with ``wrap``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.routing import BaseRoute

from ..plugin import ProviderPlugin
from ..settings import Settings
from ..store.db import Conn, Database
from . import faults as fault_specs
from .faults import FaultBook, FaultError, FaultSpec
from .journal import Journal, JournalSettings
from .metrics import Metrics
from .middleware import ASGIApp, ObserveMiddleware, Provider, provider_routes
from .routes import API_DOCS, make_routes
from .spec import ProviderObserve

__all__ = ["API_DOCS", "Observer"]


class Observer:
    def __init__(self, settings: Settings, db: Database, plugins: Sequence[ProviderPlugin]):
        self.db = db
        self.metrics = Metrics()
        self.providers: list[tuple[tuple[str, ...], Provider]] = []
        known: dict[str, tuple[ProviderObserve, list[str]]] = {}
        for p in plugins:
            if p.observe is None:
                continue
            routes = provider_routes(p.prefixes, p.routes)
            self.providers.append((p.prefixes, Provider(p.name, p.observe, routes)))
            known[p.name] = (p.observe, sorted({t for _, t in routes}))
        self.known = known
        self.config_faults: list[FaultSpec] = []
        for i, raw in enumerate(settings.faults):
            try:
                self.config_faults.append(fault_specs.parse(raw, known))
            except FaultError as exc:
                from ..config import ConfigError

                raise ConfigError(f"faults[{i}]: {exc}") from None
        self.journal = Journal(
            db,
            JournalSettings(
                enabled=settings.journal_enabled,
                max_entries=settings.journal_max_entries,
                max_age_seconds=settings.journal_max_age_seconds,
                queue_size=settings.journal_queue_size,
                max_body_bytes=settings.journal_max_body_bytes,
            ),
            self.metrics,
        )
        self.book = FaultBook(db, known, refresh_seconds=settings.faults_refresh_seconds)
        self.max_body = settings.max_body_bytes

    def seed(self, conn: Conn) -> None:
        self.book.seed(conn, self.config_faults)

    def routes(self) -> list[BaseRoute]:
        return make_routes(
            self.db,
            journal=self.journal,
            book=self.book,
            metrics=self.metrics,
            providers=self.known,
            max_body=self.max_body,
        )

    def wrap(self, app: Any) -> ASGIApp:
        return ObserveMiddleware(
            app,
            providers=self.providers,
            journal=self.journal,
            faults=self.book,
            metrics=self.metrics,
        )

    async def start(self) -> None:
        await self.book.refresh()
        self.book.start()
        self.journal.start()

    async def stop(self) -> None:
        await self.book.stop()
        await self.journal.stop()
