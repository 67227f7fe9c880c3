"""The delivery claim finds its candidates through indexes, on SQLite and PostgreSQL: every
statement a claim runs is EXPLAINed and none may read the whole ``deliveries`` table or sort
it. (The claim read every pending delivery once per claim — a window over all of them — and,
per candidate, every pending delivery of its endpoint: ~0.2 s a claim with 10,000 pending on
100 endpoints, 9 s with 10,000 on one, on SQLite. Timings are measured by hand, never in a
test; see migration c0005.)"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from paysandbox.core.clock import US, real_now_us
from paysandbox.store import clock as clock_rows
from paysandbox.store import migrate
from paysandbox.store import outbox as rows
from paysandbox.store.db import Conn, open_database

from ..support import Recording

COLUMNS = (
    "id", "provider", "account_id", "object_id", "event", "url", "method", "headers", "body",
    "secret_keys", "success_rule", "state", "attempts", "max_attempts", "created_at_us",
    "next_attempt_at_us", "lease_token", "lease_until_real_us", "last_http_status", "last_error",
    "completed_at_us",
)  # fmt: skip


class Undo(Exception):
    pass


@pytest.fixture
def db(fresh_db_url: str) -> Iterator[Any]:
    migrate.upgrade(fresh_db_url)
    database = open_database(fresh_db_url)
    yield database
    database.close()


def _fill(conn: Conn, now: int) -> None:
    """3,000 pending deliveries on 300 endpoints of 30 accounts: a few due now, the rest
    retries due within the hour; two in flight, one of them past its lease."""
    values = []
    for i in range(3000):
        due = now - 1000 + i if i < 12 else now + i * 1_000_000
        leased = i in (0, 1)
        lease_until = real_now_us() + (60 * US if i == 0 else -US) if leased else None
        endpoint = (f"ACC{i % 30}", f"http://m{i % 300}.test/cb")
        row = [f"d{i:06d}", "kplus", endpoint[0], f"obj{i}", "confirm", endpoint[1], "POST"]
        row += ["{}", "{}", "[]", "http_2xx", "pending", 1 if leased else 0, 8, now - 5000 + i]
        row += [due, "L" * 16 if leased else None, lease_until, None, None, None]
        values.append(tuple(row))
    conn.insert_many("deliveries", COLUMNS, values)
    clock_rows.advance_account(conn, "kplus", "ACC7", 3600 * US)  # its retries are due


def _claim_and_undo(db: Any, now: int) -> tuple[list[Any], list[tuple[str, tuple[Any, ...]]]]:
    """One claim of 16 at ``now``, rolled back (the table stays as it was for the plans): what
    it claimed and every statement it ran."""
    out: list[Any] = []
    seen: list[tuple[str, tuple[Any, ...]]] = []

    def claim(conn: Conn) -> None:
        recording = Recording(conn)
        out.extend(
            rows.claim_due(
                recording,  # type: ignore[arg-type]
                now_us=now,
                real_now_us=real_now_us(),
                lease_until_us=real_now_us() + 10 * US,
                token="T" * 16,
                limit=16,
            )
        )
        seen.extend(recording.seen)
        raise Undo

    with pytest.raises(Undo):
        db.write_sync(claim)
    return out, seen


def test_every_statement_of_a_claim_uses_an_index(db: Any) -> None:
    now = db.write_sync(clock_rows.now_us)
    db.write_sync(_fill, now)
    if db.dialect == "postgresql":
        db.write_sync(lambda c: c.exec("ANALYZE deliveries"))
    got, seen = _claim_and_undo(db, now)
    # what is due now on idle endpoints (10 of 12: one busy, one past its lease and given
    # back, its endpoint idle again) and ACC7's retries, one per endpoint
    assert len(got) == 16, got
    assert len({(r["account_id"], r["url"]) for r in got}) == 16
    assert {r["account_id"] for r in got[11:]} == {"ACC7"}, got
    statements = [(sql, args) for sql, args in seen if "deliveries" in sql]
    for sql, args in statements:
        plan = _plan(db, sql, args)
        if db.dialect == "postgresql":
            assert "Seq Scan on deliveries" not in plan, (sql, plan)
            assert "Sort" not in plan, (sql, plan)
        else:
            # SEARCH … USING INDEX only; the accounts whose clock is ahead are read whole (a
            # short table: each then costs one indexed probe of its due deliveries)
            scans = [
                line
                for line in plan.splitlines()
                if line.startswith("SCAN") and not line.startswith("SCAN account_clocks")
            ]
            assert scans == [], (sql, plan)
            assert "TEMP B-TREE" not in plan, (sql, plan)
        if sql.lstrip().startswith("SELECT d.id"):
            assert "ix_deliveries_queue" in plan or "ix_deliveries_account_queue" in plan, plan
            # "is its endpoint busy?": in an index of the deliveries in flight only
            assert "ix_deliveries_in_flight" in plan or "ix_deliveries_lease" in plan, plan
    assert any("d.account_id = ?" in sql for sql, _ in statements)  # ACC7's own walk ran


def _plan(db: Any, sql: str, args: tuple[Any, ...]) -> str:
    """``sql``'s plan (EXPLAIN only plans, it runs nothing)."""

    def explain(conn: Conn) -> str:
        prefix = "EXPLAIN " if conn.dialect == "postgresql" else "EXPLAIN QUERY PLAN "
        found = conn.all(prefix + sql, *args)
        return "\n".join(str(list(dict(r).values())[-1]).strip() for r in found)

    return str(db.write_sync(explain))


