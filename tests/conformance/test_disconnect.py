"""A client that goes away in the middle of its request body is one INFO line in the log,
never a traceback, and leaves nothing behind."""

from __future__ import annotations

import logging
import socket
from urllib.parse import urlsplit

import httpx
import pytest

from paysandbox.providers import REGISTERED

from ..support import LiveServer, wait_until


@pytest.mark.parametrize("name", [p.name for p in REGISTERED] + ["control"])
def test_client_disconnect_mid_body_is_one_info_line(
    client: httpx.Client, server: LiveServer, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    if name == "control":
        path, headers = "/_sandbox/clock/advance", {}
    else:
        ex = next(p for p in REGISTERED if p.name == name).example()
        path, headers = ex.path, {k: v for k, v in ex.headers.items() if k != "Content-Type"}
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    url = urlsplit(server.base_url)
    caplog.set_level(logging.INFO)
    with socket.create_connection((url.hostname, url.port)) as s:
        s.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {url.netloc}\r\n"
            f"Content-Type: application/json\r\n{extra}"
            'Content-Length: 1000\r\n\r\n{"partial":'.encode()
        )
    wait_until(lambda: any("client went away" in r.getMessage() for r in caplog.records))
    mine = [r for r in caplog.records if path in r.getMessage()]
    assert [r.levelno for r in mine] == [logging.INFO], [r.getMessage() for r in mine]
    assert not any(r.exc_info for r in caplog.records)
    assert "Traceback" not in caplog.text
    assert client.get("/_sandbox/clock").json()["offsetSeconds"] == 0
