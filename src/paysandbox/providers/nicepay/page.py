"""The browser pages behind ``/nicepay/direct/v2/payment``: paysandbox's stand-in for the card
issuer's 3-D Secure page (01) and for the ClickPay / e-wallet / Payloan approval (04 / 05 / 06).

The payment request answers the page itself (NICEPay's clients echo that HTML to the customer),
so every URL in it is absolute. Its buttons post to
``/nicepay/direct/v2/payment/session/{id}`` (an unguessable id); the answer is a 303 redirect to
``callBackUrl`` with the result. ``GET`` on the same path shows the page again. Templates are
Jinja2 with autoescaping; the pages load nothing from elsewhere.
"""

from __future__ import annotations

from pathlib import Path

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from ...edge import Op
from ...store.db import Row
from ...web import own_base_url, read_body
from . import rules, views
from .errors import NicepayError
from .model import Txn
from .rules import CC
from .service import NicepayService, PaymentResult

_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)
_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self' http: https:; base-uri 'none'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def base_url(request: Request, public_url: str | None) -> str:
    """Built on the public URL or the bound address, never on the Host header."""
    return own_base_url(request, public_url)


def _idr(amount: int) -> str:
    return "IDR " + f"{amount:,}".replace(",", ".")


def render(txn: Txn, session: Row, base: str) -> Response:
    pm = txn.pay_method
    mitra = txn["mitra_cd"]
    context = {
        "action": f"{base}/nicepay/direct/v2/payment/session/{session['session_id']}",
        "goods": txn["goods_nm"],
        "amount": _idr(int(txn["amt"])),
        "reference": txn["reference_no"],
        "t_xid": txn.t_xid,
        "card_no": session["card_no_masked"] or "",
        "card_exp": session["card_exp_yymm"] or "",
        "holder": session["card_holder_nm"] or "",
        "method": rules.PAY_METHODS[pm],
        "provider": rules.MITRA.get(pm, {}).get(mitra or "", mitra or ""),
        "done": session["state"] != "pending",
    }
    template = "threeds.html" if pm == CC else "approval.html"
    return HTMLResponse(_ENV.get_template(template).render(**context), headers=_HEADERS)


def to_callback(result: PaymentResult) -> Response:
    """303 to callBackUrl with the payment's result (what the page's buttons end in)."""
    fields = views.callback_fields(result.txn, result.result_cd, result.result_msg)
    return RedirectResponse(
        views.callback_url(result.call_back_url, fields),
        303,
        headers={"Cache-Control": "no-store"},
    )


def continue_page(result: PaymentResult) -> Response:
    """The payment API's answer when a test card decided at once: 200 HTML that sends the
    browser on to callBackUrl (a refresh, and a link). NICEPay's clients pass the payment
    call's body to the browser, and their HTTP helpers take a 2xx only: the PHP library threw
    on a 303, the Node and Java ones followed it from the merchant's server."""
    url = views.callback_url(
        result.call_back_url,
        views.callback_fields(result.txn, result.result_cd, result.result_msg),
    )
    paid = result.result_cd == "0000"
    context = {
        "url": url,
        "word": "approved" if paid else "declined",
        "message": result.result_msg,
        "amount": _idr(int(result.txn["amt"])),
    }
    return HTMLResponse(_ENV.get_template("continue.html").render(**context), headers=_HEADERS)


def ops(service: NicepayService, *, public_url: str | None) -> list[Op]:
    async def show(request: Request) -> Response:
        txn, session = await service.get_session(request.path_params["session_id"])
        return render(txn, session, base_url(request, public_url))

    async def decide(request: Request) -> Response:
        body = await read_body(request, 4096)
        form = rules.parse_payment_params(body.decode("utf-8", errors="replace"))
        choice = form.get("result", "")
        if choice not in ("approve", "decline"):
            raise NicepayError("payment_params", "result must be approve or decline")
        result = await service.finish_payment(
            request.path_params["session_id"], choice == "approve"
        )
        return to_callback(result)

    path = "/nicepay/direct/v2/payment/session/{session_id}"
    return [
        Op("GET", path, show, "The 3-D Secure / approval page"),
        Op(
            "POST",
            path,
            decide,
            "The page's buttons (result=approve|decline); redirects to callBackUrl",
        ),
    ]
