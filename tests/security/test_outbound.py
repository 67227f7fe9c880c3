"""Item 3 of issue 9: callbacks and notifications never reach link-local / cloud-metadata
destinations (checked on the resolved address, at connect time); deny and allow lists."""

from __future__ import annotations

import asyncio
import os
import shutil
import ssl
import subprocess
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from paysandbox.delivery.policy import OutboundPolicy, guarded_transport, system_resolve

from ..kplus.builders import generate_body
from ..nicepay.builders import registration
from ..smart2pay.builders import AUTH, payment_body
from ..support import LiveServer, Receiver, wait_until

REFUSED = "DestinationRefused: destination refused by the outbound policy: "


def kplus_callback_to(c: httpx.Client, url: str) -> str:
    r = c.put("/_sandbox/kplus/partners/PTR1902369", json={"callbackUrl": url})
    assert r.status_code == 200, r.text
    token = c.post("/kplus/payment/generate-token", json=generate_body()).json()["tokenId"]
    assert c.post(f"/_sandbox/kplus/tokens/{token}/pay").status_code == 200
    return str(token)


def nicepay_notification_to(c: httpx.Client, url: str) -> str:
    reg = c.post("/nicepay/direct/v2/registration", json=registration("02", dbProcessUrl=url))
    assert reg.json()["resultCd"] == "0000", reg.text  # set through the provider API itself
    t_xid = reg.json()["tXid"]
    assert c.post(f"/_sandbox/nicepay/transactions/{t_xid}/pay").status_code == 200
    return str(t_xid)


def smart2pay_notification_to(c: httpx.Client, url: str) -> str:
    r = c.put("/_sandbox/smart2pay/sites/1010", json={"notificationUrl": url})
    assert r.status_code == 200, r.text
    r = c.post("/v1/payments", json=payment_body(), headers=AUTH)
    assert r.status_code == 201, r.text
    return str(r.json()["Payment"]["ID"])


SENDERS: dict[str, Callable[[httpx.Client, str], str]] = {
    "kplus": kplus_callback_to,
    "nicepay": nicepay_notification_to,
    "smart2pay": smart2pay_notification_to,
}


def first_attempt(c: httpx.Client, provider: str, object_id: str) -> dict[str, Any]:
    def attempted() -> dict[str, Any] | None:
        found = c.get("/_sandbox/deliveries", params={"provider": provider, "objectId": object_id})
        for d in found.json()["deliveries"]:
            if d["attempts"] >= 1 and not d["inFlight"]:
                full: dict[str, Any] = c.get(f"/_sandbox/deliveries/{d['id']}").json()
                return full
        return None

    found: dict[str, Any] = wait_until(attempted)
    return found


# the SSRF destinations, and the reason each is refused
METADATA = [
    (
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        "169.254.169.254 is in 169.254.0.0/16 (link-local / cloud metadata)",
    ),
    (
        "http://metadata.google.internal/computeMetadata/v1/",
        "metadata.google.internal is a denied host name (cloud metadata or outbound deny list)",
    ),
    (
        "http://METADATA.google.internal./computeMetadata/v1/",
        "metadata.google.internal is a denied host name (cloud metadata or outbound deny list)",
    ),
    (
        "http://[fd00:ec2::254]/latest/meta-data/",
        "fd00:ec2::254 is in fd00:ec2::254/128 (link-local / cloud metadata)",
    ),
    (
        "http://[fe80::1%25eth0]:8080/x",
        "fe80::1%25eth0 is in fe80::/10 (link-local / cloud metadata)",
    ),
    (
        "http://[::ffff:169.254.169.254]/latest/",
        "::ffff:169.254.169.254 is in 169.254.0.0/16 (link-local / cloud metadata)",
    ),
    # IPv6 forms that reach an IPv4 address through translation (NAT64, compatible, 6to4)
    (
        "http://[64:ff9b::a9fe:a9fe]/latest/",
        "64:ff9b::a9fe:a9fe is in 169.254.0.0/16 (link-local / cloud metadata)",
    ),
    (
        "http://[::169.254.169.254]/latest/",
        "::169.254.169.254 is in 169.254.0.0/16 (link-local / cloud metadata)",
    ),
    (
        "http://[2002:a9fe:a9fe::1]/latest/",
        "2002:a9fe:a9fe::1 is in 169.254.0.0/16 (link-local / cloud metadata)",
    ),
    # NAT64's local-use prefix (RFC 8215) and SIIT's IPv4-translated form (RFC 2765)
    (
        "http://[64:ff9b:1::a9fe:a9fe]/latest/",
        "64:ff9b:1::a9fe:a9fe is in 169.254.0.0/16 (link-local / cloud metadata)",
    ),
    (
        "http://[::ffff:0:a9fe:a9fe]/latest/",
        "::ffff:0:a9fe:a9fe is in 169.254.0.0/16 (link-local / cloud metadata)",
    ),
]


