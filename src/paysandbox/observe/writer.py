"""The journal's writer process: where entries are parsed, redacted and stored.

Building an entry (parsing both bodies, finding the account and object ids, redacting) and
inserting it costs about as much as a cheap provider request (docs/design.md, "The request
journal"). So a serving process only hands the raw exchanges over: each ``Journal`` starts one
child, ``python -m paysandbox.observe.writer``, and talks to it over its stdin/stdout pipes from
the event loop (non-blocking writes, no helper thread: a thread in the serving process would
take the GIL from the loop on every hand-over, which measured costlier than the work itself).
The child builds the rows and writes them through its own connection to the same database.

It does so at once while the machine has a processor to spare. While every processor is busy
— ``--workers N`` under a load test, where the journal's work would come out of the requests'
share — it holds the entries back (``Backlog``, up to ``DEFER_BYTES`` of them, past which it
stores the oldest anyway) and stores them as soon as a processor is free. ``Journal.flush``
ends with a ``sync``, answered once everything handed over before it is stored, so a journal
read through the API still sees every request answered before it, busy or not.

Frames both ways: a 4-byte big-endian length, then the message: ``M`` and a ``marshal``
dump (plain tuples, bytes, strings; about twice as fast as pickle both ways), or ``P`` and a
pickle (what marshal cannot carry: the providers' hooks sent at start); a batch of entries is
``S`` and then one of those (kept undecoded until it is stored). Both ends are the same
interpreter (``sys.executable``), so marshal's format is the same. Frames are answered in
order, one at a time; each answer carries how many entries were stored (and how many could
not be) since the previous one. The child ends when its stdin closes — the server stopped, or
died (``kill -9`` included: the kernel closes the pipe) — after storing everything it holds.
A child that dies is started again for the next batch; the entries it held are counted as
dropped.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import gc
import logging
import marshal
import math
import os
import pickle
import select
import signal
import socket
import struct
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..store import observe as rows
from ..store.db import open_database
from .entries import build_rows

log = logging.getLogger("paysandbox.journal")

_LEN = struct.Struct("!I")
#: A frame larger than this is refused by the reader (a batch is far smaller).
MAX_FRAME = 1 << 30
#: Entries per INSERT (and per trimming DELETE) transaction in the writer on SQLite, where
#: serving processes wait for each one's write lock. PostgreSQL locks rows, not the table: a
#: batch is one transaction there, and a trim one DELETE (each transaction costs the writer
#: ~5 round trips of psycopg: 1.6 µs of CPU per entry at 100 entries a transaction).
CHUNK = 100
#: A frame of entries to store starts with this byte (then ``encode``'s body): the writer keeps
#: it as it came and decodes it only when it stores it.
STORE = b"S"
#: Frames of entries a writer holds back while every processor is busy (the default of
#: ``[journal] hold_back_mib``); past this, it stores the oldest anyway, and a load test runs
#: at the speed of the journal again. About 1.3 KB an entry: ~200,000 entries, ~25 s of two
#: workers' cheapest requests at full speed on a 2-core machine.
DEFER_BYTES = 256 << 20
#: Below this many processors' worth of idle time (its own CPU counted as idle), the writer
#: holds entries back (the default of ``[journal] hold_back_below``; half of what the process
#: may use where that is less: ``CpuProbe.busy``).
SPARE_CORES = 1.0
#: How often a writer holding entries back looks at the processors, and at whether a read
#: through another server process asks it to store them (``Backlog.tend``).
POLL_SECONDS = 0.05
#: The row of a writer that has not said it is alive for this long is deleted by the next
#: writer that starts holding entries back (a reader stops waiting for one after 2 s).
GONE_ROW_US = 60_000_000
#: A ``sync`` finds at most this much held back: stored before it is answered (more: done
#: between frames, so its server's hand-overs are still answered at once).
SYNC_BYTES = 4 << 20
#: How often a writer holding entries back says it is alive; a read waits only for writers
#: that said so within ``ALIVE_SECONDS * 4`` (``Journal.settle``).
ALIVE_SECONDS = 0.5
#: Where this paysandbox is imported from: the child imports the same one.
_ROOT = str(Path(__file__).resolve().parents[2])


def encode(message: Any) -> bytes:
    """A message as a frame's body (see the module docstring)."""
    try:
        return b"M" + marshal.dumps(message)
    except ValueError:  # a type marshal cannot carry
        return b"P" + pickle.dumps(message, protocol=5)


