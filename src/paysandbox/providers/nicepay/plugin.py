"""NICEPay as a paysandbox provider plugin."""

from __future__ import annotations

import logging

from ...plugin import AppContext, ProviderPlugin
from ...settings import DEMO_NICEPAY_IMID
from ...store import nicepay as rows
from ...store.db import Conn
from . import control, routes
from .service import NicepayService


class RedactPaymentQuery(logging.Filter):
    """``GET /nicepay/direct/v2/payment?…cardNo=…&cardCvv=…`` carries card data in the query:
    the access log (``--access-log``) prints that path without its query."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            path = args[2]
            if path.startswith("/nicepay/direct/v2/payment?"):
                record.args = (*args[:2], path.split("?", 1)[0] + "?[redacted]", *args[3:])
        return True


def install_log_redaction() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactPaymentQuery) for f in access.filters):
        access.addFilter(RedactPaymentQuery())


def plugin(ctx: AppContext) -> ProviderPlugin:
    s = ctx.settings
    install_log_redaction()
    service = NicepayService(ctx.db, ctx.outbox, on_commit=ctx.wake_sender)

    def seed(conn: Conn) -> None:
        for m in s.all_nicepay_merchants():
            rows.upsert_merchant(conn, m.imid, m.merchant_key)

    # Only the public demo key is ever printed; configured keys are not.
    demo = next((m for m in s.all_nicepay_merchants() if m.imid == DEMO_NICEPAY_IMID), None)
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
    )
