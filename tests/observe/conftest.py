"""Fixtures of the journal / faults / metrics tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from paysandbox.store import migrate
from paysandbox.store.db import SqliteDatabase, open_database


@pytest.fixture
def journal_db(tmp_path: Path) -> Iterator[SqliteDatabase]:
    """A migrated SQLite file of its own (journal logic tested without a server)."""
    url = f"sqlite:///{tmp_path / 'journal.db'}"
    migrate.upgrade(url)
    db = open_database(url)
    assert isinstance(db, SqliteDatabase)
    yield db
    db.close()