def decode(body: bytes) -> Any:
    """A frame's body from the private pipe between a server and its own writer: nothing
    else writes to it, so what it holds is trusted like our own memory."""
    if body[:1] == b"M":
        return marshal.loads(memoryview(body)[1:])  # noqa: S302
    return pickle.loads(memoryview(body)[1:])  # noqa: S301


class WriterGone(Exception):
    """The writer process ended (or could not be started); its pending call is lost."""


class WriterClient:
    """The serving process's side: one child, calls in order (``call`` is serialised)."""

    def __init__(self) -> None:
        self._proc: asyncio.subprocess.Process | None = None
        self._ended: list[asyncio.subprocess.Process] = []  # killed, not yet reaped
        self._lock = asyncio.Lock()
        self._init: tuple[Any, ...] | None = None
        #: children that ended on their own between two calls (what they held is lost)
        self.deaths = 0

    def configure(
        self,
        url: str,
        hooks: Any,
        max_body: int,
        hold_back_below: float | None,
        hold_back_bytes: int,
    ) -> None:
        """What every (re)started child is told first (``_Writer.init``)."""
        self._init = (url, hooks, max_body, hold_back_below, hold_back_bytes)

    async def start(self) -> None:
        async with self._lock:
            await self._ensure()

    async def _ensure(self) -> asyncio.subprocess.Process:
        if self._proc is not None:
            if self._proc.returncode is None:
                return self._proc
            self.deaths += 1
            self._kill(self._proc)  # ended on its own: let its pipes go with it
        await self._reap()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_ROOT, env.get("PYTHONPATH")) if p)
        spawn = asyncio.ensure_future(
            asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "paysandbox.observe.writer",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                env=env,
                # its own session: a terminal's Ctrl-C (SIGINT to the foreground process group)
                # reached it even while it started, a traceback beside the server's clean stop;
                # it ends when the server closes its stdin, after the last flush
                start_new_session=sys.platform != "win32",
            )
        )
        try:
            proc = await asyncio.shield(spawn)
        except asyncio.CancelledError:  # the child may still come: keep it to be reaped
            spawn.add_done_callback(self._adopt)
            raise
        except OSError as exc:
            raise WriterGone(f"could not be started: {exc}") from exc
        self._proc = proc
        if self._init is not None:
            try:
                await self._exchange(proc, encode(("init", self._init)))
            except RuntimeError as exc:  # e.g. the database cannot be opened from there
                self._kill(proc)
                raise WriterGone(f"could not start: {exc}") from exc
        return proc

    @property
    def proc(self) -> asyncio.subprocess.Process | None:
        """The child now (another one after it died and was started again)."""
        return self._proc

    async def call(self, op: str, *args: Any, on: asyncio.subprocess.Process | None = None) -> Any:
        """``sync``, ``progress``, ``trim`` or ``prune``: the writer's ``Backlog.counts``.
        ``on``: that child only — None when it is not the child any more (it ended, or the
        client was closed), never another one started for it."""
        async with self._lock:
            if on is not None and (self._proc is not on or on.returncode is not None):
                return None
            proc = await self._ensure()
            return await self._exchange(proc, encode((op, args)))

    async def store(self, raws: list[Any]) -> Any:
        """Hand entries over (plain tuples): the writer's ``Backlog.counts`` — what it stored
        since its last answer, not necessarily these, which it may store later."""
        async with self._lock:
            proc = await self._ensure()
            return await self._exchange(proc, STORE + encode(raws))

    async def _exchange(self, proc: asyncio.subprocess.Process, data: bytes) -> Any:
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(_LEN.pack(len(data)))
            proc.stdin.write(data)
            await proc.stdin.drain()
            head = await proc.stdout.readexactly(_LEN.size)
            body = await proc.stdout.readexactly(_LEN.unpack(head)[0])
        except (OSError, asyncio.IncompleteReadError) as exc:
            self._kill(proc)
            raise WriterGone(f"ended: {exc!r}") from exc
        except BaseException:  # cancelled mid-call: the pipe is out of step, start afresh
            self._kill(proc)
            self.deaths += 1  # and what it held is lost: the journal counts it as dropped
            raise
        ok, value = decode(body)  # a private pipe to the child this process started
        if not ok:
            raise RuntimeError(f"journal writer: {value}")
        return value

    def _adopt(self, spawn: asyncio.Future[asyncio.subprocess.Process]) -> None:
        """A child whose start was cancelled: ended at the next ``_reap`` or ``close``."""
        if not spawn.cancelled() and spawn.exception() is None:
            self._ended.append(spawn.result())

    def _kill(self, proc: asyncio.subprocess.Process) -> None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        self._ended.append(proc)
        if self._proc is proc:
            self._proc = None

    async def _reap(self) -> None:
        """Wait for ended children and their pipes (so nothing is left to a closed loop)."""
        while self._ended:
            await _finish(self._ended.pop())

    async def close(self) -> None:
        """Close the child's stdin (it ends after what it holds) and wait for it."""
        async with self._lock:
            proc, self._proc = self._proc, None
            if proc is not None:
                await _finish(proc)
            await self._reap()


