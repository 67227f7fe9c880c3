"""The sender survives what a merchant URL can throw at it; retries never overlap attempts."""

from __future__ import annotations

import secrets

import pytest

from paysandbox.core.clock import real_now_us
from paysandbox.delivery.urls import BadUrl, check_callback_url, redact_url
from paysandbox.store import clock as clock_rows
from paysandbox.store import outbox as rows

from .test_outbox import POLICY, RULES, Env, Merchant, message, run


def test_an_unusable_url_is_a_recorded_failure_not_a_wedged_sender(env: Env) -> None:
    """``http://[::1`` makes httpx raise InvalidURL (not an HTTPError): still an attempt."""
    merchant = Merchant()
    (dlv,) = env.enqueue(message(url="http://[::1"))
    for attempt in range(1, POLICY.max_attempts + 1):
        claimed = run(env, merchant, lambda s: s.run_once())
        assert claimed == 1
        row = env.delivery(dlv)
        assert row["attempts"] == attempt
        env.advance(400)
    assert env.delivery(dlv)["state"] == "failed"
    log = env.attempts(dlv)
    assert len(log) == POLICY.max_attempts
    assert all(a["http_status"] is None and "InvalidURL" in a["error"] for a in log)
    assert run(env, merchant, lambda s: s.run_once()) == 0
    assert merchant.seen == []


def test_claims_never_exceed_max_attempts(env: Env) -> None:
    (dlv,) = env.enqueue()
    env.db.write_sync(lambda c: c.exec("UPDATE deliveries SET attempts = max_attempts"))
    assert run(env, Merchant(), lambda s: s.run_once()) == 0
    assert env.delivery(dlv)["state"] == "pending"


def test_requeue_refused_while_an_attempt_holds_the_lease(env: Env) -> None:
    (dlv,) = env.enqueue()
    token = secrets.token_hex(8)
    claimed = env.db.write_sync(
        lambda c: rows.claim_due(
            c,
            now_us=clock_rows.now_us(c),
            real_now_us=real_now_us(),
            lease_until_us=real_now_us() + 60_000_000,
            token=token,
            limit=5,
        )
    )
    assert [r["id"] for r in claimed] == [dlv]
    ok = env.db.write_sync(lambda c: rows.requeue(c, dlv, clock_rows.now_us(c), real_now_us()))
    assert ok is False
    assert env.delivery(dlv)["lease_token"] == token
    later = real_now_us() + 120_000_000  # the lease has run out: a retry may take it over
    assert env.db.write_sync(lambda c: rows.requeue(c, dlv, clock_rows.now_us(c), later))


@pytest.mark.parametrize(
    "url",
    [
        "http://[::1",
        "ftp://x/y",
        "http://",
        "/relative",
        "http://host:99999/",
        "mailto:a@b",
        "http://a b/",
        "http://ok/ x",
    ],
)
def test_check_callback_url_refuses(url: str) -> None:
    with pytest.raises(BadUrl) as info:
        check_callback_url(url, field="callbackUrl")
    assert url not in str(info.value)


def test_check_callback_url_accepts_and_redacts() -> None:
    assert check_callback_url("https://merchant.example:8443/cb?x=1") == (
        "https://merchant.example:8443/cb?x=1"
    )
    assert redact_url("http://user:pa55@merchant.example/cb") == "http://***@merchant.example/cb"
    assert redact_url("http://merchant.example/cb") == "http://merchant.example/cb"
    assert redact_url(None) is None


def test_an_answer_nested_absurdly_deep_is_a_settled_failure(env: Env) -> None:
    """K PLUS's rule parses the answer: 60,000 ``[`` raised RecursionError outside the
    sender's guard, so the attempt stayed in flight until its lease ran out, was recorded as a
    crash, and was retried without end."""
    (dlv,) = env.enqueue()
    deep = b"[" * 60_000  # under MAX_READ_ANSWER: the rule sees all of it
    run(env, Merchant(script=[(200, deep)]), lambda s: s.run_once())
    row = env.delivery(dlv)
    assert (row["state"], row["attempts"]) == ("pending", 1)
    assert row["lease_token"] is None  # settled, not left to the lease
    [attempt] = env.attempts(dlv)
    assert attempt["http_status"] == 200 and attempt["succeeded"] in (0, False)
    assert attempt["error"] == "merchant answer not accepted (rule kplus_status00)"


