"""paysandbox for a merchant's own tests: a server per test run, and throwaway accounts.

Plain context manager (any runner)::

    from paysandbox.testing import sandbox

    with sandbox() as sb:                      # a server on a free port, temporary SQLite
        partner = sb.kplus_partner()           # a fresh K PLUS partner of its own
        ...                                    # point the code under test at sb.url
        partner.pay(token_id)
        partner.advance(3600)
        assert partner.deliveries()[0]["state"] == "succeeded"

``sandbox(db_url="postgresql://…")`` uses that database instead; ``sandbox(url="http://…")``
starts nothing and talks to a server that is already running. With pytest the same objects
come as fixtures (``paysandbox``, ``paysandbox_kplus``, ``paysandbox_nicepay``,
``paysandbox_smart2pay``; see ``paysandbox.pytest_plugin``).

Accounts are created through the control API — ``POST /_sandbox/{provider}/{accounts}`` (one
request answering fresh credentials), or on a server without it ``PUT …/{id}`` with random ids
and secrets — so tests sharing one server never see each other's objects or deliveries.
``advance()`` moves the account's own clock when the server offers
``POST /_sandbox/{provider}/{accounts}/{id}/clock/advance``, and the sandbox clock otherwise.
"""

from __future__ import annotations

import base64
import contextlib
import re
import secrets
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from .settings import Settings


class SandboxError(AssertionError):
    """A control request failed; the message carries the status and the control error body."""


def _check(r: httpx.Response) -> Any:
    if not r.is_success:
        raise SandboxError(f"{r.request.method} {r.request.url.path} → {r.status_code}: {r.text}")
    return r.json()


@dataclass
class Sandbox:
    """A running sandbox: ``url`` to configure in the code under test, and control helpers."""

    url: str
    client: httpx.Client
    _offers: set[str] | None = field(default=None, repr=False)

    @property
    def kplus_url(self) -> str:
        return self.url

    @property
    def nicepay_url(self) -> str:
        return f"{self.url}/nicepay"

    @property
    def smart2pay_url(self) -> str:
        return self.url

    # -------------------------------------------------------------- the whole sandbox

    def clock(self) -> dict[str, Any]:
        return dict(_check(self.client.get("/_sandbox/clock")))

    def advance(self, seconds: float) -> dict[str, Any]:
        """Move the sandbox clock (every account's objects see it)."""
        return dict(_check(self.client.post("/_sandbox/clock/advance", json={"seconds": seconds})))

    def reset(self) -> None:
        """Forget every object of every account (do not use on a shared server)."""
        _check(self.client.post("/_sandbox/reset"))

    def deliveries(self, **filters: str) -> list[dict[str, Any]]:
        """``GET /_sandbox/deliveries`` (filters: provider, objectId, accountId, state)."""
        found = _check(self.client.get("/_sandbox/deliveries", params={"limit": 1000, **filters}))
        return list(found["deliveries"])

    def offers(self, method: str, path_pattern: str) -> bool:
        """Whether the server's OpenAPI document lists a route (``{…}`` matches any parameter)."""
        if self._offers is None:
            doc = _check(self.client.get("/_sandbox/openapi.json"))
            self._offers = {
                f"{m.upper()} {re.sub(r'{[^}]+}', '{}', p)}"
                for p, ops in doc.get("paths", {}).items()
                for m in ops
            }
        return f"{method.upper()} {re.sub(r'{[^}]+}', '{}', path_pattern)}" in self._offers

    # -------------------------------------------------------------- throwaway accounts

    def _create(self, accounts: str, options: dict[str, Any]) -> dict[str, Any] | None:
        """``POST /_sandbox/{accounts}`` where the server offers it; None otherwise."""
        if not self.offers("POST", f"/_sandbox/{accounts}"):
            return None
        return dict(_check(self.client.post(f"/_sandbox/{accounts}", json=options)))

    def kplus_partner(self, callback_url: str | None = None) -> KPlusPartner:
        made = self._create("kplus/partners", {"callbackUrl": callback_url} if callback_url else {})
        if made is not None:
            return KPlusPartner(
                self, "kplus", "kplus/partners", made["partnerId"], made["partnerSecret"]
            )
        partner_id = f"PTR{secrets.randbelow(10**9):09d}X"
        secret = secrets.token_hex(16)
        body: dict[str, Any] = {"partnerSecret": secret}
        if callback_url:
            body["callbackUrl"] = callback_url
        _check(self.client.put(f"/_sandbox/kplus/partners/{partner_id}", json=body))
        return KPlusPartner(self, "kplus", "kplus/partners", partner_id, partner_secret=secret)

    def nicepay_merchant(self) -> NicepayMerchant:
        made = self._create("nicepay/merchants", {})
        if made is not None:
            return NicepayMerchant(
                self, "nicepay", "nicepay/merchants", made["iMid"], made["merchantKey"]
            )
        imid = f"T{secrets.token_hex(4).upper()}X"  # 10 characters, like IONPAYTEST
        key = base64.b64encode(secrets.token_bytes(48)).decode()
        _check(self.client.put(f"/_sandbox/nicepay/merchants/{imid}", json={"merchantKey": key}))
        return NicepayMerchant(self, "nicepay", "nicepay/merchants", imid, merchant_key=key)

    def smart2pay_site(self, notification_url: str | None = None) -> Smart2PaySite:
        options = {"notificationUrl": notification_url} if notification_url else {}
        made = self._create("smart2pay/sites", options)
        if made is not None:
            return Smart2PaySite(
                self, "smart2pay", "smart2pay/sites", str(made["siteId"]), made["apiKey"]
            )
        site_id = 100_000 + secrets.randbelow(10**9)
        key = secrets.token_urlsafe(24)
        body: dict[str, Any] = {"apiKey": key}
        if notification_url:
            body["notificationUrl"] = notification_url
        _check(self.client.put(f"/_sandbox/smart2pay/sites/{site_id}", json=body))
        return Smart2PaySite(self, "smart2pay", "smart2pay/sites", str(site_id), api_key=key)