async def _finish(proc: asyncio.subprocess.Process, seconds: float = 10) -> None:
    """Close the child's stdin, read its stdout to the end and wait for it to exit; kill it
    when it takes longer than ``seconds``."""
    if proc.stdin is not None:
        proc.stdin.close()  # communicate() without input leaves stdin open (3.11)
    try:
        await asyncio.wait_for(proc.communicate(), seconds)
    except (TimeoutError, OSError, ValueError):
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(proc.communicate(), seconds)


# ---------------------------------------------------------------- in the writer process


class _Writer:
    def __init__(self) -> None:
        self.url = ""
        self.hooks: Any = {}
        self.max_body = 0
        self.db: Any = None
        self.chunk: int | None = CHUNK  # entries a transaction (None: all of a batch)
        self.trimmed_to: int | None = None  # PostgreSQL: the edge of the last count trim
        #: entries are held back while fewer processors than this are free (0: never) …
        self.hold_back_below: float | None = None
        #: … up to this many bytes of them
        self.hold_back_bytes = DEFER_BYTES

    def init(
        self,
        url: str,
        hooks: Any,
        max_body: int,
        hold_back_below: float | None,
        hold_back_bytes: int,
    ) -> None:
        self.url, self.hooks, self.max_body = url, hooks, max_body
        self.hold_back_below, self.hold_back_bytes = hold_back_below, hold_back_bytes
        self.db = open_database(url)
        self.chunk = CHUNK if self.db.dialect == "sqlite" else None
        if self.db.dialect == "sqlite":
            # Trimmed entries were redacted before they were stored; FAST still zeroes them on
            # every page the delete writes anyway and only skips rewriting whole freed pages
            # (a SECURE_DELETE build, e.g. Debian's, writes each page of trimmed entries to
            # the WAL twice: 0.7-1 µs of CPU per entry). This connection only.
            self.db.write_sync(lambda c: c.exec("PRAGMA secure_delete=FAST"))

    def store(self, raws: Sequence[Any]) -> tuple[int, int]:
        built, failed = build_rows(raws, self.hooks, self.max_body)
        self.insert(built)
        return len(built), failed

    def insert(self, built: Sequence[Sequence[Any]]) -> None:
        step = self.chunk or len(built) or 1  # short transactions on SQLite (``CHUNK``)
        for i in range(0, len(built), step):
            self.db.write_sync(rows.insert_entries, built[i : i + step])

    def trim(self, max_entries: int) -> int:
        if self.chunk is None:  # PostgreSQL: one DELETE, from the last edge on
            n, self.trimmed_to = self.db.write_sync(rows.trim_above, max_entries, self.trimmed_to)
            return int(n)
        total = 0
        while n := int(self.db.write_sync(rows.trim, max_entries, self.chunk)):
            total += n
        return total

    def prune(self, max_entries: int, older_than_us: int) -> int:
        n: int = self.db.write_sync(
            lambda c: rows.prune(c, max_entries=max_entries, older_than_us=older_than_us)
        )
        return n


