"""Item 1 (where the token comes from) and item 5 (the limit settings): flags, environment,
config file; a non-loopback bind without a token generates one and prints it once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from paysandbox.cli import _parser, build_settings
from paysandbox.security.guard import ensure_control_token
from paysandbox.settings import ConfigError, Settings

from ..support import BACKEND, drop_pg_schema, is_postgres, new_pg_schema

ENV = "PAYSANDBOX_CONTROL_TOKEN"


def settings_for(argv: list[str]) -> Settings:
    return build_settings(_parser().parse_args(["serve", *argv]))


def test_token_from_config_then_environment_then_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV, raising=False)
    config = tmp_path / "c.toml"
    config.write_text(
        '[server]\ncontrol_token = "from-the-config-file-0001"\n'
        'allowed_hosts = ["sandbox.internal"]\nheader_timeout_seconds = 3\n'
        "body_timeout_seconds = 4\nkeep_alive_seconds = 2\nmax_connections = 500\n"
        "control_token_attempts = 0\n"
        '[outbound]\ndeny = ["10.0.0.0/8"]\nallow = ["hooks.example.com"]\n'
    )
    s = settings_for(["--config", str(config)])
    assert s.control_token == "from-the-config-file-0001"
    assert s.allowed_hosts == ["sandbox.internal"]
    assert (s.header_timeout_seconds, s.body_timeout_seconds, s.keep_alive_seconds) == (3, 4, 2)
    assert s.max_connections == 500 and s.control_token_attempts == 0
    assert settings_for([]).control_token_attempts == 10
    assert (s.outbound_deny, s.outbound_allow) == (["10.0.0.0/8"], ["hooks.example.com"])

    monkeypatch.setenv(ENV, "from-the-environment-0002")
    assert settings_for(["--config", str(config)]).control_token == "from-the-environment-0002"
    s = settings_for(
        [
            "--config",
            str(config),
            "--control-token",
            "from-the-command-line-03",
            "--header-timeout",
            "7",
            "--max-connections",
            "100",
            "--control-token-attempts",
            "3",
            "--allowed-host",
            ".team.example",
            "--outbound-deny",
            "internal.example.com",
        ]
    )
    assert s.control_token == "from-the-command-line-03"
    assert s.header_timeout_seconds == 7 and s.max_connections == 100
    assert s.control_token_attempts == 3
    assert s.allowed_hosts == ["sandbox.internal", ".team.example"]
    assert s.outbound_deny == ["10.0.0.0/8", "internal.example.com"]


@pytest.mark.parametrize(
    "flags",
    [
        ["--control-token", "short"],
        ["--control-token", "has spaces in the token value"],
        ["--header-timeout", "0"],
        ["--body-timeout", "-1"],
        ["--max-connections", "0"],
        ["--outbound-deny", "http://x/"],
        ["--outbound-allow", "a b"],
        ["--smart2pay-site", "0:key"],
        ["--smart2pay-site", "١٠١٠:key"],
    ],
)
def test_bad_security_flags_are_refused(flags: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    with pytest.raises(ConfigError):
        settings_for(flags)


def test_a_token_is_generated_only_off_loopback() -> None:
    for host in ("127.0.0.1", "localhost", "::1"):
        s = Settings(host=host)
        assert ensure_control_token(s) is None and s.control_token is None
    s = Settings(host="0.0.0.0")
    token = ensure_control_token(s)
    assert token and s.control_token == token and len(token) >= 32
    s = Settings(host="0.0.0.0", control_token="chosen-token-0123456789")
    assert ensure_control_token(s) is None and s.control_token == "chosen-token-0123456789"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_shared_bind_without_token_prints_a_generated_one_once(tmp_path: Path) -> None:
    if is_postgres():
        schema, db = new_pg_schema(BACKEND)
    else:
        schema, db = "", f"sqlite:///{tmp_path / 'shared.db'}"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != ENV}
    out = tmp_path / "out.txt"
    with out.open("w") as sink:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "paysandbox",
                "serve",
                "--host",
                "0.0.0.0",
                "--port",
                str(port),
                "--db",
                db,
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while "control token " not in out.read_text() or not _up(base):
            assert proc.poll() is None, out.read_text()
            assert time.monotonic() < deadline, out.read_text()
            time.sleep(0.1)
        text = out.read_text()
        [line] = [x for x in text.splitlines() if x.startswith("control token ")]
        token = line.removeprefix("control token ").strip()
        assert text.count(token) == 1
        with httpx.Client(base_url=base, timeout=10) as c:
            r = c.post("/_sandbox/reset")
            assert r.status_code == 401 and r.json()["error"] == "unauthorized"
            r = c.post("/_sandbox/reset", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200 and r.json()["reset"] is True
            r = c.post("/_sandbox/reset", headers={"Host": "evil.example"})
            assert r.status_code == 400 and r.json()["error"] == "invalid_host"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        if schema:
            drop_pg_schema(BACKEND, schema)
    assert token not in out.read_text().replace(line, "")  # not logged anywhere else


def _up(base: str) -> bool:
    try:
        httpx.get(base + "/_sandbox/clock", timeout=1)
    except httpx.HTTPError:
        return False
    return True
