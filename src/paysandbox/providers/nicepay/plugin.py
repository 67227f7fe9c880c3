"""NICEPay as a paysandbox provider plugin."""

from __future__ import annotations

from ...openapi import ApiDoc
from ...plugin import AppContext, ProviderPlugin
from ...settings import DEMO_NICEPAY_IMID, DEMO_NICEPAY_MERCHANT_KEY
from ...store import nicepay as rows
from ...store.db import Conn
from . import control, routes
from .observe import OBSERVE
from .schemas import Cancel, Inquiry, Payment, PayTransaction, Registration
from .service import NicepayService


def plugin(ctx: AppContext) -> ProviderPlugin:
    s = ctx.settings
    service = NicepayService(ctx.db, ctx.outbox, on_commit=ctx.wake_sender)

    def seed(conn: Conn) -> None:
        for m in s.all_nicepay_merchants():
            rows.upsert_merchant(conn, m.imid, m.merchant_key)

    # Only the public demo key is ever printed: a configuration file that gives IONPAYTEST a
    # key of its own keeps that key off the console.
    demo = next(
        (
            m
            for m in s.all_nicepay_merchants()
            if m.imid == DEMO_NICEPAY_IMID and m.merchant_key == DEMO_NICEPAY_MERCHANT_KEY
        ),
        None,
    )
    banner = [
        "NICEPay    POST /nicepay/direct/v2/{registration,inquiry,cancel}",
        "           GET|POST /nicepay/direct/v2/payment (3-D Secure / approval page)",
    ]
    if demo is not None:
        banner.append(f"           iMid {demo.imid}  merchantKey {demo.merchant_key}")
    return ProviderPlugin(
        name="nicepay",
        prefixes=("/nicepay/",),
        routes=[
            *routes.make_routes(service, max_body=s.max_body_bytes, public_url=s.public_url),
            *control.make_routes(service, ctx.db, max_body=s.max_body_bytes),
        ],
        not_found=routes.not_found,
        internal_error=routes.internal_error,
        seed=seed,
        banner=banner,
        observe=OBSERVE,
        api_docs=API_DOCS,
    )


V2 = "/nicepay/direct/v2"
API_DOCS = [
    ApiDoc("POST", f"{V2}/registration", "Register a transaction (payMethod 01–06)", Registration),
    ApiDoc("POST", f"{V2}/inquiry", "The transaction's true status", Inquiry),
    ApiDoc("POST", f"{V2}/cancel", "Full (cancelType 1) or partial (2) cancel", Cancel),
    ApiDoc("GET", f"{V2}/payment", "Browser payment: 3-D Secure or approval page (query)"),
    ApiDoc(
        "POST",
        f"{V2}/payment",
        "Browser payment (form post)",
        Payment,
        "application/x-www-form-urlencoded",
    ),
    ApiDoc("GET", f"{V2}/payment/session/{{session_id}}", "The 3-D Secure / approval page"),
    ApiDoc(
        "POST",
        f"{V2}/payment/session/{{session_id}}",
        "The page's buttons (result=approve|decline); redirects to callBackUrl",
    ),
    ApiDoc("GET", "/_sandbox/nicepay/transactions", "Transactions, newest first (?iMid=&limit=)"),
    ApiDoc("GET", "/_sandbox/nicepay/transactions/{t_xid}", "A transaction with its events"),
    ApiDoc(
        "POST",
        "/_sandbox/nicepay/transactions/{t_xid}/pay",
        "The customer pays (VA transfer, CVS payment; optional amount)",
        PayTransaction,
    ),
    ApiDoc("POST", "/_sandbox/nicepay/transactions/{t_xid}/expire", "Expire it now"),
    ApiDoc("GET", "/_sandbox/nicepay/merchants", "Merchants (never their keys)"),
]
