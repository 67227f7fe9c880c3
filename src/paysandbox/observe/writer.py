"""The journal's writer process: where entries are parsed, redacted and stored.

Building an entry (parsing both bodies, finding the account and object ids, redacting) and
inserting it costs about as much as a cheap provider request (docs/design.md, "The request
journal"). So a serving process only hands the raw exchanges over: each ``Journal`` starts one
child, ``python -m paysandbox.observe.writer``, and talks to it over its stdin/stdout pipes from
the event loop (non-blocking writes, no helper thread: a thread in the serving process would
take the GIL from the loop on every hand-over, which measured costlier than the work itself).
The child builds the rows and writes them through its own connection to the same database,
then answers how many it stored; ``Journal.flush`` awaits that answer, so a journal read
through the API still sees every request answered before it.

Frames both ways: a 4-byte big-endian length, then the message: ``M`` and a ``marshal``
dump (the batches: plain tuples, bytes, strings; about twice as fast as pickle both ways), or
``P`` and a pickle (what marshal cannot carry: the providers' hooks sent at start). Both ends
are the same interpreter (``sys.executable``), so marshal's format is the same. Requests are
answered in order, one at a time. The child ends when its stdin closes — the server stopped,
or died (``kill -9`` included: the kernel closes the pipe). A child that dies is started again
for the next batch; the batch it held is counted as dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import marshal
import os
import pickle
import signal
import struct
import sys
from collections.abc import Sequence
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

    def configure(self, url: str, hooks: Any, max_body: int) -> None:
        """What every (re)started child is told first."""
        self._init = (url, hooks, max_body)

    async def start(self) -> None:
        async with self._lock:
            await self._ensure()

    async def _ensure(self) -> asyncio.subprocess.Process:
        if self._proc is not None:
            if self._proc.returncode is None:
                return self._proc
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
                await self._exchange(proc, ("init", self._init))
            except RuntimeError as exc:  # e.g. the database cannot be opened from there
                self._kill(proc)
                raise WriterGone(f"could not start: {exc}") from exc
        return proc

    async def call(self, op: str, *args: Any) -> Any:
        async with self._lock:
            proc = await self._ensure()
            return await self._exchange(proc, (op, args))

    async def _exchange(self, proc: asyncio.subprocess.Process, message: Any) -> Any:
        assert proc.stdin is not None and proc.stdout is not None
        data = encode(message)
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

    def init(self, url: str, hooks: Any, max_body: int) -> None:
        self.url, self.hooks, self.max_body = url, hooks, max_body
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


_OPS = frozenset({"init", "store", "trim", "prune"})


def _read(stream: Any, n: int) -> bytes | None:
    data = stream.read(n)
    return data if data and len(data) == n else None


def main() -> None:
    logging.basicConfig(
        level=logging.WARNING, format="paysandbox journal writer: %(levelname)s %(message)s"
    )
    # A terminal's Ctrl-C reaches the whole process group: the writer ends when the server
    # closes its stdin (after the last flush), not on SIGINT (a traceback, and a batch lost)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    w = _Writer()
    while True:
        head = _read(inp, _LEN.size)
        if head is None:
            break  # the server closed our stdin, or is gone
        (size,) = _LEN.unpack(head)
        body = _read(inp, size) if size <= MAX_FRAME else None
        if body is None:
            break
        op, args = decode(body)  # stdin: a private pipe from the server that started us
        if op not in _OPS:
            break
        try:
            answer: tuple[bool, Any] = (True, getattr(w, op)(*args))
            if op == "init":  # what start-up made lives on: out of the collector's way
                gc.freeze()
        except Exception as exc:
            log.warning("%s failed", op, exc_info=True)
            answer = (False, f"{type(exc).__name__}: {exc}")
        data = encode(answer)
        try:
            out.write(_LEN.pack(len(data)) + data)
            out.flush()
        except OSError:  # the server is gone (killed, or forced out): nobody to answer
            break
    if w.db is not None:
        with contextlib.suppress(Exception):
            w.db.close()


if __name__ == "__main__":
    main()
