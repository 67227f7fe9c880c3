"""The journal, redaction and fault logic, directly (no HTTP)."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from paysandbox.core.clock import real_now_us
from paysandbox.observe.faults import FaultError, FaultSpec, latency_range, parse
from paysandbox.observe.journal import (
    Journal,
    JournalSettings,
    Raw,
    build_row,
    hooks_of,
    mask_userinfo,
)
from paysandbox.observe.metrics import Metrics
from paysandbox.observe.spec import REDACTED, UNPARSEABLE, Redaction, lookup, mask_pan, parse_doc
from paysandbox.providers.kplus.observe import OBSERVE as KPLUS
from paysandbox.providers.nicepay.observe import OBSERVE as NICEPAY
from paysandbox.providers.smart2pay.observe import OBSERVE as SMART2PAY
from paysandbox.store import observe as rows
from paysandbox.store.db import SqliteDatabase

RED = Redaction(
    secrets=frozenset({"partnerSecret"}),
    pans=frozenset({"cardNo"}),
    cvv=frozenset({"cardCvv"}),
    headers=frozenset({"Partner-Secret"}),
)


@pytest.mark.parametrize(
    "body",
    [
        '{"partnerSecret":"s3cr3t","a":1}',
        '{"PARTNERSECRET" : "s3cr3t"}',
        '{"partnerSecret":12345}',  # a number: the slow path
        '{"x":{"partnerSecret":"s3cr3t"}}',
        '{"partnerSecret":{"deep":"s3cr3t"}}',
        '{"partner\\u0053ecret":"s3cr3t"}',  # an escaped key name
        '{"a":"partnerSecret","partnerSecret":"s3cr3t"}',  # the name as a value too
        '[{"partnerSecret":"s3cr3t"}]',
        '{"partnerSecret":"s3cr3t","partnerSecret":"s3cr3t2"}',
    ],
)
def test_json_secrets_never_survive(body: str) -> None:
    out = RED.body(body, "application/json")
    assert "s3cr3t" not in out and "12345" not in out
    assert REDACTED in out


def test_unparseable_json_with_a_secret_is_not_stored() -> None:
    # a string value is cut out even from broken JSON; anything else drops the whole body
    assert RED.body('{"partnerSecret":"s3cr3t"', "application/json") == '{"partnerSecret":"***"'
    assert RED.body('{"partnerSecret":12345', "application/json") == UNPARSEABLE
    assert RED.body('{"other":"x"', "application/json") == '{"other":"x"'  # kept as sent


def test_pans_keep_the_last_four_and_cvvs_go() -> None:
    out = json.loads(RED.body('{"cardNo":"4222222222222222","cardCvv":"123"}', "application/json"))
    assert out == {"cardNo": "************2222"}  # the CVV is gone, name and all
    form = RED.body("cardNo=4222222222222222&cardCvv=123&x=1", "application/x-www-form-urlencoded")
    assert form == "cardNo=%2A%2A%2A%2A%2A%2A%2A%2A%2A%2A%2A%2A2222&x=1"
    nested = RED.body('{"a":[{"CARDCVV":"123","b":1}]}', "application/json")
    assert nested == '{"a":[{"b":1}]}'
    assert (
        RED.pairs("card%4Eo=4222222222222222") == "cardNo=%2A%2A%2A%2A%2A%2A%2A%2A%2A%2A%2A%2A2222"
    )
    assert mask_pan("42") == REDACTED
    # a provider with card fields: a body that cannot be read loses every Luhn-valid number
    assert RED.body("\ufffd4929000000736215 ref 4929000000736216", "") == (
        "\ufffd************6215 ref 4929000000736216"
    )
    assert RED.body('{"ref":"4929000000736215"}', "application/json").endswith('15"}')


def test_nothing_to_hide_is_stored_as_sent() -> None:
    body = '{"a": 1,  "b": "x"}'
    assert RED.body(body, "application/json") is body
    block = RED.header_block([(b"partner-secret", b"s"), (b"x", b"y")])
    assert block == "partner-secret: ***\nx: y"


def test_lookup_and_parse_doc() -> None:
    doc = parse_doc(b'{"A":{"b":[{"c":"1"}]}}', "application/json", "q=2")
    assert doc["q"] == "2"
    assert lookup(doc, "a.B.0.c") == "1" and lookup(doc, "a.b.5.c") is None
    assert lookup(doc, "a.b.².c") is None  # "²" is a digit to str.isdigit, not a list index
    assert lookup(doc, "a.b." + "9" * 5000 + ".c") is None  # past int()'s 4300 digits
    assert parse_doc(b"x=1&y=2", "application/x-www-form-urlencoded", "") == {"x": "1", "y": "2"}
    assert parse_doc(b"{", "application/json", "") == {}
    # invalid UTF-8 inside a string: msgspec raises UnicodeDecodeError, not a DecodeError
    assert parse_doc(b'{"a":"\xff"}', "application/json", "") == {}


PROVIDERS: dict[str, Any] = {
    "kplus": (KPLUS, ["/kplus/payment/inquire-token", "/v1/kplus/payment/inquire-token"]),
    "nicepay": (NICEPAY, ["/nicepay/direct/v2/inquiry"]),
    "smart2pay": (SMART2PAY, ["/v1/payments"]),
}


def test_fault_specs() -> None:
    spec = parse(
        {
            "provider": "kplus",
            "kind": "latency",
            "route": "/v1/kplus/payment/inquire-token",
            "latencyMs": [1, 5],
        },
        PROVIDERS,
    )
    assert latency_range(spec) == (1.0, 5.0)
    assert parse({"provider": "nicepay", "kind": "error", "error": "9010"}, PROVIDERS).error
    assert parse({"provider": "nicepay", "kind": "error", "error": "token_invalid"}, PROVIDERS)
    with pytest.raises(FaultError, match="smart2pay"):
        parse({"provider": "smart2pay", "kind": "error", "error": "9999"}, PROVIDERS)
    with pytest.raises(FaultError):
        parse({"provider": "kplus", "kind": "error", "times": "x"}, PROVIDERS)
    assert FaultSpec(provider="kplus", kind="reset").probability == 1.0


def _raw(i: int, at_us: int | None = None) -> Raw:
    """An entry made now (or at ``at_us``): a journal's age prune keeps it."""
    return Raw(
        id=f"req_{i}",
        at_us=real_now_us() if at_us is None else at_us,
        provider="kplus",
        method="POST",
        route="/kplus/payment/inquire-token",
        path="/kplus/payment/inquire-token",
        path_params={},
        query=b"",
        request_headers=[(b"content-type", b"application/json"), (b"partner-secret", b"s3cr3t")],
        request_body=b'{"partnerId":"P1","partnerSecret":"s3cr3t","tokenId":"T1"}',
        status=200,
        sent=True,
        response_headers=[(b"content-type", b"application/json")],
        response_body=b'{"tokenId":"T1","statusCode":"00"}',
        latency_ms=1.5,
        fault_id=None,
        fault_kind=None,
        outcome="answered",
    )


