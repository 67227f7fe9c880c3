"""Smart2Pay as a paysandbox provider plugin."""

from __future__ import annotations

from ...openapi import ApiDoc, wrapped
from ...plugin import AppContext, ProviderPlugin
from ...settings import DEMO_SMART2PAY_API_KEY, DEMO_SMART2PAY_SITE_ID
from ...store import smart2pay as rows
from ...store.db import Conn
from . import control, routes
from .callbacks import basic_auth
from .observe import OBSERVE
from .schemas import CardAuthenticationIn, PaymentIn, RefundIn, SiteBody
from .service import Smart2PayService


def plugin(ctx: AppContext) -> ProviderPlugin:
    s = ctx.settings
    service = Smart2PayService(ctx.db, ctx.outbox, on_commit=ctx.wake_sender)

    def seed(conn: Conn) -> None:
        for site in s.all_smart2pay_sites():
            rows.upsert_site(
                conn,
                site.site_id,
                api_key=site.api_key,
                notification_url=site.notification_url,
            )

    banner = [
        "Smart2Pay  POST /v1/card/authenticate, /v1/card/token/{value}[/cancel]",
        "           POST /v1/payments, /v1/payments/{id}/{capture,cancel,refunds}, GET …/status",
    ]
    # Only the public demo credentials are ever printed; configured keys are not.
    if any(
        x.site_id == DEMO_SMART2PAY_SITE_ID and x.api_key == DEMO_SMART2PAY_API_KEY
        for x in s.all_smart2pay_sites()
    ):
        auth = basic_auth(DEMO_SMART2PAY_SITE_ID, DEMO_SMART2PAY_API_KEY)
        banner.append(
            f"           SiteID {DEMO_SMART2PAY_SITE_ID}  ApiKey "
            f"{DEMO_SMART2PAY_API_KEY}  (Authorization: {auth})"
        )
    return ProviderPlugin(
        name="smart2pay",
        prefixes=("/v1/card/", "/v1/payments", "/v1/refunds"),
        routes=[
            *routes.make_routes(service, max_body=s.max_body_bytes),
            *control.make_routes(service, ctx.db, max_body=s.max_body_bytes),
        ],
        not_found=routes.not_found,
        internal_error=routes.internal_error,
        seed=seed,
        banner=banner,
        observe=OBSERVE,
        api_docs=API_DOCS,
    )


_AUTH = wrapped("CardAuthentication", CardAuthenticationIn)
_PAYMENT = wrapped("Payment", PaymentIn)
_REFUND = wrapped("Refund", RefundIn)
API_DOCS = [
    ApiDoc("POST", "/v1/card/authenticate", "Card authentication → credit-card token", _AUTH),
    ApiDoc("GET", "/v1/card/token/{value}", "A credit-card token"),
    ApiDoc("POST", "/v1/card/token/{value}/cancel", "Cancel a credit-card token"),
    ApiDoc("POST", "/v1/payments", "Create a card payment (Card or CreditCardToken)", _PAYMENT),
    ApiDoc("GET", "/v1/payments", "List payments"),
    ApiDoc("GET", "/v1/payments/{pid}", "A payment"),
    ApiDoc("GET", "/v1/payments/{pid}/status", "A payment's status"),
    ApiDoc("POST", "/v1/payments/{pid}/capture", "Capture (full, or partial with ?amount=N)"),
    ApiDoc("POST", "/v1/payments/{pid}/cancel", "Cancel an authorized payment"),
    ApiDoc("POST", "/v1/payments/{pid}/refunds", "Refund (full or partial)", _REFUND),
    ApiDoc("GET", "/v1/payments/{pid}/refunds", "A payment's refunds"),
    ApiDoc("GET", "/v1/payments/{pid}/refunds/{rid}", "A refund"),
    ApiDoc("GET", "/v1/payments/{pid}/refunds/{rid}/status", "A refund's status"),
    ApiDoc("GET", "/v1/refunds/{rid}/status", "A refund's status"),
    ApiDoc("GET", "/_sandbox/smart2pay/payments/{payment_id}", "A payment with its events"),
    ApiDoc("GET", "/_sandbox/smart2pay/tokens/{value}", "A card token with its events"),
    ApiDoc("GET", "/_sandbox/smart2pay/sites", "Sites (never their API keys)"),
    ApiDoc(
        "PUT",
        "/_sandbox/smart2pay/sites/{site_id}",
        "Create or change a site: apiKey, notificationUrl, faults",
        SiteBody,
    ),
]
