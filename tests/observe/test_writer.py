"""The journal's writer process: started by the journal, restarted when it dies (its batch
counted as dropped), gone when the server is gone, kill -9 included."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from paysandbox.core import clock
from paysandbox.core.clock import real_now_us
from paysandbox.observe import writer
from paysandbox.observe.entries import hooks_of
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
    journal._writer.configure(
        f"sqlite:///{tmp_path / 'a-file' / 'x.db'}", journal.hooks, 65536, 0.5, 1 << 20
    )

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


def test_a_flush_waits_for_a_large_held_back_backlog(journal_db: SqliteDatabase) -> None:
    """A writer that holds everything back (below 4,096 free processors: always) and more than
    ``SYNC_BYTES`` of it: ``flush`` still returns only once all of it is stored — asking for
    ``progress`` while the writer works through it between frames."""
    db = journal_db
    settings = JournalSettings(hold_back_below=4096, queue_size=20_000, max_entries=20_000)
    journal = Journal(db, settings, Metrics(), {"kplus": KPLUS})
    calls: list[str] = []

    async def scenario() -> int:
        journal.start()
        call = journal._writer.call

        async def counted(op: str, *args: Any, **kw: Any) -> Any:
            if not journal._lock.locked():  # flush's own polling (the turn's is under it)
                calls.append(op)
            return await call(op, *args, **kw)

        journal._writer.call = counted  # type: ignore[method-assign]
        pad = b'{"partnerId":"P1","tokenId":"T1","note":"' + b"x" * 1000
        await _handed_over(journal, range(12_000), pad)  # 14 MB in all, without a sync
        await journal.flush()
        stored = len(db.write_sync(rows.list_entries_all))
        await journal.stop()
        return stored

    assert _run(scenario()) == 12_000
    assert "progress" in calls  # the backlog was past SYNC_BYTES: owed, not drained inline
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
    for data in (
        writer.encode(("init", (fresh_db_url, {"kplus": hooks_of(KPLUS)}, 1000, 0.5, 1 << 20))),
        writer.STORE + writer.encode([tuple(_raw(1))]),
        writer.encode(("sync", ())),
    ):
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


# ------------------------------------------------ the writer's backlog, directly (no process)


def _backlog(db: SqliteDatabase, busy: list[bool], cap: int | None = None) -> Any:
    w = writer._Writer()
    w.init(db.url, {"kplus": hooks_of(KPLUS)}, 65536, 0.5, 1 << 20)
    return writer.Backlog(w, lambda: busy[0], cap, now=lambda: CLOCK[0])


CLOCK = [0.0]  # the backlog's monotonic clock in these tests


def _stored(db: SqliteDatabase) -> list[str]:
    return sorted(r["id"] for r in db.write_sync(rows.list_entries_all))


def _frame(*numbers: int) -> bytes:
    return writer.STORE + writer.encode([tuple(_raw(i)) for i in numbers])


def test_a_busy_machine_holds_entries_back_until_a_sync(journal_db: SqliteDatabase) -> None:
    """Every processor busy: a batch is answered at once and stored later — at the server's
    ``sync`` (a journal read), whose answer counts it."""
    busy = [True]
    backlog = _backlog(journal_db, busy)
    assert backlog.take(_frame(1, 2)) == (True, (0, 0, 0, 1))  # (stored, failed, done, taken)
    assert backlog.take(_frame(3)) == (True, (0, 0, 0, 2))
    assert not backlog.due() and _stored(journal_db) == []
    assert backlog.held > 0
    assert backlog.take(writer.encode(("sync", ()))) == (True, (3, 0, 2, 2))
    assert _stored(journal_db) == ["req_1", "req_2", "req_3"]
    assert backlog.held == 0 and not backlog.todo


def test_a_large_backlog_is_owed_to_a_sync_not_stored_before_its_answer(
    journal_db: SqliteDatabase,
) -> None:
    """Past ``SYNC_BYTES`` held back, a ``sync`` is answered at once and the work before it is
    done between frames (the server's hand-overs go on meanwhile) — the server asks for
    ``progress`` until ``done`` reaches the sync's ``taken``."""
    busy = [True]
    backlog = _backlog(journal_db, busy)
    big = _frame(*range(3))
    backlog.take(big)
    backlog.take(_frame(3))
    saved, writer.SYNC_BYTES = writer.SYNC_BYTES, len(big)
    try:
        assert backlog.take(writer.encode(("sync", ()))) == (True, (0, 0, 0, 2))
    finally:
        writer.SYNC_BYTES = saved
    assert backlog.owed == 2 and backlog.due()  # although every processor is busy
    assert backlog.take(_frame(4)) == (True, (0, 0, 0, 3))  # answered while it is owed
    backlog.step()
    assert backlog.take(writer.encode(("progress", ()))) == (True, (3, 0, 1, 3))
    backlog.step()
    assert backlog.take(writer.encode(("progress", ()))) == (True, (1, 0, 2, 3))
    assert not backlog.due() and _stored(journal_db) == [f"req_{i}" for i in range(4)]


def test_a_free_processor_lets_the_backlog_be_stored(journal_db: SqliteDatabase) -> None:
    busy = [True]
    backlog = _backlog(journal_db, busy)
    backlog.take(_frame(1))
    busy[0] = False
    assert backlog.due()
    backlog.step()
    assert _stored(journal_db) == ["req_1"]
    assert not backlog.due()
    assert backlog.take(_frame(2)) == (True, (1, 0, 1, 2))  # stored since the last answer


def test_past_its_cap_the_oldest_is_stored_anyway(journal_db: SqliteDatabase) -> None:
    busy = [True]
    first = _frame(1)
    backlog = _backlog(journal_db, busy, cap=len(first))
    backlog.take(first)
    assert not backlog.due()  # at the cap, not past it
    # past it: the oldest is stored before the answer, which counts it
    assert backlog.take(_frame(2)) == (True, (1, 0, 1, 2))
    assert _stored(journal_db) == ["req_1"] and not backlog.due()


def test_trims_keep_their_place_among_held_entries(journal_db: SqliteDatabase) -> None:
    """A trim asked for after some entries runs after they are stored, never before (it
    would leave the table past its cap), and entries given after it are not trimmed."""
    busy = [True]
    backlog = _backlog(journal_db, busy)
    backlog.take(_frame(*range(10)))
    backlog.take(writer.encode(("trim", (4,))))
    backlog.take(_frame(10, 11))
    assert _stored(journal_db) == []
    backlog.take(writer.encode(("sync", ())))
    assert len(_stored(journal_db)) == 6
    assert {"req_10", "req_11"} <= set(_stored(journal_db))


def test_an_entry_that_cannot_be_built_is_counted_not_fatal(journal_db: SqliteDatabase) -> None:
    busy = [True]
    backlog = _backlog(journal_db, busy)
    backlog.take(writer.STORE + writer.encode([tuple(_raw(1)._replace(provider="nobody"))]))
    backlog.take(_frame(2))
    assert backlog.take(writer.encode(("sync", ()))) == (True, (1, 1, 2, 2))
    assert _stored(journal_db) == ["req_2"]


def test_what_a_writer_holds_is_stored_when_its_server_is_gone(fresh_db_url: str) -> None:
    """The server ends (``kill -9`` closes the pipe) while the writer holds entries it has
    not stored: it stores them before it ends."""
    import subprocess
    import sys

    from paysandbox.store import migrate

    migrate.upgrade(fresh_db_url)
    frames = b""
    for data in (
        writer.encode(("init", (fresh_db_url, {"kplus": hooks_of(KPLUS)}, 1000, 0.5, 1 << 20))),
        _frame(*range(500)),
        _frame(500),
    ):
        frames += len(data).to_bytes(4, "big") + data
    env = {**os.environ, "PYTHONPATH": str(Path(writer.__file__).resolve().parents[2])}
    proc = subprocess.run(
        [sys.executable, "-m", "paysandbox.observe.writer"],
        input=frames,
        capture_output=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0 and proc.stderr == b""
    from paysandbox.store.db import open_database

    db = open_database(fresh_db_url)
    try:
        assert len(db.write_sync(rows.list_entries_all)) == 501
    finally:
        db.close()


def _stat(path: Path, idle_ticks: int, nice_ticks: int = 0) -> None:
    path.write_text(f"cpu  100 {nice_ticks} 50 {idle_ticks} 0 0 0 0 0 0\ncpu0 1 2 3 4 5\n")


def test_the_probe_reads_free_processors_from_proc_stat(tmp_path: Path) -> None:
    """Idle and niced processor time per second, our own CPU time counted as free (the
    writer's own work must not keep it from working)."""
    stat = tmp_path / "stat"
    clock, own = [0.0], [0.0]
    tick = 1 / os.sysconf("SC_CLK_TCK")
    probe = writer.CpuProbe(str(stat), 0.1, lambda: clock[0], lambda: own[0])
    _stat(stat, 0)
    assert probe.free() == math.inf  # one sample says nothing yet
    clock[0] = 1.0
    _stat(stat, round(0.2 / tick))  # 0.2 s idle in 1 s
    assert probe.free() == pytest.approx(0.2)
    clock[0] = 1.05
    _stat(stat, round(5 / tick))
    assert probe.free() == pytest.approx(0.2)  # within its window: the last answer
    clock[0] = 2.0
    own[0] = 0.4  # our own 0.4 s beside 5 s idle since the last sample (at 1.0)
    _stat(stat, round(5.2 / tick))
    assert probe.free() == pytest.approx(5.4)
    clock[0] = 3.0
    _stat(stat, round(5.2 / tick), nice_ticks=round(0.9 / tick))  # a niced process ran
    assert probe.free() == pytest.approx(0.9)
    clock[0] = 4.0
    _stat(stat, round(5.3 / tick), nice_ticks=round(0.9 / tick))
    assert probe.free() == pytest.approx(0.1)
    assert writer.CpuProbe(str(tmp_path / "none")).free() == math.inf  # not Linux: all free


def test_in_a_control_group_with_a_cpu_quota_only_the_quota_counts(tmp_path: Path) -> None:
    """``docker --cpus 1`` on a host with idle processors: what the group's other processes
    use comes out of the quota, whatever the host has idle — the writer holds back while the
    container's own processor is busy. Our own time still counts as free."""
    stat, usage = tmp_path / "stat", tmp_path / "cpu.stat"
    clock, own = [0.0], [0.0]
    tick = 1 / os.sysconf("SC_CLK_TCK")
    group = writer.Cgroup(1.0, usage, True)
    probe = writer.CpuProbe(str(stat), 0.1, lambda: clock[0], lambda: own[0], cgroup=group)
    usage.write_text("usage_usec 0\nuser_usec 0\n")
    _stat(stat, 0)
    probe.free()
    clock[0], own[0] = 1.0, 0.1
    usage.write_text("usage_usec 950000\nuser_usec 0\n")  # 0.95 s: 0.85 the others', 0.1 ours
    _stat(stat, round(6 / tick))  # the host: six processors idle all along
    assert probe.free() == pytest.approx(0.15)
    clock[0] = 2.0
    usage.write_text("usage_usec 1150000\n")  # then 0.2 s of the others' in a second
    _stat(stat, round(12 / tick))
    assert probe.free() == pytest.approx(0.8)
    clock[0] = 3.0
    usage.write_text("usage_usec 1150000\n")  # the group idle, the host all busy
    _stat(stat, round(12.3 / tick))
    assert probe.free() == pytest.approx(0.3)


def test_a_cpu_quota_still_bounds_what_is_free_when_the_group_usage_is_unknown(
    tmp_path: Path,
) -> None:
    """A quota found but not the group's usage (no ``cpuacct.usage`` where it is looked for,
    or ``cpu.stat`` unreadable): the host's idle processors are still not ours, so no more
    than the quota is free."""
    stat = tmp_path / "stat"
    clock = [0.0]
    tick = 1 / os.sysconf("SC_CLK_TCK")
    for usage in (None, tmp_path / "missing"):
        probe = writer.CpuProbe(
            str(stat), 0.1, lambda: clock[0], lambda: 0.0, cgroup=writer.Cgroup(0.5, usage, True)
        )
        clock[0] = 0.0
        _stat(stat, 0)
        probe.free()
        clock[0] = 1.0
        _stat(stat, round(6 / tick))  # the host: six processors idle
        assert probe.free() == pytest.approx(0.5)


def test_with_one_processor_allowed_the_writer_holds_back_below_half_of_it(
    tmp_path: Path,
) -> None:
    """``docker --cpus 1``: the group never has a whole processor free while its server runs
    at all (the review found ``free`` at 0.998 with the server idle), so at the default
    threshold of one processor the writer held its entries for good. Busy is below half of
    what the process may use when that is less than the threshold."""
    stat, usage = tmp_path / "stat", tmp_path / "cpu.stat"
    clock = [0.0]
    tick = 1 / os.sysconf("SC_CLK_TCK")
    group = writer.Cgroup(1.0, usage, True)
    probe = writer.CpuProbe(str(stat), 0.1, lambda: clock[0], lambda: 0.0, cgroup=group)
    assert probe.capacity == 1.0
    usage.write_text("usage_usec 0\n")
    _stat(stat, 0)
    probe.free()
    clock[0] = 1.0
    usage.write_text("usage_usec 2000\n")  # the server, idle but for 2 ms
    _stat(stat, round(6 / tick))
    assert probe.free() == pytest.approx(0.998)
    assert not probe.busy()  # it was busy before: 0.998 < 1.0
    assert probe.busy(1.0)  # (a threshold set in the configuration is taken as it is)
    clock[0] = 2.0
    usage.write_text("usage_usec 602000\n")  # a load test: 0.6 of the one processor
    _stat(stat, round(12 / tick))
    assert probe.busy()
    assert not probe.busy(0)  # 0: never hold back
    two = writer.CpuProbe(str(stat), cpus={0, 1})
    assert two.capacity == 2.0  # two processors: the threshold itself, one processor


def test_only_the_processors_of_our_affinity_count(tmp_path: Path) -> None:
    """``docker --cpuset-cpus 1``: the idle time of the processors we may not run on is not
    free for us."""
    stat = tmp_path / "stat"
    clock = [0.0]
    probe = writer.CpuProbe(str(stat), 0.1, lambda: clock[0], lambda: 0.0, cpus={1})
    tick = 1 / os.sysconf("SC_CLK_TCK")

    def write(idle0: float, idle1: float) -> None:
        t0, t1 = round(idle0 / tick), round(idle1 / tick)
        stat.write_text(
            f"cpu  9 0 9 {t0 + t1} 0 0 0 0 0 0\n"
            f"cpu0 5 0 5 {t0} 0 0 0 0 0 0\ncpu1 4 0 4 {t1} 0 0 0 0 0 0\nintr 1 2 3\n"
        )

    write(0, 0)
    probe.free()
    clock[0] = 1.0
    write(1.0, 0.1)  # processor 0 idle, ours (1) busy
    assert probe.free() == pytest.approx(0.1)


def test_the_control_group_is_found_for_cgroup_v2_and_v1(tmp_path: Path) -> None:
    """Where ``/proc/self/cgroup`` says the process is, the quota and the usage of the group."""
    v2 = tmp_path / "v2"
    (v2 / "docker" / "abc").mkdir(parents=True)
    (v2 / "docker" / "abc" / "cpu.max").write_text("150000 100000\n")
    (v2 / "docker" / "abc" / "cpu.stat").write_text("usage_usec 2500000\nuser_usec 1\n")
    proc = tmp_path / "cgroup2"
    proc.write_text("0::/docker/abc\n")
    group = writer.Cgroup.own(str(v2), str(proc))
    assert group.quota == pytest.approx(1.5) and group.used() == pytest.approx(2.5)
    (v2 / "docker" / "abc" / "cpu.max").write_text("max 100000\n")
    assert writer.Cgroup.own(str(v2), str(proc)).quota is None

    v1 = tmp_path / "v1"
    (v1 / "cpu,cpuacct" / "k8s" / "pod").mkdir(parents=True)
    here = v1 / "cpu,cpuacct" / "k8s" / "pod"
    (here / "cpu.cfs_quota_us").write_text("50000\n")
    (here / "cpu.cfs_period_us").write_text("100000\n")
    (here / "cpuacct.usage").write_text("3000000000\n")
    proc.write_text("5:memory:/k8s/pod\n3:cpu,cpuacct:/k8s/pod\n1:name=systemd:/\n")
    group = writer.Cgroup.own(str(v1), str(proc))
    assert group.quota == pytest.approx(0.5) and group.used() == pytest.approx(3.0)
    (here / "cpu.cfs_quota_us").write_text("-1\n")
    assert writer.Cgroup.own(str(v1), str(proc)).quota is None
    assert writer.Cgroup.own(str(v1), str(tmp_path / "none")).quota is None  # not Linux

    # in a container with a cgroup namespace of its own, /proc/self/cgroup may name the
    # host's path while the mount holds the container's group itself
    inside = tmp_path / "inside"
    inside.mkdir()
    (inside / "cpu.max").write_text("200000 100000\n")
    (inside / "cpu.stat").write_text("usage_usec 1000\n")
    proc.write_text("0::/docker/abc\n")
    group = writer.Cgroup.own(str(inside), str(proc))
    assert group.quota == pytest.approx(2.0) and group.used() == pytest.approx(0.001)
    proc.write_text("not a cgroup line\n")
    assert writer.Cgroup.own(str(inside), str(proc)).quota is None

    # a quota on a group above ours (a systemd slice's CPUQuota=) binds it too: the smallest
    # one, with the usage of everything under that group
    tree = tmp_path / "tree"
    (tree / "app.slice" / "sandbox.service").mkdir(parents=True)
    (tree / "cpu.stat").write_text("usage_usec 9000000\n")  # the root: no cpu.max
    (tree / "app.slice" / "cpu.max").write_text("50000 100000\n")
    (tree / "app.slice" / "cpu.stat").write_text("usage_usec 4000000\n")
    (tree / "app.slice" / "sandbox.service" / "cpu.max").write_text("max 100000\n")
    (tree / "app.slice" / "sandbox.service" / "cpu.stat").write_text("usage_usec 1000000\n")
    proc.write_text("0::/app.slice/sandbox.service\n")
    group = writer.Cgroup.own(str(tree), str(proc))
    assert group.quota == pytest.approx(0.5) and group.used() == pytest.approx(4.0)
    (tree / "app.slice" / "sandbox.service" / "cpu.max").write_text("20000 100000\n")
    group = writer.Cgroup.own(str(tree), str(proc))
    assert group.quota == pytest.approx(0.2) and group.used() == pytest.approx(1.0)


def _holders(db: SqliteDatabase) -> list[Any]:
    return [dict(r) for r in db.write_sync(lambda c: c.all("SELECT * FROM sandbox_journal_holds"))]


def test_a_holding_writer_keeps_a_row_and_stores_when_a_read_asks(
    journal_db: SqliteDatabase,
) -> None:
    """What a read through another server process sees: the holder's row, behind the read's
    ``gen`` until it has stored what it held then; entries handed over after the read are
    not owed to it; once nothing is held, the row goes."""
    busy = [True]
    CLOCK[0] = 100.0
    backlog = _backlog(journal_db, busy)
    backlog.take(_frame(1, 2))
    backlog.tend()
    (row,) = _holders(journal_db)
    assert row["gen"] == 0 and not backlog.due()
    asked = journal_db.write_sync(rows.ask_holders)  # a read, elsewhere
    assert journal_db.write_sync(rows.behind, asked, 1 << 40) == 1
    backlog.tend()  # within POLL_SECONDS of the last look: not yet
    assert backlog.owed == 0
    CLOCK[0] += 2 * writer.POLL_SECONDS
    backlog.tend()
    assert backlog.owed == 1 and backlog.due()  # owed: stored although every processor is busy
    backlog.take(_frame(3))  # after the read asked: not owed to it
    backlog.step()
    backlog.tend()
    assert _stored(journal_db) == ["req_1", "req_2"]
    assert journal_db.write_sync(rows.behind, asked, 1 << 40) == 0  # the read may go ahead
    assert not backlog.due() and _holders(journal_db)[0]["gen"] == asked
    busy[0] = False
    backlog.step()
    backlog.tend()
    assert _holders(journal_db) == [] and _stored(journal_db) == ["req_1", "req_2", "req_3"]


def test_a_writer_with_a_processor_to_spare_keeps_no_row(journal_db: SqliteDatabase) -> None:
    backlog = _backlog(journal_db, [False])
    backlog.take(_frame(1))
    backlog.tend()
    assert _holders(journal_db) == [] and backlog.due()


def test_a_read_waits_for_what_another_process_s_writer_holds_back(
    journal_db: SqliteDatabase,
) -> None:
    """Two server processes on one database: B's writer holds entries back (here: it holds
    back below 4,096 free processors, i.e. always); a read through A sees them, and the
    deletion through A leaves none of them to come back."""
    db = journal_db
    a = Journal(db, JournalSettings(), Metrics(), {"kplus": KPLUS})
    b = Journal(db, JournalSettings(hold_back_below=4096), Metrics(), {"kplus": KPLUS})

    async def scenario() -> tuple[list[str], bool, list[str]]:
        a.start()
        b.start()
        n = 0
        deadline = time.monotonic() + 20
        while not _holders(db):  # the probe's first sample says nothing: a few batches
            assert time.monotonic() < deadline, "B's writer never held an entry back"
            b.put(_raw(n))
            n += 1
            async with b._lock:
                await b._flush()  # handed over, no sync
            await asyncio.sleep(0.05)
        held = {f"req_{i}" for i in range(n)} - set(_stored(db))
        complete = await a.settle()
        after = _stored(db)
        b.put(_raw(1000))
        async with b._lock:
            await b._flush()
        while not _holders(db):
            assert time.monotonic() < deadline + 20
            await asyncio.sleep(0.01)
        await a.everywhere(10)
        deleted = await db.write(rows.delete_entries)
        assert deleted >= 1
        await b.stop()
        await a.stop()
        return sorted(held), complete, after

    held, complete, after = _run(scenario())
    assert held  # B held some back
    assert complete is True and set(held) <= set(after)
    assert _stored(db) == []  # nothing came back after the deletion


# ------------------------------------------------ review: defects found in holding back


async def _handed_over(journal: Journal, numbers: range, pad: bytes = b"") -> None:
    """Hand entries over without a sync, a batch at a time (the writer holds them back once
    its probe has two samples: ``hold_back_below=4096``)."""
    for i in numbers:
        raw = _raw(i)
        if pad:
            raw = raw._replace(request_body=pad + b'%d"}' % i)
        journal.put(raw)
        if i % 2_000 == 0 or i == numbers[-1]:
            async with journal._lock:
                await journal._flush()
            await asyncio.sleep(0.15)  # the probe's window


async def _until_held(journal: Journal, who: str = "the writer") -> int:
    """Hand entries over, ten at a time, until the writer holds some back; how many it was
    given."""
    deadline = time.monotonic() + 20
    n = 0
    while journal._held == 0:
        assert time.monotonic() < deadline, f"{who} never held an entry back"
        await _handed_over(journal, range(n, n + 10))
        n += 10
    return n


def test_a_second_flush_waits_for_a_backlog_another_flush_owes(
    journal_db: SqliteDatabase,
) -> None:
    """Two reads at once: the first one's ``sync`` found more than ``SYNC_BYTES`` held back
    and is polling ``progress``; a second flush (a second read, or ``stop``) that hands
    nothing new over must wait for that backlog too, not return before it is stored."""
    db = journal_db
    settings = JournalSettings(hold_back_below=4096, queue_size=20_000, max_entries=20_000)
    journal = Journal(db, settings, Metrics(), {"kplus": KPLUS})
    seen: list[int] = []

    async def scenario() -> None:
        journal.start()
        call = journal._writer.call

        async def second_read_meanwhile(op: str, *args: Any, **kw: Any) -> Any:
            # the first flush's polling (outside the lock; the background turn also asks
            # for progress, under it)
            if op == "progress" and not seen and not journal._lock.locked():
                seen.append(-1)
                await journal.flush()  # another read, while the first one polls
                seen[0] = len(db.write_sync(rows.list_entries_all))
            return await call(op, *args, **kw)

        journal._writer.call = second_read_meanwhile  # type: ignore[method-assign]
        pad = b'{"partnerId":"P1","tokenId":"T1","note":"' + b"x" * 1000
        await _handed_over(journal, range(6_000), pad)  # ~7 MB: past SYNC_BYTES
        await journal.flush()
        await journal.stop()

    _run(scenario())
    assert seen, "the first flush never polled: nothing was owed"
    assert seen[0] == 6_000  # what the second flush returned after
    assert journal.dropped == 0


def test_entries_held_by_a_writer_that_died_between_calls_are_counted_dropped(
    journal_db: SqliteDatabase,
) -> None:
    """The writer dies (OOM-killed, kill -9) while it holds entries back and no call is under
    way: the next call starts another, and the entries the dead one held are counted as
    dropped (the module's docstring), not left in ``_held`` forever."""
    db = journal_db
    metrics = Metrics()
    journal = Journal(db, JournalSettings(hold_back_below=4096), metrics, {"kplus": KPLUS})

    async def scenario() -> int:
        journal.start()
        await _until_held(journal)
        held = journal._held
        proc = journal._writer.proc
        assert proc is not None
        os.kill(proc.pid, signal.SIGKILL)
        await proc.wait()
        journal.put(_raw(10_000))
        await journal.flush()  # another writer, started for this batch
        await journal.stop()
        return held

    held = _run(scenario())
    stored = len(db.write_sync(rows.list_entries_all))
    assert journal.dropped == held
    assert metrics.journal_dropped._value.get() == held
    assert journal._held == 0
    assert metrics.journal_written._value.get() == stored


def test_entries_held_by_a_writer_whose_call_was_cancelled_are_counted_dropped(
    journal_db: SqliteDatabase,
) -> None:
    """A call cancelled mid-exchange (a read's handler cancelled while its flush waits)
    kills the writer, the pipe being out of step: what it held is counted as dropped."""
    db = journal_db
    # no background turn: its own progress call could be the one caught by the SIGSTOP
    settings = JournalSettings(hold_back_below=4096, flush_seconds=3600)
    journal = Journal(db, settings, Metrics(), {"kplus": KPLUS})

    async def scenario() -> int:
        journal.start()
        await _until_held(journal)
        held = journal._held
        proc = journal._writer.proc
        assert proc is not None
        os.kill(proc.pid, signal.SIGSTOP)  # the call below waits for its answer
        try:
            call = asyncio.ensure_future(journal._call("progress"))
            await asyncio.sleep(0.3)
            call.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await call
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGCONT)
        journal.put(_raw(10_000))
        await journal.flush()  # another writer
        await journal.stop()
        return held

    held = _run(scenario())
    assert journal.dropped == held and journal._held == 0
    assert "req_10000" in _stored(db)


def test_rows_of_long_gone_writers_are_forgotten(journal_db: SqliteDatabase) -> None:
    """Each writer's row has a name of its own, so rows of writers killed with their servers
    would pile up: the next writer that starts holding entries back deletes those not seen
    for ``GONE_ROW_US``; a recent one (maybe alive) stays."""
    db = journal_db
    db.write_sync(
        lambda c: c.exec(
            "INSERT INTO sandbox_journal_holds (writer, gen, seen_us) VALUES "
            "('old', 0, 1), ('recent', 0, ?)",
            real_now_us() - 1_000_000,
        )
    )
    backlog = _backlog(db, [True])
    backlog.take(_frame(1))
    backlog.tend()
    names = sorted(r["writer"] for r in _holders(db))
    assert "old" not in names and "recent" in names and len(names) == 2


def test_past_its_cap_a_hand_over_is_answered_only_once_the_oldest_are_stored(
    journal_db: SqliteDatabase,
) -> None:
    """The cap bounds memory: a writer past it stores the oldest before it answers a new
    batch (its server waits: the journal's pace). Storing one piece of work between two
    frames, as ``main`` does while it is due, is not a bound when batches come faster than
    that (2,000 entries a frame against 100 a step on SQLite)."""
    busy = [True]
    backlog = _backlog(journal_db, busy, cap=2 * len(_frame(*range(300))))
    most = 0
    for i in range(20):
        if backlog.due():  # main(): one piece of work between two frames
            backlog.step()
        backlog.take(_frame(*range(300 * i, 300 * (i + 1))))
        most = max(most, backlog.held)
    assert most <= backlog.cap, f"{most} bytes held, {most / backlog.cap:.1f} times the cap"
    backlog.take(writer.encode(("sync", ())))
    assert len(_stored(journal_db)) == 6_000


def test_two_holding_writers_with_one_host_name_and_pid_keep_two_rows(
    journal_db: SqliteDatabase,
) -> None:
    """Two containers on one database with the same host name (``--network host``) and
    their own PID namespaces: their writers can have the same pid. Each keeps its own row —
    one that stored all it held and removed its row must not remove the other's, or reads
    stop waiting for entries the other still holds."""
    busy = [True]
    CLOCK[0] = 200.0
    one, two = _backlog(journal_db, busy), _backlog(journal_db, busy)
    one.take(_frame(1))
    two.take(_frame(2))
    one.tend()
    two.tend()
    assert journal_db.write_sync(rows.behind, 1 << 62, 1 << 40) == 2
    one.take(writer.encode(("sync", ())))  # one stores what it held …
    one.tend()  # … and removes its row
    assert journal_db.write_sync(rows.behind, 1 << 62, 1 << 40) == 1  # two still holds req_2


def test_a_batch_that_cannot_be_decoded_is_dropped_not_fatal(journal_db: SqliteDatabase) -> None:
    """A batch is decoded only when it is stored, outside ``main``'s answer: one that cannot
    be (a pickled object whose class the writer cannot import, a bug) is logged and dropped;
    the writer goes on with what it holds after it, instead of ending with all of it."""
    busy = [True]
    backlog = _backlog(journal_db, busy)
    backlog.take(writer.STORE + b"M not marshal data")
    backlog.take(_frame(2))
    busy[0] = False
    while backlog.due():  # main(): between frames
        backlog.step()
    assert _stored(journal_db) == ["req_2"]
    assert backlog.held == 0 and backlog.done == backlog.taken == 2
    assert backlog.take(_frame(3)) == (True, (1, 0, 2, 3))
    assert backlog.take(writer.encode(("sync", ()))) == (True, (1, 0, 3, 3))


def test_a_read_waits_for_a_holder_whose_host_clock_is_behind(
    journal_db: SqliteDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A team's server processes on several hosts: a holder's "alive" time and the reader's
    "gone" limit must come from one clock (the database's), or a holder on a host whose clock
    is 10 s behind looks gone to every reader — which then answers ``complete: true``
    without what it holds."""
    real = clock.real_now_us  # the writer's host's clock, 10 s behind (before: its seen_us)
    monkeypatch.setattr(writer, "real_now_us", lambda: real() - 10_000_000, raising=False)
    busy = [True]
    CLOCK[0] = 300.0
    backlog = _backlog(journal_db, busy)
    backlog.take(_frame(1))
    backlog.tend()  # holding: its row says it is alive
    reader = Journal(journal_db, JournalSettings(), Metrics(), {"kplus": KPLUS})
    assert _run(reader.everywhere(0.3)) is False  # it waited for the holder, which never stored
    assert _stored(journal_db) == []
    (row,) = _holders(journal_db)  # the database's clock, in µs since the epoch
    assert abs(row["seen_us"] - real()) < 5_000_000
    journal_db.write_sync(lambda c: c.exec("UPDATE sandbox_journal_holds SET seen_us = ?", 0))
    assert _run(reader.everywhere(0.3)) is True  # a holder that stopped saying so is gone


def test_holders_are_timed_by_the_database_s_clock(fresh_db_url: str) -> None:
    """``rows.hold`` and ``rows.behind`` on this backend (SQLite or PostgreSQL): seen_us in
    µs since the epoch, and a holder quiet for longer than the limit is gone."""
    from paysandbox.store import migrate
    from paysandbox.store.db import open_database

    migrate.upgrade(fresh_db_url)
    db = open_database(fresh_db_url)
    try:
        db.write_sync(rows.hold, "h:1:x", 0)
        (row,) = db.write_sync(lambda c: c.all("SELECT * FROM sandbox_journal_holds"))
        assert abs(row["seen_us"] - clock.real_now_us()) < 5_000_000
        assert db.write_sync(rows.behind, 1, 2_000_000) == 1
        assert db.write_sync(rows.behind, 0, 2_000_000) == 0  # not behind gen 0
        db.write_sync(
            lambda c: c.exec("UPDATE sandbox_journal_holds SET seen_us = seen_us - ?", 3_000_000)
        )
        assert db.write_sync(rows.behind, 1, 2_000_000) == 0
    finally:
        db.close()


def test_a_writer_without_proc_stat_or_sysconf_stores_as_before(fresh_db_url: str) -> None:
    """Windows: no ``os.sysconf``, no ``/proc/stat`` and no ``select()`` on a pipe. The
    writer never holds back there (every processor counts as free) and stores each batch as
    it comes, as before holding back — it must not end at its start."""
    import subprocess
    import sys

    from paysandbox.store import migrate
    from paysandbox.store.db import open_database

    migrate.upgrade(fresh_db_url)
    frames = b""
    for data in (
        writer.encode(("init", (fresh_db_url, {"kplus": hooks_of(KPLUS)}, 1000, 0.5, 1 << 20))),
        _frame(1, 2),
        writer.encode(("sync", ())),
    ):
        frames += len(data).to_bytes(4, "big") + data
    env = {**os.environ, "PYTHONPATH": str(Path(writer.__file__).resolve().parents[2])}
    # what imports differently on Windows (psycopg) is imported first, as it is on Linux
    as_windows = (
        "import os, sys; from paysandbox.observe import writer; "
        "from paysandbox.store.db import open_database; "
        f"open_database({fresh_db_url!r}).write_sync(lambda c: c.one('SELECT 1')); "
        "del os.sysconf; sys.platform = 'win32'; writer.main()"
    )
    proc = subprocess.run(
        [sys.executable, "-c", as_windows],
        input=frames,
        capture_output=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0 and proc.stderr == b"", proc.stderr.decode()
    answers = []
    out = proc.stdout
    while out:
        size = int.from_bytes(out[:4], "big")
        answers.append(writer.decode(out[4 : 4 + size]))
        out = out[4 + size :]
    assert answers[1:] == [(True, (0, 0, 0, 1)), (True, (2, 0, 1, 1))]
    db = open_database(fresh_db_url)
    try:
        assert len(db.write_sync(rows.list_entries_all)) == 2
    finally:
        db.close()


def test_what_a_holder_stored_for_another_read_is_counted_without_a_new_request(
    journal_db: SqliteDatabase,
) -> None:
    """B's writer stores what it held because a read through A asked: B's own metrics count
    it at B's next background turn, with no new request through B (they lagged until one)."""
    db = journal_db
    a = Journal(db, JournalSettings(), Metrics(), {"kplus": KPLUS})
    b_metrics = Metrics()
    settings = JournalSettings(hold_back_below=4096, flush_seconds=0.05)
    b = Journal(db, settings, b_metrics, {"kplus": KPLUS})

    async def scenario() -> tuple[int, float]:
        a.start()
        b.start()
        n = await _until_held(b, "B's writer")
        deadline = time.monotonic() + 20
        assert await a.settle(10)  # stored by B's writer, asked through A
        while b._held:  # B's background turn asks its writer for the counts
            assert time.monotonic() < deadline, "B never counted what its writer stored"
            await asyncio.sleep(0.02)
        written = b_metrics.journal_written._value.get()
        await b.stop()
        await a.stop()
        return n, written

    n, written = _run(scenario())
    assert written == n and b.dropped == 0