def test_userinfo_masking_keeps_the_scheme_and_is_linear_in_the_body() -> None:
    """A password in a URL is masked, however many letters are glued before the scheme; and
    a 1 MiB body of letters with an ``@`` or ``%40`` is scanned once (the scheme's pattern was
    unbounded: quadratic, 20 KB took 0.8 s and 4 s, and one 200 KB request held the journal
    writer for over a minute). The alarm only turns a regression into a failure instead of a
    suite that hangs: linear is a fraction of a second here, quadratic hours."""
    import signal

    assert mask_userinfo('{"u":"https://me:pw@h/x","v":"http:\\/\\/me:pw@h"}') == (
        '{"u":"https://***@h/x","v":"http:\\/\\/***@h"}'
    )
    assert mask_userinfo("cb=https%3A%2F%2Fme%3Apw%40h&x=1") == "cb=https%3A%2F%2F***%40h&x=1"
    assert mask_userinfo("x" * 40 + "https://me:pw@h") == "x" * 40 + "https://***@h"
    assert mask_userinfo("a" + "1" * 40 + "://me:pw@h") == "a" + "1" * 40 + "://***@h"
    before = signal.signal(signal.SIGALRM, lambda *_: pytest.fail("mask_userinfo is not linear"))
    signal.alarm(60)
    try:
        for tail in ("@", "%40"):
            body = "A" * (1 << 20) + tail
            assert mask_userinfo(body) == body
        many = ("A" * 32 + "%3A%2F%2F" + "x" * 5000) * 200 + "%40"
        masked = mask_userinfo(many)  # only the last "user" reaches a %40 before a %2F
        assert masked == many[: -(5000 + 3)] + "***%40"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, before)


