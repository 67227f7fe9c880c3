"""Wrong control tokens are counted per client address; past the limit, attempts get 429."""

from __future__ import annotations

from collections.abc import Callable

from paysandbox.security.attempts import FailedAttempts

from ..support import LiveServer
from .conftest import TOKEN

BEARER = {"Authorization": f"Bearer {TOKEN}"}
WRONG = {"Authorization": "Bearer not-the-token-at-all"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_window_slides_and_each_address_counts_alone() -> None:
    clock = Clock()
    a = FailedAttempts(limit=3, window=60, clock=clock)
    for _ in range(2):
        a.failed("10.0.0.1")
        clock.now += 10
    assert a.retry_after("10.0.0.1") is None  # two of three
    a.failed("10.0.0.1")  # failures at 1000, 1010, 1020; now 1020
    assert a.retry_after("10.0.0.1") == 40  # until the one at 1000 is a minute old
    assert a.retry_after("10.0.0.2") is None
    clock.now = 1059.5
    assert a.retry_after("10.0.0.1") == 1
    clock.now = 1060.0
    assert a.retry_after("10.0.0.1") is None  # 1000 left the window: two remain
    a.failed("10.0.0.1")
    assert a.retry_after("10.0.0.1") == 10  # 1010, 1020, 1060: wait for 1010 to leave
    clock.now += 3600
    assert a.retry_after("10.0.0.1") is None
    assert a._failures == {}  # forgotten once every failure left the window


def test_no_limit_and_bounded_memory() -> None:
    off = FailedAttempts(limit=0)
    for _ in range(100):
        off.failed("10.0.0.1")
    assert off.retry_after("10.0.0.1") is None
    small = FailedAttempts(limit=1, max_addresses=3)
    for n in range(5):
        small.failed(f"10.0.0.{n}")
    assert list(small._failures) == ["10.0.0.2", "10.0.0.3", "10.0.0.4"]
    assert small.retry_after("10.0.0.4") is not None and small.retry_after("10.0.0.0") is None


def test_bearer_guesses_are_refused_after_ten(make_server: Callable[..., LiveServer]) -> None:
    live = make_server(control_token=TOKEN)
    with live.client() as c:
        signed_in = c.post("/_sandbox/login", data={"token": TOKEN, "next": "/_sandbox/clock"})
        assert signed_in.status_code == 303
        cookie = signed_in.headers["set-cookie"].split(";", 1)[0]
        c.cookies.clear()
        for _ in range(20):  # no token at all: not an attempt
            r = c.get("/_sandbox/clock")
            assert r.status_code == 401 and r.json()["error"] == "unauthorized", r.text
        for _ in range(10):
            r = c.get("/_sandbox/clock", headers=WRONG)
            assert r.status_code == 401 and r.json()["error"] == "unauthorized", r.text
        for headers in (WRONG, BEARER):  # now even the right token is refused, unchecked
            r = c.get("/_sandbox/clock", headers=headers)
            assert r.status_code == 429, r.text
            assert r.json() == {
                "error": "too_many_attempts",
                "message": "too many wrong control tokens from this address; try again in "
                f"{r.headers['retry-after']} s",
            }
            assert 1 <= int(r.headers["retry-after"]) <= 60
        # the signed-in browser's cookie still works, and nothing changed meanwhile
        r = c.get("/_sandbox/clock", headers={"Cookie": cookie})
        assert r.status_code == 200 and r.json()["offsetSeconds"] == 0


def test_sign_in_guesses_are_refused_after_ten(make_server: Callable[..., LiveServer]) -> None:
    live = make_server(control_token=TOKEN)
    with live.client() as c:
        for n in range(10):
            r = c.post("/_sandbox/login", data={"token": f"guess-{n}", "next": "/_sandbox/"})
            assert r.status_code == 401 and "That is not the control token." in r.text
        r = c.post("/_sandbox/login", data={"token": TOKEN, "next": "/_sandbox/"})
        assert r.status_code == 429, r.text
        assert "Too many wrong tokens from your address" in r.text
        assert 1 <= int(r.headers["retry-after"]) <= 60
        assert "set-cookie" not in r.headers
        r = c.get("/_sandbox/clock", headers=BEARER)  # one count for both ways in
        assert r.status_code == 429 and r.json()["error"] == "too_many_attempts", r.text


def test_the_limit_can_be_turned_off(make_server: Callable[..., LiveServer]) -> None:
    live = make_server(control_token=TOKEN, control_token_attempts=0)
    with live.client() as c:
        for _ in range(15):
            r = c.get("/_sandbox/clock", headers=WRONG)
            assert r.status_code == 401 and r.json()["error"] == "unauthorized", r.text
        r = c.get("/_sandbox/clock", headers=BEARER)
        assert r.status_code == 200 and r.json()["offsetSeconds"] == 0, r.text
