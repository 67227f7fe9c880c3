"""``Guard``: a pure-ASGI middleware in front of every route.

1. **Host check** — a request whose ``Host`` is not one this sandbox answers (``hosts.py``) is
   refused in the format of the path's owner (``refuse_host(path)``).
2. **Control plane** (``/_sandbox`` and below):

   * every id in the path is 1–128 printable ASCII characters without ``/ \\ < > " '`` or
     ``%``, and not ``.``/``..``;
   * a state-changing request (not GET/HEAD/OPTIONS) that a browser marks as cross-site
     (``Sec-Fetch-Site: cross-site``) or whose ``Origin`` is not the sandbox's own is refused —
     command-line clients send neither header and are unaffected;
   * with a control token, the request needs ``Authorization: Bearer <token>`` or the sign-in
     cookie (``login.py``); compared in constant time; a browser navigation without it is sent
     to the sign-in page, anything else gets 401.
3. **Framing** — every HTML answer carries ``X-Frame-Options: DENY`` and a CSP with
   ``frame-ancestors 'none'`` (added when the page did not set its own). Requests with a JSON
   body are left alone: a frame's navigation never sends one, and the provider APIs' hot path
   stays one ``send`` shorter.

A refusal of a bad id or a cross-site request goes through ``refuse``: the app answers it as a
page on the dashboard's paths and as the control API's JSON elsewhere.

Provider routes pass through after the Host check: they keep their own authentication.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import quote, urlsplit

from starlette.responses import RedirectResponse, Response

from ..control.errors import error_response
from ..settings import Settings
from . import login
from .attempts import FailedAttempts
from .hosts import HostCheck, is_loopback
from .tokens import digest, same_secret

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
#: A refusal (control API error code, message) answered in the format of the path's owner:
#: the control API's JSON, or a page on the dashboard's paths.
Refuse = Callable[[Scope, str, str], Response]


def refuse_as_control(scope: Scope, code: str, message: str) -> Response:
    return error_response(code, message)


CONTROL_PREFIX = "/_sandbox"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_ID = re.compile(r"[A-Za-z0-9._~:@!$&()*+,;=-]{1,128}")
_WANTED = frozenset({b"authorization", b"cookie", b"origin", b"sec-fetch-site", b"accept"})
#: What the guard serves itself (sign-in, sign-out), for the OpenAPI document.
OPENAPI_PATHS = login.OPENAPI_PATHS


def valid_control_path(path: str) -> bool:
    """Every segment under ``/_sandbox/`` is a plausible id (see the module docstring); an
    empty one (a trailing slash) is left to the router, which answers 404."""
    for segment in path[len(CONTROL_PREFIX) + 1 :].split("/"):
        if segment and (segment in (".", "..") or not _ID.fullmatch(segment)):
            return False
    return True


class Guard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        hosts: HostCheck,
        token: str | None,
        public_url: str | None,
        refuse_host: Callable[[str], Response],
        attempts: FailedAttempts | None = None,
        refuse: Refuse = refuse_as_control,
    ) -> None:
        self.app = app
        self.refuse = refuse
        self.hosts = hosts
        self.token_digest = digest(token) if token else None
        self.session = login.session_value(token) if token else None
        self.refuse_host = refuse_host
        self.attempts = attempts or FailedAttempts()
        parts = urlsplit(public_url) if public_url else None
        self.public_origin = f"{parts.scheme}://{parts.netloc}".lower() if parts else None
        self.secure_cookie = bool(parts and parts.scheme == "https")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        host: bytes | None = None
        framable = True  # a JSON request is never a frame's navigation: no page to protect
        for name, value in scope["headers"]:
            if name == b"host":
                host = value
            elif name == b"content-type" and b"json" in value:
                framable = False
        if host is not None:
            server = scope.get("server")
            if not self.hosts.allows(host, server[0] if server else None):
                await self.refuse_host(path)(scope, receive, send)
                return
        if path == CONTROL_PREFIX or path.startswith("/_sandbox/"):
            answer = await self._control(scope, receive, host)
            if answer is not None:
                await answer(scope, receive, send)
                return
        await self.app(scope, receive, _framing(send) if framable else send)

    async def _control(self, scope: Scope, receive: Receive, host: bytes | None) -> Response | None:
        path: str = scope["path"]
        method: str = scope["method"]
        if path != CONTROL_PREFIX and not valid_control_path(path):
            return self.refuse(
                scope,
                "bad_request",
                "invalid id in the path: ids are 1-128 printable ASCII characters, "
                "without / \\ < > quotes, % or control characters, and not . or ..",
            )
        h = {k.decode(): v.decode("latin-1") for k, v in scope["headers"] if k in _WANTED}
        if method not in SAFE_METHODS and self._cross_site(scope, h, host):
            return self.refuse(
                scope,
                "cross_site_request",
                "a state-changing control request from another site is refused",
            )
        address = _client_address(scope)
        if path == login.LOGIN_PATH:
            return await login.handle(
                scope,
                receive,
                self.token_digest,
                self.session,
                self.secure_cookie,
                self.attempts,
                address,
            )
        if path == login.LOGOUT_PATH and method == "POST":
            return login.sign_out(self.secure_cookie)
        if self.token_digest is None:
            return None
        if h.get("authorization"):  # a token given: an attempt, counted when wrong
            wait = self.attempts.retry_after(address)
            if wait is not None:
                return too_many_attempts(wait)
            if self._authorized(h):
                return None
            self.attempts.failed(address)
        elif self._session_cookie(h):
            return None
        if method in ("GET", "HEAD") and "text/html" in h.get("accept", ""):
            return RedirectResponse(
                f"{login.LOGIN_PATH}?next={quote(path, safe='/')}",
                303,
                headers={"Cache-Control": "no-store"},
            )
        answer = error_response(
            "unauthorized",
            "the control plane needs the control token: send Authorization: Bearer <token>, "
            f"or sign in at {login.LOGIN_PATH}",
        )
        answer.headers["WWW-Authenticate"] = 'Bearer realm="paysandbox control"'
        return answer

    def _cross_site(self, scope: Scope, h: dict[str, str], host: bytes | None) -> bool:
        if h.get("sec-fetch-site", "").strip().lower() == "cross-site":
            return True
        origin = h.get("origin")
        if origin is None:
            return False
        origin = origin.strip().lower()
        if host is not None:
            own = f"{scope.get('scheme', 'http')}://{host.decode('latin-1').lower()}"
            if origin == own:
                return False
        return origin != self.public_origin

    def _authorized(self, h: dict[str, str]) -> bool:
        assert self.token_digest is not None
        auth = h.get("authorization", "")
        scheme, _, given = auth.partition(" ")
        if scheme.lower() == "bearer" and same_secret(given.strip(), self.token_digest):
            return True
        return self._session_cookie(h)

    def _session_cookie(self, h: dict[str, str]) -> bool:
        """The sign-in cookie (an HMAC of the token: unguessable, so never counted)."""
        assert self.session is not None
        cookie = login.cookie_value(h.get("cookie", ""))
        return cookie is not None and hmac.compare_digest(digest(cookie), digest(self.session))


def _client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else ""


def too_many_attempts(wait: int) -> Response:
    answer = error_response(
        "too_many_attempts",
        f"too many wrong control tokens from this address; try again in {wait} s",
    )
    answer.headers["Retry-After"] = str(wait)
    return answer


_FRAME_CSP = b"frame-ancestors 'none'"


def _framing(send: Send) -> Send:
    """``send`` that adds the anti-framing headers to an HTML answer."""

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            for k, v in message.get("headers", ()):
                if k == b"content-type":
                    if v.startswith(b"text/html"):
                        message["headers"] = frame_headers(list(message["headers"]))
                    break
        await send(message)

    return wrapped


def frame_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    out: list[tuple[bytes, bytes]] = []
    has_xfo = has_csp = False
    for k, v in headers:
        if k == b"x-frame-options":
            has_xfo = True
        elif k == b"content-security-policy":
            has_csp = True
            if b"frame-ancestors" not in v:
                v = v.rstrip(b"; ") + b"; " + _FRAME_CSP
        out.append((k, v))
    if not has_xfo:
        out.append((b"x-frame-options", b"DENY"))
    if not has_csp:
        out.append((b"content-security-policy", _FRAME_CSP))
    return out


def ensure_control_token(settings: Settings) -> str | None:
    """On a non-loopback bind without a token, generate one; returns it (for printing once)."""
    if settings.control_token or is_loopback(settings.host):
        return None
    settings.control_token = secrets.token_urlsafe(24)
    return settings.control_token


def layer(
    settings: Settings,
    refuse_host: Callable[[str], Response],
    refuse: Refuse = refuse_as_control,
) -> Callable[[ASGIApp], Guard]:
    """The ``Guard`` for these settings, as a layer around an ASGI app."""
    ensure_control_token(settings)
    hosts = HostCheck(settings.host, settings.public_url, settings.allowed_hosts)

    def wrap(app: ASGIApp) -> Guard:
        return Guard(
            app,
            hosts=hosts,
            token=settings.control_token,
            public_url=settings.public_url,
            refuse_host=refuse_host,
            attempts=FailedAttempts(limit=settings.control_token_attempts),
            refuse=refuse,
        )

    return wrap
