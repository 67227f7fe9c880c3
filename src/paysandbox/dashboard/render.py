"""HTML answers of the dashboard: Jinja2 templates (autoescaped) with a per-response CSP nonce,
and the per-browser CSRF token kept in an HttpOnly, SameSite=Strict cookie.

Cross-site protection of every state-changing form (``check_form``):

* the form's hidden ``csrf`` field must equal the browser's ``paysandbox_dashboard`` cookie
  (compared in constant time; a page from elsewhere can neither read the cookie nor the pages
  that carry the token);
* a request the browser marks as coming from another site (``Sec-Fetch-Site`` other than
  ``same-origin``/``none``) or from another origin (``Origin``) is refused outright;
* the cookie is ``SameSite=Strict``, so other sites' forms do not even carry it.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from ..edge import Failure, WireError
from ..web import BodyError, media_type, read_body

COOKIE = "paysandbox_dashboard"
MAX_FORM_BYTES = 16 * 1024
#: what a page's ``live`` block is wrapped in (the part the polling script refreshes)
LIVE_START, LIVE_END = "<!--live-->", "<!--/live-->"

_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
    undefined=jinja2.StrictUndefined,
)


def when(us: int | None) -> str:
    if us is None:
        return ""
    return datetime.fromtimestamp(int(us) / 1e6, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def shown(value: Any) -> str:
    """A field value as text: JSON for structures, empty for None."""
    if value is None:
        return ""
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, indent=2, ensure_ascii=False, default=str)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def structured(value: Any) -> bool:
    return isinstance(value, dict | list | tuple)


def pretty_body(text: str | None) -> str:
    """A JSON body indented; anything else — nested past the parser's depth included — as
    it is."""
    if not text:
        return ""
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except (ValueError, TypeError, RecursionError):
        return text


def query(base: Mapping[str, Any], **changes: Any) -> str:
    """``?…`` with ``changes`` applied to ``base`` (empty values dropped)."""
    merged = {**base, **changes}
    kept = [(k, str(v)) for k, v in merged.items() if v not in (None, "")]
    return "?" + urlencode(kept) if kept else ""


_ENV.filters.update(when=when, shown=shown, pretty=pretty_body)
_ENV.tests["structured"] = structured
_ENV.globals["query"] = query


def csrf_token(request: Request) -> tuple[str, bool]:
    """The browser's token, and whether it is new (then the answer sets the cookie)."""
    have = request.cookies.get(COOKIE, "")
    if 20 <= len(have) <= 100 and have.replace("-", "").replace("_", "").isalnum():
        return have, False
    return secrets.token_urlsafe(32), True


def _security_headers(nonce: str) -> dict[str, str]:
    return {
        "Cache-Control": "no-store",
        # "no-referrer" would make the browser send "Origin: null" with the forms
        "Referrer-Policy": "same-origin",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Content-Security-Policy": (
            f"default-src 'none'; img-src 'self' data:; style-src 'nonce-{nonce}'; "
            f"script-src 'nonce-{nonce}'; connect-src 'self'; form-action 'self'; "
            "base-uri 'none'; frame-ancestors 'none'"
        ),
    }


