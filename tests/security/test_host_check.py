"""The Host check's rules, directly (the HTTP behaviour is in test_hosts.py)."""

from __future__ import annotations

from paysandbox.security.hosts import HostCheck, host_name, is_loopback


def test_host_names_are_normalised() -> None:
    assert host_name("Example.COM.:8080") == "example.com"
    assert host_name("[::1]:80") == "::1"
    assert host_name("fd00::1") == "fd00::1"


def test_loopback() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.3.2.1", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.5", "example.com"))


def test_the_reached_address_is_accepted_per_connection_not_remembered() -> None:
    check = HostCheck("0.0.0.0", None, [])
    assert not check.allows(b"192.168.1.5:8080", "10.0.0.2")  # reached another address
    assert check.allows(b"192.168.1.5:8080", "192.168.1.5")  # this connection reached it
    assert not check.allows(b"192.168.1.5:8080", None)
    assert not check.allows(b"evil.example", "192.168.1.5")
    assert check.allows(b"LOCALHOST:8080", None)


def test_a_specific_bind_address_is_a_served_host() -> None:
    check = HostCheck("192.168.1.5", "http://Sandbox.Example:8080/", ["*.team.example"])
    for host in (b"192.168.1.5:8080", b"sandbox.example", b"a.team.example", b"team.example"):
        assert check.allows(host, None), host
    assert not check.allows(b"\xff\xfe", None)
    assert HostCheck("127.0.0.1", None, ["*"]).allows(b"anything.example", None)


def test_what_follows_the_name_must_be_a_port() -> None:
    """``127.0.0.1:80@evil.example`` and ``[::1]evil.example`` named an allowed host."""
    check = HostCheck("127.0.0.1", None, [])
    for bad in (
        b"127.0.0.1:18500@evil.example",
        b"localhost:x",
        b"[::1]evil.example",
        b"[::1]:80x",
        b"127.0.0.1:123456",
    ):
        assert not check.allows(bad, None), bad
    for good in (b"127.0.0.1", b"127.0.0.1:8080", b"[::1]", b"[::1]:8080", b"localhost:"):
        assert check.allows(good, None), good
