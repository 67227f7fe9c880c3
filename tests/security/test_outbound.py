"""Item 3 of issue 9: callbacks and notifications never reach link-local / cloud-metadata
destinations (checked on the resolved address, at connect time); deny and allow lists."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
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


def test_unix_sockets_are_never_used() -> None:
    from paysandbox.delivery.policy import DestinationRefused, GuardedBackend

    backend = GuardedBackend(OutboundPolicy.build())
    # on a thread of its own: a browser test's Playwright keeps an event loop running on the
    # main thread for the rest of the session, where asyncio.run() would refuse to start
    with ThreadPoolExecutor(1) as pool, pytest.raises(DestinationRefused):
        pool.submit(asyncio.run, backend.connect_unix_socket("/var/run/docker.sock")).result()