@pytest.mark.parametrize("provider", sorted(SENDERS))
@pytest.mark.parametrize(("url", "reason"), METADATA)
def test_metadata_destinations_are_refused_and_recorded(
    client: httpx.Client, provider: str, url: str, reason: str
) -> None:
    object_id = SENDERS[provider](client, url)
    delivery = first_attempt(client, provider, object_id)
    [attempt] = delivery["attemptLog"]
    assert attempt["error"] == REFUSED + reason
    assert attempt["httpStatus"] is None and attempt["response"] == ""
    assert attempt["succeeded"] is False
    assert delivery["lastError"] == REFUSED + reason
    assert delivery["state"] == "pending"  # a failed attempt like any other: retried, then failed


def test_deny_list_refuses_before_any_request(
    make_server: Callable[..., LiveServer], receiver: Receiver
) -> None:
    live = make_server(outbound_deny=["127.0.0.0/8"])
    with live.client() as c:
        token = kplus_callback_to(c, receiver.url + "/cb")
        [attempt] = first_attempt(c, "kplus", token)["attemptLog"]
        assert attempt["error"] == REFUSED + "127.0.0.1 is in 127.0.0.0/8 (outbound deny list)"
    assert receiver.requests == []  # never a request


def test_allow_list_lets_only_its_destinations_through(
    make_server: Callable[..., LiveServer], receiver: Receiver
) -> None:
    live = make_server(outbound_allow=["10.0.0.0/8", "hooks.example.com"])
    with live.client() as c:
        token = kplus_callback_to(c, receiver.url + "/cb")
        [attempt] = first_attempt(c, "kplus", token)["attemptLog"]
        assert (
            attempt["error"] == REFUSED + "127.0.0.1 (127.0.0.1) is not on the outbound allow list"
        )
    assert receiver.requests == []


def test_loopback_and_private_receivers_stay_allowed(
    client: httpx.Client, receiver: Receiver
) -> None:
    token = kplus_callback_to(client, receiver.url.replace("127.0.0.1", "localhost") + "/cb")
    [got] = receiver.wait_for(1)
    assert got.path == "/cb" and got.json()["tokenId"] == token
    assert got.headers["Host"] == f"localhost:{receiver.url.rsplit(':', 1)[1]}"


def test_a_name_resolving_to_metadata_is_refused_and_the_checked_address_is_used(
    make_server: Callable[..., LiveServer], receiver: Receiver
) -> None:
    """DNS decides at connect time: ``rebind.test`` resolves to the metadata address and is
    refused; ``receiver.test`` resolves to loopback and the request goes to that address with
    the Host header (and URL) still naming ``receiver.test``."""

    async def resolve(host: str, port: int) -> list[str]:
        fake = {"rebind.test": ["127.0.0.1", "169.254.169.254"], "receiver.test": ["127.0.0.1"]}
        if host in fake:
            return fake[host]
        return await system_resolve(host, port)

    transport = guarded_transport(OutboundPolicy.build(), resolve)
    live = make_server({"transport": transport})
    port = receiver.url.rsplit(":", 1)[1]
    with live.client() as c:
        token = kplus_callback_to(c, f"http://rebind.test:{port}/cb")
        [attempt] = first_attempt(c, "kplus", token)["attemptLog"]
        assert attempt["error"] == REFUSED + (
            "rebind.test resolves to 169.254.169.254, which is in 169.254.0.0/16 "
            "(link-local / cloud metadata)"
        )
        assert receiver.requests == []  # one bad address refuses the name: no request at all

        token = kplus_callback_to(c, f"http://receiver.test:{port}/cb")
        [got] = receiver.wait_for(1)
        assert got.headers["Host"] == f"receiver.test:{port}" and got.json()["tokenId"] == token
        [attempt] = first_attempt(c, "kplus", token)["attemptLog"]
        assert attempt["succeeded"] is True
        assert attempt["request"]["url"] == f"http://receiver.test:{port}/cb"


