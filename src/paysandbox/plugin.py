"""What a provider package hands to ``create_app``: its routes, seeding, and error formats.

Every provider has a ``plugin.py`` with ``def plugin(ctx: AppContext) -> ProviderPlugin``.
Unknown routes and unexpected failures under a provider's path prefixes are answered in that
provider's own error format (never a framework default body).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.responses import Response
from starlette.routing import BaseRoute

from .delivery.outbox import Outbox
from .delivery.sender import Sender
from .observe.spec import ProviderObserve
from .openapi import ApiDoc
from .settings import Settings
from .store.db import Conn, Database


@dataclass
class AppContext:
    settings: Settings
    db: Database
    outbox: Outbox
    sender: Sender | None

    def wake_sender(self) -> None:
        if self.sender is not None:
            self.sender.wake()


@dataclass
class ProviderPlugin:
    name: str
    prefixes: tuple[str, ...]
    routes: list[BaseRoute]
    #: (path, method_not_allowed) → the provider's 404/405 answer
    not_found: Callable[[str, bool], Response]
    internal_error: Callable[[], Response]
    #: Writes configured/demo credentials into the database at start-up (one transaction).
    seed: Callable[[Conn], None] = lambda conn: None
    #: Lines for the start-up banner (endpoints, demo credentials).
    banner: list[str] = field(default_factory=list)
    #: Summaries and request types of the routes, for the OpenAPI document.
    api_docs: list[ApiDoc] = field(default_factory=list)
    #: Journal redaction, accounts, object ids, fault errors, object counts (observe/spec.py).
    observe: ProviderObserve | None = None
