"""Fixtures: one live server per test session on the backend named by PAYSANDBOX_TEST_DB
(``sqlite`` or a PostgreSQL URL), reset before every test; a callback receiver."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .browser import browser, page  # noqa: F401 - fixtures shared by every test package
from .support import (
    BACKEND,
    LiveServer,
    Receiver,
    drop_pg_schema,
    is_postgres,
    new_pg_schema,
    test_settings,
)


def pytest_report_header() -> str:
    return f"paysandbox backend: {'postgresql' if is_postgres() else 'sqlite'}"


@pytest.fixture(scope="session")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh, empty database for this session (its own schema on PostgreSQL)."""
    if is_postgres():
        schema, url = new_pg_schema(BACKEND)
        yield url
        drop_pg_schema(BACKEND, schema)
    else:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'paysandbox.db'}"


@pytest.fixture
def fresh_db_url(tmp_path: Path) -> Iterator[str]:
    """A database of its own for one test (restart tests, custom settings)."""
    if is_postgres():
        schema, url = new_pg_schema(BACKEND)
        yield url
        drop_pg_schema(BACKEND, schema)
    else:
        yield f"sqlite:///{tmp_path / 'own.db'}"


@pytest.fixture(scope="session")
def server(db_url: str) -> Iterator[LiveServer]:
    live = LiveServer(test_settings(db_url))
    yield live
    live.stop()


@pytest.fixture
def client(server: LiveServer) -> Iterator[httpx.Client]:
    """An HTTP client on a sandbox that was just reset (objects, clock, credentials)."""
    with server.client() as c:
        r = c.post("/_sandbox/reset")
        assert r.status_code == 200, r.text
        yield c


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver().start()
    yield r
    r.stop()
