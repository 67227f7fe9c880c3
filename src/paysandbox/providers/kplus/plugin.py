"""K PLUS as a paysandbox provider: the whole contract between this folder and the core."""

from __future__ import annotations

import argparse
import json
import secrets
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from ...core.errors import InvalidInput
from ...core.ids import random_digits
from ...delivery.rules import SuccessRule
from ...delivery.urls import BadUrl, check_callback_url, redact_url
from ...edge import Failure, WireError
from ...plugin import AppContext, Example, Mounted, Provider
from ...store.db import Conn
from . import callbacks, config, control, dashboard, page, routes, slip
from . import store as rows
from .config import DEMO_PARTNER_ID, DEMO_PARTNER_SECRET, KPlusConfig
from .observe import OBSERVE
from .service import KPlusService

#: Pillow and the slip's fonts load on a background thread this long after the app is built,
#: so neither start-up nor the first payment waits for them.
WARM_UP_DELAY_SECONDS = 3.0


def _render_slip(*args: Any) -> str:
    """Pillow is imported on the first payment (on a worker thread), not on the start path."""

    return slip.render(*args)


def _warm_up() -> None:

    slip.warm_up()


class KPlus(Provider[KPlusConfig]):
    name = "kplus"
    title = "K PLUS"
    prefixes = ("/kplus/", "/v1/kplus/")
    observe = OBSERVE
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

    accounts = "partners"

    def account_exists(self, conn: Conn, account_id: str) -> bool:
        return rows.partner_exists(conn, account_id)

    def forget_account(self, conn: Conn, account_id: str) -> None:
        rows.forget_partner_objects(conn, account_id)

    def new_account(self, conn: Conn, options: Mapping[str, Any]) -> dict[str, Any]:
        url = _option_url(options, "callbackUrl")
        secret = secrets.token_hex(16)
        while True:
            partner_id = f"PTR{random_digits(7)}"
            if not rows.partner_exists(conn, partner_id):
                break
        rows.upsert_partner(
            conn,
            partner_id,
            secret=secret,
            callback_url=url,
            defaults={"secret": secret, "token_ttl_seconds": self._default_ttl},
        )
        return {"partnerId": partner_id, "partnerSecret": secret, "callbackUrl": redact_url(url)}

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

    _default_ttl = 1800

    def mount(self, ctx: AppContext) -> Mounted:
        s = ctx.settings
        cfg = self.config(s)
        self._default_ttl = cfg.token_ttl_seconds
        service = KPlusService(
            ctx.db,
            ctx.outbox,
            default_ttl_seconds=cfg.token_ttl_seconds,
            on_commit=ctx.wake_sender,
            slip_renderer=_render_slip,
        )
        warm = threading.Timer(WARM_UP_DELAY_SECONDS, _warm_up)
        warm.daemon = True
        warm.start()
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


def _option_url(options: Mapping[str, Any], key: str) -> str | None:
    unknown = set(options) - {key}
    if unknown:
        raise InvalidInput(f"unknown field {sorted(unknown)[0]}; only {key} may be given")
    value = options.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{key} must be a URL", key)
    try:
        return check_callback_url(value, field=key)
    except BadUrl as exc:
        raise InvalidInput(str(exc), key) from None


provider = KPlus()