# ---------------------------------------------------------------- the policy itself


def test_policy_entries_are_checked() -> None:
    for bad in ["", "http://x/", "a b", "host:80", "exämple.com"]:
        with pytest.raises(ValueError, match="is not a CIDR or host name"):
            OutboundPolicy.build(deny=[bad])
    p = OutboundPolicy.build(deny=[".corp.example", "10.1.0.0/16"])
    assert p.refuse_name("a.b.corp.example") is not None
    assert p.refuse_name("corp.example") is not None
    assert p.refuse_name("notcorp.example") is None
    assert p.refuse_address("x", "10.1.2.3") is not None
    assert p.refuse_address("x", "10.2.0.1") is None
    assert p.refuse_address("x", "192.168.1.10") is None  # private: allowed by default


def test_ipv6_forms_of_an_ipv4_address_match_as_either() -> None:
    """NAT64, IPv4-compatible and 6to4 addresses carry an IPv4 one: denied when either form
    is denied, allowed when either form is allowed (an IPv6 entry still matches itself)."""
    p = OutboundPolicy.build(deny=["64:ff9b::/96", "2002::/16"])
    why = "x resolves to 64:ff9b::a00:1, which is in 64:ff9b::/96 (outbound deny list)"
    assert p.refuse_address("x", "64:ff9b::a00:1") == why
    assert p.refuse_address("x", "2002:a00:1::1") is not None
    assert p.refuse_address("x", "::1") is None and p.refuse_address("x", "::") is None
    nat64 = OutboundPolicy.build(allow=["64:ff9b::/96"])
    assert nat64.refuse_address("x", "64:ff9b::cb00:7105") is None
    assert nat64.refuse_address("x", "203.0.113.5") is not None
    by_v4 = OutboundPolicy.build(allow=["203.0.113.0/24"])
    assert by_v4.refuse_address("x", "64:ff9b::cb00:7105") is None
    default = OutboundPolicy.build()
    for carried in ("64:ff9b::a9fe:a9fe", "::169.254.169.254", "2002:a9fe:a9fe::1"):
        assert "169.254.0.0/16" in (default.refuse_address("x", carried) or ""), carried
    for fine in ("::1", "::127.0.0.1", "::ffff:127.0.0.1", "2002:7f00:1::", "64:ff9b::a00:1"):
        assert default.refuse_address("x", fine) is None, fine


def test_this_host_addresses_are_judged_as_loopback() -> None:
    """Linux connects 0.0.0.0 (``0``, ``::ffff:0.0.0.0``) and ``::`` to the machine itself: a
    deny of loopback covers them (found by a review: they reached a loopback-only service past
    ``--outbound-deny 127.0.0.0/8``); where loopback is allowed, as by default, so are they."""
    no_loopback = OutboundPolicy.build(deny=["127.0.0.0/8", "::1/128"])
    for addr in ("0.0.0.0", "0.1.2.3", "::ffff:0.0.0.0", "::ffff:0:0", "::ffff:0:7f00:1"):
        assert "127.0.0.0/8 (outbound deny list)" in (
            no_loopback.refuse_address("x", addr) or ""
        ), addr
    assert "::1/128" in (no_loopback.refuse_address("x", "::") or "")
    assert no_loopback.refuse_address("x", "10.0.0.1") is None
    default = OutboundPolicy.build()
    for addr in ("0.0.0.0", "::", "::ffff:0.0.0.0", "127.0.0.1"):
        assert default.refuse_address("x", addr) is None, addr
    only_loopback = OutboundPolicy.build(allow=["127.0.0.1/32"])
    assert only_loopback.refuse_address("x", "0.0.0.0") is None