class CpuProbe:
    """How many processors are free for us: the idle (and niced) time of the processors this
    process may run on (``/proc/stat``; only the lines of its CPU affinity when that is not
    every processor, as with ``docker --cpuset-cpus``) and this process's own CPU time, per
    second, over at least ``window`` seconds (the kernel counts in 10 ms ticks) — and, where
    the control group has a CPU quota (``docker --cpus``, a Kubernetes CPU limit; cgroup v2's
    ``cpu.max`` or v1's ``cpu.cfs_quota_us``), no more than the quota less what the group's
    other processes used (``Cgroup``): the host's idle processors are not ours to take.
    Where there is no ``/proc/stat`` (not Linux), or before two samples, infinitely many."""

    def __init__(
        self,
        path: str = "/proc/stat",
        window: float = 0.1,
        now: Callable[[], float] = time.monotonic,
        own: Callable[[], float] = lambda: sum(os.times()[:2]),
        cpus: set[int] | None = None,
        cgroup: Cgroup | None = None,
    ) -> None:
        self.path, self.window, self.now, self.own = path, window, now, own
        sysconf = getattr(os, "sysconf", None)  # not on Windows (nor /proc/stat: never read)
        self.tick = 1 / sysconf("SC_CLK_TCK") if sysconf is not None else 0.01
        #: the ``cpuN`` lines to add up; None: the first line, every processor's
        self.cpus = cpus
        self.cgroup = cgroup if cgroup is not None else Cgroup(None, None, False)
        self._last: tuple[float, float, float, float] | None = None  # at, idle, own, group
        self._free = math.inf

    @classmethod
    def here(cls, path: str = "/proc/stat") -> CpuProbe:
        """The probe for this process: its CPU affinity and its control group's quota."""
        return cls(path, cpus=_affinity(path), cgroup=Cgroup.own())

    def _idle(self) -> float:
        """Idle, waiting and niced (work that runs only where no other would) seconds."""
        with open(self.path, "rb") as f:
            if self.cpus is None:
                fields = [f.readline().split()]
            else:
                wanted = {b"cpu%d" % n for n in self.cpus}
                lines = (line.split() for line in f if line.startswith(b"cpu"))
                fields = [x for x in lines if x[0] in wanted]
                if not fields:
                    raise ValueError("none of the allowed processors in /proc/stat")
        # cpu user nice system idle iowait …
        return sum(int(x[2]) + int(x[4]) + int(x[5]) for x in fields) * self.tick

    def _sample(self) -> tuple[float, float, float, float] | None:
        try:
            idle = self._idle()
        except (OSError, IndexError, ValueError):
            return None
        used = self.cgroup.used() if self.cgroup.quota is not None else None
        return self.now(), idle, self.own(), math.nan if used is None else used

    @functools.cached_property
    def capacity(self) -> float:
        """The processors this process may use in all: its CPU quota, the processors of its
        affinity, or the machine's, whichever is fewest (fixed for the process's life)."""
        found = [float(len(self.cpus) if self.cpus else os.cpu_count() or 1)]
        if self.cgroup.quota is not None:
            found.append(self.cgroup.quota)
        return min(found)

    def busy(self, below: float | None = None) -> bool:
        """Fewer processors free than ``below``; by default (None) than ``SPARE_CORES``, or
        than half of ``capacity`` where that is less: a container allowed one processor (or
        a one-processor machine) never has a whole one free while its server runs at all,
        and would hold its entries for good."""
        if below is None:
            below = min(SPARE_CORES, self.capacity / 2)
        return self.free() < below

    def free(self) -> float:
        if self._last is not None and self.now() - self._last[0] < self.window:
            return self._free
        sample = self._sample()
        if sample is None:
            return math.inf
        if self._last is not None and sample[0] > self._last[0]:
            at, idle, own, group = (a - b for a, b in zip(sample, self._last, strict=True))
            # processor-seconds a second left to us: the idle ones, and those we used
            free = (idle + own) / at
            quota = self.cgroup.quota
            if quota is not None:
                # the group's quota, less what its other processes used (when known)
                others = 0.0 if math.isnan(group) else max(group - own, 0.0) / at
                free = min(free, quota - others)
            self._free = max(free, 0.0)
        self._last = sample
        return self._free


