"""Sources for the dashboard pages whose backing services other parts of paysandbox provide:
the request journal, API fault injection and per-account clocks.

Each is optional: ``Extras`` holds the ones this server has, and a page whose source is
missing says "not available on this server". To plug one in, write an adapter implementing the
protocol below over that service and pass it to ``dashboard.ops(…, extras=Extras(…))`` in
``app.py``; the templates (``journal.html``, ``faults.html``, the clocks on ``overview.html``
and ``accounts.html``) already render what the protocol returns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .parts import Input


@dataclass(frozen=True)
class Exchange:
    """One recorded request and its answer (secrets already redacted by the journal)."""

    id: str
    at_us: int
    method: str
    #: path with query string, as received
    path: str
    status: int
    #: who answered (a provider's name, or ``control``)
    owner: str
    latency_ms: float
    request_headers: Sequence[tuple[str, str]]
    request_body: str
    response_headers: Sequence[tuple[str, str]]
    response_body: str
    #: ids of the objects it touched
    object_ids: Sequence[str] = ()
    #: names of the fields the journal redacted (shown as such)
    redacted: Sequence[str] = ()


class Journal(Protocol):
    async def recent(
        self, filters: Mapping[str, str], offset: int, limit: int
    ) -> tuple[list[Exchange], bool]:
        """Newest first; ``filters`` has any of owner, method, status, path, object."""
        ...

    async def get(self, exchange_id: str) -> Exchange | None: ...

    async def touching(self, object_id: str, limit: int) -> list[Exchange]: ...


@dataclass(frozen=True)
class FaultKind:
    """One kind of API fault the form can add (its fields are sent as text)."""

    name: str
    title: str
    inputs: tuple[Input, ...] = ()


@dataclass(frozen=True)
class Fault:
    id: str
    kind: str
    description: str
    fields: Mapping[str, Any] = field(default_factory=dict)


class Faults(Protocol):
    kinds: Sequence[FaultKind]

    async def active(self) -> list[Fault]: ...

    async def add(self, kind: str, form: Mapping[str, str]) -> Fault:
        """Raise ``parts.Refused`` (or the service's error) for a bad form."""
        ...

    async def remove(self, fault_id: str) -> None: ...


@dataclass(frozen=True)
class AccountClock:
    provider: str
    account: str
    offset_seconds: float
    now_us: int


class Clocks(Protocol):
    async def differing(self) -> list[AccountClock]:
        """Account clocks that differ from the sandbox clock."""
        ...

    async def advance(self, provider: str, account: str, seconds: float) -> None: ...

    async def reset(self, provider: str, account: str) -> None: ...


@dataclass(frozen=True)
class Extras:
    journal: Journal | None = None
    faults: Faults | None = None
    clocks: Clocks | None = None
