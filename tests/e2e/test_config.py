"""The config file: every key checked, mistakes named with their key and line (docs/config.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from paysandbox.config import load
from paysandbox.providers import REGISTERED
from paysandbox.settings import ConfigError

FULL = """\
[server]
host = "127.0.0.1"
port = 9090
db = "sqlite:///sandbox.db"
public_url = "http://sandbox.local:9090"
sqlite_synchronous = "full"
max_body_bytes = 65536

[delivery]
schedule = [1, 5, 30]
max_attempts = 5
timeout_seconds = 4
poll_seconds = 0.2

[kplus]
token_ttl_seconds = 600
[[kplus.partners]]
partner_id = "PTR0000001"
partner_secret = "partner-secret-value"
callback_url = "http://127.0.0.1:9000/kplus/callback"
token_ttl_seconds = 60

[[nicepay.merchants]]
imid = "MYSHOP0001"
merchant_key = "merchant-key-value"

[[smart2pay.sites]]
site_id = 2020
api_key = "site-api-key"
notification_url = "http://127.0.0.1:9000/s2p"
"""


def _load(tmp_path: Path, text: str) -> object:
    f = tmp_path / "paysandbox.toml"
    f.write_text(text)
    return load(f, REGISTERED)


def test_the_documented_example_loads(tmp_path: Path) -> None:
    s = _load(tmp_path, FULL)
    assert (s.host, s.port, s.sqlite_synchronous, s.max_body_bytes) == (  # type: ignore[attr-defined]
        "127.0.0.1",
        9090,
        "FULL",
        65536,
    )
    assert s.retry.schedule == (1, 5, 30) and s.retry.max_attempts == 5  # type: ignore[attr-defined]
    kplus = s.providers["kplus"]  # type: ignore[attr-defined]
    assert kplus.token_ttl_seconds == 600
    assert [(p.partner_id, p.token_ttl_seconds) for p in kplus.partners] == [("PTR0000001", 60)]
    assert s.providers["nicepay"].merchants[0].imid == "MYSHOP0001"  # type: ignore[attr-defined]
    site = s.providers["smart2pay"].sites[0]  # type: ignore[attr-defined]
    assert (site.site_id, site.notification_url) == (2020, "http://127.0.0.1:9000/s2p")


def test_the_postgresql_pool_size_is_read(tmp_path: Path) -> None:
    assert _load(tmp_path, "[server]\npg_pool_size = 6\n").pg_pool_size == 6  # type: ignore[attr-defined]
    assert _load(tmp_path, "[server]\n").pg_pool_size is None  # type: ignore[attr-defined]


def test_docs_config_md_holds_the_same_example() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "config.md").read_text("utf-8")
    assert FULL.strip() in doc


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[server]\nprot = 9000\n", "paysandbox.toml:2: unknown key server.prot"),
        (
            '[kplus]\ntoken_ttl_seconds = 5\n[[kplus.partner]]\npartner_id = "X"\n',
            "paysandbox.toml:3: unknown key kplus.partner",
        ),
        ('[[kplus.partners]]\npartner_id = "X"\n', "kplus.partners.partner_secret is required"),
        (
            '[server]\nport = "eighty"\n',
            "paysandbox.toml:2: server.port: Expected `int | null`, got `str`",
        ),
        ("[server]\nport = 99999\n", "paysandbox.toml:2: server.port: Expected `int` <= 65535"),
        ("[sever]\nport = 1\n", "paysandbox.toml:1: unknown section [sever]"),
        ('[server]\nsqlite_synchronous = "fast"\n', "server.sqlite_synchronous must be NORMAL"),
        (
            "[server]\npg_pool_size = 0\n",
            "paysandbox.toml:2: server.pg_pool_size: Expected `int` >= 1",
        ),
        (
            '[[smart2pay.sites]]\nsite_id = 1\napi_key = "k"\nnotification_url = "ftp://x"\n',
            "paysandbox.toml:4: smart2pay.sites.notification_url must be an absolute http(s) URL",
        ),
        ("[server\nport = 1\n", "paysandbox.toml: Expected ']'"),
    ],
)
def test_mistakes_are_named_with_key_and_line(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as exc:
        _load(tmp_path, text)
    assert expected in str(exc.value), str(exc.value)
