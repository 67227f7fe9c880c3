"""The outbox and the sender in-process: an ``httpx.MockTransport`` instead of sockets, the
sandbox clock moved by ``store.clock.advance`` instead of sleeping. Runs on the backend named
by ``PAYSANDBOX_TEST_DB`` (a fresh database per test)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import pytest

from paysandbox.core.clock import US, real_now_us
from paysandbox.delivery.outbox import Faults, OutboundMessage, Outbox, RetryPolicy
from paysandbox.delivery.rules import with_rules
from paysandbox.delivery.sender import Sender
from paysandbox.providers import kplus
from paysandbox.store import clock as clock_rows
from paysandbox.store import migrate
from paysandbox.store import outbox as rows
from paysandbox.store.db import Conn, Database, Row, open_database

T = TypeVar("T")
POLICY = RetryPolicy(schedule=(10, 60, 300), max_attempts=4, timeout_seconds=2)
RULES = with_rules(kplus.success_rules)
OK_00 = (200, b'{"statusCode":"00","errorCode":null,"errorDesc":null}')


@dataclass
class Env:
    db: Any
    outbox: Outbox

    def enqueue(
        self, msg: OutboundMessage | None = None, faults: Faults | None = None
    ) -> list[str]:
        m = msg or message()
        ids: list[str] = self.db.write_sync(
            lambda c: self.outbox.enqueue(c, m, clock_rows.now_us(c), faults)
        )
        return ids

    def advance(self, seconds: float) -> None:
        self.db.write_sync(clock_rows.advance, int(seconds * US))

    def now(self) -> int:
        return int(self.db.write_sync(clock_rows.now_us))

    def delivery(self, delivery_id: str) -> Row:
        row = self.db.write_sync(rows.get_delivery, delivery_id)
        assert row is not None
        return row  # type: ignore[no-any-return]

    def attempts(self, delivery_id: str) -> list[Row]:
        return self.db.write_sync(rows.attempts_of, delivery_id)  # type: ignore[no-any-return]


@pytest.fixture
def env(fresh_db_url: str) -> Iterator[Env]:
    migrate.upgrade(fresh_db_url)
    db = open_database(fresh_db_url)
    yield Env(db, Outbox(POLICY, RULES))
    db.close()


def message(object_id: str = "tok1", rule: str = "kplus_status00", **extra: Any) -> OutboundMessage:
    body = {"tokenId": object_id, "partnerSecret": "s3cret-value", "paymentStatus": "PAID"}
    return OutboundMessage(
        provider=extra.pop("provider", "kplus"),
        account_id=extra.pop("account_id", "PTR1"),
        object_id=object_id,
        event=extra.pop("event", "confirm-payment"),
        url=extra.pop("url", "http://merchant.test/callback"),
        body=json.dumps(body),
        secret_keys=("partnerSecret",),
        success_rule=rule,
        **extra,
    )


class _Pieces(httpx.AsyncByteStream):
    """A body handed over in 64 KiB pieces, as a network transport does (not read yet)."""

    def __init__(self, body: bytes) -> None:
        self.body = body

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for i in range(0, len(self.body), 65_536):
            yield self.body[i : i + 65_536]


@dataclass
class Merchant:
    """A scripted in-process merchant: answers (status, body) in turn, then ``default``."""

    #: (status, body) or (status, body, headers), or an exception to raise
    script: list[tuple[Any, ...] | Exception] = field(default_factory=list)
    default: tuple[int, bytes] | Exception = OK_00
    seen: list[httpx.Request] = field(default_factory=list)

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        answer = self.script.pop(0) if self.script else self.default
        if isinstance(answer, Exception):
            raise answer
        if len(answer) > 2:  # with headers: streamed in 64 KiB pieces, as from a socket
            return httpx.Response(answer[0], headers=answer[2], stream=_Pieces(answer[1]))
        return httpx.Response(answer[0], content=answer[1])

    def sender(self, db: Database, **kw: Any) -> Sender:
        kw.setdefault("rules", RULES)
        return Sender(db, POLICY, transport=httpx.MockTransport(self.handler), **kw)


def run_async(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """``asyncio.run(main())`` on a thread of its own: the session's Playwright keeps an event
    loop running on the main thread, where ``asyncio.run`` refuses to start."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(main())).result()


def run(env: Env, merchant: Merchant, steps: Callable[[Sender], Any], **kw: Any) -> Any:
    """Run ``steps(sender)`` (a coroutine function) on an event loop, then close the sender
    (``kw``: for the ``Sender``, e.g. other ``rules``)."""

    async def main() -> Any:
        sender = merchant.sender(env.db, **kw)
        try:
            return await steps(sender)
        finally:
            await sender.stop()

    return run_async(main)


