"""Which ``Host`` values this sandbox answers, and whether an address is loopback.

A request naming any other host is refused: that is what makes DNS rebinding (a hostile page
whose name is re-pointed at 127.0.0.1) and Host-header injection fail.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
WILDCARD_BINDS = frozenset({"", "0.0.0.0", "::"})  # noqa: S104 - names, not a bind


def is_loopback(host: str) -> bool:
    """``host`` (a bind address or a name) only ever reaches this machine."""
    h = host.strip("[]").lower().rstrip(".")
    if h in LOOPBACK_NAMES or h.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def _port_ok(port: str) -> bool:
    return port == "" or (port.isascii() and port.isdigit() and len(port) <= 5)


def host_name(value: str) -> str:
    """The name part of a ``Host`` header value: no port, no brackets, lower case, no final dot;
    ``""`` (never allowed) when what follows the name is not a port (``127.0.0.1:80@evil``,
    ``[::1]evil``: they named an allowed host before)."""
    v = value.strip().lower()
    if v.startswith("["):
        end = v.find("]")
        if end <= 0:
            return v
        rest = v[end + 1 :]
        if rest and not (rest.startswith(":") and _port_ok(rest[1:])):
            return ""
        return v[1:end]
    if v.count(":") == 1:
        v, port = v.split(":", 1)
        if not _port_ok(port):
            return ""
    return v.rstrip(".")


class HostCheck:
    """Accepts loopback names and addresses, the bound address, the public URL's host, the
    configured allowed hosts, and the local address the connection came in on (an IP literal
    that really is this machine, e.g. on a ``0.0.0.0`` bind). Answers are memoised per value."""

    def __init__(self, bind: str, public_url: str | None, allowed: Iterable[str]) -> None:
        names: set[str] = set()
        suffixes = [".localhost"]
        self.any = False
        for entry in allowed:
            e = entry.strip().lower().rstrip(".")
            if e == "*":
                self.any = True
            elif e.startswith("*."):
                suffixes.append(e[1:])
                names.add(e[2:])
            elif e.startswith("."):
                suffixes.append(e)
                names.add(e[1:])
            elif e:
                names.add(host_name(e))
        if bind.lower() not in WILDCARD_BINDS:
            names.add(bind.strip("[]").lower().rstrip("."))
        if public_url:
            public = urlsplit(public_url).hostname
            if public:
                names.add(public.lower().rstrip("."))
        self.names = frozenset(names | LOOPBACK_NAMES)
        self.suffixes = tuple(suffixes)
        self._memo: dict[bytes, bool] = {}

    def allows(self, raw: bytes, local_address: str | None) -> bool:
        if self.any:
            return True
        known = self._memo.get(raw)  # by name only: the same for every connection
        if known is None:
            try:
                known = self._allowed_name(host_name(raw.decode("ascii")))
            except UnicodeDecodeError:
                known = False
            if len(self._memo) > 512:
                self._memo.clear()
            self._memo[raw] = known
        if known:
            return True
        # the IP literal of the address this connection reached (per connection, not memoised)
        return local_address is not None and host_name(raw.decode("latin-1")) == local_address

    def _allowed_name(self, name: str) -> bool:
        if name in self.names or name.endswith(self.suffixes):
            return True
        try:
            return ipaddress.ip_address(name).is_loopback
        except ValueError:
            return False
