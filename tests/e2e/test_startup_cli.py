"""The real ``paysandbox serve`` in a subprocess: every start-up mistake is one line on stderr
and a non-zero exit before anything claims to listen; ``--port 0`` reports the real port on a
ready line and in ``--ready-file``; ``--version``."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ..support import BACKEND, child_env, is_postgres, new_pg_schema

pytestmark = pytest.mark.sqlite_only  # the CLI's own checks; the PostgreSQL run adds nothing

CLI = [sys.executable, "-m", "paysandbox"]


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def one_line_failure(got: subprocess.CompletedProcess[str], code: int) -> str:
    assert got.returncode == code, (got.returncode, got.stdout, got.stderr)
    assert "listening" not in got.stdout and "ready" not in got.stdout, got.stdout
    lines = got.stderr.strip().splitlines()
    assert len(lines) == 1, got.stderr
    assert lines[0].startswith("paysandbox: "), lines
    assert "Traceback" not in got.stderr
    return lines[0]


def test_unsupported_database_scheme(tmp_path: Path) -> None:
    line = one_line_failure(run_cli("serve", "--port", "0", "--db", "mysql://x/y"), 2)
    assert line == (
        "paysandbox: --db mysql://x/y: unsupported database 'mysql'; "
        "use sqlite:///PATH or postgresql://USER@HOST/DB"
    )


def test_sqlite_file_in_a_missing_folder(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such"
    got = run_cli("serve", "--port", "0", "--db", f"sqlite:///{missing}/x.db")
    line = one_line_failure(got, 2)
    assert line == f"paysandbox: --db sqlite:///{missing}/x.db: folder {missing} does not exist"
    assert not missing.exists()


def test_unknown_log_level() -> None:
    line = one_line_failure(run_cli("serve", "--port", "0", "--log-level", "verbose"), 2)
    assert line == (
        "paysandbox: --log-level 'verbose' is not one of critical, error, warning, info, debug"
    )


def test_port_in_use(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        got = run_cli("serve", "--port", str(port), "--db", f"sqlite:///{tmp_path}/a.db")
    line = one_line_failure(got, 1)
    assert line.startswith(f"paysandbox: cannot listen on 127.0.0.1:{port}: the port is already")


def test_unreachable_postgresql() -> None:
    with socket.socket() as s:  # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql://someone:s3cret-pw@127.0.0.1:{port}/db"
    line = one_line_failure(run_cli("serve", "--port", "0", "--db", url), 1)
    assert line.startswith(
        f"paysandbox: cannot reach PostgreSQL at postgresql://someone@127.0.0.1:{port}/db: "
    )
    assert "Connection refused" in line or "connection refused" in line.lower()
    assert "s3cret-pw" not in line
    # a libpq ?password= parameter, and a URL libpq cannot parse (its message repeats the URL)
    for url, shown in (
        (f"postgresql://someone@127.0.0.1:{port}/db?password=s3cret-pw", "?password=***"),
        ("postgresql://someone:s3cret-pw@[::1/db", "postgresql://someone@[::1/db"),
    ):
        line = one_line_failure(run_cli("serve", "--port", "0", "--db", url), 1)
        assert "s3cret-pw" not in line and shown in line, line


def test_bad_flag_value_is_one_line() -> None:
    line = one_line_failure(run_cli("serve", "--port", "0", "--kplus-partner", "ONLYID"), 2)
    assert line == "paysandbox: --kplus-partner wants ID:SECRET, got 'ONLYID':…"


def test_ready_file_in_a_missing_folder(tmp_path: Path) -> None:
    got = run_cli(
        "serve",
        "--port",
        "0",
        "--db",
        f"sqlite:///{tmp_path}/a.db",
        "--ready-file",
        f"{tmp_path}/nope/ready",
    )
    line = one_line_failure(got, 2)
    assert line == f"paysandbox: --ready-file {tmp_path}/nope/ready: its folder does not exist"


def test_version() -> None:
    got = run_cli("--version")
    assert got.returncode == 0
    assert got.stdout.strip() == "paysandbox 0.1.0"


def wait_ready(proc: subprocess.Popen[str], ready: Path) -> None:
    """Until the server wrote its ready file (it must not have exited before)."""
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no ready file"
        time.sleep(0.05)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    ready = tmp_path / "ready"
    if is_postgres():
        _, db = new_pg_schema(BACKEND)
    else:
        db = f"sqlite:///{tmp_path}/fresh.db"
    proc = subprocess.Popen(
        [*CLI, "serve", "--port", "0", "--db", db, "--ready-file", str(ready)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc, ready
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_port_0_ready_line_and_ready_file(served: tuple[subprocess.Popen[str], Path]) -> None:
    proc, ready = served
    wait_ready(proc, ready)
    text = ready.read_text()
    assert text.endswith("\n") and text.count("\n") == 1
    fields = dict(part.split("=", 1) for part in text.split()[2:])
    assert text.startswith("paysandbox ready ") and fields["pid"] == str(proc.pid)
    url = fields["url"]
    assert url.startswith("http://127.0.0.1:") and not url.endswith(":0")
    # The file appears only once the server answers.
    assert httpx.get(f"{url}/_sandbox/clock").json()["offsetSeconds"] == 0
    proc.terminate()
    out, _ = proc.communicate(timeout=30)
    lines = out.splitlines()
    assert lines[0] == f"paysandbox listening on {url}"  # the banner names the real port
    assert f"paysandbox ready url={url} pid={proc.pid}" in lines
    assert lines.index(f"paysandbox ready url={url} pid={proc.pid}") > 0
    assert not ready.exists()  # removed on the way out: a stale file never misleads


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--public-url", "javascript:alert(1)//"], "--public-url must be an absolute http(s) URL"),
        (["--public-url", "http://x/base?q=1"], "--public-url must not carry a query"),
        (["--journal-max-age", "inf"], "--journal-max-age must be more than 0"),
        (["--journal-max-age", "nan"], "--journal-max-age must be more than 0"),
    ],
)
def test_values_that_cannot_work_are_refused_at_start(
    tmp_path: Path, args: list[str], words: str
) -> None:
    """A public URL that would become every token's callBackAppUrl (javascript:…), a journal
    age that made every prune fail (inf, nan): one line, exit 2."""
    got = run_cli("serve", "--port", "0", "--db", f"sqlite:///{tmp_path}/a.db", *args)
    assert words in one_line_failure(got, 2)


def refused_config(tmp_path: Path, toml: str) -> str:
    """The one line a start with this config file is refused with (exit 2)."""
    config = tmp_path / "c.toml"
    config.write_text(toml)
    got = run_cli(
        "serve", "--port", "0", "--db", f"sqlite:///{tmp_path}/a.db", "--config", str(config)
    )
    return one_line_failure(got, 2)


@pytest.mark.parametrize(
    ("toml", "words"),
    [
        ("[delivery]\nschedule = [inf]\n", "delivery.schedule"),
        ("[delivery]\nschedule = [1e300]\n", "delivery.schedule"),
        ("[delivery]\nschedule = []\n", "delivery.schedule"),
        ("[journal]\nmax_age_seconds = inf\n", "journal.max_age_seconds"),
        ('[server]\npublic_url = "not a url"\n', "server.public_url"),
    ],
)
def test_config_values_that_cannot_work_are_refused(tmp_path: Path, toml: str, words: str) -> None:
    """A retry schedule of inf / 1e300 stuck a failed delivery in flight (OverflowError); []
    used every attempt up at once."""
    assert words in refused_config(tmp_path, toml)


def test_ctrl_c_stops_quietly(tmp_path: Path) -> None:
    """A terminal's Ctrl-C (SIGINT to the whole process group, the journal writer included):
    the server stops with the shell's 130 and no traceback, from the server or its writer."""
    import os
    import signal

    ready = tmp_path / "ready"
    proc = subprocess.Popen(
        [
            *CLI,
            "serve",
            "--port",
            "0",
            "--db",
            f"sqlite:///{tmp_path}/a.db",
            "--ready-file",
            str(ready),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    try:
        wait_ready(proc, ready)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err


def test_ready_file_mistakes_and_a_failed_start_keep_a_running_servers_file(
    tmp_path: Path, served: tuple[subprocess.Popen[str], Path]
) -> None:
    """A folder as --ready-file is one line (a traceback before); a second start that fails
    (its port taken) leaves the running server's ready file alone (it deleted it); a stale
    file of a dead server is removed at start."""
    folder = tmp_path / "isdir"
    folder.mkdir()
    got = run_cli(
        "serve", "--port", "0", "--db", f"sqlite:///{tmp_path}/a.db", "--ready-file", str(folder)
    )
    assert "is a folder" in one_line_failure(got, 2)

    proc, ready = served
    wait_ready(proc, ready)
    url = dict(p.split("=", 1) for p in ready.read_text().split()[2:])["url"]
    port = url.rsplit(":", 1)[1]
    got = run_cli(
        "serve", "--port", port, "--db", f"sqlite:///{tmp_path}/b.db", "--ready-file", str(ready)
    )
    assert "already in use" in one_line_failure(got, 1)
    assert ready.exists() and f"pid={proc.pid}" in ready.read_text()


def test_too_many_workers_and_a_bad_config_fault_are_config_mistakes(tmp_path: Path) -> None:
    got = run_cli("serve", "--port", "0", "--db", f"sqlite:///{tmp_path}/a.db", "--workers", "1000")
    assert "--workers wants a number from 1 to 64" in one_line_failure(got, 2)
    config = tmp_path / "c.toml"
    config.write_text('[[faults]]\nprovider = "kplus"\nkind = "explode"\n')
    got = run_cli(
        "serve", "--port", "0", "--db", f"sqlite:///{tmp_path}/a.db", "--config", str(config)
    )
    line = one_line_failure(got, 2)  # was "cannot open the database …", exit 1
    assert line.startswith("paysandbox: config: faults[0]") and "database" not in line, line


@pytest.mark.parametrize(
    ("toml", "words"),
    [
        (
            '[[kplus.partners]]\npartner_id = "PTR0000001"\npartner_secret = "a"\n'
            '[[kplus.partners]]\npartner_id = "PTR0000001"\npartner_secret = "b"\n',
            "kplus.partners.partner_id 'PTR0000001' is given twice",
        ),
        (
            '[[nicepay.merchants]]\nimid = "IONPAYTEST"\nmerchant_key = "k1"\n'
            '[[nicepay.merchants]]\nimid = "IONPAYTEST"\nmerchant_key = "k2"\n',
            "nicepay.merchants.imid 'IONPAYTEST' is given twice",
        ),
        (
            '[[smart2pay.sites]]\nsite_id = 2020\napi_key = "a"\n'
            '[[smart2pay.sites]]\nsite_id = 2020\napi_key = "b"\n',
            "smart2pay.sites.site_id '2020' is given twice",
        ),
    ],
)
def test_an_account_given_twice_in_the_config_is_refused(
    tmp_path: Path, toml: str, words: str
) -> None:
    assert words in refused_config(tmp_path, toml)


def test_a_config_file_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_bytes(b"\xef\xbb\xbf[server]\nport = 0\n[journal]\nmax_age_seconds = nan\n")
    got = run_cli("serve", "--db", f"sqlite:///{tmp_path}/a.db", "--config", str(config))
    assert "journal.max_age_seconds" in one_line_failure(got, 2)  # read past the BOM


@pytest.mark.parametrize(
    ("flag", "value", "toml", "words"),
    [
        (
            "--nicepay-merchant",
            "IONPAYTEST1234:key",
            '[[nicepay.merchants]]\nimid = "IONPAYTEST1234"\nmerchant_key = "key"\n',
            "nicepay.merchants.imid: Expected `str` of length <= 10",
        ),
        (
            "--kplus-partner",
            f"{'P' * 65}:secret",
            f'[[kplus.partners]]\npartner_id = "{"P" * 65}"\npartner_secret = "secret"\n',
            "kplus.partners.partner_id: Expected `str` of length <= 64",
        ),
        (
            "--smart2pay-site",
            f"2020:{'k' * 257}",
            f'[[smart2pay.sites]]\napi_key = "{"k" * 257}"\nsite_id = 2020\n',
            "smart2pay.sites.api_key: Expected `str` of length <= 256",
        ),
    ],
)
def test_a_flag_refuses_the_account_the_config_file_refuses(
    tmp_path: Path, flag: str, value: str, toml: str, words: str
) -> None:
    """One check for an account, given by flag or in the file: a 14-character iMid was
    accepted from --nicepay-merchant and refused from [[nicepay.merchants]]. (Each bad key is
    on the file's second line.)"""
    from_file = refused_config(tmp_path, toml)
    assert from_file.endswith(f"c.toml:2: {words}"), from_file
    got = run_cli("serve", "--port", "0", "--db", f"sqlite:///{tmp_path}/a.db", flag, value)
    assert one_line_failure(got, 2) == f"paysandbox: {flag}: {words}"


def test_an_account_given_twice_by_flag_is_refused(tmp_path: Path) -> None:
    got = run_cli(
        "serve",
        *("--port", "0", "--db", f"sqlite:///{tmp_path}/a.db"),
        *("--nicepay-merchant", "MYSHOP0001:a", "--nicepay-merchant", "MYSHOP0001:b"),
    )
    assert one_line_failure(got, 2) == "paysandbox: --nicepay-merchant 'MYSHOP0001' is given twice"


def test_a_leading_tilde_is_the_home_folder_in_every_path(tmp_path: Path) -> None:
    """``~`` in --config, --ready-file and a SQLite ``db`` is the home folder, in every one of
    them (quoted, as a TOML value or ``--flag=~/…`` always is, no shell expands it): the start-up
    check expanded the database's, the engine did not (a folder named ``~`` appeared in the
    working directory), and --config / --ready-file were not expanded at all."""
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    (home / "c.toml").write_text('[server]\nport = 0\ndb = "sqlite:///~/sandbox.db"\n')
    proc = subprocess.Popen(
        [*CLI, "serve", "--config", "~/c.toml", "--ready-file", "~/ready"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=work,
        env=child_env(HOME=str(home)),
    )
    try:
        wait_ready(proc, home / "ready")
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert (home / "sandbox.db").is_file()
    assert f"database   sqlite:///{home}/sandbox.db" in out.splitlines()
    assert list(work.iterdir()) == []  # no "~" folder, no ./sandbox.db
    got = run_cli("serve", "--port", "0", "--db", "sqlite:///~/no/such/folder/x.db")
    assert "/no/such/folder does not exist" in one_line_failure(got, 2)