def test_a_backlog_ahead_in_the_queue_holds_back_no_other_endpoint(db: Any) -> None:
    """Each endpoint's earliest due delivery, in the queue's order: 200 due for one endpoint
    ahead of one for another still give one claim of each (read past, not stopped at)."""
    now = db.write_sync(clock_rows.now_us)

    def fill(conn: Conn) -> None:
        values = []
        for i in range(201):
            url = "http://slow.test/cb" if i < 200 else "http://other.test/cb"
            row = [f"q{i:04d}", "kplus", "ACC1", f"o{i}", "confirm", url, "POST", "{}", "{}"]
            row += ["[]", "http_2xx", "pending", 0, 8, now - 10_000 + i, now - 10_000 + i]
            row += [None, None, None, None, None]
            values.append(tuple(row))
        conn.insert_many("deliveries", COLUMNS, values)

    db.write_sync(fill)

    def claim(conn: Conn) -> list[Any]:
        return rows.claim_due(
            conn,
            now_us=now,
            real_now_us=real_now_us(),
            lease_until_us=real_now_us() + 10 * US,
            token="T" * 16,
            limit=16,
        )

    assert [r["id"] for r in db.write_sync(claim)] == ["q0000", "q0200"]
    assert db.write_sync(claim) == []  # both endpoints busy now


def test_accounts_ahead_with_nothing_due_cost_no_walk(db: Any) -> None:
    """A shared sandbox keeps the clocks of many idle accounts: a claim probes them in one
    statement and walks only those with something due (it walked each one — 110 ms a claim
    on PostgreSQL with 1,000 idle accounts ahead)."""
    now = db.write_sync(clock_rows.now_us)

    def setup(conn: Conn) -> None:
        _fill(conn, now)  # ACC7 ahead, with retries due
        for n in range(200):
            clock_rows.advance_account(conn, "kplus", f"IDLE{n}", 3600 * US)

    db.write_sync(setup)
    got, seen = _claim_and_undo(db, now)
    assert {r["account_id"] for r in got[11:]} == {"ACC7"}, got
    walked = {args[0] for sql, args in seen if "d.account_id = ?" in sql}
    assert walked == {"ACC7"}, walked
