"""Smart2Pay as a paysandbox provider: the whole contract between this folder and the core."""

from __future__ import annotations

import argparse
import json
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ...core.errors import InvalidInput
from ...delivery.urls import BadUrl, check_callback_url, redact_url
from ...edge import Failure, WireError
from ...plugin import AppContext, Example, Mounted, Provider
from ...store.db import Conn
from . import config, control, dashboard, page, routes, rules
from . import store as rows
from .callbacks import basic_auth
from .config import DEMO_API_KEY, DEMO_SITE_ID, Smart2PayConfig
from .cors import Cors
from .observe import OBSERVE
from .service import Smart2PayService


class Smart2Pay(Provider[Smart2PayConfig]):
    name = "smart2pay"
    title = "Smart2Pay"
    prefixes = ("/v1/card/", "/v1/payments", "/v1/refunds", "/smart2pay/")
    observe = OBSERVE
    migrations = Path(__file__).with_name("migrations")
    object_tables = (
        "smart2pay_refunds",
        "smart2pay_captures",
        "smart2pay_payments",
        "smart2pay_addresses",
        "smart2pay_customers",
        "smart2pay_tokens",
        "smart2pay_requests",
    )
    credential_tables = ("smart2pay_sites",)

    def default_config(self) -> Smart2PayConfig:
        return Smart2PayConfig()

    def parse_config(self, section: Mapping[str, Any], config_: Smart2PayConfig) -> None:
        config.parse_section(section, config_)

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        config.add_arguments(parser)

    def apply_arguments(
        self, args: argparse.Namespace, config_: Smart2PayConfig, seed_demo: bool
    ) -> None:
        config.apply_arguments(args, config_)

    accounts = "sites"

    def account_exists(self, conn: Conn, account_id: str) -> bool:
        # the id as the site's clock, deliveries and journal entries carry it: "0472807350"
        # found site 472807350 but moved a clock and kept deliveries of its own
        site = _site_id(account_id)
        return site is not None and str(site) == account_id and rows.site_exists(conn, site)

    def forget_account(self, conn: Conn, account_id: str) -> None:
        rows.forget_site_objects(conn, int(account_id))

    def new_account(self, conn: Conn, options: Mapping[str, Any]) -> dict[str, Any]:
        unknown = set(options) - {"notificationUrl"}
        if unknown:
            raise InvalidInput(f"unknown field {sorted(unknown)[0]}; only notificationUrl")
        url = options.get("notificationUrl") or None
        if url is not None:
            try:
                url = check_callback_url(str(url), field="notificationUrl")
            except BadUrl as exc:
                raise InvalidInput(str(exc), "notificationUrl") from None
        key = secrets.token_hex(16)
        while True:
            site_id = secrets.randbelow(900_000_000) + 100_000_000
            if rows.insert_site(conn, site_id, key):
                break
        if url:
            rows.upsert_site(conn, site_id, notification_url=url)
        return {
            "siteId": site_id,
            "apiKey": key,
            "authorization": basic_auth(site_id, key),
            "notificationUrl": redact_url(url),
        }

    def example(self) -> Example:
        body = {
            "CardAuthentication": {
                "Customer": {"FirstName": "John", "LastName": "Doe", "Email": "j@example.com"},
                "BillingAddress": {"Country": "BR"},
                "Card": {
                    "HolderName": "John Doe",
                    "Number": "4111111111111111",
                    "ExpirationMonth": "02",
                    "ExpirationYear": "2031",
                    "SecurityCode": "312",
                },
            }
        }
        headers = {
            "Content-Type": "application/json",
            "Authorization": basic_auth(DEMO_SITE_ID, DEMO_API_KEY),
        }
        return Example("POST", "/v1/card/authenticate", headers, json.dumps(body).encode())

    def edge_error(self, failure: Failure, message: str) -> WireError:
        return routes.edge_error(failure, message)

    def mount(self, ctx: AppContext) -> Mounted:
        s = ctx.settings
        sites = self.config(s).all_sites(s.seed_demo)
        service = Smart2PayService(ctx.db, ctx.outbox, on_commit=ctx.wake_sender)

        def seed(conn: Conn) -> None:
            for site in sites:
                rows.upsert_site(
                    conn, site.site_id, api_key=site.api_key, notification_url=site.notification_url
                )

        # Only the public demo credentials are ever printed; configured keys are not.
        demo = [
            f"SiteID {x.site_id}  ApiKey {x.api_key}  (Authorization: "
            f"{basic_auth(x.site_id, x.api_key)})"
            for x in sites
            if x.site_id == DEMO_SITE_ID and x.api_key == DEMO_API_KEY
        ]
        return Mounted(
            ops=[
                *routes.ops(
                    service,
                    max_body=s.max_body_bytes,
                    cors=Cors(self.config(s).cors_origins),
                    public_url=s.public_url,
                ),
                *page.ops(service),
                *control.ops(service, ctx.db, max_body=s.max_body_bytes),
            ],
            seed=seed,
            credentials=demo,
            dashboard=dashboard.part(service, ctx.db),
        )


def _site_id(raw: str) -> int | None:
    return rules.whole_number(raw, 12)


provider = Smart2Pay()
