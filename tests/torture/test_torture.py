"""The short torture run, inside the normal suite on the suite's database: a few kills, a few
hundred racing requests, callbacks across three processes with one killed mid-send, kills
during start-up and processes starting at once. Every failure count must be 0; the long run
is ``python -m tests.torture --long`` (figures in docs/reliability.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ..support import is_postgres
from . import scenarios
from .harness import Result, table

KIND = "postgresql" if is_postgres() else "sqlite"
S = scenarios.SHORT


def _check(r: Result) -> None:
    print("\n" + table([r]))
    assert r.ok, table([r])


def test_kill_9_under_mixed_load_loses_nothing_acknowledged(tmp_path: Path) -> None:
    r = scenarios.kill9_under_load(KIND, S, tmp_path)
    assert r.ran["acknowledged"] > 0
    _check(r)


def test_races_have_one_winner_and_serial_loser_answers(tmp_path: Path) -> None:
    r = scenarios.races(KIND, S, tmp_path, 1)
    assert r.ran["requests"] >= 200
    _check(r)


@pytest.mark.pg
@pytest.mark.skipif(not is_postgres(), reason="several processes racing: PostgreSQL")
def test_races_across_three_processes(tmp_path: Path) -> None:
    r = scenarios.races(KIND, S, tmp_path, 3)
    assert r.ran["requests"] >= 200
    _check(r)


def test_callbacks_across_processes_never_lost_or_sent_concurrently(tmp_path: Path) -> None:
    r = scenarios.callbacks(KIND, S, tmp_path)
    assert r.ran["deliveries"] == S.callback_tokens
    _check(r)


@pytest.mark.sqlite_only
def test_kill_9_during_start_up_never_leaves_an_unstartable_database(tmp_path: Path) -> None:
    r = scenarios.startup(KIND, S, tmp_path)
    assert r.ran["kills during migration"] == S.migration_kills
    _check(r)


@pytest.mark.sqlite_only
def test_processes_starting_at_once_all_start(tmp_path: Path) -> None:
    _check(scenarios.at_once(KIND, S, tmp_path))
