"""The contract between a provider package and the rest of paysandbox.

A provider is one folder, ``providers/<name>/``, whose ``plugin.py`` defines a ``Provider``
subclass; the registration list in ``providers/__init__.py`` is the only line outside that
folder that names it. Nothing registers itself by being imported: everything the core needs
from a provider is an attribute or a method of its ``Provider`` object —

* ``name``, ``title``, ``prefixes``: who it is and which paths it answers for;
* ``migrations``: the folder of its own Alembic branch (``depends_on`` the core's first
  revision, so providers' migrations never form one chain);
* ``object_tables`` / ``credential_tables``: what reset empties (children first);
* ``success_rules``: how its callbacks' answers are judged by the delivery sender;
* ``default_config`` / ``parse_config`` / ``add_arguments`` / ``apply_arguments``: its accounts
  and settings from the config file section ``[<name>]`` and from the command line;
* ``mount(ctx)``: its operations (one declaration each: route, OpenAPI entry, banner line),
  the seeding of its accounts, and its banner's credential lines;
* ``edge_error``: its error answer for failures the request edge detects;
* ``Mounted.dashboard`` (optional): its object kinds, actions and accounts for the web
  dashboard under ``/_sandbox/`` (``dashboard/parts.py``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeVar

from .dashboard.parts import DashboardPart
from .delivery.outbox import Outbox
from .delivery.rules import SuccessRule
from .delivery.sender import Sender
from .edge import Failure, Op, WireError
from .observe.spec import ProviderObserve
from .settings import ConfigError, Settings
from .store.db import Conn, Database

C = TypeVar("C")

__all__ = ["AnyProvider", "AppContext", "ConfigError", "Example", "Mounted", "Provider"]


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
class Mounted:
    """What a provider contributes to one running app."""

    ops: list[Op]
    #: Writes configured/demo accounts into the database (start-up and reset; one transaction).
    seed: Callable[[Conn], None] = lambda conn: None
    #: Banner lines after the endpoints (public demo credentials only, never a configured secret).
    credentials: list[str] = field(default_factory=list)
    #: What the web dashboard shows and does for this provider (None: nothing).
    dashboard: DashboardPart | None = None


@dataclass(frozen=True)
class Example:
    """A valid request to a provider's API, with its demo account."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes


class Provider(Generic[C]):
    """Base of every provider plugin; ``C`` is the provider's own settings type."""

    name: ClassVar[str]
    title: ClassVar[str]
    prefixes: ClassVar[tuple[str, ...]]
    migrations: ClassVar[Path]
    object_tables: ClassVar[tuple[str, ...]] = ()
    credential_tables: ClassVar[tuple[str, ...]] = ()
    success_rules: ClassVar[Mapping[str, SuccessRule]] = {}
    #: The control API's word for its accounts: /_sandbox/<name>/<accounts>/{id}/…
    accounts: ClassVar[str] = "accounts"
    #: What the journal, faults and metrics need to know of its requests (observe/spec.py).
    observe: ClassVar[ProviderObserve | None] = None

    # ---------------------------------------------------------------- settings

    def default_config(self) -> C:
        raise NotImplementedError

    def config(self, settings: Settings) -> C:
        """This provider's settings inside ``settings`` (defaults until something sets them)."""
        found: C = settings.providers.setdefault(self.name, self.default_config())
        return found

    def parse_config(self, section: Mapping[str, Any], config: C) -> None:
        """Apply the config file's ``[<name>]`` section; unknown keys raise ``ConfigError``."""
        if section:
            raise ConfigError(f"[{self.name}] takes no settings")

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Add this provider's ``serve`` flags (account flags such as ``--<name>-…``)."""

    def apply_arguments(self, args: argparse.Namespace, config: C, seed_demo: bool) -> None:
        """Apply the flags added by ``add_arguments``; raise ``ConfigError`` on a bad value."""

    # ---------------------------------------------------------------- runtime

    def mount(self, ctx: AppContext) -> Mounted:
        raise NotImplementedError

    def edge_error(self, failure: Failure, message: str) -> WireError:
        raise NotImplementedError

    # ---------------------------------------------------------------- accounts

    def account_exists(self, conn: Conn, account_id: str) -> bool:
        raise NotImplementedError

    def forget_account(self, conn: Conn, account_id: str) -> None:
        """Delete the account's objects and their events; keep the account."""
        raise NotImplementedError

    def new_account(self, conn: Conn, options: Mapping[str, Any]) -> dict[str, Any]:
        """Create a throwaway account with fresh credentials and answer them (wire names).
        ``options`` are the request's JSON fields; a bad one raises ``core.errors.InvalidInput``."""
        raise NotImplementedError

    def example(self) -> Example:
        """A request with the demo account that creates one object: the conformance kit's
        sample (tests/conformance), so a new provider is checked by being registered."""
        raise NotImplementedError

    def owns(self, path: str) -> int:
        """Length of the longest of this provider's prefixes that ``path`` starts with, or is
        without its last ``/`` (``/pay`` for ``/pay/``: a base URL as written); 0: none."""
        return max(
            (len(p) for p in self.prefixes if path.startswith(p) or path == p.rstrip("/")),
            default=0,
        )


AnyProvider = Provider[Any]
