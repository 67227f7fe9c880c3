"""Item 5 of issue 9: slow clients cannot hold the server. Headers must arrive within the
header timeout, a body may not pause longer than the body timeout, and above the connection
cap the longest-waiting idle connection gives way. Bounded counts, real sockets; the
2,000-connection figures are measured by ``bench/slow_clients.py``."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable

import httpx
import pytest

from ..kplus.builders import generate_body
from ..support import LiveServer, wait_until


def connect(live: LiveServer, first_bytes: bytes = b"") -> socket.socket:
    host, port = live.base_url.removeprefix("http://").split(":")
    s = socket.create_connection((host, int(port)), timeout=15)
    if first_bytes:
        s.sendall(first_bytes)
    return s


def read_until_closed(s: socket.socket) -> bytes:
    """Everything the server sends until it closes (the socket's timeout bounds the wait)."""
    got = b""
    while chunk := s.recv(4096):
        got += chunk
    return got


def closed_by_server(s: socket.socket) -> bool:
    s.setblocking(False)
    try:
        return s.recv(1) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True
    finally:
        s.setblocking(True)


@pytest.mark.parametrize(
    "first_bytes",
    [
        b"POST /_sandbox/reset HTTP/1.1\r\nHost: 127.0.0.1\r\n",  # headers never finished
        b"GET /_sandbox/clock HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: 1",
        b"P",
    ],
)
def test_unfinished_headers_get_408_and_the_connection_closed(
    make_server: Callable[..., LiveServer], first_bytes: bytes
) -> None:
    live = make_server(header_timeout_seconds=0.5)
    with connect(live, first_bytes) as s:
        answer = read_until_closed(s)
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert answer.endswith(b"\r\n\r\nrequest timeout\n")
    with live.client() as c:
        assert c.get("/_sandbox/clock").json()["offsetSeconds"] == 0  # the reset never ran


def test_a_connection_that_sends_nothing_is_closed_without_an_answer(
    make_server: Callable[..., LiveServer],
) -> None:
    live = make_server(header_timeout_seconds=0.5)
    with connect(live) as s:
        assert read_until_closed(s) == b""


def test_a_trickled_body_is_cut_off_quietly(
    make_server: Callable[..., LiveServer], caplog: pytest.LogCaptureFixture
) -> None:
    """The issue's case: ``Content-Length: 100`` and one byte sent."""
    caplog.set_level(logging.INFO)
    live = make_server(body_timeout_seconds=0.5)
    head = (
        b"POST /kplus/payment/generate-token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
    )
    with connect(live, head) as s:
        assert read_until_closed(s) == b""  # closed, nothing answered
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    with live.client() as c:
        assert c.get("/_sandbox/deliveries").json() == {"deliveries": []}
        r = c.post("/kplus/payment/generate-token", json=generate_body())
        assert r.json()["statusCode"] == "00"  # the server is fine


def test_a_body_that_keeps_coming_is_not_cut_off(make_server: Callable[..., LiveServer]) -> None:
    """The body timeout is a pause between pieces, not a deadline for the whole body."""
    live = make_server(body_timeout_seconds=0.6)
    body = httpx.Request("POST", "http://x", json=generate_body()).content
    head = (
        b"POST /kplus/payment/generate-token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nConnection: close\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    with connect(live, head) as s:
        for i in range(0, len(body), len(body) // 4 + 1):
            time.sleep(0.3)  # the slow client itself, in real time: half the allowed pause
            s.sendall(body[i : i + len(body) // 4 + 1])
        answer = read_until_closed(s)
    assert answer.startswith(b"HTTP/1.1 200 OK"), answer
    assert b'"statusCode":"00"' in answer


def test_slow_connections_give_way_to_normal_clients(
    make_server: Callable[..., LiveServer],
) -> None:
    """300 connections that never finish their headers on a server capped at 64: new clients
    are answered, and the slow ones above the cap are closed at once (not at the timeout)."""
    live = make_server(header_timeout_seconds=60, max_connections=64)
    slow = [
        connect(live, b"GET /_sandbox/clock HTTP/1.1\r\nHost: 127.0.0.1\r\n") for _ in range(300)
    ]
    try:
        for _ in range(20):
            with live.client() as c:  # a new connection each time
                r = c.get("/_sandbox/clock")
                assert r.status_code == 200 and r.json()["offsetSeconds"] == 0
        wait_until(lambda: sum(closed_by_server(s) for s in slow) >= 300 - 64)
        still_open = [s for s in slow if not closed_by_server(s)]
        assert 0 < len(still_open) <= 64
    finally:
        for s in slow:
            s.close()