# ------------------------------------------------------------------ success and recording


def test_delivered_on_first_try_with_the_attempt_recorded(env: Env) -> None:
    [dlv] = env.enqueue()
    merchant = Merchant()
    assert run(env, merchant, lambda s: s.run_once()) == 1
    sent = merchant.seen[0]
    assert sent.method == "POST" and str(sent.url) == "http://merchant.test/callback"
    assert sent.headers["content-type"] == "application/json"
    assert json.loads(sent.content)["partnerSecret"] == "s3cret-value"  # on the wire

    row = env.delivery(dlv)
    assert row["state"] == "succeeded" and row["attempts"] == 1 and row["last_http_status"] == 200
    [attempt] = env.attempts(dlv)
    assert attempt["number"] == 1 and attempt["succeeded"] and attempt["http_status"] == 200
    assert attempt["error"] is None and attempt["latency_ms"] >= 0
    assert '"statusCode":"00"' in attempt["response_body"]
    recorded = json.loads(attempt["request"])
    assert json.loads(recorded["body"])["partnerSecret"] == "***"  # redacted in the record
    assert recorded["url"] == "http://merchant.test/callback"


# ------------------------------------------------------------------ retries and back-off


def test_retries_follow_the_back_off_schedule_on_the_sandbox_clock(env: Env) -> None:
    [dlv] = env.enqueue()
    merchant = Merchant(script=[(500, b"oops"), (500, b"oops")])

    async def steps(sender: Sender) -> None:
        assert await sender.run_once() == 1
        row = env.delivery(dlv)
        assert row["state"] == "pending" and row["last_http_status"] == 500
        first_due = int(row["next_attempt_at_us"])
        assert 9.5 * US < first_due - env.now() <= 10 * US  # schedule[0] = 10 s
        assert await sender.run_once() == 0  # not due yet: nothing is sent early
        env.advance(9)
        assert await sender.run_once() == 0
        env.advance(1.5)
        assert await sender.run_once() == 1  # second attempt, 500 again
        second_due = int(env.delivery(dlv)["next_attempt_at_us"])
        assert 59.5 * US < second_due - env.now() <= 60 * US  # schedule[1] = 60 s
        env.advance(59)
        assert await sender.run_once() == 0
        env.advance(1.5)
        assert await sender.run_once() == 1  # third attempt succeeds

    run(env, merchant, steps)
    row = env.delivery(dlv)
    assert row["state"] == "succeeded" and row["attempts"] == 3
    attempts = env.attempts(dlv)
    assert [a["http_status"] for a in attempts] == [500, 500, 200]
    assert [bool(a["succeeded"]) for a in attempts] == [False, False, True]
    assert "not accepted" in attempts[0]["error"]
    assert len(merchant.seen) == 3


def test_gives_up_after_max_attempts(env: Env) -> None:
    [dlv] = env.enqueue()
    merchant = Merchant(default=(503, b""))

    async def steps(sender: Sender) -> None:
        for wait in (0, 10, 60, 300):  # the last schedule value repeats: 4 attempts in all
            env.advance(wait + 0.5 if wait else 0)
            assert await sender.run_once() == 1
        env.advance(3600)
        assert await sender.run_once() == 0

    run(env, merchant, steps)
    row = env.delivery(dlv)
    assert row["state"] == "failed" and row["attempts"] == 4
    assert row["completed_at_us"] is not None
    assert len(env.attempts(dlv)) == 4 and len(merchant.seen) == 4


@pytest.mark.parametrize(
    ("answer", "ok"),
    [
        ((200, b'{"statusCode":"00"}'), True),
        ((201, b'{"statusCode":"00"}'), True),
        ((200, b'{"statusCode":"10","errorCode":"x"}'), False),
        ((200, b"OK"), False),
        ((200, b'["00"]'), False),
        ((204, b""), False),
        ((500, b'{"statusCode":"00"}'), False),
    ],
)
def test_kplus_success_rule_needs_2xx_and_status_00(
    env: Env, answer: tuple[int, bytes], ok: bool
) -> None:
    [dlv] = env.enqueue()
    run(env, Merchant(script=[answer]), lambda s: s.run_once())
    assert env.delivery(dlv)["state"] == ("succeeded" if ok else "pending")


def test_http_2xx_rule_accepts_any_2xx(env: Env) -> None:
    [dlv] = env.enqueue(message(rule="http_2xx"))
    run(env, Merchant(script=[(204, b"")]), lambda s: s.run_once())
    assert env.delivery(dlv)["state"] == "succeeded"