def _affinity(stat: str) -> set[int] | None:
    """The processors this process may run on, when not all of them (None: all, or unknown)."""
    getaffinity = getattr(os, "sched_getaffinity", None)
    if getaffinity is None:
        return None
    try:
        allowed = set(getaffinity(0))
        with open(stat, "rb") as f:
            present = sum(1 for line in f if line[:3] == b"cpu" and line[3:4].isdigit())
    except OSError:
        return None
    return allowed if 0 < len(allowed) < present else None


class Cgroup:
    """The CPU quota of this process's control group, in processors (None: no quota, or not
    found), and the CPU seconds the whole group has used. cgroup v2 (``cpu.max``,
    ``cpu.stat``'s ``usage_usec``) or v1 (``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``,
    ``cpuacct.usage``), found through ``/proc/self/cgroup`` under ``root``."""

    def __init__(self, quota: float | None, usage: Path | None, v2: bool) -> None:
        self.quota, self._usage, self._v2 = quota, usage, v2

    @classmethod
    def own(cls, root: str = "/sys/fs/cgroup", proc: str = "/proc/self/cgroup") -> Cgroup:
        try:
            return cls._find(Path(root), Path(proc).read_text())
        except (OSError, ValueError, ZeroDivisionError):
            return cls(None, None, False)

    @classmethod
    def _find(cls, base: Path, cgroups: str) -> Cgroup:
        groups: dict[str, str] = {}  # controller ("": cgroup v2) → the group's path
        for line in cgroups.splitlines():
            _, controllers, path = line.split(":", 2)
            for c in controllers.split(",") if controllers else [""]:
                groups[c] = path.strip("/")

        def where(mounts: Sequence[str], controller: str, name: str) -> Path | None:
            """The group's file ``name``: under the mount by the group's path, or at the
            mount itself (a container's own cgroup namespace mounts its group there)."""
            for mount in mounts:
                for d in (base / mount / groups[controller], base / mount):
                    if (d / name).exists():
                        return d / name
            return None

        if "" in groups and where([""], "", "cpu.max") is not None:  # v2
            # the group and each group above it (a systemd slice's ``CPUQuota=``) may have a
            # quota: the smallest binds, and its ``cpu.stat`` counts everything under it
            parts = [x for x in groups[""].split("/") if x]
            found: tuple[float, Path] | None = None
            for depth in range(len(parts), -1, -1):
                cpu_max = base.joinpath(*parts[:depth], "cpu.max")
                if not cpu_max.exists():
                    continue
                limit, period = cpu_max.read_text().split()[:2]
                if limit != "max" and (found is None or int(limit) / int(period) < found[0]):
                    found = (int(limit) / int(period), cpu_max.with_name("cpu.stat"))
            if found is None:
                return cls(None, None, True)
            return cls(found[0], found[1], True)
        if "cpu" in groups:  # v1; the controllers may be mounted together as cpu,cpuacct
            limits = where(["cpu", "cpu,cpuacct"], "cpu", "cpu.cfs_quota_us")
            if limits is not None:
                limit_us = int(limits.read_text())
                period_us = int(limits.with_name("cpu.cfs_period_us").read_text())
                quota = None if limit_us <= 0 else limit_us / period_us
                acct = "cpuacct" if "cpuacct" in groups else "cpu"
                usage = where(["cpuacct", "cpu,cpuacct"], acct, "cpuacct.usage")
                return cls(quota, usage, False)
        return cls(None, None, False)

    def used(self) -> float | None:
        """CPU seconds the group has used so far (None: cannot tell)."""
        if self._usage is None:
            return None
        try:
            text = self._usage.read_text()
            if self._v2:
                for line in text.splitlines():
                    key, _, value = line.partition(" ")
                    if key == "usage_usec":
                        return int(value) / 1e6
                return None
            return int(text) / 1e9
        except (OSError, ValueError):
            return None


