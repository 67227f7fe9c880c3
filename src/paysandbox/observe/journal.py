"""The request journal: every provider request and customer-page action, as received and as
answered, written off the answer path.

The middleware hands over the raw exchange (``Raw``: bytes and header lists, nothing parsed);
that is one ``deque.append``. A background task drains the queue every ``flush_seconds``:
it parses, redacts (each provider's ``Redaction``), finds the account and object ids, and
inserts the batch with one multi-row INSERT. A full queue drops the entry and counts it
(``paysandbox_journal_dropped_total``); a failed insert drops its batch and counts it; neither
ever blocks or fails a payment request. Pruning runs in every process: by age and count every
``prune_seconds``, and by count after each ``max_entries / 10`` entries it wrote (so a burst
cannot grow the table far past its cap); it is a plain DELETE, safe from several processes.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

import msgspec

from ..core.clock import US, iso, real_now_us
from ..store import observe as rows
from ..store.db import Database, Row
from .metrics import Metrics
from .spec import Exchange, ProviderObserve, header_value

log = logging.getLogger("paysandbox.journal")

#: ``scheme://user:password@`` in any text (also JSON's ``http:\/\/``): a callback URL with a
#: password, sent in a request body, is stored with ``***@`` instead.
_USERINFO = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*:(?:\\?/){2})[^\s/@\"'<>]+@")


_USERINFO_ENCODED = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*%3A%2F%2F)(?:(?!%2F|&|\s).)+?%40", re.I)


def mask_userinfo(text: str) -> str:
    if "@" in text:
        text = _USERINFO.sub(r"\1***@", text)
    if "%40" in text:
        text = _USERINFO_ENCODED.sub(r"\1***%40", text)
    return text


BATCH = 128


@dataclass(frozen=True)
class JournalSettings:
    enabled: bool = True
    max_entries: int = 10_000
    max_age_seconds: float = 86_400
    queue_size: int = 10_000
    max_body_bytes: int = 65_536
    flush_seconds: float = 0.1
    prune_seconds: float = 60


@dataclass(slots=True)
class Raw:
    """One exchange as seen by the middleware, untouched."""

    id: str
    at_us: int
    provider: str
    obs: ProviderObserve
    method: str
    route: str | None
    path: str
    path_params: dict[str, str]
    query: bytes
    request_headers: list[tuple[bytes, bytes]]
    request_body: bytes
    status: int | None  # the answer produced (None: none was)
    sent: bool  # False: the client got no answer (timeout, reset, lost-answer)
    response_headers: list[tuple[bytes, bytes]]
    response_body: bytes
    latency_ms: float
    fault_id: str | None
    fault_kind: str | None
    outcome: str  # answered | dropped | answer-lost | error


_ENCODE = msgspec.json.Encoder()


def _unblock(block: str) -> list[list[str]]:
    return [line.split(": ", 1) for line in block.split("\n") if line]


def build_row(raw: Raw, max_body: int) -> tuple[Any, ...]:
    """The stored row of one exchange: redacted, with account and object ids."""
    red = raw.obs.redaction
    query = raw.query.decode("latin-1") if raw.query else ""
    exchange = Exchange(
        method=raw.method,
        path=raw.path,
        route=raw.route,
        path_params=raw.path_params,
        query=query,
        raw_headers=raw.request_headers,
        body=raw.request_body,
        answer_headers=raw.response_headers,
        answer_body=raw.response_body,
    )
    try:
        account = raw.obs.account(exchange)
        ids = raw.obs.object_ids(exchange)
    except Exception:  # a hook must never lose the entry
        log.exception("journal hook failed for %s %s", raw.method, raw.path)
        account, ids = None, []
    # Redaction sees the whole body (a secret cut in half by the size cap would survive).
    req_text = red.body(raw.request_body.decode("utf-8", "replace"), exchange.content_type)
    resp_type = header_value(raw.response_headers, b"content-type") or ""
    if resp_type.lower().startswith("text/html"):
        # A page is what the browser showed, not data a client parses; a card form's page would
        # also put card field names in the journal. Its size is kept, its markup is not.
        resp_text = f"(an HTML page of {len(raw.response_body)} bytes, not kept)"
    else:
        resp_text = red.body(raw.response_body.decode("utf-8", "replace"), resp_type)
    req_text, resp_text = mask_userinfo(req_text), mask_userinfo(resp_text)
    exchange_doc = {
        "path": raw.path,
        "query": red.pairs(query) if query else "",
        "request": {
            "headers": red.header_block(raw.request_headers),
            "body": req_text[:max_body],
            "bodyBytes": len(raw.request_body),
            "truncated": len(req_text) > max_body,
        },
        "response": None
        if raw.status is None
        else {
            "status": raw.status,
            "headers": red.header_block(raw.response_headers),
            "body": resp_text[:max_body],
            "bodyBytes": len(raw.response_body),
            "truncated": len(resp_text) > max_body,
            "sent": raw.sent,
        },
        "outcome": raw.outcome,
        "faultKind": raw.fault_kind,
    }
    return (
        raw.id,
        raw.at_us,
        raw.provider,
        account,
        raw.method,
        raw.route,
        raw.status if raw.sent else None,
        round(raw.latency_ms, 3),
        " " + " ".join(ids) + " " if ids else "",
        raw.fault_id,
        _ENCODE.encode(exchange_doc).decode(),
    )


def view(row: Row) -> dict[str, Any]:
    ex = json.loads(row["exchange"])
    ids = row["object_ids"].split()
    return {
        "id": row["id"],
        "at": iso(row["at_us"]),
        "provider": row["provider"],
        "account": row["account"],
        "method": row["method"],
        "route": row["route"],
        "path": ex["path"],
        "query": ex["query"],
        "status": row["status"],  # as sent; null when the client got no answer
        "latencyMs": row["latency_ms"],
        "objectIds": ids,
        "fault": None
        if row["fault_id"] is None
        else {"id": row["fault_id"], "kind": ex["faultKind"]},
        "outcome": ex["outcome"],
        "request": {**ex["request"], "headers": _unblock(ex["request"]["headers"])},
        "response": None
        if ex["response"] is None
        else {**ex["response"], "headers": _unblock(ex["response"]["headers"])},
    }


class Journal:
    def __init__(self, db: Database, settings: JournalSettings, metrics: Metrics) -> None:
        self.db = db
        self.settings = settings
        self.metrics = metrics
        self.enabled = settings.enabled
        self._queue: collections.deque[Raw] = collections.deque()
        self._limit = settings.queue_size
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._last_prune = 0.0  # the age (and count) prune: every prune_seconds
        self._since_trim = 0  # the count prune also runs after max_entries / 10 new entries
        self.dropped = 0

    def put(self, raw: Raw) -> None:
        """Never blocks, never raises: a full queue drops the entry and counts it."""
        if len(self._queue) >= self._limit:
            self.dropped += 1
            self.metrics.journal_dropped.inc()
            return
        self._queue.append(raw)

    def start(self) -> None:
        if self.enabled:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            await self.flush()  # what was answered before shutdown is kept

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.settings.flush_seconds)
            try:
                await self.flush()
                if time.monotonic() - self._last_prune >= self.settings.prune_seconds:
                    self._last_prune = time.monotonic()
                    self._since_trim = 0
                    await self.prune()
                elif self._since_trim >= max(100, self.settings.max_entries // 10):
                    self._since_trim = 0
                    await self.db.write(rows.trim, self.settings.max_entries)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("journal writer error", exc_info=True)

    async def flush(self) -> None:
        """Store everything queued so far (also called before a journal read, so a client
        reading through the process it called sees its own requests)."""
        async with self._lock:
            while self._queue:
                batch = [self._queue.popleft() for _ in range(min(BATCH, len(self._queue)))]
                built = []
                for raw in batch:
                    try:
                        built.append(build_row(raw, self.settings.max_body_bytes))
                    except Exception:
                        log.exception("journal entry %s could not be built", raw.id)
                        self.metrics.journal_dropped.inc()
                try:
                    await self.db.write(rows.insert_entries, built)
                except Exception:
                    log.warning("journal batch of %d dropped", len(built), exc_info=True)
                    self.dropped += len(built)
                    self.metrics.journal_dropped.inc(len(built))
                else:
                    self.metrics.journal_written.inc(len(built))
                    self._since_trim += len(built)
                await asyncio.sleep(0)  # let requests in between batches (p99)

    async def prune(self) -> int:
        cutoff = real_now_us() - int(self.settings.max_age_seconds * US)
        return await self.db.write(
            lambda c: rows.prune(c, max_entries=self.settings.max_entries, older_than_us=cutoff)
        )
