#!/usr/bin/env python3
"""The project's two set-up commands, needing only Python ≥ 3.11 and git.

    python3 dev.py serve [paysandbox serve flags…]   run the server (SQLite ./paysandbox.db)
    python3 dev.py test  [--no-pg] [pytest args…]    lint, type-check, and the whole test suite

Both create ``.venv`` and install the pinned dependencies on first use (again only when
pyproject.toml changes). ``test`` also installs Debian's ``chromium`` for the browser tests when
it is missing and apt is usable, then runs the suite against SQLite and against PostgreSQL
(``PAYSANDBOX_PG_URL``, default postgresql://postgres@127.0.0.1:5432/test); it fails when
PostgreSQL is unreachable unless ``--no-pg`` is given.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

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
        pg = os.environ.get("PAYSANDBOX_PG_URL", DEFAULT_PG)
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
