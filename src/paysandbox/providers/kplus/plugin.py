"""K PLUS as a paysandbox provider plugin."""

from __future__ import annotations

from ...openapi import ApiDoc
from ...plugin import AppContext, ProviderPlugin
from ...settings import DEMO_KPLUS_PARTNER_ID, DEMO_KPLUS_PARTNER_SECRET
from ...store import kplus as rows
from ...store.db import Conn
from . import control, routes, slip
from .observe import OBSERVE
from .schemas import CancelToken, GenerateToken, InquireToken, PayToken
from .service import KPlusService


def plugin(ctx: AppContext) -> ProviderPlugin:
    s = ctx.settings
    service = KPlusService(
        ctx.db,
        ctx.outbox,
        default_ttl_seconds=s.kplus_token_ttl_seconds,
        on_commit=ctx.wake_sender,
        slip_renderer=slip.render,
    )
    slip.warm_up()

    def seed(conn: Conn) -> None:
        for p in s.all_kplus_partners():
            rows.upsert_partner(
                conn,
                p.partner_id,
                secret=p.partner_secret,
                callback_url=p.callback_url,
                token_ttl_seconds=p.token_ttl_seconds,
                defaults={
                    "secret": p.partner_secret,
                    "token_ttl_seconds": s.kplus_token_ttl_seconds,
                },
            )

    # Only the public demo credentials are ever printed; configured secrets are not.
    demo = next(
        (
            p
            for p in s.all_kplus_partners()
            if p.partner_id == DEMO_KPLUS_PARTNER_ID
            and p.partner_secret == DEMO_KPLUS_PARTNER_SECRET
        ),
        None,
    )
    banner = [
        "K PLUS     POST /kplus/payment/{generate-token,inquire-token,cancel-token}",
        "           POST /v1/kplus/payment/... (with Partner-Id / Partner-Secret headers)",
    ]
    if demo is not None:
        banner.append(
            f"           partnerId {demo.partner_id}  partnerSecret {demo.partner_secret}"
        )
    return ProviderPlugin(
        name="kplus",
        prefixes=("/kplus/", "/v1/kplus/"),
        routes=[
            *routes.make_routes(service, max_body=s.max_body_bytes, public_url=s.public_url),
            *control.make_routes(
                service,
                ctx.db,
                max_body=s.max_body_bytes,
                public_url=s.public_url,
                default_ttl_seconds=s.kplus_token_ttl_seconds,
            ),
        ],
        not_found=routes.not_found,
        internal_error=routes.internal_error,
        seed=seed,
        banner=banner,
        observe=OBSERVE,
        api_docs=api_docs(),
    )


def api_docs() -> list[ApiDoc]:
    docs = []
    for prefix, how in (
        ("/kplus/payment", "credentials in the body"),
        ("/v1/kplus/payment", "and Partner-Id / Partner-Secret headers"),
    ):
        docs += [
            ApiDoc(
                "POST", f"{prefix}/generate-token", f"Issue a payment token ({how})", GenerateToken
            ),
            ApiDoc(
                "POST", f"{prefix}/inquire-token", f"The token's true status ({how})", InquireToken
            ),
            ApiDoc(
                "POST", f"{prefix}/cancel-token", f"Cancel an unpaid token ({how})", CancelToken
            ),
        ]
    return [
        *docs,
        ApiDoc("GET", "/kplus/app/{token_id}", "The customer page behind callBackAppUrl"),
        ApiDoc("POST", "/kplus/app/{token_id}/pay", "The page's Pay button (form)"),
        ApiDoc("POST", "/kplus/app/{token_id}/decline", "The page's Decline button (form)"),
        ApiDoc("GET", "/kplus/app/{token_id}/pay", "Redirects back to the customer page"),
        ApiDoc("GET", "/kplus/app/{token_id}/decline", "Redirects back to the customer page"),
        ApiDoc(
            "POST",
            "/_sandbox/kplus/tokens",
            "Create a token with a chosen tokenId",
            control.FixtureBody,
        ),
        ApiDoc("GET", "/_sandbox/kplus/tokens/{token_id}", "A token with its event history"),
        ApiDoc(
            "POST",
            "/_sandbox/kplus/tokens/{token_id}/pay",
            "Simulate the customer paying",
            PayToken,
        ),
        ApiDoc("POST", "/_sandbox/kplus/tokens/{token_id}/expire", "Expire an unpaid token now"),
        ApiDoc("GET", "/_sandbox/kplus/partners", "Partners (never their secrets)"),
        ApiDoc(
            "PUT",
            "/_sandbox/kplus/partners/{partner_id}",
            "Create or change a partner: secret, callback URL, token TTL, faults",
            control.PartnerBody,
        ),
    ]
