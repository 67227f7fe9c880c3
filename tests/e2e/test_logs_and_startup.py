"""What reaches the access log and the start-up banner; the CLI's flag parsing."""

from __future__ import annotations

import logging

import pytest

from paysandbox.cli import _parser, banner, build_settings
from paysandbox.logs import ACCESS_LOGGER
from paysandbox.settings import ConfigError

from ..support import LiveServer, test_settings


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_access_log_never_carries_a_query_string(fresh_db_url: str) -> None:
    live = LiveServer(test_settings(fresh_db_url, access_log=True), log_level="info")
    collect = Collect()
    logger = logging.getLogger(ACCESS_LOGGER)
    logger.addHandler(collect)
    try:
        with live.client() as c:
            c.get("/nicepay/direct/v2/payment?cardNo=4222222222222222&cardCvv=123")
            c.get("/nicepay/direct/v2/payment/?cardNo=4222222222222222&cardCvv=123")
            c.post("/nicepay/direct/v2/registration?cardNo=4222222222222222", json={})
            c.get("/_sandbox/clock")
    finally:
        logger.removeHandler(collect)
        live.stop()
    text = "\n".join(collect.lines)
    assert "/_sandbox/clock" in text  # the log is on, and lines arrive
    assert "/nicepay/direct/v2/payment?…" in text
    assert "4222222222222222" not in text and "cardCvv" not in text


def test_banner_prints_only_public_demo_secrets(fresh_db_url: str) -> None:
    args = _parser().parse_args(
        [
            "serve",
            "--db",
            fresh_db_url,
            "--kplus-partner",
            "PTR1902369:a-real-configured-secret",
            "--nicepay-merchant",
            "IONPAYTEST:another-real-key",
        ]
    )
    settings = build_settings(args)
    from paysandbox.app import create_app

    app = create_app(settings)
    lines = app.state.sandbox.banner_lines()
    text = banner(settings, lines)
    assert "a-real-configured-secret" not in text
    assert "another-real-key" not in text
    assert "http://127.0.0.1:8080" in text and "/kplus/payment/" in text


def test_demo_banner_shows_the_public_credentials(fresh_db_url: str) -> None:
    settings = build_settings(_parser().parse_args(["serve", "--db", fresh_db_url]))
    from paysandbox.app import create_app

    app = create_app(settings)
    text = banner(settings, app.state.sandbox.banner_lines())
    assert "PTR1902369" in text and "7da57c4eb242435fa3e91bb7a69e2a28" in text
    assert "IONPAYTEST" in text


def test_cli_site_key_may_contain_equals_signs() -> None:
    args = _parser().parse_args(
        [
            "serve",
            "--smart2pay-site",
            "2020:abc==def=",
            "--smart2pay-site",
            "3030:k3y==x=https://merchant.example/notify",
        ]
    )
    sites = {s.site_id: s for s in build_settings(args).providers["smart2pay"].sites}
    assert sites[2020].api_key == "abc==def=" and sites[2020].notification_url is None
    assert sites[3030].api_key == "k3y==x"
    assert sites[3030].notification_url == "https://merchant.example/notify"


@pytest.mark.parametrize(
    "flags",
    [
        ["--kplus-callback", "PTR1902369=http://[::1"],
        ["--kplus-callback", "NOPE=http://127.0.0.1/cb"],
        ["--kplus-partner", "ONLYID"],
        ["--smart2pay-site", "abc:key"],
        ["--nicepay-merchant", "IMID"],
    ],
)
def test_cli_refuses_bad_flags(flags: list[str]) -> None:
    with pytest.raises(ConfigError):
        build_settings(_parser().parse_args(["serve", *flags]))