@dataclass
class Account:
    """One provider account of one test; its objects and deliveries are its own."""

    sandbox: Sandbox
    provider: str
    accounts: str  # "kplus/partners", "nicepay/merchants", "smart2pay/sites"
    id: str

    @property
    def _own_clock(self) -> str | None:
        path = f"/_sandbox/{self.accounts}/{{id}}/clock/advance"
        if self.sandbox.offers("POST", path):
            return f"/_sandbox/{self.accounts}/{self.id}/clock"
        return None

    def advance(self, seconds: float) -> dict[str, Any]:
        """Move this account's clock by ``seconds`` (the sandbox clock on a server without
        per-account clocks: then every account sees it)."""
        own = self._own_clock
        if own is None:
            return self.sandbox.advance(seconds)
        return dict(_check(self.sandbox.client.post(f"{own}/advance", json={"seconds": seconds})))

    def clock(self) -> dict[str, Any]:
        own = self._own_clock
        return dict(_check(self.sandbox.client.get(own))) if own else self.sandbox.clock()

    def forget(self) -> None:
        """Forget this account's objects, deliveries (no retries left running), journal
        entries and faults; the account stays (the fixtures call it when their test ends,
        so a shared sandbox does not fill with every test's leftovers)."""
        path = f"/_sandbox/{self.accounts}/{{id}}/reset"
        if self.sandbox.offers("POST", path):
            _check(self.sandbox.client.post(f"/_sandbox/{self.accounts}/{self.id}/reset"))

    def deliveries(self, state: str | None = None) -> list[dict[str, Any]]:
        """This account's callbacks/notifications, newest first."""
        filters = {"provider": self.provider, "accountId": self.id}
        if state:
            filters["state"] = state
        return [d for d in self.sandbox.deliveries(**filters) if d["accountId"] == self.id]

    def delivery(self, delivery_id: str) -> dict[str, Any]:
        """One delivery with every attempt (``attemptLog``)."""
        return dict(_check(self.sandbox.client.get(f"/_sandbox/deliveries/{delivery_id}")))

    def wait_for_deliveries(
        self, count: int = 1, state: str = "succeeded", timeout: float = 10
    ) -> list[dict[str, Any]]:
        """Wait (real time: the sender works in the background) until ``count`` deliveries of
        this account are in ``state``; they are returned newest first."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.deliveries(state)
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise SandboxError(
                    f"{len(found)} {state} deliveries of {self.provider} {self.id} after "
                    f"{timeout:g} s, expected {count}: {self.deliveries()}"
                )
            time.sleep(0.05)


@dataclass
class KPlusPartner(Account):
    partner_secret: str = field(default="", repr=False)  # never in a failing test's output

    @property
    def partner_id(self) -> str:
        return self.id

    def set_callback(self, url: str | None) -> None:
        """The Confirm Payment callback URL (None or "" removes it)."""
        path = f"/_sandbox/kplus/partners/{self.id}"
        _check(self.sandbox.client.put(path, json={"callbackUrl": url or ""}))

    def _token(self, token_id: str, action: str, body: dict[str, Any] | None = None) -> Any:
        path = f"/_sandbox/kplus/tokens/{token_id}/{action}"
        return _check(self.sandbox.client.post(path, json=body or {}))

    def pay(self, token_id: str, payment_account: str | None = None) -> dict[str, Any]:
        """The customer pays the token in the K PLUS app."""
        body = {"paymentAccount": payment_account} if payment_account else None
        return dict(self._token(token_id, "pay", body))

    def decline(self, token_id: str) -> dict[str, Any]:
        return dict(self._token(token_id, "decline"))

    def expire(self, token_id: str) -> dict[str, Any]:
        return dict(self._token(token_id, "expire"))

    def token(self, token_id: str) -> dict[str, Any]:
        return dict(_check(self.sandbox.client.get(f"/_sandbox/kplus/tokens/{token_id}")))

    def tokens(self, state: str | None = None) -> list[dict[str, Any]]:
        params = {"partnerId": self.id, **({"state": state} if state else {})}
        return list(
            _check(self.sandbox.client.get("/_sandbox/kplus/tokens", params=params))["tokens"]
        )


@dataclass
class NicepayMerchant(Account):
    merchant_key: str = field(default="", repr=False)

    @property
    def imid(self) -> str:
        return self.id

    def pay(self, t_xid: str, amount: int | None = None) -> dict[str, Any]:
        """The customer pays a VA / CVS transaction (``amount``: a transfer of another sum)."""
        body = {"amount": amount} if amount is not None else {}
        path = f"/_sandbox/nicepay/transactions/{t_xid}/pay"
        return dict(_check(self.sandbox.client.post(path, json=body)))

    def expire(self, t_xid: str) -> dict[str, Any]:
        path = f"/_sandbox/nicepay/transactions/{t_xid}/expire"
        return dict(_check(self.sandbox.client.post(path, json={})))

    def transaction(self, t_xid: str) -> dict[str, Any]:
        return dict(_check(self.sandbox.client.get(f"/_sandbox/nicepay/transactions/{t_xid}")))

    def transactions(self) -> list[dict[str, Any]]:
        params = {"iMid": self.id}
        found = _check(self.sandbox.client.get("/_sandbox/nicepay/transactions", params=params))
        return list(found["transactions"])


@dataclass
class Smart2PaySite(Account):
    api_key: str = field(default="", repr=False)

    @property
    def site_id(self) -> int:
        return int(self.id)

    @property
    def authorization(self) -> str:
        """The ``Authorization`` header value (HTTP Basic ``siteId:apiKey``)."""
        raw = f"{self.id}:{self.api_key}".encode()
        return f"Basic {base64.b64encode(raw).decode()}"

    def set_notification_url(self, url: str | None) -> None:
        path = f"/_sandbox/smart2pay/sites/{self.id}"
        _check(self.sandbox.client.put(path, json={"notificationUrl": url or ""}))

    def payment(self, payment_id: int) -> dict[str, Any]:
        path = f"/_sandbox/smart2pay/payments/{payment_id}"
        return dict(_check(self.sandbox.client.get(path)))

    def payments(self, state: str | None = None) -> list[dict[str, Any]]:
        params = {"siteId": self.id, **({"state": state} if state else {})}
        found = _check(self.sandbox.client.get("/_sandbox/smart2pay/payments", params=params))
        return list(found["payments"])


# ------------------------------------------------------------------ the server


class _Thread:
    """``create_app`` under uvicorn on a pre-bound free loopback port, in a daemon thread."""

    def __init__(self, settings: Settings) -> None:
        import uvicorn

        from .app import create_app
        from .startup import StartupError, bind, check_db_url, without_password

        try:
            check_db_url(settings.db_url)  # as `paysandbox serve` does: one line, not a traceback
        except StartupError as exc:
            raise SandboxError(str(exc)) from None
        sock = bind("127.0.0.1", 0)
        settings.port = sock.getsockname()[1]
        try:
            app = create_app(settings)
        except Exception as exc:  # an unreachable database: say which, close the socket
            sock.close()
            first = str(exc).splitlines()[0] if str(exc) else ""
            # not chained: a driver's message may repeat the URL, password and all
            raise SandboxError(
                "paysandbox could not start on its database: "
                f"{type(exc).__name__}: {without_password(first, settings.db_url)}"
            ) from None
        from .security.limits import uvicorn_options

        config = uvicorn.Config(  # the protocol `paysandbox serve` runs (limits, one send)
            app, log_level="warning", lifespan="on", loop="asyncio", **uvicorn_options(settings)
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, daemon=True, name="paysandbox"
        )
        self.thread.start()
        self.url = settings.base_url
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the paysandbox server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@contextlib.contextmanager
def sandbox(
    db_url: str | None = None,
    *,
    url: str | None = None,
    token: str | None = None,
    **settings: Any,
) -> Iterator[Sandbox]:
    """A sandbox for one test run: started here (free loopback port; a temporary SQLite file
    unless ``db_url`` is given; ``settings`` override ``Settings`` fields) and stopped on
    exit, or the one already running at ``url``. ``token``: the control token, if the server
    wants one."""
    if token is not None:
        token = token.strip()  # a token file's line end
        if not token.isascii() or not token.isprintable():
            # never in the message: a CR in it made httpx print the whole header
            raise SandboxError("the control token must be printable ASCII (not shown)")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with contextlib.ExitStack() as stack:
        if url is None:
            from .settings import Settings

            if db_url is None:
                folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="paysandbox-"))
                db_url = f"sqlite:///{Path(folder) / 'sandbox.db'}"
            opts: dict[str, Any] = {"delivery_poll_seconds": 0.1, **settings}
            server = _Thread(Settings(db_url=db_url, **opts))
            stack.callback(server.stop)
            url = server.url
        client = stack.enter_context(
            httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=30)
        )
        try:  # one clear failure at the start, not a ConnectError in every test
            client.get("/_sandbox/health")
        except httpx.HTTPError as exc:
            raise SandboxError(f"paysandbox at {url} is unreachable: {exc}") from None
        yield Sandbox(url.rstrip("/"), client)
