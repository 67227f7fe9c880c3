"""The background sender: claims due deliveries and attempts them over HTTP.

At-least-once: a delivery is retried on any failure (network error, timeout, a non-success
answer by the provider's rule) on the ``RetryPolicy`` schedule, measured on the sandbox clock
(so tests advance the clock instead of sleeping), until it succeeds or runs out of attempts.
Every attempt is recorded with its request (secrets redacted), status, answer, error and
latency. See ``Sender`` for the one-attempt-in-flight rule and docs/reliability.md for what a
crash does.
The HTTP transport is injectable (``httpx.MockTransport`` in tests: no sockets); the default
one connects only where the outbound policy allows (``policy.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
import zlib
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from ..core.clock import US, real_now_us
from ..store import clock as clock_rows
from ..store import outbox as rows
from ..store.db import Conn, Database, DatabaseGone, Row
from .outbox import RetryPolicy
from .policy import OutboundPolicy, guarded_transport
from .redact import redact_body, redact_headers
from .rules import RULES, SuccessRule
from .urls import redact_url

log = logging.getLogger("paysandbox.delivery")

MAX_RECORDED_ANSWER = 4096
#: The most of a merchant's answer that is read (what a success rule judges): a receiver that
#: answers hundreds of megabytes held them all in memory and, parsed on the event loop,
#: stopped the server for seconds. The rest of a longer answer is never read.
MAX_READ_ANSWER = 65_536


# Real seconds a lease outlives the attempt's hard timeout: room for the settling write.
LEASE_MARGIN_SECONDS = 5.0


class Sender:
    """Delivers what the outbox holds; one per server process.

    Exactly one attempt in flight per delivery, across every process on one database: a claim
    takes at most one delivery per merchant endpoint (account, URL), starts its attempt at
    once, and holds a lease of ``timeout + LEASE_MARGIN_SECONDS`` real seconds; the HTTP
    request is cut off at the timeout (a hard deadline for the whole exchange, not httpx's
    per-read one), so it is over before the lease can run out and another process take the
    delivery. Endpoints are served concurrently (up to ``batch`` attempts in flight per
    process); a slow endpoint never holds up the others.
    """

    def __init__(
        self,
        db: Database,
        policy: RetryPolicy,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        poll_seconds: float = 0.5,
        batch: int = 16,
        rules: Mapping[str, SuccessRule] = RULES,
        outbound: OutboundPolicy | None = None,
    ) -> None:
        self.db = db
        self.rules = rules
        self.policy = policy
        self.poll_seconds = poll_seconds
        self.batch = batch
        self.lease_seconds = policy.timeout_seconds + LEASE_MARGIN_SECONDS
        self._id = secrets.token_hex(8)
        self._claims = 0
        # Every connection is checked by the outbound policy (delivery/policy.py); an injected
        # transport (tests) is used as given.
        self._client = httpx.AsyncClient(
            transport=transport or guarded_transport(outbound or OutboundPolicy.build()),
            follow_redirects=False,
        )
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
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
        for task in list(self._inflight):
            task.cancel()
        if self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)
        # Hand back at once whatever this process still holds, so another process (or the
        # next start) sends it without waiting for the lease to run out.
        with contextlib.suppress(Exception):
            await self.db.write(rows.release_mine, self._id + "-", STOPPED)
        await self._client.aclose()

    async def _run_forever(self) -> None:
        while True:
            try:
                await self._dispatch()
            except asyncio.CancelledError:
                raise
            except DatabaseGone:  # logged once by the database; nothing can be claimed
                pass
            except Exception:  # keep delivering whatever one bad row did
                log.exception("delivery loop error")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
            self._wake.clear()

    async def _dispatch(self) -> int:
        """Claim what is due for idle endpoints, up to ``batch`` in flight; each attempt runs
        as its own task and wakes the loop when it is settled."""
        room = self.batch - len(self._inflight)
        if room <= 0:
            return 0
        token, claimed = await self._claim_now(room)
        loop = asyncio.get_running_loop()
        for row in claimed:
            task = loop.create_task(self._attempt(row, token))
            self._inflight.add(task)
            task.add_done_callback(self._attempt_done)
        return len(claimed)

    def _attempt_done(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("delivery attempt error", exc_info=task.exception())
        self._wake.set()

    async def run_once(self) -> int:
        """Claim the deliveries due now (one per endpoint) and attempt them concurrently;
        returns how many (for tests and tools: the server runs ``_run_forever``)."""
        token, claimed = await self._claim_now(self.batch)
        await asyncio.gather(*(self._attempt(row, token) for row in claimed))
        return len(claimed)

    async def _claim_now(self, limit: int) -> tuple[str, list[Row]]:
        self._claims += 1
        token = f"{self._id}-{self._claims}"
        claimed: list[Row] = await self.db.write(self._claim, token, limit)
        return token, claimed

    def _claim(self, conn: Conn, token: str, limit: int) -> list[Row]:
        real = real_now_us()
        now = clock_rows.now_us(conn)  # the sandbox's; each account's own offset is added in SQL
        claimed = rows.claim_due(
            conn,
            now_us=now,
            real_now_us=real,
            lease_until_us=real + int(self.lease_seconds * US),
            token=token,
            limit=limit,
        )
        for row in claimed:
            at = clock_rows.account_now_us(conn, row["provider"], row["account_id"])
            rows.begin_attempt(conn, row["id"], int(row["attempts"]), at, _request_record(row))
        return claimed

    async def _attempt(self, row: Row, token: str) -> None:
        headers: dict[str, str] = json.loads(row["headers"])
        headers.setdefault("Accept-Encoding", ACCEPT_ENCODING)
        number = int(row["attempts"])
        # The whole exchange must end before the lease does (minus the margin for settling).
        budget = (int(row["lease_until_real_us"]) - real_now_us()) / US - LEASE_MARGIN_SECONDS
        timeout = min(self.policy.timeout_seconds, budget)
        if timeout <= 0:  # the claim came back too late to send safely: return it unused
            await self.db.write(rows.return_unsent, row["id"], token, number)
            return
        status: int | None = None
        answer: bytes = b""
        error: str | None = None
        started_real = time.perf_counter()
        cut = False  # the answer was longer than MAX_READ_ANSWER
        try:
            async with asyncio.timeout(timeout):
                request = self._client.build_request(
                    row["method"],
                    row["url"],
                    content=row["body"].encode("utf-8"),
                    headers=headers,
                    timeout=timeout,
                )
                resp = await self._client.send(request, stream=True)
                try:
                    answer, cut = await _read_at_most(resp, MAX_READ_ANSWER)
                finally:
                    await resp.aclose()
                status = resp.status_code  # an answer broken off by an error records none
        except (TimeoutError, httpx.TimeoutException):
            error = f"timeout after {self.policy.timeout_seconds:g}s"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # e.g. httpx.InvalidURL: still a recorded, failed attempt
            error = f"{type(exc).__name__}: {exc}"
        latency_ms = (time.perf_counter() - started_real) * 1000
        ok = False
        if status is not None and error is None:
            try:
                ok = self.rules[row["success_rule"]](status, answer)
            except Exception as exc:  # a rule's bug must not leave the attempt unsettled
                log.warning("success rule %s failed", row["success_rule"], exc_info=True)
                error = f"success rule {row['success_rule']} failed: {type(exc).__name__}"
        if self.on_attempt is not None:
            self.on_attempt(row["provider"], ok, status, latency_ms / 1000)
        if status is not None and not ok and error is None:
            error = f"merchant answer not accepted (rule {row['success_rule']})"
            if cut:
                error += f"; only its first {MAX_READ_ANSWER} bytes were read"
        attempt: dict[str, Any] = {
            "number": number,
            "http_status": status,
            # NUL is no character PostgreSQL stores in text: shown as U+FFFD, like bad UTF-8
            "response_body": answer[:MAX_RECORDED_ANSWER]
            .decode("utf-8", "replace")
            .replace("\x00", "\ufffd"),
            "error": error,
            "latency_ms": round(latency_ms, 3),
            "succeeded": ok,
        }
        await self.db.write(self._settle, row, token, attempt, ok)

    def _settle(self, conn: Conn, row: Row, token: str, attempt: dict[str, Any], ok: bool) -> None:
        now = clock_rows.account_now_us(conn, row["provider"], row["account_id"])
        number = int(attempt["number"])
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


async def _read_at_most(resp: httpx.Response, limit: int) -> tuple[bytes, bool]:
    """The first ``limit`` bytes of a streamed answer (gzip and deflate decoded here, with the
    output bounded: httpx would inflate a whole network chunk, ~64 MB of a gzip bomb), and
    whether there was more (unread)."""
    if resp.is_stream_consumed:  # read already (an in-process transport hands answers so)
        return resp.content[:limit], len(resp.content) > limit
    encoding = resp.headers.get("content-encoding", "").strip().lower()
    inflate = zlib.decompressobj(wbits=47) if encoding in _INFLATED else None  # gzip or zlib
    out = bytearray()
    async for chunk in resp.aiter_raw():
        if inflate is not None:
            try:
                chunk = inflate.decompress(chunk, limit + 1 - len(out))
            except zlib.error as exc:
                raise httpx.DecodingError(f"{encoding} answer: {exc}") from None
        out += chunk
        if len(out) > limit:
            return bytes(out[:limit]), True
    return bytes(out), False


_INFLATED = frozenset({"gzip", "x-gzip", "deflate"})
#: What the sender accepts (it decodes these itself, bounded): pinned, so an installed brotli or
#: zstandard package does not make httpx offer encodings ``_read_at_most`` cannot read.
ACCEPT_ENCODING = "gzip, deflate"


STOPPED = "the server stopped during this attempt; outcome unknown, not charged"


def _request_record(row: Row) -> str:
    """The request as it goes on the wire, secrets redacted, for the attempt log."""
    headers: dict[str, str] = json.loads(row["headers"])
    secret_keys: list[str] = json.loads(row["secret_keys"])
    return json.dumps(
        {
            "method": row["method"],
            "url": redact_url(row["url"]),
            "headers": redact_headers(headers, secret_keys),
            "body": redact_body(row["body"], headers.get("Content-Type", ""), secret_keys),
        }
    )