def test_a_success_rule_that_fails_is_a_recorded_failure(env: Env) -> None:
    def broken(status: int, body: bytes) -> bool:
        raise KeyError("a bug in a provider's rule")

    (dlv,) = env.enqueue(message(rule="http_2xx"))
    merchant = Merchant()
    rules = {**RULES, "http_2xx": broken}
    run(env, merchant, lambda s: s.run_once(), rules=rules)
    [attempt] = env.attempts(dlv)
    assert attempt["error"] == "success rule http_2xx failed: KeyError"
    assert env.delivery(dlv)["state"] == "pending"


def test_only_the_first_64_kib_of_an_answer_are_read(env: Env) -> None:
    """A receiver may answer hundreds of megabytes (a server read them all into memory and
    parsed them on the event loop): the rule judges at most MAX_READ_ANSWER bytes."""
    from paysandbox.delivery.sender import MAX_READ_ANSWER, MAX_RECORDED_ANSWER

    seen: list[int] = []

    def measuring(status: int, body: bytes) -> bool:
        seen.append(len(body))
        return False

    huge = b'{"statusCode":"00","x":"' + b"A" * 5_000_000 + b'"}'
    (dlv,) = env.enqueue(message(rule="http_2xx"))
    rules = {**RULES, "http_2xx": measuring}
    run(env, Merchant(script=[(200, huge, {})]), lambda s: s.run_once(), rules=rules)
    assert seen == [MAX_READ_ANSWER]
    [attempt] = env.attempts(dlv)
    assert attempt["error"] == (
        "merchant answer not accepted (rule http_2xx); "
        f"only its first {MAX_READ_ANSWER} bytes were read"
    )
    assert len(attempt["response_body"]) == MAX_RECORDED_ANSWER
    # K PLUS's rule on the cut answer: not JSON any more, so not accepted (and retried)
    (other,) = env.enqueue(message(object_id="tok2"))
    run(env, Merchant(script=[(200, huge)]), lambda s: s.run_once())
    assert env.delivery(other)["state"] == "pending"
    small = b'{"statusCode":"00","x":"' + b"A" * 1000 + b'"}'
    (third,) = env.enqueue(message(object_id="tok3"))
    run(env, Merchant(script=[(200, small)]), lambda s: s.run_once())
    assert env.delivery(third)["state"] == "succeeded"


def test_a_gzip_answer_is_decoded_with_its_output_bounded(env: Env) -> None:
    """A gzip bomb (50 MB of zeros in ~50 KB): httpx would inflate a whole network chunk at
    once; the sender inflates at most MAX_READ_ANSWER + 1 bytes of it. A small gzip answer is
    read as text, as before; a broken one is a recorded decoding error."""
    import gzip
    import tracemalloc

    from paysandbox.delivery.sender import ACCEPT_ENCODING, MAX_READ_ANSWER

    seen: list[int] = []

    def measuring(status: int, body: bytes) -> bool:
        seen.append(len(body))
        return False

    bomb = gzip.compress(b"\0" * 50_000_000)
    assert len(bomb) < 100_000
    gz = {"Content-Encoding": "gzip"}
    merchant = Merchant(script=[(200, bomb, gz)])
    (dlv,) = env.enqueue(message(rule="http_2xx"))
    tracemalloc.start()
    try:
        run(env, merchant, lambda s: s.run_once(), rules={**RULES, "http_2xx": measuring})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16_000_000  # httpx's own decoding of one 64 KiB piece: ~64 MB
    assert seen == [MAX_READ_ANSWER]
    assert merchant.seen[0].headers["accept-encoding"] == ACCEPT_ENCODING
    assert env.attempts(dlv)[0]["error"].endswith(
        f"only its first {MAX_READ_ANSWER} bytes were read"
    )

    ok = gzip.compress(b'{"statusCode":"00"}')
    (good,) = env.enqueue(message(object_id="tok2"))
    run(env, Merchant(script=[(200, ok, gz)]), lambda s: s.run_once())
    assert env.delivery(good)["state"] == "succeeded"

    (bad,) = env.enqueue(message(object_id="tok3"))
    run(env, Merchant(script=[(200, b"not gzip at all", gz)]), lambda s: s.run_once())
    [attempt] = env.attempts(bad)
    assert attempt["http_status"] is None and attempt["error"].startswith("DecodingError: gzip")
