"""Where callbacks and notifications may go: the outbound policy, applied at connect time.

The merchant chooses a callback URL (through the control API, and for some providers through
the provider API itself), and the attempt log shows what the destination
answered, so an unchecked URL is a server-side request forgery with the reply readable. By
default paysandbox never connects to link-local and cloud-metadata destinations:

* addresses ``169.254.0.0/16`` and ``fe80::/10`` (link-local, where AWS/GCP/Azure/OpenStack
  metadata lives), ``fd00:ec2::254`` (AWS over IPv6), ``100.100.100.200`` (Alibaba Cloud),
  and IPv6 addresses that carry a denied IPv4 one (mapped, NAT64, compatible, 6to4);
* host names ``metadata.google.internal``, ``metadata.goog``, ``metadata``,
  ``instance-data``, ``instance-data.ec2.internal``, ``metadata.azure.internal``.

Loopback and private ranges stay allowed: merchants' receivers live there. ``deny`` adds host
names and CIDRs; a non-empty ``allow`` makes every other destination refused (the built-in
deny list applies whatever ``allow`` says).

The check runs on the *resolved* addresses, at connect time, inside the HTTP client's network
backend: ``GuardedBackend.connect_tcp`` resolves the host, refuses if any address is denied,
and connects to an address it checked — so DNS rebinding between check and connect cannot
happen, while the URL, the ``Host`` header and TLS (SNI, certificate) keep the host name.
A refused destination raises ``DestinationRefused`` before any packet is sent; the sender
records it as a failed attempt with that reason.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import typing
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]

DEFAULT_DENY_NETWORKS = ("169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128", "100.100.100.200/32")
DEFAULT_DENY_HOSTS = (
    "metadata.google.internal",
    "metadata.goog",
    "metadata",
    "instance-data",
    "instance-data.ec2.internal",
    "metadata.azure.internal",
)


class DestinationRefused(Exception):
    """The outbound policy forbids this destination; the message says why (host, no URL)."""


def _network(entry: str) -> IPNetwork | None:
    try:
        return ipaddress.ip_network(entry.strip("[]"), strict=False)
    except ValueError:
        return None


def _host(entry: str) -> str:
    return entry.strip().strip("[]").lower().rstrip(".")


#: IPv6 addresses that reach an IPv4 address through translation, the IPv4 address in their
#: last 32 bits: NAT64's well-known prefix (RFC 6052; ``64:ff9b::169.254.169.254`` is the
#: metadata service on a network with NAT64) and the old IPv4-compatible form (``::a.b.c.d``).
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
#: More prefixes that carry an IPv4 address in their last 32 bits: NAT64's local-use prefix
#: (RFC 8215, ``64:ff9b:1::/48``) and SIIT's IPv4-translated form (RFC 2765,
#: ``::ffff:0:a.b.c.d``).
_CARRIERS = (ipaddress.IPv6Network("64:ff9b:1::/48"), ipaddress.IPv6Network("::ffff:0:0:0/96"))
#: "This host" addresses: Linux connects ``0.0.0.0`` (``0``, ``::ffff:0.0.0.0``) and ``::`` to
#: the machine itself, so they are judged as loopback too (a deny of 127.0.0.0/8 or ::1 covers
#: them; by default, where loopback is allowed, they still work).
_THIS_HOST_V4 = ipaddress.IPv4Network("0.0.0.0/8")
_LOOPBACK_V4 = ipaddress.IPv4Address("127.0.0.1")
_LOOPBACK_V6 = ipaddress.IPv6Address("::1")


def _address(value: str) -> IPAddress | None:
    try:
        addr = ipaddress.ip_address(value.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped  # ::ffff:169.254.169.254 is 169.254.169.254
    return addr


def _forms(addr: IPAddress) -> tuple[IPAddress, ...]:
    """``addr``, and the IPv4 address an IPv6 one carries (NAT64, compatible, translated,
    6to4), and loopback for a "this host" address: a destination is denied when any form is,
    and allowed when any form is."""
    if not isinstance(addr, ipaddress.IPv6Address):
        return (addr, _LOOPBACK_V4) if addr in _THIS_HOST_V4 else (addr,)
    if addr.is_unspecified:  # ::
        return addr, _LOOPBACK_V6
    carried = (
        addr in _NAT64
        or (addr in _IPV4_COMPATIBLE and int(addr) > 1)  # not :: or ::1
        or any(addr in net for net in _CARRIERS)
    )
    if carried:
        return (addr, *_forms(ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)))
    if addr.sixtofour is not None:  # 2002:a9fe:a9fe:: is 169.254.169.254 through 6to4
        return (addr, *_forms(addr.sixtofour))
    return (addr,)


@dataclass(frozen=True)
class OutboundPolicy:
    deny_networks: tuple[IPNetwork, ...]
    deny_hosts: frozenset[str]
    allow_networks: tuple[IPNetwork, ...] = ()
    allow_hosts: frozenset[str] = frozenset()

    @classmethod
    def build(cls, allow: Iterable[str] = (), deny: Iterable[str] = ()) -> OutboundPolicy:
        """From config entries, each a CIDR / address or a host name (``.example.com``: the
        domain and every subdomain). Raises ``ValueError`` on an empty or malformed entry."""
        nets: dict[str, list[IPNetwork]] = {"allow": [], "deny": []}
        hosts: dict[str, set[str]] = {"allow": set(), "deny": set(DEFAULT_DENY_HOSTS)}
        for kind, entries in (("allow", allow), ("deny", deny)):
            for entry in entries:
                net = _network(entry.strip())
                if net is not None:
                    nets[kind].append(net)
                    continue
                host = _host(entry)
                if not host or any(ch in host for ch in "/:@ \t") or not host.isascii():
                    raise ValueError(f"outbound {kind} entry {entry!r} is not a CIDR or host name")
                hosts[kind].add(host)
        return cls(
            deny_networks=tuple(ipaddress.ip_network(n) for n in DEFAULT_DENY_NETWORKS)
            + tuple(nets["deny"]),
            deny_hosts=frozenset(hosts["deny"]),
            allow_networks=tuple(nets["allow"]),
            allow_hosts=frozenset(hosts["allow"]),
        )

    @staticmethod
    def _matches(name: str, names: frozenset[str]) -> bool:
        """``name`` is listed, or is under a listed ``.domain`` (or is that domain)."""
        return name in names or any(
            n.startswith(".") and (name.endswith(n) or name == n[1:]) for n in names
        )

    def refuse_name(self, host: str) -> str | None:
        """Why ``host`` (a name as written in the URL) is refused before resolving, if it is."""
        name = _host(host)
        if self._matches(name, self.deny_hosts):
            return f"{name} is a denied host name (cloud metadata or outbound deny list)"
        return None

    def refuse_address(self, host: str, address: str) -> str | None:
        """Why connecting to ``address`` (resolved from ``host``) is refused, if it is."""
        addr = _address(address)
        if addr is None:
            return f"{host} resolved to something that is not an IP address"
        shown = host if _address(host) is not None else f"{host} resolves to {addr}, which"
        forms = _forms(addr)
        for net in self.deny_networks:
            if any(a in net for a in forms):
                why = "link-local / cloud metadata" if str(net) in DEFAULT_DENY_NETWORKS else None
                return f"{shown} is in {net} ({why or 'outbound deny list'})"
        if self.allow_networks or self.allow_hosts:
            by_name = self._matches(_host(host), self.allow_hosts)
            if not by_name and not any(a in net for a in forms for net in self.allow_networks):
                return f"{host} ({addr}) is not on the outbound allow list"
        return None


async def system_resolve(host: str, port: int) -> list[str]:
    """The addresses of ``host`` (itself when it is an IP literal), in the resolver's order."""
    if _address(host) is not None:
        return [host]
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    out: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in out:
            out.append(address)
    return out


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's default network backend, with every TCP connect checked by the policy."""

    def __init__(self, policy: OutboundPolicy, resolve: Resolver = system_resolve) -> None:
        self.policy = policy
        self.resolve = resolve
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        reason = self.policy.refuse_name(host)
        if reason:
            raise DestinationRefused(f"destination refused by the outbound policy: {reason}")
        try:
            addresses = await asyncio.wait_for(self.resolve(host, port), timeout)
        except (OSError, UnicodeError) as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from None
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
        if not addresses:
            raise httpcore.ConnectError(f"{host} has no address")
        for address in addresses:
            reason = self.policy.refuse_address(host, address)
            if reason:
                raise DestinationRefused(f"destination refused by the outbound policy: {reason}")
        last: Exception | None = None
        for address in addresses:  # only addresses that were checked above
            try:
                return await self.inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise DestinationRefused("destination refused by the outbound policy: unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def guarded_transport(
    policy: OutboundPolicy, resolve: Resolver = system_resolve
) -> httpx.AsyncHTTPTransport:
    """An httpx transport (its defaults: TLS verification, keep-alive pool) whose every
    connection goes through ``GuardedBackend``. Proxies from the environment are not used (a
    proxy would connect on our behalf, unchecked)."""
    transport = httpx.AsyncHTTPTransport(trust_env=False)
    transport._pool = httpcore.AsyncConnectionPool(  # same settings, policy-checked connects
        ssl_context=httpx.create_ssl_context(),  # honours SSL_CERT_FILE / SSL_CERT_DIR
        max_connections=100,  # httpx's defaults (httpx.Limits())
        max_keepalive_connections=20,
        keepalive_expiry=5.0,
        network_backend=GuardedBackend(policy, resolve),
    )
    return transport