def test_network_errors_and_timeouts_are_recorded_failures(env: Env) -> None:
    [dlv] = env.enqueue()
    merchant = Merchant(
        script=[httpx.ConnectError("connection refused"), httpx.ReadTimeout("slow")]
    )

    async def steps(sender: Sender) -> None:
        await sender.run_once()
        env.advance(11)
        await sender.run_once()

    run(env, merchant, steps)
    first, second = env.attempts(dlv)
    assert first["http_status"] is None and "ConnectError" in first["error"]
    assert second["http_status"] is None and second["error"] == "timeout after 2s"
    assert env.delivery(dlv)["state"] == "pending"


def test_unknown_success_rule_is_refused(env: Env) -> None:
    with pytest.raises(ValueError, match="unknown success rule"):
        env.enqueue(message(rule="whatever"))


# ------------------------------------------------------------------ claims and leases


def _claim(env: Env, token: str, real_now: int, lease_seconds: float = 7) -> list[Row]:
    """What ``Sender`` does in its claim transaction: claim, and put each attempt on record."""

    def tx(c: Conn) -> list[Row]:
        claimed = rows.claim_due(
            c,
            now_us=clock_rows.now_us(c),
            real_now_us=real_now,
            lease_until_us=real_now + int(lease_seconds * US),
            token=token,
            limit=10,
        )
        for r in claimed:
            rows.begin_attempt(c, r["id"], int(r["attempts"]), clock_rows.now_us(c), "{}")
        return claimed

    return env.db.write_sync(tx)  # type: ignore[no-any-return]


def _outcome(number: int, ok: bool = True) -> dict[str, Any]:
    return {
        "number": number,
        "http_status": 200 if ok else 500,
        "response_body": "",
        "error": None if ok else "merchant answer not accepted",
        "latency_ms": 1.0,
        "succeeded": ok,
    }


def _finish(env: Env, dlv: str, token: str, number: int, state: str = "succeeded") -> bool:
    at = env.now()
    return env.db.write_sync(  # type: ignore[no-any-return]
        lambda c: rows.finish_attempt(
            c,
            dlv,
            token,
            attempt=_outcome(number, state == "succeeded"),
            state=state,
            next_attempt_at_us=at,
            completed_at_us=at if state != "pending" else None,
        )
    )


def test_a_claim_holds_a_lease_and_a_dead_claimer_is_taken_over(env: Env) -> None:
    [dlv] = env.enqueue()
    now = real_now_us()
    [claimed] = _claim(env, "A" * 16, now)
    assert claimed["id"] == dlv and claimed["attempts"] == 1  # counted as it starts
    [begun] = env.attempts(dlv)
    assert begun["number"] == 1 and begun["error"] == rows.IN_FLIGHT  # on record at once
    assert _claim(env, "B" * 16, now) == []  # leased: nobody else takes it
    assert _claim(env, "B" * 16, now + 6 * US) == []
    [taken] = _claim(env, "B" * 16, now + 8 * US)  # lease over: claimer A is presumed dead
    assert taken["attempts"] == 2 and taken["lease_token"] == "B" * 16
    assert taken["max_attempts"] == POLICY.max_attempts + 1  # A's attempt is not charged
    first, second = env.attempts(dlv)
    assert first["error"] == rows.ABANDONED and second["error"] == rows.IN_FLIGHT

    assert _finish(env, dlv, "A" * 16, 1) is False  # A lost its lease: settles nothing ...
    assert env.delivery(dlv)["state"] == "pending"
    first = env.attempts(dlv)[0]
    assert first["succeeded"] and first["http_status"] == 200  # ... but its outcome is kept
    assert _finish(env, dlv, "B" * 16, 2) is True
    assert env.delivery(dlv)["state"] == "succeeded"
    assert len(env.attempts(dlv)) == 2
    assert _claim(env, "C" * 16, now + 100 * US) == []  # settled rows are never claimed


def test_a_crash_on_the_last_attempt_never_strands_the_delivery(env: Env) -> None:
    """Issue 10 #2: claimed on its last allowed attempt by a process that died, a delivery
    used to stay pending, in flight, unclaimable, for ever."""
    [dlv] = env.enqueue()
    env.db.write_sync(
        lambda c: c.exec("UPDATE deliveries SET attempts = max_attempts - 1 WHERE id = ?", dlv)
    )
    now = real_now_us()
    [last] = _claim(env, "A" * 16, now)
    assert last["attempts"] == last["max_attempts"] == POLICY.max_attempts
    assert _claim(env, "B" * 16, now + 6 * US) == []
    [again] = _claim(env, "B" * 16, now + 8 * US)  # A died: the row comes back, not charged
    assert again["attempts"] == POLICY.max_attempts + 1 == again["max_attempts"]
    assert _finish(env, dlv, "B" * 16, again["attempts"]) is True
    assert env.delivery(dlv)["state"] == "succeeded"


