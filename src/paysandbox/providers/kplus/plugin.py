"""K PLUS as a paysandbox provider: the whole contract between this folder and the core."""

from __future__ import annotations

import argparse
import json
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from ...delivery.rules import SuccessRule
from ...edge import Failure, WireError
from ...plugin import AppContext, Example, Mounted, Provider
from ...store.db import Conn
from . import callbacks, config, control, dashboard, page, routes, slip
from . import store as rows
from .config import DEMO_PARTNER_ID, DEMO_PARTNER_SECRET, KPlusConfig
from .service import KPlusService


class KPlus(Provider[KPlusConfig]):
    name = "kplus"
    title = "K PLUS"
    prefixes = ("/kplus/", "/v1/kplus/")
    migrations = Path(__file__).with_name("migrations")
    object_tables = ("kplus_request_uids", "kplus_tokens")
    credential_tables = ("kplus_partners",)
    success_rules: ClassVar[Mapping[str, SuccessRule]] = {
        callbacks.SUCCESS_RULE: callbacks.partner_accepted
    }

    def default_config(self) -> KPlusConfig:
        return KPlusConfig()

    def parse_config(self, section: Mapping[str, Any], config_: KPlusConfig) -> None:
        config.parse_section(section, config_)

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        config.add_arguments(parser)

    def apply_arguments(
        self, args: argparse.Namespace, config_: KPlusConfig, seed_demo: bool
    ) -> None:
        config.apply_arguments(args, config_, seed_demo)

    def example(self) -> Example:
        body = {
            "partnerTxnUid": f"EXAMPLE-{secrets.token_hex(8)}",
            "partnerId": DEMO_PARTNER_ID,
            "partnerSecret": DEMO_PARTNER_SECRET,
            "requestDt": "2019-07-04T18:00:42.411",
            "reference1": "KS1234567",
            "totalAmount": "500",
            "shippingFee": "0",
            "shopName": "Example Shop",
            "shopImageUrl": "https://shop.example/logo.png",
            "osPlatform": "IOS",
            "items": [{"itemName": "Shirt", "quantity": "2", "amount": "250"}],
            "currencyCode": "THB",
            "currencyExponent": "2",
        }
        headers = {"Content-Type": "application/json"}
        return Example("POST", "/kplus/payment/generate-token", headers, json.dumps(body).encode())

    def edge_error(self, failure: Failure, message: str) -> WireError:
        return routes.edge_error(failure, message)

    def mount(self, ctx: AppContext) -> Mounted:
        s = ctx.settings
        cfg = self.config(s)
        service = KPlusService(
            ctx.db,
            ctx.outbox,
            default_ttl_seconds=cfg.token_ttl_seconds,
            on_commit=ctx.wake_sender,
            slip_renderer=slip.render,
        )
        slip.warm_up()
        partners = cfg.all_partners(s.seed_demo)

        def seed(conn: Conn) -> None:
            for p in partners:
                rows.upsert_partner(
                    conn,
                    p.partner_id,
                    secret=p.partner_secret,
                    callback_url=p.callback_url,
                    token_ttl_seconds=p.token_ttl_seconds,
                    defaults={
                        "secret": p.partner_secret,
                        "token_ttl_seconds": cfg.token_ttl_seconds,
                    },
                )

        # Only the public demo credentials are ever printed; configured secrets are not.
        demo = [
            f"partnerId {p.partner_id}  partnerSecret {p.partner_secret}"
            for p in partners
            if p.partner_id == DEMO_PARTNER_ID and p.partner_secret == DEMO_PARTNER_SECRET
        ]
        return Mounted(
            ops=[
                *routes.ops(service, max_body=s.max_body_bytes, public_url=s.public_url),
                *page.ops(service),
                *control.ops(
                    service,
                    ctx.db,
                    max_body=s.max_body_bytes,
                    public_url=s.public_url,
                    default_ttl_seconds=cfg.token_ttl_seconds,
                ),
            ],
            seed=seed,
            credentials=["(/v1/… also needs Partner-Id / Partner-Secret headers)", *demo],
            dashboard=dashboard.part(service, ctx.db, default_ttl_seconds=cfg.token_ttl_seconds),
        )


provider = KPlus()
