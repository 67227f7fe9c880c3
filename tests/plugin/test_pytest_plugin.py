"""The installed pytest plugin, exercised the way a merchant uses it: a temporary project with
its own test file, run by pytest in a subprocess (serially and with ``-n 2``)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ..support import BACKEND, drop_pg_schema, is_postgres, new_pg_schema

HERE = Path(__file__).resolve().parent


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "tests").mkdir()
    shutil.copy(HERE / "merchant_project.py", tmp_path / "tests" / "test_checkout.py")
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
    return tmp_path


@pytest.fixture
def db_option() -> Iterator[list[str]]:
    """On the PostgreSQL run the workers share one database: accounts keep them apart."""
    if is_postgres():
        schema, url = new_pg_schema(BACKEND)
        yield ["--paysandbox-db", url]
        drop_pg_schema(BACKEND, schema)
    else:
        yield []


def run_pytest(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-rA", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_plugin_fixtures_in_a_merchant_project(project: Path, db_option: list[str]) -> None:
    got = run_pytest(project, *db_option)
    assert got.returncode == 0, got.stdout + got.stderr
    assert "5 passed" in got.stdout, got.stdout
    for name in ("test_paid_order", "test_declined_then_expired", "test_smart2pay_queued"):
        assert f"PASSED tests/test_checkout.py::{name}" in got.stdout


def test_plugin_under_xdist(project: Path, db_option: list[str]) -> None:
    got = run_pytest(project, "-n", "2", *db_option)
    assert got.returncode == 0, got.stdout + got.stderr
    assert "5 passed" in got.stdout, got.stdout
    assert "created: 2/2 workers" in got.stdout, got.stdout


def test_plugin_reports_a_failing_merchant_test(project: Path) -> None:
    """A broken expectation fails the merchant's test with the sandbox's answer in view."""
    (project / "tests" / "test_wrong.py").write_text(
        "def test_pay_unknown(paysandbox_kplus):\n    paysandbox_kplus.pay('NOSUCHTOKEN123')\n"
    )
    got = run_pytest(project, "tests/test_wrong.py")
    assert got.returncode == 1
    assert "SandboxError" in got.stdout and "404" in got.stdout and "not_found" in got.stdout


def test_secrets_stay_out_of_reprs_and_errors() -> None:
    """A failing test prints its fixtures' values: an account's secret is not in them; a
    control token that cannot be sent is refused without being shown."""
    from paysandbox.testing import (
        KPlusPartner,
        NicepayMerchant,
        SandboxError,
        Smart2PaySite,
        sandbox,
    )

    for account in (
        KPlusPartner(None, "kplus", "kplus/partners", "PTR1", partner_secret="s3cret-value"),  # type: ignore[arg-type]
        NicepayMerchant(None, "nicepay", "nicepay/merchants", "IM1", merchant_key="s3cret-value"),  # type: ignore[arg-type]
        Smart2PaySite(None, "smart2pay", "smart2pay/sites", "1", api_key="s3cret-value"),  # type: ignore[arg-type]
    ):
        assert "s3cret-value" not in repr(account), repr(account)
    for token in ("TOKEN-s3cret\rX", "TOKEN-s3cret\u00e9"):
        with pytest.raises(SandboxError) as info, sandbox(url="http://127.0.0.1:9", token=token):
            pass
        assert "s3cret" not in str(info.value) and "printable ASCII" in str(info.value)
