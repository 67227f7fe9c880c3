"""Writing outbound messages into the outbox, inside the caller's transaction.

A provider service builds an ``OutboundMessage`` and calls ``Outbox.enqueue(conn, …)`` in the
same database transaction as the state change that caused it: either both are committed or
neither is, so a callback is never lost and never sent for a change that did not happen.
Fault switches (send twice, delay, out of order) are applied here, once for every provider.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..core.clock import US
from ..core.ids import internal_id
from ..store import outbox as rows
from ..store.db import Conn
from .rules import RULES, SuccessRule


@dataclass(frozen=True)
class Faults:
    """Per-merchant delivery faults a merchant's receiver must survive."""

    duplicate: bool = False
    delay_seconds: float = 0.0
    out_of_order: bool = False
    reorder_window_seconds: float = 5.0

    @classmethod
    def from_mapping(cls, raw: Mapping[str, object] | None) -> Faults:
        raw = raw or {}
        return cls(
            duplicate=bool(raw.get("duplicate", False)),
            delay_seconds=float(raw.get("delaySeconds", 0) or 0),  # type: ignore[arg-type]
            out_of_order=bool(raw.get("outOfOrder", False)),
            reorder_window_seconds=float(  # an explicit 0 stays 0 (was turned into 5)
                5 if raw.get("reorderWindowSeconds") is None else raw["reorderWindowSeconds"]  # type: ignore[arg-type]
            ),
        )


@dataclass(frozen=True)
class OutboundMessage:
    """One callback/notification as it goes on the wire."""

    provider: str
    account_id: str
    object_id: str
    event: str
    url: str
    body: str
    content_type: str = "application/json"
    method: str = "POST"
    headers: Mapping[str, str] = field(default_factory=dict)
    secret_keys: tuple[str, ...] = ()
    success_rule: str = "http_2xx"


@dataclass(frozen=True)
class RetryPolicy:
    """Back-off schedule (seconds after each failed attempt; the last value repeats)."""

    schedule: tuple[float, ...] = (5, 30, 120, 600, 1800, 3600)
    max_attempts: int = 8
    timeout_seconds: float = 10.0

    def delay_after(self, attempt: int) -> float:
        if not self.schedule:
            return 0.0
        return self.schedule[min(attempt - 1, len(self.schedule) - 1)]


class Outbox:
    """Enqueues messages; the ``Sender`` delivers them."""

    def __init__(self, policy: RetryPolicy, rules: Mapping[str, SuccessRule] = RULES) -> None:
        self.policy = policy
        self.rules = rules

    def enqueue(
        self,
        conn: Conn,
        msg: OutboundMessage,
        now_us: int,
        faults: Faults | None = None,
        *,
        ahead_us: int = 0,
    ) -> list[str]:
        """Write ``msg`` (twice with the duplicate fault); returns the delivery ids.
        ``ahead_us``: a message queued ahead of time, due that much later (a change announced
        for when the sandbox clock gets there); the out-of-order fault then holds older
        messages back by its window only, not until this one is due."""
        if msg.success_rule not in self.rules:
            raise ValueError(f"unknown success rule {msg.success_rule!r}")
        faults = faults or Faults()
        due = now_us + int(faults.delay_seconds * US)
        if faults.out_of_order:
            due += int(faults.reorder_window_seconds * US)
        held_until = due  # what the out-of-order fault holds older messages back to
        due += max(ahead_us, 0)
        ids = []
        for _ in range(2 if faults.duplicate else 1):
            delivery_id = internal_id("dlv")
            headers = {"Content-Type": msg.content_type, **msg.headers}
            rows.insert_delivery(
                conn,
                {
                    "id": delivery_id,
                    "provider": msg.provider,
                    "account_id": msg.account_id,
                    "object_id": msg.object_id,
                    "event": msg.event,
                    "url": msg.url,
                    "method": msg.method,
                    "headers": json.dumps(headers),
                    "body": msg.body,
                    "secret_keys": json.dumps(list(msg.secret_keys)),
                    "success_rule": msg.success_rule,
                    "state": "pending",
                    "attempts": 0,
                    "max_attempts": self.policy.max_attempts,
                    "created_at_us": now_us,
                    "next_attempt_at_us": due,
                    "lease_token": None,
                    "lease_until_real_us": None,
                    "last_http_status": None,
                    "last_error": None,
                    "completed_at_us": None,
                },
            )
            ids.append(delivery_id)
        if faults.out_of_order:
            # Everything older that has not gone out yet now waits until after this one.
            rows.push_back_unsent(conn, msg.provider, msg.account_id, held_until + US, ids[-1])
        return ids

    def withdraw(
        self, conn: Conn, *, provider: str, account_id: str, object_id: str, event: str
    ) -> Withdrawal:
        """Take back, in the caller's transaction, the deliveries of one object's ``event``
        that were queued ahead of time (due later): the change they announce will not happen
        after all. All of them or none: only while no sender has touched any copy. Otherwise
        nothing is taken back and ``Withdrawal.gone`` counts the copies a sender has claimed,
        attempted or sent — the merchant has, or may have, seen the message, so the caller
        must let the announced change stand instead of its own (and every copy goes out)."""
        taken, left = rows.withdraw_unsent(conn, provider, account_id, object_id, event)
        return Withdrawal(taken, left)


@dataclass(frozen=True)
class Withdrawal:
    """What ``Outbox.withdraw`` did: the delivery ids taken back (every copy, or none), and
    how many of that event were already out of reach (claimed by a sender, attempted, or
    done; when there are any, nothing was taken back)."""

    withdrawn: list[str]
    gone: int
