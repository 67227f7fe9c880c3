"""Prometheus metrics of one server process (``GET /_sandbox/metrics``).

Counters and histograms are per process, as Prometheus expects (scrape each process);
``paysandbox_objects`` is counted in the shared database at scrape time, so every process
reports the same totals.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from ..store.db import Conn

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]

disable_created_metrics()  # type: ignore[no-untyped-call] # no *_created series: half the text, nothing a dashboard needs

LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


class Metrics:
    """One registry per app (tests run several apps in one interpreter)."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self._answered: dict[tuple[str, str, str, str], tuple[Counter, Histogram]] = {}
        self.requests = Counter(
            "paysandbox_requests",
            "Provider requests and customer-page actions answered",
            ["provider", "route", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "paysandbox_request_duration_seconds",
            "Time from request received to answer sent (or connection dropped)",
            ["provider", "route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.faults = Counter(
            "paysandbox_faults_applied",
            "Requests a fault was applied to",
            ["provider", "kind"],
            registry=r,
        )
        self.journal_dropped = Counter(
            "paysandbox_journal_dropped",
            "Journal entries dropped (queue full, or the database refused the batch)",
            registry=r,
        )
        self.journal_written = Counter(
            "paysandbox_journal_written", "Journal entries stored", registry=r
        )
        self.deliveries = Counter(
            "paysandbox_delivery_attempts",
            "Callback/notification attempts by outcome (succeeded, rejected, no_answer)",
            ["provider", "outcome"],
            registry=r,
        )
        self.delivery_latency = Histogram(
            "paysandbox_delivery_attempt_duration_seconds",
            "Time of one callback/notification attempt",
            ["provider"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.objects = Gauge(
            "paysandbox_objects",
            "Objects in the database by provider, kind and state (counted at scrape time)",
            ["provider", "kind", "state"],
            registry=r,
        )

    def answered(self, provider: str, route: str, method: str, status: str, seconds: float) -> None:
        """One provider request answered (or dropped: ``status`` "none"), and its latency."""
        key = (provider, route, method, status)
        pair = self._answered.get(key)
        if pair is None:  # bounded: routes x methods x statuses
            pair = (self.requests.labels(*key), self.latency.labels(provider, route, method))
            self._answered[key] = pair
        pair[0].inc()
        pair[1].observe(seconds)

    def delivery_attempt(self, provider: str, ok: bool, status: int | None, seconds: float) -> None:
        """The sender's hook: one call per attempt."""
        outcome = "succeeded" if ok else ("rejected" if status is not None else "no_answer")
        self.deliveries.labels(provider, outcome).inc()
        self.delivery_latency.labels(provider).observe(seconds)

    def render(self, counts: list[tuple[str, str, str, int]]) -> bytes:
        """The exposition text, with the object counts read just before (no await between the
        gauge update and the rendering, so concurrent scrapes never mix)."""
        self.objects.clear()
        for provider, kind, state, n in counts:
            self.objects.labels(provider, kind, state).set(n)
        return generate_latest(self.registry)


def count_all(
    conn: Conn, hooks: list[tuple[str, Callable[[Conn], list[tuple[str, str, int]]]]]
) -> list[tuple[str, str, str, int]]:
    return [(name, kind, state, n) for name, hook in hooks for kind, state, n in hook(conn)]
