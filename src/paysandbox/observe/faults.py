"""Fault injection on provider API answers: the fault spec, its checks, and the in-memory book.

A fault is stored in ``sandbox_faults`` so every process on one database shares it. The
per-request check never queries the database when no fault could apply: each process keeps the
active faults in memory, refreshed every ``faults_refresh_seconds`` (and at once after a change
made through this process). When a request matches a cached fault, one conditional UPDATE
claims a use (``claim_fault``): with ``times`` N, exactly N requests win, whichever process
they reach; a fault deleted meanwhile (or by a reset) is not applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import msgspec

from ..core.clock import iso, real_now_us
from ..store import observe as rows
from ..store.db import Conn, Database, Row
from .spec import Exchange, ProviderObserve, lookup

log = logging.getLogger("paysandbox.faults")

KINDS = ("latency", "error", "timeout", "reset", "lost-answer")
Kind = Literal["latency", "error", "timeout", "reset", "lost-answer"]
DEFAULT_LATENCY_MS = 1000.0
DEFAULT_TIMEOUT_HOLD_MS = 60_000.0
MAX_MS = 600_000.0


class FaultError(ValueError):
    """A fault spec that cannot be used; the message says which field and why."""


class FaultSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The JSON of a fault (``POST /_sandbox/faults``, or ``[[faults]]`` in the config file)."""

    provider: str
    kind: Kind
    account: str | None = None
    route: str | None = None
    match: dict[str, str | int | float | bool] | None = None
    times: int | None = None
    probability: float = 1.0
    latencyMs: float | list[float] | None = None
    error: str | None = None


@dataclass(frozen=True)
class Fault:
    id: str
    spec: FaultSpec
    route_key: str | None
    latency: tuple[float, float] | None  # ms, [min, max]

    def delay_seconds(self) -> float:
        if self.latency is None:
            if self.spec.kind == "latency":
                return DEFAULT_LATENCY_MS / 1000
            if self.spec.kind == "timeout":
                return DEFAULT_TIMEOUT_HOLD_MS / 1000
            return 0.0
        low, high = self.latency
        return (low if low == high else random.uniform(low, high)) / 1000


def check(spec: FaultSpec, providers: Mapping[str, tuple[ProviderObserve, Sequence[str]]]) -> None:
    """Refuse a spec that could never be applied as meant (raises ``FaultError``)."""
    if spec.provider not in providers:
        raise FaultError(f"provider must be one of {', '.join(sorted(providers))}")
    obs, routes = providers[spec.provider]
    if spec.route is not None and obs.route_key(spec.route) not in {
        obs.route_key(r) for r in routes
    }:
        raise FaultError(
            f"route {spec.route!r} is not a {spec.provider} route; "
            f"use a path as listed in /_sandbox/openapi.json, e.g. {routes[0]!r}"
        )
    if spec.times is not None and not 1 <= spec.times <= 1_000_000:
        raise FaultError("times must be 1 to 1000000 (omit it for 'until removed')")
    if not 0 < spec.probability <= 1:
        raise FaultError("probability must be greater than 0 and at most 1")
    latency_range(spec)
    if spec.error is not None:
        if spec.kind != "error":
            raise FaultError("error is only for kind 'error'")
        if spec.error not in obs.error_codes:
            raise FaultError(
                f"error {spec.error!r} is not a documented {spec.provider} error code; one of: "
                + ", ".join(sorted(obs.error_codes))
            )
    if spec.match is not None and len(spec.match) > 32:
        raise FaultError("match has too many fields (at most 32)")


def latency_range(spec: FaultSpec) -> tuple[float, float] | None:
    value = spec.latencyMs
    if value is None:
        return None
    if isinstance(value, list):
        if len(value) != 2:
            raise FaultError("latencyMs must be a number or [min, max]")
        low, high = float(value[0]), float(value[1])
    else:
        low = high = float(value)
    if not 0 <= low <= high <= MAX_MS:
        raise FaultError(f"latencyMs must be 0 to {MAX_MS:.0f}, with min <= max")
    return low, high


def parse(raw: object, providers: Mapping[str, tuple[ProviderObserve, Sequence[str]]]) -> FaultSpec:
    """A spec from decoded JSON/TOML (raises ``FaultError``)."""
    try:
        spec = msgspec.convert(raw, FaultSpec)
    except msgspec.ValidationError as exc:
        raise FaultError(str(exc)) from None
    check(spec, providers)
    return spec


def spec_json(spec: FaultSpec) -> str:
    return msgspec.json.encode(spec).decode()


def view(row: Row) -> dict[str, Any]:
    spec = json.loads(row["spec"])
    return {
        "id": row["id"],
        **{k: spec.get(k) for k in FaultSpec.__struct_fields__},
        "remaining": row["remaining"],
        "hits": row["hits"],
        "active": row["remaining"] is None or row["remaining"] > 0,
        "source": row["source"],
        "createdAt": iso(row["created_at_us"]),
    }