class Backlog:
    """The writer's work, in the order it came: batches of entries to store (kept as the
    frames they came in, decoded only when stored) and trims and prunes. Stored at once while
    the machine has a processor to spare; while every processor is busy (a load test), held
    back — up to ``cap`` bytes of frames, past which the oldest is stored anyway — and stored
    when one is free, when its own server asks (``sync``: a journal read, a deletion, a stop)
    or when a read through any other server process on the database does (``tend``)."""

    def __init__(
        self,
        w: _Writer,
        busy: Callable[[], bool],
        cap: int | None = None,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.w = w
        self.busy = busy
        self._cap = cap  # None: the writer's ``hold_back_bytes``
        self.now = now
        self.todo: collections.deque[list[Any]] = collections.deque()
        self.held = 0  # bytes of the frames not decoded yet
        self.stored = 0  # entries stored since the last answer
        self.failed = 0  # entries that could not be built or stored since the last answer
        #: this writer's row in ``sandbox_journal_holds`` (migration c0007); host name and
        #: pid are not unique (containers with the host's name and their own PID namespaces)
        self.name = f"{socket.gethostname()[:100]}:{os.getpid()}:{os.urandom(6).hex()}"
        self.holding = False  # the row is there
        self.answered = 0  # the last read (``sync_gen``) it has stored everything for
        self.owing = 0  # a later read that asked; stored for once ``owed`` pieces of work are done
        self.owed = 0
        self.taken = 0  # pieces of work (batches, trims, prunes) given so far
        self.done = 0  # … and done
        self.looked_at = -POLL_SECONDS  # when it last looked at ``sync_gen``
        self.said_at = 0.0  # when the row last said it is alive

    def take(self, body: bytes) -> tuple[bool, Any]:
        """One frame from the server: its answer, sent at once (``counts``). A ``sync`` is
        answered once everything before it is stored when that is little (``SYNC_BYTES``);
        otherwise that work is owed, done between frames as if no processor were busy, and the
        server asks for ``progress`` until ``done`` reaches the ``taken`` of the answer."""
        if body[:1] == STORE:
            self.todo.append([STORE, body])
            self.taken += 1
            self.held += len(body)
            while self.held > self.cap:  # past the cap: the oldest first, then the answer
                self.step()  # (the server waits for it: the journal's pace again)
            return True, self.counts()
        op, args = decode(body)  # stdin: a private pipe from the server that started us
        if op == "sync":
            if self.held <= SYNC_BYTES:
                self.drain()
            else:
                self.owed = len(self.todo)
            return True, self.counts()
        if op == "progress":
            return True, self.counts()
        if op in ("trim", "prune"):
            self.todo.append([op, args])
            self.taken += 1
            return True, self.counts()
        if op == "init":
            self.w.init(*args)
            gc.freeze()  # what start-up made lives on: out of the collector's way
            return True, None
        raise ValueError(f"unknown operation {op!r}")

    def counts(self) -> tuple[int, int, int, int]:
        """(stored, failed) entries since the last answer; (done, taken) pieces of work so far."""
        counts = (self.stored, self.failed, self.done, self.taken)
        self.stored = self.failed = 0
        return counts

    @property
    def cap(self) -> int:
        return self.w.hold_back_bytes if self._cap is None else self._cap

    def due(self) -> bool:
        return bool(self.todo) and (self.owed > 0 or self.held > self.cap or not self.busy())

    def _done(self) -> None:
        self.todo.popleft()
        self.done += 1
        if self.owed:
            self.owed -= 1

    def step(self) -> None:
        """Do the oldest piece of work: one transaction's worth of entries, a trim or a prune."""
        head = self.todo[0]
        if head[0] == STORE:
            if isinstance(head[1], bytes):
                self.held -= len(head[1])
                try:
                    head[1] = list(decode(head[1][1:]))  # a private pipe, as above
                except Exception:  # a bug: this batch only, not the writer and all it holds
                    log.warning("a journal batch that cannot be decoded dropped", exc_info=True)
                    self._done()
                    return
            raws: list[Any] = head[1]
            take = self.w.chunk or len(raws)
            part, head[1] = raws[:take], raws[take:]
            if not head[1]:
                self._done()
            try:
                stored, failed = self.w.store(part)
            except Exception:
                log.warning("a journal batch of %d entries dropped", len(part), exc_info=True)
                stored, failed = 0, len(part)
            self.stored += stored
            self.failed += failed
            return
        self._done()
        try:
            getattr(self.w, head[0])(*head[1])
        except Exception:
            log.warning("journal %s failed", head[0], exc_info=True)

    def drain(self) -> None:
        while self.todo:
            self.step()
            if self.holding and self.now() - self.said_at >= ALIVE_SECONDS:
                self._say(self.answered)  # a long drain is not a writer gone

    def tend(self) -> None:
        """Between frames: while entries are held back, keep this writer's row, and store
        what it holds when a read through another server process asks (``sync_gen`` moved:
        the work held then becomes ``owed``, done between frames as if no processor were
        busy); once nothing is held back, remove the row. A few statements a second at most."""
        if not self.todo:
            self.owing = self.owed = 0
            if self.holding:
                self._db(rows.release, self.name)
                self.holding = False
            return
        if self.owing and not self.owed:  # what that read asked for is stored
            self.answered, self.owing = self.owing, 0
            self._say(self.answered)
        now = self.now()
        if now - self.looked_at < POLL_SECONDS:
            return
        self.looked_at = now
        if not self.holding:
            if self.busy():  # held back from now on: readers wait for this writer
                self._db(rows.forget_gone, GONE_ROW_US)
                self.answered = int(self._db(rows.sync_gen))
                self._say(self.answered)
                self.holding = True
            return
        if not self.owing:
            asked = int(self._db(rows.sync_gen))
            if asked > self.answered:
                self.owing, self.owed = asked, max(self.owed, len(self.todo))
                return
        if now - self.said_at >= ALIVE_SECONDS:
            self._say(self.answered)

    def _say(self, gen: int) -> None:
        self.said_at = self.now()
        self._db(rows.hold, self.name, gen)

    def _db(self, fn: Callable[..., Any], *args: Any) -> Any:
        return self.w.db.write_sync(fn, *args)


def _read(fd: int, n: int) -> bytes | None:
    """Exactly ``n`` bytes from ``fd`` (blocking), or None at its end."""
    parts = []
    while n:
        data = os.read(fd, min(n, 1 << 20))
        if not data:
            return None
        parts.append(data)
        n -= len(data)
    return b"".join(parts)


def main() -> None:
    logging.basicConfig(
        level=logging.WARNING, format="paysandbox journal writer: %(levelname)s %(message)s"
    )
    # A terminal's Ctrl-C reaches the whole process group: the writer ends when the server
    # closes its stdin (after the last flush), not on SIGINT (a traceback, and a batch lost)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    inp, out = sys.stdin.fileno(), sys.stdout.buffer
    w = _Writer()
    probe = CpuProbe.here()
    backlog = Backlog(w, lambda: probe.busy(w.hold_back_below))
    tend_failed = False
    while True:
        try:
            backlog.tend()
            tend_failed = False
        except Exception:  # the database refused: tried again at the next look
            if not tend_failed:
                log.warning("journal writer could not look at the journal's readers", exc_info=True)
            tend_failed = True
        if backlog.todo:  # work while there is a processor to spare, between frames
            if backlog.due():
                backlog.step()
                wait: float | None = 0
            else:
                wait = POLL_SECONDS
        else:
            wait = None
        if sys.platform == "win32":  # no select() on a pipe; nothing is held back there
            if wait == 0:  # (no /proc/stat): the work due is done before the next frame
                continue
        elif not select.select([inp], [], [], wait)[0]:
            continue
        head = _read(inp, _LEN.size)
        if head is None:
            break  # the server closed our stdin, or is gone
        (size,) = _LEN.unpack(head)
        body = _read(inp, size) if size <= MAX_FRAME else None
        if body is None:
            break
        try:
            answer = backlog.take(body)
        except Exception as exc:
            log.warning("journal writer failed", exc_info=True)
            answer = (False, f"{type(exc).__name__}: {exc}")
        data = encode(answer)
        try:
            out.write(_LEN.pack(len(data)) + data)
            out.flush()
        except OSError:  # the server is gone (killed, or forced out): nobody to answer
            break
    # what was handed over is stored, even when the server is gone (``kill -9``)
    with contextlib.suppress(Exception):
        backlog.drain()
        backlog.tend()
    if w.db is not None:
        with contextlib.suppress(Exception):
            w.db.close()


if __name__ == "__main__":
    main()
