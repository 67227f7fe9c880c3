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


def test_a_sandbox_that_cannot_be_had_is_one_clear_error(tmp_path: Path) -> None:
    """An unreachable ``url`` fails once, at the start, naming it (every test failed with a
    ConnectError that did not); a database URL ``serve`` would refuse is refused the same way
    (``mysql://`` was opened as a SQLite file, a traceback)."""
    import socket

    from paysandbox.testing import SandboxError, sandbox

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with (
        pytest.raises(
            SandboxError, match=rf"paysandbox at http://127\.0\.0\.1:{port} is unreachable"
        ),
        sandbox(url=f"http://127.0.0.1:{port}"),
    ):
        pass
    for db_url, words in (
        ("mysql://x/y", "unsupported database 'mysql'"),
        (f"sqlite:///{tmp_path}/no/such/folder/x.db", "does not exist"),
    ):
        with pytest.raises(SandboxError, match=words), sandbox(db_url):
            pass
    # a database that cannot be opened: one error, its password hidden and nothing chained
    with pytest.raises(SandboxError) as info, sandbox("postgresql://u:s3cret-pw@[::1/db"):
        pass
    assert "could not start on its database" in str(info.value)
    assert "s3cret-pw" not in str(info.value) and info.value.__cause__ is None


def test_an_account_fixture_forgets_its_objects_when_its_test_ends(tmp_path: Path) -> None:
    """On a shared sandbox a test's tokens and retrying deliveries do not outlive it."""
    (tmp_path / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
    (tmp_path / "test_leftovers.py").write_text(
        "import httpx\n"
        "SEEN = {}\n"
        "def test_makes_a_token(paysandbox, paysandbox_kplus):\n"
        "    p = paysandbox_kplus\n"
        "    body = {'partnerTxnUid': 'U1', 'partnerId': p.partner_id,\n"
        "            'partnerSecret': p.partner_secret, 'requestDt': '2019-07-04T18:00:42.411',\n"
        "            'reference1': 'R1', 'totalAmount': '500', 'shopName': 'S',\n"
        "            'shippingFee': '0',\n"
        "            'shopImageUrl': 'https://shop.example/a.png', 'osPlatform': 'IOS',\n"
        "            'items': [], 'currencyCode': 'THB', 'currencyExponent': '2'}\n"
        "    r = httpx.post(paysandbox.url + '/kplus/payment/generate-token', json=body)\n"
        "    assert r.json()['statusCode'] == '00', r.text\n"
        "    assert len(p.tokens()) == 1\n"
        "    SEEN['partner'] = p.partner_id\n"
        "def test_nothing_is_left(paysandbox):\n"
        "    r = paysandbox.client.get('/_sandbox/kplus/tokens',\n"
        "                              params={'partnerId': SEEN['partner']})\n"
        "    assert r.json()['tokens'] == []\n"
    )
    got = run_pytest(tmp_path)
    assert got.returncode == 0, got.stdout + got.stderr
    assert "2 passed" in got.stdout, got.stdout