def test_a_denied_loopback_is_not_reached_through_0_0_0_0(
    make_server: Callable[..., LiveServer], receiver: Receiver
) -> None:
    """Over HTTP: with loopback denied, a notification to ``http://0.0.0.0:port/`` (``0``,
    ``[::ffff:0.0.0.0]``) is refused and recorded, and the loopback-only receiver hears
    nothing."""
    live = make_server(outbound_deny=["127.0.0.0/8", "::1/128"])
    port = receiver.url.rsplit(":", 1)[1]
    with live.client() as c:
        for host in ("0.0.0.0", "0", "[::ffff:0.0.0.0]"):
            object_id = SENDERS["nicepay"](c, f"http://{host}:{port}/zero")
            [attempt] = first_attempt(c, "nicepay", object_id)["attemptLog"]
            assert attempt["error"].startswith(REFUSED), attempt
            assert "127.0.0.0/8 (outbound deny list)" in attempt["error"], attempt
    assert receiver.requests == []


def test_unix_sockets_are_never_used() -> None:
    from paysandbox.delivery.policy import DestinationRefused, GuardedBackend

    backend = GuardedBackend(OutboundPolicy.build())
    with pytest.raises(DestinationRefused), ThreadPoolExecutor(1) as pool:
        # on a thread of its own: the session's Playwright may hold this thread's event loop
        pool.submit(asyncio.run, backend.connect_unix_socket("/var/run/docker.sock")).result()


def test_https_keeps_the_name_for_sni_and_the_certificate(
    make_server: Callable[..., LiveServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Connecting to the checked address does not weaken TLS: the server sees SNI
    ``receiver.test``, the certificate is verified against that name (and a URL naming the
    bare address fails verification)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        if os.environ.get("CI"):
            pytest.fail("openssl is missing on CI")
        pytest.skip("needs the openssl command to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            openssl,
            *("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
            *("-keyout", str(key), "-out", str(cert), "-subj", "/CN=receiver.test"),
            *("-addext", "subjectAltName=DNS:receiver.test"),
        ],
        check=True,
        capture_output=True,
    )
    seen: list[tuple[str | None, str]] = []
    sni: list[str | None] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            seen.append((sni[-1] if sni else None, self.headers["Host"]))
            body = b'{"statusCode":"00"}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    def remember_sni(sock: ssl.SSLObject, name: str | None, ctx: ssl.SSLContext) -> None:
        sni.append(name)

    context.sni_callback = remember_sni  # type: ignore[assignment]
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    port = httpd.server_address[1]

    async def resolve(host: str, port: int) -> list[str]:
        return ["127.0.0.1"] if host == "receiver.test" else await system_resolve(host, port)

    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # trust the test certificate
    live = make_server({"transport": guarded_transport(OutboundPolicy.build(), resolve)})
    try:
        with live.client() as c:
            token = kplus_callback_to(c, f"https://receiver.test:{port}/cb")
            [attempt] = first_attempt(c, "kplus", token)["attemptLog"]
            assert attempt["succeeded"] is True, attempt
            assert seen == [("receiver.test", f"receiver.test:{port}")]

            token = kplus_callback_to(c, f"https://127.0.0.1:{port}/cb")
            [attempt] = first_attempt(c, "kplus", token)["attemptLog"]
            assert attempt["succeeded"] is False
            assert attempt["error"].startswith("ConnectError: [SSL: CERTIFICATE_VERIFY_FAILED]")
            assert len(seen) == 1
    finally:
        httpd.shutdown()
        httpd.server_close()
