"""``Observer``: the journal, fault book, metrics and their control routes for one app.

``create_app`` builds one after the provider plugins, adds its routes and seeding, starts it in
the lifespan, and wraps the app's middleware stack with ``wrap``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from starlette.routing import BaseRoute

from ..edge import Op
from ..plugin import AnyProvider
from ..settings import ConfigError, Settings
from ..store.db import Conn, Database
from . import faults as fault_specs
from .faults import FaultBook, FaultError, FaultSpec
from .journal import Journal, JournalSettings
from .metrics import Metrics
from .middleware import ASGIApp, ObserveMiddleware, Provider, provider_routes
from .routes import make_ops
from .spec import ProviderObserve

__all__ = ["Observer"]


class Observer:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        providers: Sequence[AnyProvider],
        provider_ops: Sequence[Op],
    ) -> None:
        """``provider_ops``: the providers' own operations (their route templates)."""
        self.db = db
        self.metrics = Metrics()
        self.observed = [p for p in providers if p.observe is not None]
        known: dict[str, tuple[ProviderObserve, list[str]]] = {}
        for p in self.observed:
            assert p.observe is not None
            templates = {op.path for op in provider_ops if p.owns(op.path) and not op.alias}
            known[p.name] = (p.observe, sorted(templates))
        self.known = known
        self.config_faults: list[FaultSpec] = []
        for i, raw in enumerate(settings.faults):
            try:
                self.config_faults.append(fault_specs.parse(raw, known))
            except FaultError as exc:
                raise ConfigError(f"faults[{i}]: {exc}") from None
        self.journal = Journal(
            db,
            JournalSettings(
                enabled=settings.journal_enabled,
                max_entries=settings.journal_max_entries,
                max_age_seconds=settings.journal_max_age_seconds,
                queue_size=settings.journal_queue_size,
                max_body_bytes=settings.journal_max_body_bytes,
                hold_back_below=settings.journal_hold_back_below,
                hold_back_mib=settings.journal_hold_back_mib,
            ),
            self.metrics,
            {name: obs for name, (obs, _) in known.items()},
        )
        self.book = FaultBook(db, known, refresh_seconds=settings.faults_refresh_seconds)
        self.max_body = settings.max_body_bytes

    def forget_account(self, conn: Conn, provider: str, account: str) -> None:
        """An account reset: its journal entries and the faults made through the API that name
        it are forgotten; a config-file fault that names it gets its uses back, as a global
        reset does (it was deleted, and only a global reset or a restart brought it back)."""
        from ..store import observe as rows

        rows.forget_account_entries(conn, provider, account)
        for row in rows.list_faults(conn):
            spec = json.loads(row["spec"])
            if spec.get("provider") == provider and spec.get("account") == account:
                if row["source"] == "config":
                    rows.restore_fault(conn, row["id"], spec.get("times"))
                else:
                    rows.delete_fault(conn, row["id"])

    def seed(self, conn: Conn) -> None:
        self.book.seed(conn, self.config_faults)

    def ops(self) -> list[Op]:
        return make_ops(
            self.db,
            journal=self.journal,
            book=self.book,
            metrics=self.metrics,
            providers=self.known,
            max_body=self.max_body,
        )

    def wrap(self, app: Any, routes: Sequence[BaseRoute]) -> ASGIApp:
        """``app`` inside the journal and fault layer; ``routes`` match raw paths to templates."""
        providers: list[tuple[tuple[str, ...], Provider]] = []
        for p in self.observed:
            assert p.observe is not None
            found = provider_routes(p.prefixes, routes)
            providers.append((p.prefixes, Provider(p.name, p.observe, found)))
        return ObserveMiddleware(
            app,
            providers=providers,
            journal=self.journal,
            faults=self.book,
            metrics=self.metrics,
        )

    async def refresh(self) -> None:
        """Re-read the faults now (after a reset removed some), not at the next refresh tick."""
        await self.book.refresh()

    async def start(self) -> None:
        await self.book.refresh()
        self.book.start()
        self.journal.start()

    async def stop(self) -> None:
        await self.book.stop()
        await self.journal.stop()
