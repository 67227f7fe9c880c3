"""The request journal: every provider request and customer-page action, as received and as
answered, written off the answer path.

The middleware hands over the raw exchange (``Raw``: bytes and header lists, nothing parsed);
that is one ``deque.append``. A background task drains the queue every ``flush_seconds`` and
hands each batch to the journal's writer process (``writer.py``), which parses, redacts (each
provider's ``Redaction``), finds the account and object ids and inserts the batch with one
multi-row INSERT through its own connection — so none of that work competes with requests for
the serving process's one core, and while every processor is busy it waits for one to be free
(``writer.Backlog``). Where no writer process can serve (an in-memory SQLite database, or one
could not be started) the same work runs in the serving process.

A full queue drops the entry and counts it (``paysandbox_journal_dropped_total``); a failed
batch is dropped and counted; neither ever blocks or fails a payment request. Pruning runs
for every serving process: by age and count every ``prune_seconds``, and by count after each
``max_entries / 10`` entries it wrote (so a burst cannot grow the table far past its cap); it
is a plain DELETE, safe from several processes.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..core.clock import US, real_now_us
from ..store import observe as rows
from ..store.db import Database
from . import writer
from .entries import Raw, RawTuple, build_row, build_rows, hooks_of, mask_userinfo, view
from .metrics import Metrics
from .spec import ProviderObserve

__all__ = [
    "Journal",
    "JournalSettings",
    "Raw",
    "RawTuple",
    "build_row",
    "build_rows",
    "hooks_of",
    "mask_userinfo",
    "view",
]

log = logging.getLogger("paysandbox.journal")

#: A writer holding entries back says it is alive every ``writer.ALIVE_SECONDS``; one that has
#: not said so for this long (by the database's clock) is gone (killed, its host down), and a
#: read does not wait for it.
HOLDER_GONE_US = int(4 * writer.ALIVE_SECONDS * US)
NO_GEN = 1 << 62  # ``rows.behind(NO_GEN, …)``: every live holder

#: After the writer process failed, entries are stored in this process for this long before a
#: new writer is tried (a writer that cannot start is not restarted 10 times a second).
WRITER_RETRY_SECONDS = 5.0
BATCH = 128  # entries per INSERT in the serving process (between them, requests run)
REMOTE_BATCH = 2_000  # entries per call to the writer process


@dataclass(frozen=True)
class JournalSettings:
    enabled: bool = True
    max_entries: int = 10_000
    max_age_seconds: float = 86_400
    queue_size: int = 10_000
    max_body_bytes: int = 65_536
    flush_seconds: float = 0.1
    prune_seconds: float = 60
    #: How long a journal read waits for what is queued to be stored (``Journal.settle``).
    read_wait_seconds: float = 5.0
    #: Build and store entries in a writer process (False: in the serving process).
    writer_process: bool = True
    #: The writer process holds entries back while fewer processors than this are free
    #: (``writer.Backlog``; 0: never).
    hold_back_below: float | None = None  # None: one processor, or half of what we may use
    #: … up to this many MiB of entries (past it, it stores the oldest anyway).
    hold_back_mib: int = writer.DEFER_BYTES >> 20


class Journal:
    def __init__(
        self,
        db: Database,
        settings: JournalSettings,
        metrics: Metrics,
        observers: Mapping[str, ProviderObserve] | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.metrics = metrics
        self.enabled = settings.enabled
        self.hooks = {name: hooks_of(obs) for name, obs in (observers or {}).items()}
        self._queue: collections.deque[RawTuple] = collections.deque()
        self._limit = settings.queue_size
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._last_prune = 0.0  # the age (and count) prune: every prune_seconds
        self._since_trim = 0  # the count prune also runs after max_entries / 10 new entries
        self.dropped = 0
        #: where the writer process finds the database (None: work in this process)
        self.remote_url = _remote_url(db) if settings.writer_process else None
        #: a writer process belongs to a started journal (``start`` … ``stop``): a journal
        #: flushed on a loop it was never started on works in-process and leaves no child
        self._started = False
        self._writer_retry_at = 0.0
        self._starting: asyncio.Task[None] | None = None
        self._writer = writer.WriterClient()
        self._settling: set[asyncio.Task[bool]] = set()  # flushes a read stopped waiting for
        #: entries handed to the writer process and not yet answered for (stored or failed)
        self._held = 0
        #: the writer process was given work since its last ``sync``
        self._unsynced = False
        #: a ``sync`` answered before the work it found was done: (that child, the ``taken``
        #: every flush waits for ``done`` to reach), and the writer's last ``done``
        self._owed: tuple[asyncio.subprocess.Process | None, int] | None = None
        self._done = 0
        self._deaths = 0  # ``WriterClient.deaths`` counted so far
        if self.remote_url is not None:
            self._writer.configure(
                self.remote_url,
                self.hooks,
                settings.max_body_bytes,
                settings.hold_back_below,
                settings.hold_back_mib << 20,
            )

    def put(self, raw: RawTuple) -> None:
        """Never blocks, never raises: a full queue drops the entry and counts it. ``raw``: a
        ``Raw``, or a plain tuple of its fields (see ``Raw``)."""
        if len(self._queue) >= self._limit:
            self.dropped += 1
            self.metrics.journal_dropped.inc()
            return
        self._queue.append(raw)

    def start(self) -> None:
        if not self.enabled:
            return
        self._started = True
        loop = asyncio.get_running_loop()
        if self.remote_url is not None:
            self._starting = loop.create_task(self._start_writer())
        self._task = loop.create_task(self._run())

    async def _start_writer(self) -> None:
        """The child starts (imports) while we serve."""
        try:
            await self._writer.start()
        except writer.WriterGone as exc:
            self._go_local(str(exc))

    def _remote(self) -> bool:
        return (
            self.remote_url is not None
            and self._started
            and time.monotonic() >= self._writer_retry_at
        )

    def _go_local(self, why: str) -> None:
        log.warning("journal writer process %s; entries are built in this process", why)
        self.remote_url = None

    async def stop(self) -> None:
        if self._starting is not None:  # never cancelled half-way: a child would be lost
            with contextlib.suppress(Exception):
                await self._starting
            self._starting = None
        if self._task is not None:
            async with self._lock:  # cancelled between two turns, never inside a batch's call
                self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            await self.flush()  # what was answered before shutdown is kept
        self._started = False
        await self._writer.close()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.settings.flush_seconds)
            try:
                await self._turn()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("journal writer error", exc_info=True)

    async def _turn(self) -> None:
        """One turn of the background flusher: store the queue, then prune or trim if due."""
        if self.db.problem() is not None:  # (logged once by the database): nowhere to store
            gone = len(self._queue)
            self._queue.clear()
            self.dropped += gone
            self.metrics.journal_dropped.inc(gone)
            return
        async with self._lock:
            sent = await self._flush()
            if time.monotonic() - self._last_prune >= self.settings.prune_seconds:
                self._last_prune = time.monotonic()
                self._since_trim = 0
                await self.prune()
            elif self._since_trim >= max(100, self.settings.max_entries // 10):
                self._since_trim = 0
                await self._trim()
            elif not sent and self._held and self._remote() and self._writer.proc is not None:
                # what the writer stored of what it held (a read through another process
                # asked, or a processor came free): counted now, not at the next hand-over
                await self._call("progress", on=self._writer.proc)

    async def flush(self) -> None:
        """Store everything queued so far (a deletion of the journal waits for it, so nothing
        answered before it comes back after it)."""
        async with self._lock:
            await self._flush()
            if self._unsynced and self._remote():
                self._unsynced = False  # what the writer holds back, stored now:
                answer = await self._call("sync")
                if answer is not None and answer[0] < answer[1]:  # done < taken at the sync
                    self._owed = (self._writer.proc, answer[1])
            owed = self._owed
        # a large backlog is stored between frames: the queue is handed over meanwhile. Every
        # flush waits for what is owed, another flush's sync included (a second read, stop)
        while owed is not None and self._done < owed[1]:
            await asyncio.sleep(0.01)
            proc = owed[0]
            if proc is None or self._writer.proc is not proc:
                break  # it died (what it held is counted as dropped), or it was closed
            if await self._call("progress", on=proc) is None:
                break
        if owed is not None and self._owed is owed:
            self._owed = None

    async def settle(self, seconds: float | None = None) -> bool:
        """``flush`` for a read, so a client reading through the process it called sees its
        own requests, and what other server processes' writers hold back (``everywhere``) —
        but waiting at most ``seconds`` (default ``read_wait_seconds``): a writer that hangs (a
        stopped process, a database that stalls it) must not hang every journal read with it.
        True when everything queued before the call is stored; False when the read goes ahead
        without it (the storing goes on)."""
        wait = self.settings.read_wait_seconds if seconds is None else seconds
        task = asyncio.ensure_future(self.everywhere(wait))
        done, _ = await asyncio.wait({task}, timeout=wait)
        if task in done:
            return task.result()
        self._settling.add(task)
        task.add_done_callback(self._settled)
        log.warning(
            "journal writer has not stored the queued entries within %.1f s; a journal read "
            "answers without them",
            wait,
        )
        return False

    async def everywhere(self, seconds: float) -> bool:
        """``flush``, after asking every other writer on the database that holds entries back
        (``writer.Backlog.tend``: the machine was busy) to store them; then wait for those
        writers, ``seconds`` at most. True when none is left behind."""
        if not self.enabled:
            return True
        deadline = time.monotonic() + seconds
        asked = None
        if await self.db.read(rows.behind, NO_GEN, HOLDER_GONE_US):  # somebody holds entries back
            asked = await self.db.write(rows.ask_holders)
        await self.flush()
        if asked is None:
            return True
        while n := await self.db.read(rows.behind, asked, HOLDER_GONE_US):
            if time.monotonic() >= deadline:
                log.warning(
                    "%d journal writer(s) of other server processes have not stored the entries "
                    "they hold back within %.1f s; a journal read answers without them",
                    n,
                    seconds,
                )
                return False
            await asyncio.sleep(0.02)
        return True

    def _settled(self, task: asyncio.Task[bool]) -> None:
        self._settling.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("journal flush failed", exc_info=task.exception())

    async def _flush(self) -> int:
        """``flush`` with the lock held; how many entries it handed over."""
        sent = 0
        while self._queue:
            size = REMOTE_BATCH if self._remote() else BATCH
            batch = [self._queue.popleft() for _ in range(min(size, len(self._queue)))]
            self._count(*await self._store(batch))
            sent += len(batch)
            await asyncio.sleep(0)  # let requests in between batches (p99)
        return sent

    def _count(self, stored: int, failed: int) -> None:
        if failed:
            self.dropped += failed
            self.metrics.journal_dropped.inc(failed)
        if stored:
            self.metrics.journal_written.inc(stored)
            self._since_trim += stored

    def _gone(self, more: int = 0) -> int:
        """The writer process is gone, and with it the entries it held (and ``more``): counted
        as dropped. The next call starts another. Returns how many were lost."""
        lost, self._held, self._unsynced = self._held + more, 0, False
        self._count(0, lost)
        return lost

    def _died(self) -> None:
        """The writer process ended between two calls and another was started: what the
        ended one held is counted as dropped."""
        if self._writer.deaths != self._deaths:
            self._deaths = self._writer.deaths
            if lost := self._gone():
                log.warning("journal writer process ended; %d entries dropped", lost)

    async def _call(
        self, op: str, *args: object, on: asyncio.subprocess.Process | None = None
    ) -> tuple[int, int] | None:
        """``sync``, ``progress``, ``trim`` or ``prune`` in the writer process: its (done,
        taken) pieces of work; None when it is gone (``on``: that child is not the writer
        any more)."""
        try:
            answer = await self._writer.call(op, *args, on=on)
        except writer.WriterGone as exc:
            lost = self._gone()
            log.warning("journal writer process %s; %d entries dropped", exc, lost)
            return None
        if answer is None:
            return None
        stored, failed, done, taken = answer
        self._died()
        self._done = int(done)
        self._held -= stored + failed
        if op in ("trim", "prune"):
            self._unsynced = True
        self._count(int(stored), int(failed))
        return int(done), int(taken)

    async def _store(self, batch: list[RawTuple]) -> tuple[int, int]:
        """(stored, dropped) of one batch — handed to the writer process: of the entries it
        held, this one or earlier ones."""
        max_body = self.settings.max_body_bytes
        if self._remote():
            try:
                # plain tuples (marshal-able; ``tuple`` returns a plain one as it is)
                stored, failed, _, _ = await self._writer.store(list(map(tuple, batch)))
            except writer.WriterGone as exc:
                log.warning(
                    "journal writer process %s; %d entries dropped, the next ones are stored "
                    "in this process for %.0f s",
                    exc,
                    self._gone(len(batch)),
                    WRITER_RETRY_SECONDS,
                )
                self._writer_retry_at = time.monotonic() + WRITER_RETRY_SECONDS
                return 0, 0  # counted
            except Exception:
                log.warning("journal batch of %d dropped", len(batch), exc_info=True)
                return 0, len(batch)
            self._died()
            self._held += len(batch) - stored - failed
            self._unsynced = True
            return int(stored), int(failed)
        built, failed = build_rows(batch, self.hooks, max_body)
        try:
            await self.db.write(rows.insert_entries, built)
        except Exception:
            log.warning("journal batch of %d dropped", len(built), exc_info=True)
            return 0, len(batch)
        return len(built), failed

    async def _trim(self) -> None:
        if self._remote():  # in order with the entries the writer holds
            await self._call("trim", self.settings.max_entries)
        else:
            await self.db.write(rows.trim, self.settings.max_entries)

    async def prune(self) -> None:
        cutoff = real_now_us() - int(self.settings.max_age_seconds * US)
        cap = self.settings.max_entries
        if self._remote():
            await self._call("prune", cap, cutoff)
        else:
            await self.db.write(lambda c: rows.prune(c, max_entries=cap, older_than_us=cutoff))


def _remote_url(db: Database) -> str | None:
    """The database as the writer process opens it; None when it cannot (in memory)."""
    if db.dialect != "sqlite":
        return db.url
    path = db.url.removeprefix("sqlite:///")
    if path in ("", ":memory:") or path.startswith("file:"):
        return None
    return "sqlite:///" + str(Path(path).resolve())
