"""NICEPay as a paysandbox provider: the whole contract between this folder and the core."""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import secrets
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ...core.errors import InvalidInput
from ...core.ids import random_string
from ...edge import Failure, WireError
from ...plugin import AppContext, Example, Mounted, Provider
from ...store.db import Conn
from . import config, control, dashboard, routes
from . import store as rows
from .config import DEMO_IMID, DEMO_MERCHANT_KEY, NicepayConfig
from .observe import OBSERVE
from .service import NicepayService


class Nicepay(Provider[NicepayConfig]):
    name = "nicepay"
    title = "NICEPay"
    prefixes = ("/nicepay/",)
    observe = OBSERVE
    migrations = Path(__file__).with_name("migrations")
    object_tables = (
        "nicepay_open_numbers",
        "nicepay_sessions",
        "nicepay_cancels",
        "nicepay_transactions",
    )
    credential_tables = ("nicepay_merchants",)

    def default_config(self) -> NicepayConfig:
        return NicepayConfig()

    def parse_config(self, section: Mapping[str, Any], config_: NicepayConfig) -> None:
        config.parse_section(section, config_)

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        config.add_arguments(parser)

    def apply_arguments(
        self, args: argparse.Namespace, config_: NicepayConfig, seed_demo: bool
    ) -> None:
        config.apply_arguments(args, config_)

    accounts = "merchants"

    def account_exists(self, conn: Conn, account_id: str) -> bool:
        return rows.merchant_exists(conn, account_id)

    def forget_account(self, conn: Conn, account_id: str) -> None:
        rows.forget_merchant_objects(conn, account_id)

    def new_account(self, conn: Conn, options: Mapping[str, Any]) -> dict[str, Any]:
        if options:
            raise InvalidInput(f"unknown field {sorted(options)[0]}; a merchant takes none")
        key = base64.b64encode(secrets.token_bytes(48)).decode("ascii")
        while True:  # iMid: 10 characters, like IONPAYTEST
            imid = "TMP" + random_string(7, string.ascii_uppercase + string.digits)
            if rows.insert_merchant(conn, imid, key):
                return {"iMid": imid, "merchantKey": key}

    def example(self) -> Example:
        ts, ref, amt = "20180123100505", f"EXAMPLE{secrets.token_hex(6)}", "10000"
        token = hashlib.sha256(f"{ts}{DEMO_IMID}{ref}{amt}{DEMO_MERCHANT_KEY}".encode()).hexdigest()
        body = {
            "timeStamp": ts,
            "iMid": DEMO_IMID,
            "payMethod": "02",
            "currency": "IDR",
            "amt": amt,
            "referenceNo": ref,
            "goodsNm": "Test Transaction",
            "billingNm": "Customer Name",
            "billingPhone": "12345678",
            "billingEmail": "email@merchant.com",
            "billingCity": "Jakarta",
            "billingState": "DKI Jakarta",
            "billingPostCd": "12345",
            "billingCountry": "Indonesia",
            "dbProcessUrl": "http://127.0.0.1:9/notify",
            "cartData": "{}",
            "bankCd": "CENA",
            "merchantToken": token,
        }
        headers = {"Content-Type": "application/json"}
        return Example("POST", f"{routes.V2}/registration", headers, json.dumps(body).encode())

    def edge_error(self, failure: Failure, message: str) -> WireError:
        return routes.edge_error(failure, message)

    def mount(self, ctx: AppContext) -> Mounted:
        s = ctx.settings
        merchants = self.config(s).all_merchants(s.seed_demo)
        service = NicepayService(ctx.db, ctx.outbox, on_commit=ctx.wake_sender)

        def seed(conn: Conn) -> None:
            for m in merchants:
                rows.upsert_merchant(conn, m.imid, m.merchant_key)

        # Only the public demo key is ever printed: a configuration file that gives IONPAYTEST a
        # key of its own keeps that key off the console.
        demo = [
            f"iMid {m.imid}  merchantKey {m.merchant_key}"
            for m in merchants
            if m.imid == DEMO_IMID and m.merchant_key == DEMO_MERCHANT_KEY
        ]
        return Mounted(
            ops=[
                *routes.ops(service, max_body=s.max_body_bytes, public_url=s.public_url),
                *control.ops(service, ctx.db, max_body=s.max_body_bytes),
            ],
            seed=seed,
            credentials=demo,
            dashboard=dashboard.part(service, ctx.db),
        )


provider = Nicepay()
