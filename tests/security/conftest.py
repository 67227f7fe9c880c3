"""Servers with security settings of their own (a control token, allowed hosts, outbound
lists, tight connection limits), each on a database of its own."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ..support import BACKEND, LiveServer, drop_pg_schema, is_postgres, new_pg_schema, test_settings

TOKEN = "ctl-token-4f1c2a9e7d3b5e60b8a1"


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """``make_server(**settings)`` → a started LiveServer on a fresh database; stopped after."""
    started: list[LiveServer] = []
    schemas: list[str] = []

    def make(app_kwargs: dict[str, Any] | None = None, **overrides: Any) -> LiveServer:
        if is_postgres():
            schema, url = new_pg_schema(BACKEND)
            schemas.append(schema)
        else:
            url = f"sqlite:///{tmp_path / f'sec{len(started)}.db'}"
        live = LiveServer(test_settings(url, **overrides), **(app_kwargs or {}))
        started.append(live)
        return live

    yield make
    for live in started:
        live.stop()
    for schema in schemas:
        drop_pg_schema(BACKEND, schema)


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A sandbox with a control token (shared by the module's tests)."""
    if is_postgres():
        schema, url = new_pg_schema(BACKEND)
    else:
        schema, url = "", f"sqlite:///{tmp_path_factory.mktemp('sec') / 'token.db'}"
    # its tests send many wrong tokens to check the 401s; test_attempts.py checks the limit
    live = LiveServer(test_settings(url, control_token=TOKEN, control_token_attempts=0))
    yield live
    live.stop()
    if schema:
        drop_pg_schema(BACKEND, schema)
