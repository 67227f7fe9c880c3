"""The pages behind a payment's ``RedirectURL`` (``/smart2pay/payment/{key}``, an unguessable
key): paysandbox's hosted card form and its stand-in for the issuer's 3-D Secure page.

``GET`` shows the page for the payment's stage: the card form (a payment created without card
data), **Authenticate** / **Fail** (``3DSecure: true``), or the outcome. The forms post back to
the same URL; when the payment is decided the browser is sent (303) to the payment's
``ReturnURL`` with ``data`` (the status id) and ``MerchantTransactionID``, as Smart2Pay's
return does. A refused card re-shows the form with the reasons (HTTP 400), changing nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from ...edge import Op
from ...web import BodyError, read_body
from .errors import Smart2PayError
from .model import OPEN, STATUS_IDS, Payment
from .service import Smart2PayService
from .service.hosted import AUTHENTICATE, CANCEL, FAIL, CardRefused

_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)
_HEADERS = {
    # form-action: the form's answer is a 303 to the merchant's ReturnURL (another origin),
    # and Chromium applies form-action to a form's redirects too
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self' http: https:; base-uri 'none'",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}
_CARD_FIELDS = ("HolderName", "Number", "ExpirationMonth", "ExpirationYear", "SecurityCode")
PATH = "/smart2pay/payment/{key}"


def _amount(p: Payment) -> str:
    return f"{int(p['amount']) / 100:,.2f} {p['currency']}"


def return_url(p: Payment) -> str | None:
    """``ReturnURL`` with ``data`` (status id) and ``MerchantTransactionID`` added."""
    url = p["return_url"]
    if not url or not str(url).lower().startswith(("http://", "https://")):
        return None  # (rows stored before ReturnURL had to be http(s))
    parts = urlsplit(str(url))
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [
        ("data", str(STATUS_IDS[p.status])),
        ("MerchantTransactionID", str(p["merchant_transaction_id"])),
    ]
    return str(urlunsplit(parts._replace(query=urlencode(query))))


def render(
    p: Payment,
    action: str,
    *,
    errors: list[str] | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    stage = "done"
    if p.status == OPEN:
        stage = "card" if p["card_form"] else "3ds"
    card = p["card"]
    title = {"card": "Enter your card", "3ds": "3-D Secure authentication"}.get(stage, "Payment")
    card_view = json.loads(card) if card else {}
    html = _ENV.get_template("payment.html").render(
        title=title,
        stage=stage,
        action=action,
        amount=_amount(p),
        merchant_transaction_id=p["merchant_transaction_id"],
        description=p["description"] or "",
        card=(card_view or {}).get("Number") or "",
        status=p.status,
        errors=errors or [],
        form={k: (form or {}).get(k, "") for k in _CARD_FIELDS},
        return_url=return_url(p),
    )
    return HTMLResponse(html, status_code, headers=_HEADERS)


def _not_found() -> Response:
    return HTMLResponse(
        "<!doctype html><title>Not found</title><p>No such payment page.</p>",
        404,
        headers=_HEADERS,
    )


def ops(service: Smart2PayService) -> list[Op]:
    async def show(request: Request) -> Response:
        try:
            payment = await service.page(request.path_params["key"])
        except Smart2PayError:
            return _not_found()
        return render(payment, request.url.path)

    async def act(request: Request) -> Response:
        key = request.path_params["key"]
        try:
            body = await read_body(request, 8192)
        except BodyError:
            return HTMLResponse("<!doctype html><p>Bad request.</p>", 400, headers=_HEADERS)
        form = dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))
        action = form.get("action", "")
        try:
            if action == "card":
                card = {k: form.get(k, "").strip() for k in _CARD_FIELDS}
                payment = await service.submit_card(key, card)
            elif action in (AUTHENTICATE, FAIL, CANCEL):
                payment = await service.decide(key, action)
            else:
                payment = await service.page(key)
                return render(
                    payment, request.url.path, errors=["Unknown action."], status_code=400
                )
        except Smart2PayError:
            return _not_found()
        except CardRefused as exc:
            payment = await service.page(key)
            kept = {k: form.get(k, "") for k in ("HolderName", "ExpirationMonth", "ExpirationYear")}
            return render(
                payment,
                request.url.path,
                errors=[i for _, i in exc.reasons],
                form=kept,
                status_code=400,
            )
        target = return_url(payment) if payment.status != OPEN else None
        return RedirectResponse(
            target or request.url.path, 303, headers={"Cache-Control": "no-store"}
        )

    return [
        Op("GET", PATH, show, "RedirectURL: hosted card form / 3-D Secure page"),
        Op(
            "POST",
            PATH,
            act,
            "The page's buttons (action=card|authenticate|fail|cancel)",
            None,
            "application/x-www-form-urlencoded",
        ),
    ]
