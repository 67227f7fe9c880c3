"""The served protocol's ``Coalescing`` transport: the writes of one turn of the event loop
leave in one send, at the end of the turn; a close sends what is held first; an abort drops it.
Then the same over the real server: pipelined requests and ``Connection: close``."""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from paysandbox.observe.server import Coalescing

from ..delivery.test_outbox import run_async  # asyncio.run off the browser tests' loop
from ..e2e.test_restart import _free_port, _start
from ..support import LiveServer, is_postgres


class Recording(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[str, bytes]] = []

    def write(self, data: Any) -> None:
        self.events.append(("write", bytes(data)))

    def close(self) -> None:
        self.events.append(("close", b""))

    def abort(self) -> None:
        self.events.append(("abort", b""))

    def get_write_buffer_size(self) -> int:
        return 0

    def is_closing(self) -> bool:
        return self.closed

    closed = False


async def _turn() -> None:
    await asyncio.sleep(0)
    await asyncio.sleep(0)


def test_one_turns_writes_leave_joined_at_its_end() -> None:
    async def go() -> list[tuple[str, bytes]]:
        inner = Recording()
        t = Coalescing(inner)
        t.write(b"HTTP/1.1 200 OK\r\n\r\n")
        t.writelines([b"{", bytearray(b'"a"'), memoryview(b":1}")])
        assert inner.events == []  # nothing sent inside the turn
        assert t.get_write_buffer_size() == len(b'HTTP/1.1 200 OK\r\n\r\n{"a":1}')
        await _turn()
        t.write(b"second")
        await _turn()
        return inner.events

    assert run_async(go) == [
        ("write", b'HTTP/1.1 200 OK\r\n\r\n{"a":1}'),
        ("write", b"second"),
    ]


def test_close_sends_what_is_held_first_and_abort_drops_it() -> None:
    async def go() -> tuple[list[tuple[str, bytes]], list[tuple[str, bytes]]]:
        closed, aborted = Recording(), Recording()
        a, b = Coalescing(closed), Coalescing(aborted)
        a.write(b"answer")
        a.close()
        b.write(b"answer")
        b.abort()
        await _turn()  # the turn's own flush finds nothing left to send
        return closed.events, aborted.events

    closed, aborted = run_async(go)
    assert closed == [("write", b"answer"), ("close", b"")]
    assert aborted == [("abort", b"")]


def test_what_is_held_for_a_connection_the_client_closed_is_dropped() -> None:
    class Gone(Recording):
        closed = True

        def write(self, data: Any) -> None:
            raise RuntimeError("unable to perform operation: the handler is closed")  # uvloop

    async def go() -> list[tuple[str, bytes]]:
        inner = Gone()
        t = Coalescing(inner)
        t.write(b"answer")
        t.flush()  # no exception, nothing written
        await _turn()
        return inner.events

    assert run_async(go) == []


def _inquire(uid: str, extra: str = "") -> bytes:
    body = (
        f'{{"partnerTxnUid":"{uid}","partnerId":"PTR1902369",'
        '"partnerSecret":"7da57c4eb242435fa3e91bb7a69e2a28",'
        '"requestDt":"2019-07-04T18:00:42.411","tokenId":"KMCMPTNONE"}'
    ).encode()
    head = (
        "POST /kplus/payment/inquire-token HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    ).encode()
    return head + body


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_pipelined_requests_get_whole_answers_in_order(server: LiveServer) -> None:
    port = int(server.base_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(_inquire("P1") + _inquire("P2") + _inquire("P3", "Connection: close\r\n"))
        data = _read_all(s)  # the server closes after the third answer: all of it was sent
    answers = data.split(b"HTTP/1.1 ")[1:]
    assert len(answers) == 3
    for uid, answer in zip(("P1", "P2", "P3"), answers, strict=True):
        head, body = answer.split(b"\r\n\r\n", 1)
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        assert len(body) == length  # the whole body, head and body together
        assert f'"partnerTxnUid":"{uid}"'.encode() in body
        assert b'"errorCode"' in body


@pytest.mark.sqlite_only
def test_a_client_that_half_closes_after_asking_still_gets_the_answer(server: LiveServer) -> None:
    """An answer made before the end of input was read (on SQLite an inquire is made in the turn
    its request arrived in) is sent before the connection closes. On PostgreSQL the answer
    waits for a database round trip, and uvicorn closes at the end of input — before as now."""
    port = int(server.base_url.rsplit(":", 1)[1])
    for n in range(20):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(_inquire(f"H{n}"))
            s.shutdown(socket.SHUT_WR)  # no more requests: the server sees the end of input
            answer = _read_all(s)
        assert answer.startswith(b"HTTP/1.1 "), answer
        assert f'"partnerTxnUid":"H{n}"'.encode() in answer


def test_a_request_cut_off_by_the_end_of_input_closes_at_once(server: LiveServer) -> None:
    port = int(server.base_url.rsplit(":", 1)[1])
    whole = _inquire("CUT")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(whole[: len(whole) - 20])  # the body is 20 bytes short
        s.shutdown(socket.SHUT_WR)
        started = time.monotonic()
        data = _read_all(s)
    assert data == b""  # closed without an answer, as uvicorn does
    assert time.monotonic() - started < 5  # not held until the body timeout (10 s)


def _hit_and_reset(port: int, connections: int) -> None:
    """Send three pipelined requests and reset the connection at once (SO_LINGER 0)."""
    for _ in range(connections):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(_inquire("R1") * 3)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def test_clients_that_reset_after_asking_leave_no_errors(fresh_db_url: str, tmp_path: Path) -> None:
    """The real CLI (uvloop): answers held for the end of the turn to connections that were
    reset meanwhile are dropped quietly — no "Exception in callback" in the server's output —
    and the server keeps serving."""
    port = _free_port()
    proc = _start(fresh_db_url, port, tmp_path)
    try:
        threads = [threading.Thread(target=_hit_and_reset, args=(port, 100)) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(_inquire("AFTER", "Connection: close\r\n"))
            answer = _read_all(s)
        assert answer.startswith(b"HTTP/1.1 ") and b'"partnerTxnUid":"AFTER"' in answer
        if not is_postgres():  # the answer is made in the turn its request arrived in
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(_inquire("HALF"))
                s.shutdown(socket.SHUT_WR)  # uvloop: the answer still arrives
                answer = _read_all(s)
            assert answer.startswith(b"HTTP/1.1 ") and b'"partnerTxnUid":"HALF"' in answer
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    text = out.decode("utf-8", "replace")
    assert "Exception in callback" not in text, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
