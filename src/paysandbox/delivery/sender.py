"""The background sender: claims due deliveries and attempts them over HTTP.

At-least-once: a delivery is retried on any failure (network error, timeout, a non-success
answer by the provider's rule) on the ``RetryPolicy`` schedule, measured on the sandbox clock
(so tests advance the clock instead of sleeping), until it succeeds or runs out of attempts.
Every attempt is recorded with its request (secrets redacted), status, answer, error and
latency. Claims carry a lease, so a sender that dies mid-attempt is taken over after the lease.
The HTTP transport is injectable (``httpx.MockTransport`` in tests: no sockets).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Callable
from typing import Any

import httpx

from ..core.clock import US, real_now_us
from ..store import clock as clock_rows
from ..store import outbox as rows
from ..store.db import Conn, Database, Row
from .outbox import RetryPolicy
from .redact import redact_body, redact_headers
from .rules import RULES

log = logging.getLogger("paysandbox.delivery")

MAX_RECORDED_ANSWER = 4096


class Sender:
    """Delivers what the outbox holds; one per server process."""

    def __init__(
        self,
        db: Database,
        policy: RetryPolicy,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        poll_seconds: float = 0.5,
        batch: int = 16,
    ) -> None:
        self.db = db
        self.policy = policy
        self.poll_seconds = poll_seconds
        self.batch = batch
        self._client = httpx.AsyncClient(transport=transport, follow_redirects=False)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        #: Metrics hook: (provider, succeeded, HTTP status or None, seconds) per attempt.
        self.on_attempt: Callable[[str, bool, int | None, float], None] | None = None

    def wake(self) -> None:
        """Look for due deliveries now (after an enqueue or a clock move) instead of at the poll."""
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run_forever())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._client.aclose()

    async def _run_forever(self) -> None:
        while True:
            try:
                while await self.run_once():
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:  # keep delivering whatever one bad row did
                log.exception("delivery loop error")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
            self._wake.clear()

    async def run_once(self) -> int:
        """Claim the deliveries due now and attempt them concurrently; returns how many."""
        token = secrets.token_hex(8)
        lease_us = int((self.policy.timeout_seconds + 30) * US)
        claimed: list[Row] = await self.db.write(self._claim, token, lease_us)
        if claimed:
            # One merchant endpoint gets its deliveries one after another, in due order (so
            # faults like out-of-order are what the merchant sees); endpoints run concurrently.
            queues: dict[tuple[str, str], list[Row]] = {}
            for row in claimed:
                queues.setdefault((row["account_id"], row["url"]), []).append(row)
            await asyncio.gather(*(self._attempt_in_order(q, token) for q in queues.values()))
        return len(claimed)

    async def _attempt_in_order(self, rows_: list[Row], token: str) -> None:
        for row in rows_:
            await self._attempt(row, token)

    def _claim(self, conn: Conn, token: str, lease_us: int) -> list[Row]:
        real = real_now_us()
        return rows.claim_due(
            conn,
            now_us=clock_rows.now_us(conn),
            real_now_us=real,
            lease_until_us=real + lease_us,
            token=token,
            limit=self.batch,
        )

    async def _attempt(self, row: Row, token: str) -> None:
        headers: dict[str, str] = json.loads(row["headers"])
        secret_keys: list[str] = json.loads(row["secret_keys"])
        content_type = headers.get("Content-Type", "")
        status: int | None = None
        answer: bytes = b""
        error: str | None = None
        started_real = time.perf_counter()
        try:
            resp = await self._client.request(
                row["method"],
                row["url"],
                content=row["body"].encode("utf-8"),
                headers=headers,
                timeout=self.policy.timeout_seconds,
            )
            status, answer = resp.status_code, resp.content
        except httpx.TimeoutException:
            error = f"timeout after {self.policy.timeout_seconds:g}s"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # e.g. httpx.InvalidURL: still a recorded, failed attempt
            error = f"{type(exc).__name__}: {exc}"
        latency_ms = (time.perf_counter() - started_real) * 1000
        ok = status is not None and RULES[row["success_rule"]](status, answer)
        if self.on_attempt is not None:
            self.on_attempt(row["provider"], ok, status, latency_ms / 1000)
        if status is not None and not ok and error is None:
            error = f"merchant answer not accepted (rule {row['success_rule']})"
        request_record = {
            "method": row["method"],
            "url": row["url"],
            "headers": redact_headers(headers, secret_keys),
            "body": redact_body(row["body"], content_type, secret_keys),
        }
        attempt: dict[str, Any] = {
            "delivery_id": row["id"],
            "number": int(row["attempts"]),
            "started_at_us": 0,  # filled in with the sandbox time inside the transaction
            "request": json.dumps(request_record),
            "http_status": status,
            "response_body": answer[:MAX_RECORDED_ANSWER].decode("utf-8", "replace"),
            "error": error,
            "latency_ms": round(latency_ms, 3),
            "succeeded": ok,
        }
        await self.db.write(self._settle, row, token, attempt, ok, latency_ms)

    def _settle(
        self, conn: Conn, row: Row, token: str, attempt: dict[str, Any], ok: bool, latency_ms: float
    ) -> None:
        now = clock_rows.now_us(conn)
        attempt["started_at_us"] = now - int(latency_ms * 1000)
        number = int(row["attempts"])
        if ok:
            state, next_at, done = "succeeded", now, now
        elif number >= int(row["max_attempts"]):
            state, next_at, done = "failed", now, now
        else:
            state, done = "pending", None
            next_at = now + int(self.policy.delay_after(number) * US)
        if not rows.finish_attempt(
            conn,
            row["id"],
            token,
            attempt=attempt,
            state=state,
            next_attempt_at_us=next_at,
            completed_at_us=done,
        ):
            log.warning("delivery %s: lease lost before the attempt was settled", row["id"])