def test_one_attempt_in_flight_per_endpoint(env: Env) -> None:
    a1, a2 = env.enqueue(), env.enqueue()
    [b1] = env.enqueue(message(object_id="tokB", url="http://other.test/cb"))
    [c1] = env.enqueue(message(object_id="tokC", account_id="PTR2"))  # same URL, other account
    now = real_now_us()
    first = _claim(env, "A" * 16, now)
    assert sorted(r["id"] for r in first) == sorted([a1[0], b1, c1])  # one per endpoint
    assert _claim(env, "B" * 16, now) == []  # each endpoint busy: a2 waits for a1
    assert _finish(env, a1[0], "A" * 16, 1) is True
    [second] = _claim(env, "B" * 16, now)
    assert second["id"] == a2[0]


def test_a_claim_too_late_to_send_is_returned_unused(env: Env) -> None:
    [dlv] = env.enqueue()
    [row] = _claim(env, "A" * 16, real_now_us() - 60 * US)  # its lease is already over
    assert env.db.write_sync(lambda c: rows.return_unsent(c, dlv, "A" * 16, row["attempts"]))
    back = env.delivery(dlv)
    assert back["attempts"] == 0 and back["lease_token"] is None
    assert env.attempts(dlv) == []


def test_a_stopping_sender_hands_back_what_it_holds(env: Env) -> None:
    [dlv] = env.enqueue()
    gate = asyncio.Event()

    async def slow(request: httpx.Request) -> httpx.Response:
        await gate.wait()
        return httpx.Response(200, content=OK_00[1])

    async def main() -> None:
        sender = Sender(env.db, POLICY, transport=httpx.MockTransport(slow))
        task = asyncio.create_task(sender._dispatch())
        await task
        await asyncio.sleep(0.05)  # the attempt is in flight
        assert env.delivery(dlv)["lease_token"] is not None
        await sender.stop()

    run_async(main)
    row = env.delivery(dlv)
    assert row["lease_token"] is None and row["state"] == "pending"
    assert row["max_attempts"] == POLICY.max_attempts + 1
    [attempt] = env.attempts(dlv)
    assert "stopped during this attempt" in attempt["error"]


def test_concurrent_senders_never_deliver_the_same_attempt_twice(env: Env) -> None:
    ids = [i for n in range(30) for i in env.enqueue(message(object_id=f"tok{n}"))]
    merchant = Merchant()

    async def main() -> None:
        senders = [merchant.sender(env.db, batch=4) for _ in range(3)]

        async def drain(s: Sender) -> None:
            while await s.run_once():
                pass

        try:
            await asyncio.gather(*(drain(s) for s in senders))
        finally:
            for s in senders:
                await s.stop()

    run_async(main)
    tokens = [json.loads(r.content)["tokenId"] for r in merchant.seen]
    assert sorted(tokens) == sorted(f"tok{n}" for n in range(30))  # each exactly once
    assert all(env.delivery(i)["state"] == "succeeded" for i in ids)


# ------------------------------------------------------------------ requeue


def test_requeue_gives_a_failed_delivery_one_more_attempt(env: Env) -> None:
    [dlv] = env.enqueue()
    merchant = Merchant(default=(500, b""))

    async def steps(sender: Sender) -> None:
        for wait in (0, 10.5, 60.5, 300.5):
            env.advance(wait)
            await sender.run_once()
        assert env.delivery(dlv)["state"] == "failed"
        env.db.write_sync(lambda c: rows.requeue(c, dlv, clock_rows.now_us(c), real_now_us()))
        row = env.delivery(dlv)
        assert row["state"] == "pending" and row["max_attempts"] == 5
        assert row["completed_at_us"] is None
        merchant.default = OK_00
        assert await sender.run_once() == 1  # due at once, no clock move needed

    run(env, merchant, steps)
    row = env.delivery(dlv)
    assert row["state"] == "succeeded" and row["attempts"] == 5
    assert [a["number"] for a in env.attempts(dlv)] == [1, 2, 3, 4, 5]


def test_requeue_of_a_pending_delivery_makes_it_due_now(env: Env) -> None:
    [dlv] = env.enqueue(faults=Faults(delay_seconds=3600))
    merchant = Merchant()

    async def steps(sender: Sender) -> None:
        assert await sender.run_once() == 0
        env.db.write_sync(lambda c: rows.requeue(c, dlv, clock_rows.now_us(c), real_now_us()))
        assert env.delivery(dlv)["max_attempts"] == POLICY.max_attempts  # unchanged
        assert await sender.run_once() == 1

    run(env, merchant, steps)
    assert env.delivery(dlv)["state"] == "succeeded"