def page(request: Request, template: str, http_status: int = 200, **values: Any) -> HTMLResponse:
    """The whole page, or only its ``live`` block for ``?fragment=live`` (the polling script)."""
    nonce = secrets.token_urlsafe(16)
    token, new = csrf_token(request)
    context = {
        "nonce": nonce,
        "csrf": token,
        "path": request.url.path,
        "params": dict(request.query_params),
        # a page answering a refused POST is not refreshed (its URL is the form's action)
        "poll": request.method in ("GET", "HEAD"),
        **values,
    }
    body = _ENV.get_template(template).render(context)
    headers = _security_headers(nonce)
    start, end = body.find(LIVE_START), body.find(LIVE_END)
    if 0 <= start < end:
        # the live block's version: the polling script swaps the block only when the version
        # it fetches differs from the one it shows (comparing HTML text could never match, so
        # every poll rebuilt the block: the focus, typed values and open sections went)
        live = body[start + len(LIVE_START) : end]
        version = hashlib.sha256(live.encode()).hexdigest()[:20]
        if request.query_params.get("fragment") == "live":
            body = live
            headers["X-Live-Version"] = version
            if "clock_now_us" in values:  # the header's clock, outside the block, follows too
                offset = float(values["clock"]["offsetSeconds"])
                headers["X-Sandbox-Clock"] = when(values["clock_now_us"])
                headers["X-Sandbox-Clock-Offset"] = f"+{offset:.0f} s" if offset else ""
        else:
            body = body.replace(" data-live>", f' data-live data-live-version="{version}">', 1)
    response = HTMLResponse(body, http_status, headers=headers)
    if new:
        response.set_cookie(
            COOKIE,
            token,
            path="/_sandbox/",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
    return response


def see_other(url: str) -> Response:
    return RedirectResponse(url, 303, headers={"Cache-Control": "no-store"})


class FormRefused(Exception):
    def __init__(self, http_status: int, message: str) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.message = message


def _same_origin(request: Request) -> bool:
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True
    host = request.headers.get("host", "")
    return origin in (f"http://{host}", f"https://{host}")


async def check_form(request: Request) -> dict[str, str]:
    """The urlencoded form of a state-changing request, once it is known to come from the
    dashboard itself (module docstring); ``FormRefused`` otherwise."""
    if not _same_origin(request):
        raise FormRefused(403, "This form was sent from another site and has been refused.")
    try:
        body = await read_body(request, MAX_FORM_BYTES)
    except BodyError as exc:
        raise FormRefused(exc.http_status, "The form could not be read.") from None
    if body and media_type(request) != "application/x-www-form-urlencoded":
        raise FormRefused(415, "The form could not be read.")
    try:
        fields = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except (UnicodeDecodeError, ValueError):
        raise FormRefused(400, "The form could not be read.") from None
    cookie = request.cookies.get(COOKIE, "")
    sent = fields.pop("csrf", "")
    if not cookie or not secrets.compare_digest(cookie.encode(), sent.encode()):
        raise FormRefused(
            403, "This form has expired or was not sent by the dashboard. Reload and try again."
        )
    return fields


class PageError(WireError):
    """An edge failure on a dashboard path, answered as a page in the dashboard's style (a
    person reading it in a browser got the control API's JSON)."""

    def __init__(self, http_status: int, heading: str, message: str) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.heading = heading

    def render(self, request: Request) -> Response:
        return page(
            request, "edge_error.html", self.http_status, heading=self.heading, message=str(self)
        )


class DashboardOwner:
    """The owner of the dashboard's paths (``/_sandbox/`` and ``/_sandbox/ui/…``) for the
    request edge: unknown paths, a wrong method (a GET of an action's URL), a bad id are pages."""

    name = "dashboard"

    def edge_error(self, failure: Failure, message: str) -> WireError:
        if failure == "not_found":
            return PageError(404, "Not found", f"There is no page at {message}.")
        if failure == "method_not_allowed":
            return PageError(
                405, "Not here", "This address takes a form's button, not a visit: go back."
            )
        if failure == "internal":
            return PageError(500, "Sorry", "Something went wrong inside paysandbox.")
        status = {"too_large": 413, "content_type": 415}.get(failure, 400)
        return PageError(status, "Sorry", message)


DASHBOARD = DashboardOwner()


def refusal(http_status: int, message: str) -> PageError:
    """A dashboard request the control plane's guard refuses before any page runs (a bad id
    in the path, 400; a form from another site, 403), as a page: it answered with the
    control API's JSON."""
    if http_status == 403:
        return PageError(
            403, "Refused", "This form was sent from another site and has been refused."
        )
    return PageError(http_status, "Not an address here", f"This address is not valid: {message}.")