def test_build_row_redacts_and_finds_account_and_ids() -> None:
    row = build_row(_raw(1), hooks_of(KPLUS), 65536)
    text = repr(row)
    assert "s3cr3t" not in text
    assert row[3] == "P1" and row[8] == " T1 "
    short = build_row(_raw(2), hooks_of(KPLUS), 10)
    assert json.loads(short[-1])["request"]["truncated"] is True


def test_an_unreadable_body_is_stored_without_a_hook_failing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A body with invalid UTF-8 inside a JSON string (a client's 400): the hooks find no
    account or ids in it, quietly, and the secret beside it is still not kept."""
    raw = _raw(3)._replace(
        request_body=b'{"partnerId":"P1","partnerSecret":"s3cr3t","x":"\xff"}',
        response_body=b'{"tokenId":"\xfe"}',
    )
    with caplog.at_level("WARNING", logger="paysandbox.journal"):
        row = build_row(raw, hooks_of(KPLUS), 65536)
    assert caplog.records == []  # no "journal hook failed" with its traceback
    assert row[3] is None and row[8] == ""
    assert "s3cr3t" not in repr(row)


def _run(coro: Any) -> Any:
    """asyncio.run on a thread of its own (a browser test may leave a loop on this one)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _flushed(journal: Journal) -> None:
    """Start the journal (its writer process), store what is queued, stop it."""
    journal.start()
    await journal.flush()
    await journal.stop()


@pytest.mark.parametrize("in_writer_process", [True, False])
def test_full_queue_drops_and_counts(journal_db: SqliteDatabase, in_writer_process: bool) -> None:
    db = journal_db
    metrics = Metrics()
    settings = JournalSettings(queue_size=3, writer_process=in_writer_process)
    journal = Journal(db, settings, metrics, {"kplus": KPLUS})
    assert (journal.remote_url is not None) is in_writer_process
    for i in range(5):
        journal.put(_raw(i))
    assert journal.dropped == 2
    assert metrics.journal_dropped._value.get() == 2
    _run(_flushed(journal))
    stored = db.write_sync(rows.list_entries_all)
    assert [r["id"] for r in stored] == ["req_2", "req_1", "req_0"]
    assert "s3cr3t" not in repr([dict(r) for r in stored])
    assert metrics.journal_written._value.get() == 3


def test_an_entry_that_cannot_be_built_is_counted(journal_db: SqliteDatabase) -> None:
    """A provider the writer has no hooks for: the entry is dropped and counted, the rest kept."""
    db = journal_db
    metrics = Metrics()
    journal = Journal(db, JournalSettings(), metrics, {"kplus": KPLUS})
    journal.put(_raw(1))
    journal.put(_raw(2)._replace(provider="nobody"))
    _run(_flushed(journal))
    assert [r["id"] for r in db.write_sync(rows.list_entries_all)] == ["req_1"]
    assert journal.dropped == 1 and metrics.journal_dropped._value.get() == 1


def test_prune_by_count_and_age(journal_db: SqliteDatabase) -> None:
    db = journal_db
    built = [build_row(_raw(i, at_us=1000 + i), hooks_of(KPLUS), 1000) for i in range(10)]
    db.write_sync(rows.insert_entries, built)
    db.write_sync(lambda c: rows.prune(c, max_entries=6, older_than_us=0))
    assert len(db.write_sync(rows.list_entries_all)) == 6
    db.write_sync(lambda c: rows.prune(c, max_entries=100, older_than_us=1008))
    assert [r["id"] for r in db.write_sync(rows.list_entries_all)] == ["req_9", "req_8"]


def test_a_count_trim_starts_above_its_last_edge_and_prune_catches_the_rest(
    fresh_db_url: str,
) -> None:
    """``trim_above`` (the writer's count trim on PostgreSQL) deletes only ``seq`` values above
    the edge it returned last time; a row below that edge committed later (a concurrent
    writer's late commit) is left for ``prune``, which trims without a bound."""
    from paysandbox.store import migrate
    from paysandbox.store.db import open_database

    migrate.upgrade(fresh_db_url)
    db = open_database(fresh_db_url)
    try:
        hooks = hooks_of(KPLUS)
        db.write_sync(rows.insert_entries, [build_row(_raw(i), hooks, 1000) for i in range(10)])
        seqs = lambda: [r["seq"] for r in db.write_sync(rows.list_entries_all)]  # noqa: E731
        first = seqs()
        assert db.write_sync(rows.trim_above, 6, None) == (4, first[0] - 6)
        edge = first[0] - 6
        assert seqs() == first[:6]
        assert db.write_sync(rows.trim_above, 6, edge) == (0, edge)  # nothing new: no DELETE
        more = [build_row(_raw(i), hooks, 1000) for i in range(10, 13)]
        db.write_sync(rows.insert_entries, more)
        # a late row below the edge (as a slower writer's commit would land)
        late = (edge - 1, *build_row(_raw(99), hooks, 1000))
        cols = ("seq", *rows.JOURNAL_COLUMNS)
        db.write_sync(lambda c: c.insert_many("sandbox_requests", cols, [late]))
        n, edge2 = db.write_sync(rows.trim_above, 6, edge)
        assert (n, edge2) == (3, edge + 3)
        assert sorted(seqs()) == [edge - 1, *range(edge + 4, edge + 10)]
        db.write_sync(lambda c: rows.prune(c, max_entries=6, older_than_us=0))
        assert sorted(seqs()) == list(range(edge + 4, edge + 10))
    finally:
        db.close()


def test_stored_rows_come_back_exactly_through_every_connection(fresh_db_url: str) -> None:
    """``insert_entries`` (SQLite: executemany; psycopg: COPY; asyncpg: executemany) stores
    every value as given: text with COPY's special characters, NULLs, floats, big integers."""
    from paysandbox.store import migrate
    from paysandbox.store.db import open_database

    migrate.upgrade(fresh_db_url)
    db = open_database(fresh_db_url)
    awkward = 'tab\there\nnew\\line \\N \r\n "q" \u00e9\u4e2d\U0001f600 %s ? $1 \x01'

    def row(i: int, text: str) -> tuple[Any, ...]:
        return (
            f"req_{i}",
            1_795_819_791_500_679 + i,
            "kplus",
            None if i % 2 else text,
            "POST",
            None if i % 3 else "/kplus/payment/inquire-token",
            None if i % 2 else 200,
            0.1 + 0.2 + i / 3,
            " a b " if i % 2 else "",
            None,
            text,
        )

    sync = [row(i, awkward + str(i)) for i in range(5)]
    loop = [row(i, awkward + str(i)) for i in range(5, 8)]
    try:
        db.write_sync(rows.insert_entries, sync)
        _run(db.write(rows.insert_entries, loop))
        back = db.write_sync(rows.list_entries_all)
    finally:
        db.close()
    got = sorted((tuple(r[c] for c in rows.JOURNAL_COLUMNS) for r in back), key=lambda r: r[1])
    assert got == sync + loop
