"""pytest plugin (installed with the package through the ``pytest11`` entry point).

Fixtures:

* ``paysandbox`` (session): a ``paysandbox.testing.Sandbox``; ``.url`` is the base URL to give
  the code under test. Started once per test session on a free loopback port with a
  temporary SQLite file; under pytest-xdist each worker has its own.
* ``paysandbox_kplus``, ``paysandbox_nicepay``, ``paysandbox_smart2pay`` (per test): a fresh
  account of that provider (random id and secret) with helpers: ``pay``, ``decline``,
  ``expire``, ``advance``, ``deliveries``, ``wait_for_deliveries`` …

Options: ``--paysandbox-db URL`` (e.g. a PostgreSQL database shared by the workers),
``--paysandbox-url URL`` (use a server that is already running; nothing is started), and
``--paysandbox-token TOKEN`` (or ``$PAYSANDBOX_CONTROL_TOKEN``) for a server that wants a
control token. Nothing is started unless a test asks for one of the fixtures.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .testing import KPlusPartner, NicepayMerchant, Sandbox, Smart2PaySite


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("paysandbox", "paysandbox payment-gateway sandbox")
    group.addoption(
        "--paysandbox-db",
        metavar="URL",
        help="database of the session's sandbox (default: a temporary SQLite file)",
    )
    group.addoption(
        "--paysandbox-url",
        metavar="URL",
        help="use the paysandbox already running at URL instead of starting one",
    )
    group.addoption(
        "--paysandbox-token",
        metavar="TOKEN",
        default=os.environ.get("PAYSANDBOX_CONTROL_TOKEN"),
        help="control token of the sandbox (default $PAYSANDBOX_CONTROL_TOKEN)",
    )


@pytest.fixture(scope="session")
def paysandbox(pytestconfig: pytest.Config) -> Iterator[Sandbox]:
    """The session's sandbox; ``.url`` is its base URL."""
    from .testing import sandbox

    with sandbox(
        pytestconfig.getoption("paysandbox_db"),
        url=pytestconfig.getoption("paysandbox_url"),
        token=pytestconfig.getoption("paysandbox_token"),
    ) as sb:
        yield sb


@pytest.fixture
def paysandbox_kplus(paysandbox: Sandbox) -> Iterator[KPlusPartner]:
    """A fresh K PLUS partner of this test (``partner_id``, ``partner_secret``)."""
    account = paysandbox.kplus_partner()
    yield account
    account.forget()  # its objects and retrying deliveries do not outlive the test


@pytest.fixture
def paysandbox_nicepay(paysandbox: Sandbox) -> Iterator[NicepayMerchant]:
    """A fresh NICEPay merchant of this test (``imid``, ``merchant_key``)."""
    account = paysandbox.nicepay_merchant()
    yield account
    account.forget()  # its objects and retrying deliveries do not outlive the test


@pytest.fixture
def paysandbox_smart2pay(paysandbox: Sandbox) -> Iterator[Smart2PaySite]:
    """A fresh Smart2Pay site of this test (``site_id``, ``api_key``, ``authorization``)."""
    account = paysandbox.smart2pay_site()
    yield account
    account.forget()  # its objects and retrying deliveries do not outlive the test
