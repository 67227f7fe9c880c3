"""The journal's writer process: started by the journal, restarted when it dies (its batch
counted as dropped), gone when the server is gone, kill -9 included."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx

from paysandbox.observe.journal import Journal, JournalSettings
from paysandbox.observe.metrics import Metrics
from paysandbox.providers.kplus.observe import OBSERVE as KPLUS
from paysandbox.store import observe as rows
from paysandbox.store.db import SqliteDatabase

from ..e2e.test_restart import _free_port, _start
from ..kplus.builders import creds, generate_body
from .test_core import _raw, _run


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(c) for c in text]
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        return ""


def _gone(pid: int, within: float = 15) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not _cmdline(pid):
            return True
        time.sleep(0.05)
    return False


def test_a_dead_writer_loses_its_batch_and_the_next_one_is_stored(
    journal_db: SqliteDatabase,
) -> None:
    db = journal_db
    metrics = Metrics()
    journal = Journal(db, JournalSettings(), metrics, {"kplus": KPLUS})
    assert journal.remote_url is not None

    async def scenario() -> tuple[int, int]:
        journal.start()
        journal.put(_raw(1))
        await journal.flush()
        proc = journal._writer._proc
        assert proc is not None
        first = proc.pid
        assert "paysandbox.observe.writer" in _cmdline(first)
        os.kill(first, signal.SIGKILL)
        await proc.wait()
        journal.put(_raw(2))
        await journal.flush()  # the writer is started again for this batch
        journal.put(_raw(3))
        await journal.flush()
        second = journal._writer._proc
        assert second is not None
        await journal.stop()
        return first, second.pid

    first, second = _run(scenario())
    assert first != second
    ids = [r["id"] for r in db.write_sync(rows.list_entries_all)]
    assert "req_1" in ids and "req_3" in ids
    # req_2 was either in the dead writer's pipe (dropped, counted) or stored by the new one
    assert ("req_2" in ids) != (journal.dropped == 1)
    assert metrics.journal_written._value.get() == len(ids)
    assert _gone(second)  # stop() ends the writer


def test_a_writer_that_cannot_open_the_database_leaves_the_journal_working(
    tmp_path: Any, journal_db: SqliteDatabase
) -> None:
    """The writer cannot open its database: at most one batch is dropped (counted), the rest
    is stored by the serving process itself."""
    db = journal_db
    journal = Journal(db, JournalSettings(), Metrics(), {"kplus": KPLUS})
    (tmp_path / "a-file").write_text("")
    journal._writer.configure(f"sqlite:///{tmp_path / 'a-file' / 'x.db'}", journal.hooks, 65536)

    async def scenario() -> None:
        journal.start()
        journal.put(_raw(1))
        await journal.flush()
        journal.put(_raw(2))
        await journal.flush()
        await journal.stop()

    _run(scenario())
    ids = [r["id"] for r in db.write_sync(rows.list_entries_all)]
    assert "req_2" in ids
    assert ("req_1" in ids) != (journal.dropped == 1)


def test_an_in_process_journal_starts_no_writer(journal_db: SqliteDatabase) -> None:
    db = journal_db
    journal = Journal(db, JournalSettings(writer_process=False), Metrics(), {"kplus": KPLUS})
    journal.put(_raw(1))

    async def scenario() -> None:
        journal.start()
        await journal.flush()
        assert journal._writer._proc is None
        await journal.stop()

    _run(scenario())
    assert [r["id"] for r in db.write_sync(rows.list_entries_all)] == ["req_1"]


def test_the_writer_ends_with_a_killed_server(fresh_db_url: str, tmp_path: Path) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _start(fresh_db_url, port, tmp_path)
    try:
        token = httpx.post(f"{base}/kplus/payment/generate-token", json=generate_body()).json()
        r = httpx.post(f"{base}/kplus/payment/inquire-token", json=creds(tokenId=token["tokenId"]))
        rid = r.headers["x-sandbox-request-id"]
        entry = httpx.get(f"{base}/_sandbox/requests/{rid}").json()  # stored by the writer
        assert entry["route"] == "/kplus/payment/inquire-token"
        assert "7da57c4eb242435fa3e91bb7a69e2a28" not in str(entry)
        writers = [c for c in _children(proc.pid) if "observe.writer" in _cmdline(c)]
        assert len(writers) == 1
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert _gone(writers[0]), "the journal writer outlived its server"


def test_a_stopping_journal_keeps_every_entry_it_was_given(journal_db: SqliteDatabase) -> None:
    """stop() never cuts a batch in flight: whatever the writer was doing, all entries land."""
    db = journal_db
    journal = Journal(db, JournalSettings(flush_seconds=0.01), Metrics(), {"kplus": KPLUS})

    async def scenario() -> None:
        journal.start()
        for i in range(3_000):
            journal.put(_raw(i))
            if i % 500 == 0:
                await asyncio.sleep(0.01)  # the background flush is under way now and then
        await journal.stop()

    _run(scenario())
    assert len(db.write_sync(rows.list_entries_all)) == 3_000
    assert journal.dropped == 0


def test_a_writer_whose_server_is_gone_ends_quietly(fresh_db_url: str) -> None:
    """The server went away (killed, or forced out by a second Ctrl-C) while the writer was
    storing a batch: the answer finds no reader, and the writer ends without a traceback."""
    import subprocess
    import sys

    from paysandbox.observe import writer
    from paysandbox.observe.entries import hooks_of
    from paysandbox.store import migrate

    migrate.upgrade(fresh_db_url)
    frames = b""
    for message in (
        ("init", (fresh_db_url, {"kplus": hooks_of(KPLUS)}, 1000)),
        ("store", ([tuple(_raw(1))],)),
    ):
        data = writer.encode(message)
        frames += len(data).to_bytes(4, "big") + data
    env = {**os.environ, "PYTHONPATH": str(Path(writer.__file__).resolve().parents[2])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "paysandbox.observe.writer"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # nobody will read the answers
    proc.stdin.write(frames)
    proc.stdin.close()
    assert proc.wait(timeout=30) == 0
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert "Traceback" not in err, err
    assert err == ""


def test_a_read_waits_for_a_stopped_writer_only_so_long(journal_db: SqliteDatabase) -> None:
    """A writer that hangs (here: stopped) must not hang journal reads: ``settle`` gives up
    after its wait and says so; the entries are stored once the writer goes on."""
    db = journal_db
    journal = Journal(db, JournalSettings(), Metrics(), {"kplus": KPLUS})

    async def scenario() -> tuple[bool, float, bool, bool]:
        journal.start()
        journal.put(_raw(1))
        assert await journal.settle()
        proc = journal._writer._proc
        assert proc is not None
        os.kill(proc.pid, signal.SIGSTOP)
        try:
            journal.put(_raw(2))
            started = time.monotonic()
            stopped = await journal.settle(0.5)
            waited = time.monotonic() - started
        finally:
            os.kill(proc.pid, signal.SIGCONT)
        again = await journal.settle(10)
        stored = "req_2" in [r["id"] for r in db.write_sync(rows.list_entries_all)]
        await journal.stop()
        return stopped, waited, again, stored

    stopped, waited, again, stored = _run(scenario())
    assert stopped is False and 0.4 < waited < 5
    assert again is True and stored
