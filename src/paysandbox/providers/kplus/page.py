"""The page behind ``callBackAppUrl``: paysandbox's stand-in for the K PLUS app.

``GET /kplus/app/{tokenId}`` shows the order (shop name and image, partner icon, items, shipping
fee, total, reference1) with a live expiry countdown and the buttons **Pay** and **Decline**.
The countdown is driven by the *sandbox* clock: the server renders its sandbox "now" and the
token's expiry into the page and the script counts down their difference, so a moved sandbox
clock is honoured; at zero the page reloads and the server shows the expired state.

The buttons are plain form POSTs to ``/kplus/app/{tokenId}/pay`` (optional ``paymentAccount``)
and ``/kplus/app/{tokenId}/decline``, answered with a 303 redirect back to the page
(post/redirect/get), which shows the outcome: a paid, cancelled, expired or voided token shows
its final state instead of the buttons; a declined token (still unpaid) says so and offers to
review the payment again. Errors become a friendly message on the page, never a stack trace;
an unknown token gets an HTML 404 page.

Everything is served from here: inline CSS and script (with a per-response CSP nonce), no
external assets, so the page works offline. Only the merchant's own ``shopImageUrl`` /
``partnerIconUrl`` may point elsewhere (or be ``data:`` URLs).
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from ...core.amounts import format_major
from ...core.clock import to_datetime
from ...edge import Op
from ...web import BodyError, media_type, read_body
from .errors import KPlusError
from .model import CANCELLED, EXPIRED, PAID, REQUESTED, VOIDED, Token
from .rules import BANGKOK
from .service import KPlusService

MAX_FORM_BYTES = 8192

_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)

#: Friendly text for each error a customer action can meet (keys come from the query string,
#: so only these fixed messages are ever shown, never request text).
MESSAGES = {
    "qr_paid": "This payment has already been made.",
    "qr_cancelled": "The shop cancelled this payment request.",
    "qr_expired": "This payment request has expired.",
    "qr_declined": "You declined this payment (paysandbox test amount); it cannot be paid.",
    "invalid_parameter": "The account number needs at least 5 digits.",
    "bad_form": "The form could not be read. Please try again.",
    "internal_error": "Something went wrong. Please try again.",
}
NOTICES = {
    "paid": "Payment successful.",
    "declined": "You declined this payment. The shop has not been paid.",
}


def _money(minor: int | None) -> str:
    return "" if minor is None else f"{format_major(int(minor)):,}"


def _bangkok(us: int | None, fmt: str = "%d %b %Y, %H:%M:%S") -> str:
    return "" if us is None else to_datetime(int(us), BANGKOK).strftime(fmt)


def _initials(name: str) -> str:
    letters = [w[0] for w in name.split() if w[:1].isalnum()]
    return ("".join(letters[:2]) or name[:1] or "?").upper()


def _view_name(token: Token, history: list[Any], review: bool) -> str:
    status = token.status
    if status == REQUESTED:
        declined_last = bool(history) and history[-1].kind == "declined"
        return "declined" if declined_last and not review else "pay"
    return {PAID: "paid", CANCELLED: "cancelled", EXPIRED: "expired", VOIDED: "voided"}.get(
        status, "unknown"
    )


def context(token: Token, history: list[Any], query: dict[str, str]) -> dict[str, Any]:
    """Everything the template shows, computed here so the template stays dumb."""
    items = [
        {
            "name": i.get("itemName") or "Item",
            "quantity": i.get("quantity"),
            "amount": _money(i.get("amount")),
        }
        for i in token.items
    ]
    paid_at = token["paid_at_us"]
    view = _view_name(token, history, query.get("review") == "1")
    error = MESSAGES.get(query.get("error", ""))
    return {
        "view": view,
        "status": token.status,
        "token_id": token.token_id,
        "shop_name": token["shop_name"],
        "shop_image_url": token["shop_image_url"],
        "partner_icon_url": token["partner_icon_url"],
        "initials": _initials(str(token["shop_name"])),
        "items": items,
        "shipping_fee": _money(token["shipping_fee"]),
        "has_shipping": int(token["shipping_fee"]) > 0,
        "total": _money(token["total_amount"]),
        "currency": token["currency_code"],
        "reference1": token["reference1"],
        "reference2": token["reference2"],
        "now_ms": token.now_us // 1000,
        "expires_ms": int(token["expires_at_us"]) // 1000,
        "expires_at": _bangkok(token["expires_at_us"], "%H:%M:%S"),
        "expired_at": _bangkok(token["expires_at_us"]),
        "paid": {
            "reference": token["payment_reference_id"],
            "account": token["payment_account"],
            "time": _bangkok(paid_at),
            "slip": token["slip_image"],
        }
        if paid_at
        else None,
        "notice": NOTICES.get(query.get("done", "")) if view != "paid" else None,
        "error": error,
    }


def _html(template: str, http_status: int = 200, **values: Any) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    body = _ENV.get_template(template).render(nonce=nonce, **values)
    return HTMLResponse(
        body,
        status_code=http_status,
        headers={
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": (
                f"default-src 'none'; img-src data: http: https:; "
                f"style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; "
                "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
            ),
        },
    )


def not_found_page() -> HTMLResponse:
    return _html("not_found.html", 404)


def _page_url(token_id: str, **query: str) -> str:
    url = f"/kplus/app/{quote(token_id, safe='')}"
    if query:
        url += "?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in query.items())
    return url


async def _payment_account(request: Request) -> str | None:
    """The optional account number from an urlencoded form (other bodies are ignored)."""
    body = await read_body(request, MAX_FORM_BYTES)
    if media_type(request) != "application/x-www-form-urlencoded":
        return None
    try:
        fields = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except (UnicodeDecodeError, ValueError):
        raise BodyError("malformed", "unreadable form", 400) from None
    account = fields.get("paymentAccount", "").strip()
    return account[:64] or None


def ops(service: KPlusService) -> list[Op]:
    async def show(request: Request) -> Response:
        token_id = request.path_params["token_id"]
        try:
            token, history = await service.get(token_id)
        except KPlusError:
            return not_found_page()
        return _html("app.html", **context(token, history, dict(request.query_params)))

    async def act(request: Request, action: str) -> Response:
        token_id = request.path_params["token_id"]
        try:
            if action == "pay":
                account = await _payment_account(request)
                await service.pay(token_id, account, via="app-page")
            else:
                await service.decline(token_id)
        except BodyError:
            return RedirectResponse(_page_url(token_id, error="bad_form"), 303)
        except KPlusError as exc:
            if exc.code == "token_not_found":
                return not_found_page()
            code = exc.code if exc.code in MESSAGES else "internal_error"
            return RedirectResponse(_page_url(token_id, error=code), 303)
        done = "paid" if action == "pay" else "declined"
        return RedirectResponse(_page_url(token_id, done=done), 303)

    async def pay(request: Request) -> Response:
        return await act(request, "pay")

    async def decline(request: Request) -> Response:
        return await act(request, "decline")

    async def back_to_page(request: Request) -> Response:
        """A GET on an action URL (a reload, a bookmark) just shows the page."""
        return RedirectResponse(_page_url(request.path_params["token_id"]), 303)

    page = "/kplus/app/{token_id}"
    return [
        Op("GET", page, show, "The customer page behind callBackAppUrl"),
        Op("POST", f"{page}/pay", pay, "The page's Pay button (form)"),
        Op("POST", f"{page}/decline", decline, "The page's Decline button (form)"),
        Op("GET", f"{page}/pay", back_to_page, "Redirects back to the customer page"),
        Op("GET", f"{page}/decline", back_to_page, "Redirects back to the customer page"),
    ]
