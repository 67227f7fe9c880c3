"""State survives a kill -9: the real CLI in a subprocess, killed right after it answered."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from ..kplus.builders import creds, generate_body

BIN = Path(sys.executable).parent / "paysandbox"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(db_url: str, port: int, cwd: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [str(BIN), "serve", "--port", str(port), "--db", db_url, "--log-level", "warning"],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/_sandbox/clock", timeout=1)
            return proc
        except httpx.TransportError:
            if proc.poll() is not None or time.monotonic() > deadline:
                out = proc.stdout.read() if proc.stdout else b""
                raise AssertionError(f"server did not start: {out.decode()}") from None
            time.sleep(0.05)


def test_acknowledged_changes_survive_kill_9(fresh_db_url: str, tmp_path: Path) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = _start(fresh_db_url, port, tmp_path)
    try:
        paid = httpx.post(f"{base}/kplus/payment/generate-token", json=generate_body()).json()
        cancelled = httpx.post(f"{base}/kplus/payment/generate-token", json=generate_body()).json()
        httpx.post(f"{base}/_sandbox/clock/advance", json={"seconds": 120})
        httpx.post(
            f"{base}/_sandbox/kplus/tokens/{paid['tokenId']}/pay",
            json={"paymentAccount": "1112223334"},
        )
        r = httpx.post(
            f"{base}/kplus/payment/cancel-token",
            json=creds(tokenId=cancelled["tokenId"], reference1="x"),
        )
        assert r.json()["statusCode"] == "00"
    finally:
        os.kill(proc.pid, signal.SIGKILL)  # no shutdown, no checkpoint, no goodbye
        proc.wait()
    proc = _start(fresh_db_url, port, tmp_path)
    try:
        a = httpx.post(
            f"{base}/kplus/payment/inquire-token", json=creds(tokenId=paid["tokenId"])
        ).json()
        assert a["paymentStatus"] == "PAID" and a["paymentAccount"] == "x-x-x2333-x"
        b = httpx.post(
            f"{base}/kplus/payment/inquire-token", json=creds(tokenId=cancelled["tokenId"])
        ).json()
        assert b["paymentStatus"] == "CANCELLED"
        assert httpx.get(f"{base}/_sandbox/clock").json()["offsetSeconds"] >= 120
        events = httpx.get(f"{base}/_sandbox/kplus/tokens/{paid['tokenId']}").json()["events"]
        assert [e["kind"] for e in events] == ["created", "paid"]
    finally:
        proc.terminate()
        proc.wait(timeout=20)