def new_id() -> str:
    return f"flt_{secrets.token_hex(8)}"


class FaultBook:
    """The active faults of one process, by provider, refreshed from the database."""

    def __init__(
        self,
        db: Database,
        providers: Mapping[str, tuple[ProviderObserve, Sequence[str]]],
        *,
        refresh_seconds: float,
    ) -> None:
        self.db = db
        self.providers = providers
        self.refresh_seconds = refresh_seconds
        #: provider → its active faults; empty when there is none at all (the fast path)
        self.active: dict[str, list[Fault]] = {}
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -------------------------------------------------------------- the cache

    def load(self, found: list[Row]) -> None:
        active: dict[str, list[Fault]] = {}
        for row in found:
            if row["remaining"] is not None and row["remaining"] <= 0:
                continue
            try:
                spec = msgspec.json.decode(row["spec"], type=FaultSpec)
                obs = self.providers[spec.provider][0]
                fault = Fault(
                    row["id"],
                    spec,
                    obs.route_key(spec.route) if spec.route else None,
                    latency_range(spec),
                )
            except (msgspec.DecodeError, KeyError, FaultError):
                log.warning("fault %s cannot be used here; ignored", row["id"])
                continue
            active.setdefault(spec.provider, []).append(fault)
        self.active = active

    async def refresh(self) -> None:
        self.load(await self.db.read(rows.list_faults))

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database is away: keep the last known faults
                log.warning("could not refresh the fault list", exc_info=True)
            await asyncio.sleep(self.refresh_seconds)

    # -------------------------------------------------------------- the check

    def candidates(self, provider: str, route_key: str | None) -> list[Fault]:
        """Faults of this provider whose route fits (no body, account or chance looked at)."""
        faults = self.active.get(provider)
        if not faults:
            return []
        return [f for f in faults if f.route_key is None or f.route_key == route_key]

    async def pick(
        self, faults: list[Fault], exchange: Exchange, obs: ProviderObserve
    ) -> Fault | None:
        """The first fault that matches the request and wins a use (oldest first)."""
        account: str | None = None
        account_known = False
        for fault in faults:
            spec = fault.spec
            if spec.account is not None:
                if not account_known:
                    account, account_known = obs.account(exchange), True
                if account != spec.account:
                    continue
            if spec.match and not all(
                _same(lookup(exchange.doc, k), v) for k, v in spec.match.items()
            ):
                continue
            if spec.probability < 1 and random.random() >= spec.probability:
                continue
            if await self.db.write(rows.claim_fault, fault.id):
                if spec.times is not None:
                    self._schedule_refresh()
                return fault
        return None

    def _schedule_refresh(self) -> None:
        """A used-up fault leaves this process's cache soon (other processes: next refresh)."""
        task = asyncio.get_running_loop().create_task(self._quiet_refresh())
        _pending.add(task)
        task.add_done_callback(_pending.discard)

    async def _quiet_refresh(self) -> None:
        with contextlib.suppress(Exception):
            await self.refresh()

    # -------------------------------------------------------------- config faults

    def seed(self, conn: Conn, specs: Sequence[FaultSpec]) -> None:
        """Config-file faults get fixed ids (``cfg-1``, …): several processes starting on one
        database insert them once; ``remaining`` counts already used are kept; a reset (which
        deletes every fault first) restores them."""
        ids = [f"cfg-{i + 1}" for i in range(len(specs))]
        for fault_id, spec in zip(ids, specs, strict=True):
            current = rows.get_fault(conn, fault_id)
            if current is not None and current["spec"] != spec_json(spec):
                rows.delete_fault(conn, fault_id)
            rows.insert_fault_if_absent(
                conn,
                {
                    "id": fault_id,
                    "spec": spec_json(spec),
                    "remaining": spec.times,
                    "hits": 0,
                    "source": "config",
                    "created_at_us": real_now_us(),
                },
            )
        rows.delete_faults_except(conn, "config", ids)
        if self._loop is not None and not self._loop.is_closed():
            # a reset: look again soon after it committed (this may run on a worker thread)
            self._loop.call_soon_threadsafe(self._loop.call_later, 0.05, self._schedule_refresh)


_pending: set[asyncio.Task[None]] = set()


def _same(found: Any, wanted: str | int | float | bool) -> bool:
    if found is None or isinstance(found, dict | list):
        return False
    if isinstance(wanted, bool) or isinstance(found, bool):
        return str(found).lower() == str(wanted).lower()
    if isinstance(wanted, int | float) and not isinstance(found, str):
        return bool(found == wanted)
    return str(found) == str(wanted)
