"""The control plane's sign-in page: ``GET /_sandbox/login`` shows it, ``POST`` checks the
token and sets an ``HttpOnly; SameSite=Strict`` cookie scoped to ``/_sandbox``, then sends
the browser on to ``next`` (a ``/_sandbox/`` path). ``POST /_sandbox/logout`` clears it.

The cookie holds an HMAC of the token, not the token; it is as good as the token until the
token changes (a restart with another token signs everybody out).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import jinja2
from starlette.responses import HTMLResponse, RedirectResponse, Response

from .attempts import FailedAttempts
from .tokens import digest, same_secret

LOGIN_PATH = "/_sandbox/login"
LOGOUT_PATH = "/_sandbox/logout"
COOKIE = "paysandbox_control"
MAX_FORM = 4096

_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}


#: The sign-in routes in the OpenAPI document (the guard serves them, not an ``edge.Op``).
OPENAPI_PATHS: dict[str, dict[str, Any]] = {
    LOGIN_PATH: {
        "get": {
            "operationId": "get_sandbox_login",
            "summary": "The control plane's sign-in page (HTML); ?next= a /_sandbox/ path",
            "tags": ["control"],
            "parameters": [
                {"name": "next", "in": "query", "required": False, "schema": {"type": "string"}}
            ],
            "responses": {"200": {"description": "the sign-in page"}},
        },
        "post": {
            "operationId": "post_sandbox_login",
            "summary": "Sign in with the control token: sets the session cookie, 303 to next",
            "tags": ["control"],
            "requestBody": {
                "required": True,
                "content": {
                    "application/x-www-form-urlencoded": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "token": {"type": "string"},
                                "next": {"type": "string"},
                            },
                            "required": ["token"],
                        }
                    }
                },
            },
            "responses": {
                "303": {"description": "signed in: on to next"},
                "401": {"description": "not the control token (the page again)"},
                "429": {"description": "too many wrong tokens from this address; Retry-After"},
            },
        },
    },
    LOGOUT_PATH: {
        "post": {
            "operationId": "post_sandbox_logout",
            "summary": "Sign out: clears the session cookie, 303 to the sign-in page",
            "tags": ["control"],
            "responses": {"303": {"description": "signed out"}},
        }
    },
}


def session_value(token: str) -> str:
    return hmac.new(token.encode(), b"paysandbox control session v1", hashlib.sha256).hexdigest()


def cookie_value(header: str) -> str | None:
    for part in header.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name == COOKIE:
            return value.strip('"')
    return None


def safe_next(value: str | None) -> str:
    """Only a path of this control plane (never another site, never ``//host``)."""
    if (
        value
        and value.startswith("/_sandbox/")
        and len(value) <= 512
        and value.isascii()
        and value.isprintable()
        and "\\" not in value
        and "//" not in value
    ):
        return value
    return LOGIN_PATH


def page(state: str, next_path: str, status: int = 200, error: str | None = None) -> Response:
    body = _ENV.get_template("login.html").render(state=state, next=next_path, error=error)
    return HTMLResponse(body, status, headers=HEADERS)


def _cookie(response: Response, value: str, secure: bool, *, clear: bool = False) -> None:
    response.set_cookie(
        COOKIE,
        value,
        max_age=0 if clear else None,
        path="/_sandbox",
        secure=secure,
        httponly=True,
        samesite="strict",
    )


async def _read_form(receive: Callable[[], Awaitable[MutableMapping[str, Any]]]) -> str | None:
    body = b""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        body += bytes(message.get("body", b""))
        if len(body) > MAX_FORM:
            return None
        if not message.get("more_body", False):
            return body.decode("utf-8", "replace")


async def handle(
    scope: MutableMapping[str, Any],
    receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
    token_digest: bytes | None,
    session: str | None,
    secure: bool,
    attempts: FailedAttempts,
    address: str,
) -> Response:

    query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
    if token_digest is None or session is None:
        return page("open", LOGIN_PATH)
    if scope["method"] in ("GET", "HEAD"):
        given = None
        for k, v in scope["headers"]:
            if k == b"cookie":
                given = cookie_value(v.decode("latin-1"))
        signed_in = given is not None and same_secret(given, digest(session))
        return page("signed_in" if signed_in else "form", safe_next(query.get("next")))
    if scope["method"] != "POST":
        return page("form", LOGIN_PATH, 405, "use the form")
    form_text = await _read_form(receive)
    form = dict(parse_qsl(form_text or "", keep_blank_values=True))
    next_path = safe_next(form.get("next"))
    token = form.get("token", "")
    wait = attempts.retry_after(address) if token else None
    if wait is not None:  # refused unchecked, right or wrong: guessing must not go on
        answer = page(
            "form", next_path, 429, f"Too many wrong tokens from your address: wait {wait} s."
        )
        answer.headers["Retry-After"] = str(wait)
        return answer
    if not token or not same_secret(token, token_digest):
        if token:
            attempts.failed(address)
        return page("form", next_path, 401, "That is not the control token.")
    answer = RedirectResponse(next_path, 303, headers={"Cache-Control": "no-store"})
    _cookie(answer, session, secure)
    return answer


def sign_out(secure: bool) -> Response:
    answer = RedirectResponse(LOGIN_PATH, 303, headers={"Cache-Control": "no-store"})
    _cookie(answer, "", secure, clear=True)
    return answer
