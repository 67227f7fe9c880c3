"""The control CLI (``paysandbox pay|decline|expire|show|list|clock|advance|deliveries|
delivery|retry|reset``) as a subprocess against a live server."""

from __future__ import annotations

import json
import shlex
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from ..kplus.builders import generate_body
from ..nicepay import builders as nb
from ..support import KPLUS_ID, LiveServer, Receiver, wait_settled

CLI = [sys.executable, "-m", "paysandbox"]


def ctl(server: LiveServer, *args: str, code: int = 0) -> Any:
    got = subprocess.run(
        [*CLI, *args, "--url", server.base_url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert got.returncode == code, (got.stdout, got.stderr)
    if code:
        assert got.stdout == ""
        lines = got.stderr.strip().splitlines()
        assert len(lines) == 1, got.stderr
        return lines[0]
    return json.loads(got.stdout)


def generate(client: httpx.Client) -> str:
    return str(client.post("/kplus/payment/generate-token", json=generate_body()).json()["tokenId"])


def test_kplus_pay_decline_expire_show_list(server: LiveServer, client: httpx.Client) -> None:
    paid, declined, expired = generate(client), generate(client), generate(client)
    view = ctl(server, "pay", "kplus", paid, "--account", "0123456789")
    assert view["tokenId"] == paid and view["paymentStatus"] == "PAID"
    assert view["paymentAccount"] == "x-x-x5678-x"
    view = ctl(server, "decline", "kplus", declined)
    assert view["events"][-1]["kind"] == "declined"
    assert ctl(server, "expire", "kplus", expired)["status"] == "EXPIRED"
    assert ctl(server, "show", "kplus", paid)["status"] == "PAID"
    listed = ctl(server, "list", "kplus", "--account", KPLUS_ID, "--state", "PAID")
    assert [t["tokenId"] for t in listed["tokens"]] == [paid]
    line = ctl(server, "pay", "kplus", paid, code=1)
    assert line.startswith("paysandbox: 409 conflict: ")
    line = ctl(server, "show", "kplus", "NOSUCHTOKEN1", code=1)
    assert line.startswith("paysandbox: 404 not_found: ")
    line = ctl(server, "list", "kplus", "--state", "bogus", code=1)
    assert line == (
        "paysandbox: 400 bad_request: state must be one of "
        "CANCELLED, EXPIRED, PAID, REQUESTED, VOIDED"
    )


def test_nicepay_pay_and_expire(server: LiveServer, client: httpx.Client) -> None:
    first = nb.register(client, "02")["tXid"]
    second = nb.register(client, "02")["tXid"]
    assert ctl(server, "pay", "nicepay", first, "--amount", "10000")["state"] == "PAID"
    assert ctl(server, "expire", "nicepay", second)["state"] == "EXPIRED"
    listed = ctl(server, "list", "nicepay")["transactions"]
    assert {t["tXid"]: t["state"] for t in listed} == {first: "PAID", second: "EXPIRED"}


def test_clock_advance_reset(server: LiveServer, client: httpx.Client) -> None:
    assert ctl(server, "clock")["offsetSeconds"] == 0
    assert ctl(server, "advance", "2h")["offsetSeconds"] == 7200
    assert ctl(server, "advance", "90")["offsetSeconds"] == 7290
    token = generate(client)
    answer = ctl(server, "reset")
    assert answer["reset"] is True and answer["clock"]["offsetSeconds"] == 0
    assert client.get("/_sandbox/clock").json()["offsetSeconds"] == 0
    assert client.get(f"/_sandbox/kplus/tokens/{token}").status_code == 404
    got = subprocess.run(
        [*CLI, "advance", "soon", "--url", server.base_url], capture_output=True, text=True
    )
    assert got.returncode == 2 and "'soon' is not a duration like 90, 30m, 2h or 1d" in got.stderr


def test_deliveries_and_retry(server: LiveServer, client: httpx.Client, receiver: Receiver) -> None:
    receiver.script = [(500, b"{}")]
    client.put(f"/_sandbox/kplus/partners/{KPLUS_ID}", json={"callbackUrl": receiver.url})
    token = generate(client)
    client.post(f"/_sandbox/kplus/tokens/{token}/pay")
    receiver.wait_for(1)
    wait_settled(client)
    listed = ctl(server, "deliveries", "--provider", "kplus", "--state", "pending")
    assert [d["objectId"] for d in listed["deliveries"]] == [token]
    delivery_id = listed["deliveries"][0]["id"]
    assert ctl(server, "delivery", delivery_id)["attemptLog"][0]["httpStatus"] == 500
    ctl(server, "retry", delivery_id)  # due now, without moving the clock
    receiver.wait_for(2)
    wait_settled(client)
    assert ctl(server, "delivery", delivery_id)["state"] == "succeeded"
    line = ctl(server, "retry", "nope", code=1)
    assert line == "paysandbox: 404 not_found: no delivery nope"


def test_token_is_sent_as_bearer(receiver: Receiver) -> None:
    got = subprocess.run(
        [*CLI, "reset", "--url", receiver.url],
        capture_output=True,
        text=True,
        env={"PAYSANDBOX_CONTROL_TOKEN": "t0ken-from-env", "PATH": ""},
        timeout=60,
        check=False,
    )
    assert got.returncode == 0 and json.loads(got.stdout) == {"statusCode": "00"}
    subprocess.run(
        [*CLI, "reset", "--url", receiver.url, "--token", "t0ken-from-flag"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    seen = [r.headers.get("Authorization") for r in receiver.wait_for(2)]
    assert seen == ["Bearer t0ken-from-env", "Bearer t0ken-from-flag"]
    assert [r.path for r in receiver.requests] == ["/_sandbox/reset", "/_sandbox/reset"]


def test_unreachable_server_is_one_line() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    got = subprocess.run(
        [*CLI, "clock", "--url", f"http://127.0.0.1:{port}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert got.returncode == 1
    assert got.stderr.strip().splitlines() == [
        f"paysandbox: cannot reach http://127.0.0.1:{port}: [Errno 111] Connection refused"
    ]


def test_a_narrowing_flag_is_never_dropped(server: LiveServer, client: httpx.Client) -> None:
    """``reset``/``advance``/``clock`` with ``--provider`` but no ``--account`` are refused
    (they acted on the whole sandbox); ids cannot climb to another route (``..``, ``?``)."""
    token = generate(client)
    for args in (
        ("reset", "--provider", "kplus"),
        ("advance", "1h", "--provider", "kplus"),
        ("clock", "--provider", "nicepay"),
    ):
        got = subprocess.run(
            [*CLI, *args, "--url", server.base_url], capture_output=True, text=True, check=False
        )
        assert got.returncode == 2 and got.stdout == "", (args, got)
        assert (
            got.stderr.strip()
            == "paysandbox: --provider needs --account (without both, the whole sandbox)"
        )
    for args in (
        ("reset", "--provider", "kplus", "--account", ".."),
        ("reset", "--provider", "kplus", "--account", ""),
        ("pay", "kplus", ".."),
    ):
        assert ctl(server, *args, code=2) == f"paysandbox: {args[-1]!r} is not an id"
    for args in (
        ("reset", "--provider", "kplus", "--account", "../.."),
        ("advance", "1h", "--provider", "kplus", "--account", "../.."),
        ("pay", "kplus", "../../reset?"),
        ("show", "kplus", "x#y"),
    ):
        line = ctl(server, *args, code=1)
        assert line.startswith(("paysandbox: 404 not_found", "paysandbox: 400 bad_request")), line
    assert client.get(f"/_sandbox/kplus/tokens/{token}").status_code == 200  # nothing reset
    assert client.get("/_sandbox/clock").json()["offsetSeconds"] == 0  # nor moved


def test_bad_token_and_url_are_one_line_without_the_token(receiver: Receiver) -> None:
    def run(*args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {"PATH": ""} | ({"PAYSANDBOX_CONTROL_TOKEN": token} if token is not None else {})
        return subprocess.run(
            [*CLI, *args], capture_output=True, text=True, env=env, timeout=60, check=False
        )

    # a token file's line end is dropped, the token sent
    got = run("reset", "--url", receiver.url, token="t0ken-from-a-file\r\n")
    assert got.returncode == 0, got.stderr
    assert receiver.wait_for(1)[0].headers["Authorization"] == "Bearer t0ken-from-a-file"
    for token in ("SECRETTOKEN\u00e9", "SECRET\rTOKEN", "SECRET\x7fTOKEN"):
        got = run("reset", "--url", receiver.url, token=token)
        assert got.returncode == 2 and got.stdout == ""
        assert got.stderr == "paysandbox: the control token must be printable ASCII (not shown)\n"
        assert "SECRET" not in got.stderr
    for url in ("http://[::1", "ftp://127.0.0.1:1", "nonsense"):
        got = run("clock", "--url", url)
        assert got.returncode == 2 and len(got.stderr.strip().splitlines()) == 1, got.stderr
        assert "Traceback" not in got.stderr and "is not" in got.stderr
    assert len(receiver.requests) == 1


def test_output_cut_short_by_head_ends_quietly(
    server: LiveServer, client: httpx.Client, tmp_path: Path
) -> None:
    """``paysandbox list kplus | head -1``: the answer (~150 KB, more than a pipe holds) is cut
    short when ``head`` leaves; the CLI ends with status 141 (128 + SIGPIPE, as ``seq`` would)
    and writes nothing to stderr — no BrokenPipeError traceback."""
    for _ in range(400):
        generate(client)
    errors = tmp_path / "cli-stderr"
    script = f'set -o pipefail; "$@" 2>{shlex.quote(str(errors))} | head -1'
    command = [*CLI, "list", "kplus", "--limit", "400", "--url", server.base_url]
    got = subprocess.run(
        ["bash", "-c", script, "bash", *command],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (got.returncode, got.stdout, errors.read_text()) == (141, "{\n", "")


def test_output_to_a_closed_pipe_ends_quietly(server: LiveServer, client: httpx.Client) -> None:
    """The reader is gone before the CLI writes a byte (a small answer, written only when the
    output is flushed): still status 141 and an empty stderr, not "Exception ignored …"."""
    cli = subprocess.Popen(
        [*CLI, "clock", "--url", server.base_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert cli.stdout is not None and cli.stderr is not None
    cli.stdout.close()  # the only read end: the CLI's first write gets EPIPE
    assert cli.stderr.read() == b""
    assert cli.wait(timeout=60) == 141
    cli.stderr.close()
