"""K PLUS as a paysandbox provider plugin."""

from __future__ import annotations

from ...plugin import AppContext, ProviderPlugin
from ...settings import DEMO_KPLUS_PARTNER_ID, DEMO_KPLUS_PARTNER_SECRET
from ...store import kplus as rows
from ...store.db import Conn
from . import control, routes, slip
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
    )