# ------------------------------------------------------------------ fault switches


def test_fault_duplicate_writes_two_deliveries(env: Env) -> None:
    ids = env.enqueue(faults=Faults(duplicate=True))
    assert len(ids) == 2 and ids[0] != ids[1]
    merchant = Merchant()

    async def steps(sender: Sender) -> None:
        assert await sender.run_once() == 1  # one endpoint: one attempt in flight at a time
        assert await sender.run_once() == 1
        assert await sender.run_once() == 0

    run(env, merchant, steps)
    assert len(merchant.seen) == 2 and merchant.seen[0].content == merchant.seen[1].content


def test_fault_delay_holds_the_delivery_on_the_sandbox_clock(env: Env) -> None:
    [dlv] = env.enqueue(faults=Faults(delay_seconds=90))
    merchant = Merchant()

    async def steps(sender: Sender) -> None:
        assert await sender.run_once() == 0
        env.advance(89)
        assert await sender.run_once() == 0
        env.advance(2)
        assert await sender.run_once() == 1

    run(env, merchant, steps)
    assert env.delivery(dlv)["state"] == "succeeded"


def test_fault_out_of_order_sends_the_newer_first(env: Env) -> None:
    faults = Faults(out_of_order=True, reorder_window_seconds=5)
    [older] = env.enqueue(message(object_id="first"), faults)
    [newer] = env.enqueue(message(object_id="second"), faults)
    assert env.delivery(older)["next_attempt_at_us"] > env.delivery(newer)["next_attempt_at_us"]
    merchant = Merchant()

    async def steps(sender: Sender) -> None:
        assert await sender.run_once() == 0
        env.advance(5.5)
        assert await sender.run_once() == 1
        env.advance(1.5)
        assert await sender.run_once() == 1

    run(env, merchant, steps)
    assert [json.loads(r.content)["tokenId"] for r in merchant.seen] == ["second", "first"]


def test_fault_switches_from_the_partner_settings() -> None:
    assert Faults.from_mapping(None) == Faults()
    f = Faults.from_mapping(
        {"duplicate": True, "delaySeconds": 7, "outOfOrder": True, "reorderWindowSeconds": 0}
    )
    assert f == Faults(
        duplicate=True, delay_seconds=7, out_of_order=True, reorder_window_seconds=0
    )  # an explicit 0 window is kept
    assert Faults.from_mapping({"outOfOrder": True}).reorder_window_seconds == 5


# ------------------------------------------------------------------ withdrawing a queued message


def test_withdraw_takes_back_only_what_no_sender_has_touched(env: Env) -> None:
    """A message queued ahead of time (due later) is taken back whole — duplicates included —
    while it is untouched. Once a sender has attempted one copy, nothing is taken back: the
    message stands, and its twin stays to go out too (it used to be taken back, so the
    merchant got one copy under the duplicate fault)."""
    later = Faults(duplicate=True, delay_seconds=600)
    ahead = env.enqueue(message("tok1", event="expired"), later)
    other_event = env.enqueue(message("tok1"), Faults(delay_seconds=600))
    other_object = env.enqueue(
        message("tok2", event="expired", url="http://merchant.test/other"), later
    )

    def withdraw(object_id: str) -> Any:
        return env.db.write_sync(
            lambda c: env.outbox.withdraw(
                c, provider="kplus", account_id="PTR1", object_id=object_id, event="expired"
            )
        )

    taken = withdraw("tok1")
    assert sorted(taken.withdrawn) == sorted(ahead) and taken.gone == 0
    assert env.db.write_sync(rows.get_delivery, ahead[0]) is None
    assert env.delivery(other_event[0])["state"] == "pending"  # another event of the object
    assert withdraw("tok1").withdrawn == []  # nothing left to take

    env.advance(601)
    merchant = Merchant(default=(500, b"no"))
    # one delivery per endpoint at a time: one of tok2's twins is attempted (and failed)
    assert run(env, merchant, lambda s: s.run_once()) == 2
    [attempted] = [d for d in other_object if env.delivery(d)["attempts"] == 1]
    again = withdraw("tok2")
    assert again.withdrawn == [] and again.gone == 1
    assert env.delivery(attempted)["state"] == "pending"  # it stays, to be retried
    [twin] = [d for d in other_object if d != attempted]
    assert env.delivery(twin)["state"] == "pending"  # and its twin, to go out as well
