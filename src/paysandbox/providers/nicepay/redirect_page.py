"""The v2 Redirect (Checkout) payment page, ``GET /nicepay/redirect/v2/payment?tXid=…`` (the
registration's ``paymentURL`` plus ``?tXid=``), and its buttons (``POST`` to the same path).

Stages: choose the method / bank / provider (payMethod 00, or no bankCd / mitraCd registered);
enter the card (01) or continue to the provider (04 / 05 / 06) — both then open the same
3-D Secure / approval page as ``/direct/v2/payment``, which redirects to ``callBackUrl`` and
notifies ``dbProcessUrl``; for a VA / CVS the number to pay, with "Back to the shop" (a 303 to
``callBackUrl`` with the registration's fields). Errors answer NICEPay's JSON error body, as the
Direct payment page does.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from ...edge import Op
from ...web import read_body
from . import rules, views
from .errors import NicepayError
from .model import CANCELED, EXPIRED, FAILED, INIT, PAID, UNPAID, Txn
from .page import _ENV, _HEADERS, _idr, base_url, to_callback
from .rules import CC, CVS, VA
from .service import NicepayService
from .service.redirect import call_back_url, needs_choice

PATH = "/nicepay/redirect/v2/payment"
_WORDS = {PAID: "paid", FAILED: "failed", CANCELED: "cancelled", EXPIRED: "expired"}


def _options(txn: Txn) -> list[dict[str, str]]:
    pm = txn.pay_method
    methods = list(rules.PAY_METHODS) if pm == rules.ALL else [pm]
    out: list[dict[str, str]] = []
    for m in methods:
        name = rules.PAY_METHODS[m]
        if m == VA:
            out += [
                {"method": m, "code": c, "label": f"{name}: {b}"}
                for c, (b, _) in rules.BANKS.items()
            ]
        elif m in rules.MITRA:
            out += [
                {"method": m, "code": c, "label": f"{name}: {n}"} for c, n in rules.MITRA[m].items()
            ]
        else:
            out.append({"method": m, "code": "", "label": name})
    return out


def render(txn: Txn, action: str) -> Response:
    pm = txn.pay_method
    status = txn.status
    if needs_choice(txn):
        stage = "choose"
    elif status == INIT:
        stage = "card" if pm == CC else "approve"
    elif status == UNPAID:
        stage = "number"
    else:
        stage = "done"
    until = txn["valid_until_us"]
    context: dict[str, Any] = {
        "heading": "Choose how to pay" if stage == "choose" else "Pay with NICEPay",
        "stage": stage,
        "action": action,
        "reference": txn["reference_no"],
        "amount": _idr(int(txn["amt"])),
        "goods": txn["goods_nm"],
        "t_xid": txn.t_xid,
        "method": rules.PAY_METHODS.get(pm, ""),
        "provider": rules.MITRA.get(pm, {}).get(txn["mitra_cd"] or "", txn["mitra_cd"] or ""),
        "number": txn["vacct_no"] or txn["pay_no"] or "",
        "number_label": "Virtual account" if pm == VA else "Payment code",
        "valid_until": f"{views.date(until)} {views.time(until)}"
        if until and stage == "number"
        else "",
        "options": _options(txn) if stage == "choose" else [],
        "status": _WORDS.get(status, status.lower()),
    }
    return HTMLResponse(_ENV.get_template("redirect.html").render(**context), headers=_HEADERS)


def _back(txn: Txn) -> Response:
    """303 to callBackUrl: the registration's fields for a VA / CVS waiting for the transfer,
    or the transaction's result once it is decided."""
    if txn.status in (PAID, UNPAID):
        cd, msg = "0000", "SUCCESS"
    else:  # the codes a payment of such a transaction answers
        err = NicepayError("tx_expired" if txn.status == EXPIRED else "tx_exists")
        cd, msg = err.code.result_cd, err.code.message
    fields = views.callback_fields(txn, cd, msg)
    if txn.pay_method in (VA, CVS):
        fields.update({k: v for k, v in views.registered(txn).items() if k not in fields})
    return RedirectResponse(
        views.callback_url(call_back_url(txn), fields), 303, headers={"Cache-Control": "no-store"}
    )


def ops(service: NicepayService, *, public_url: str | None) -> list[Op]:
    async def show(request: Request) -> Response:
        t_xid = request.query_params.get("tXid", "").strip()
        txn = await service.redirect_page(t_xid)
        return render(txn, base_url(request, public_url) + PATH)

    async def act(request: Request) -> Response:
        body = await read_body(request, 8192)
        form = dict(parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True))
        t_xid = (form.get("tXid") or request.query_params.get("tXid", "")).strip()
        action = form.get("action", "")
        if action == "choose":
            txn = await service.redirect_choose(t_xid, form.get("method", ""), form.get("code", ""))
        elif action == "pay":
            # as a person types them: spaces around, and spaces or dashes inside a card number
            card = {k: (form.get(k, "").strip() or None) for k in ("cardExpYymm", "cardCvv")}
            card["cardNo"] = re.sub(r"[ -]", "", form.get("cardNo", "")) or None
            card["cardHolderNm"] = form.get("cardHolderNm") or None
            txn, session, decided = await service.redirect_session(t_xid, card)
            if decided is not None:
                return to_callback(decided)
            assert session is not None
            base = base_url(request, public_url)
            target = f"{base}/nicepay/direct/v2/payment/session/{session['session_id']}"
            return RedirectResponse(target, 303, headers={"Cache-Control": "no-store"})
        elif action == "back":
            return _back(await service.redirect_page(t_xid))
        else:
            raise NicepayError("payment_params", "action must be choose, pay or back")
        return render(txn, base_url(request, public_url) + PATH)

    return [
        Op("GET", PATH, show, "Redirect payment page (?tXid=)", public=True),
        Op(
            "POST",
            PATH,
            act,
            "The Redirect page's buttons (action=choose|pay|back)",
            None,
            "application/x-www-form-urlencoded",
        ),
    ]
