"""K PLUS on the web dashboard: tokens (list, detail with the slip, pay / decline / expire
through ``KPlusService``, the same verbs as the control API and the customer page) and partners.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from ...core.amounts import format_major
from ...core.ids import random_digits
from ...dashboard.parts import (
    Account,
    Action,
    DashboardPart,
    Detail,
    Entry,
    Input,
    ListQuery,
    ObjectKind,
    Refused,
    Summary,
)
from ...delivery.urls import redact_url
from ...store import clock as clock_rows
from ...store.db import Conn, Database
from . import store as rows
from . import views
from .control import PartnerBody, check_partner
from .errors import KPlusError
from .model import REQUESTED, TOKEN_STATES
from .service import KPlusService

STATES = ("REQUESTED", "PAID", "CANCELLED", "EXPIRED", "VOIDED")
assert set(STATES) == set(TOKEN_STATES.states)


def part(service: KPlusService, db: Database, *, default_ttl_seconds: int) -> DashboardPart:
    async def listing(q: ListQuery) -> tuple[list[Summary], bool]:
        def tx(conn: Conn) -> list[Summary]:
            found = rows.page_tokens(
                conn,
                clock_rows.now_us(conn),
                account=q.account,
                state=q.state,
                search=q.search,
                since_us=q.since_us,
                until_us=q.until_us,
                offset=q.offset,
                limit=q.limit + 1,
            )
            return [
                Summary(
                    id=str(r["token_id"]),
                    account=str(r["partner_id"]),
                    state=str(r["state"]),
                    created_at_us=int(r["created_at_us"]),
                    amount=f"{format_major(int(r['total_amount']))} THB",
                    label=str(r["reference1"]),
                )
                for r in found
            ]

        found = await db.read(tx)
        return found[: q.limit], len(found) > q.limit

    async def counts() -> Mapping[str, int]:
        def tx(conn: Conn) -> dict[str, int]:
            now = clock_rows.now_us(conn)
            return {str(r["state"]): int(r["n"]) for r in rows.count_by_state(conn, now)}

        return await db.read(tx)

    async def detail(token_id: str) -> Detail | None:
        try:
            token, history = await service.get(token_id)
        except KPlusError as exc:
            if exc.code == "token_not_found":
                return None
            raise
        page = f"/kplus/app/{quote(token_id, safe='')}"
        slip_url = f"/_sandbox/kplus/tokens/{quote(token_id, safe='')}/slip.png"
        view = views.control(token, history, page, slip_url)
        slip = token["slip_image"]
        view.pop("events")
        actions = []
        if token.status == REQUESTED:
            actions = [
                Action(
                    "pay",
                    "Pay",
                    (Input("paymentAccount", "Paying account", "random", "numeric"),),
                    hint="Confirm Payment goes to the partner's callback URL",
                ),
                Action("decline", "Decline", tone="plain"),
                Action("expire", "Expire now", tone="danger"),
            ]
        return Detail(
            id=token.token_id,
            title="K PLUS token",
            state=token.status,
            account=str(token["partner_id"]),
            fields=list(view.items()),
            events=[Entry(e.at_us, e.kind, e.data) for e in history],
            actions=actions,
            images=[("Payment slip", f"data:image/png;base64,{slip}")] if slip else [],
            links=[("Open the customer page (the simulated K PLUS app)", page)],
            delivery_object_id=token.token_id,
        )

    async def act(token_id: str, action: str, form: Mapping[str, str]) -> str:
        if action == "pay":
            account = form.get("paymentAccount", "").strip() or None
            if account is not None and not 4 <= len(account) <= 32:
                raise Refused("The paying account must be 4 to 32 characters.")
            await service.pay(token_id, account, via="dashboard")
            return "paid"
        if action == "decline":
            await service.decline(token_id)
            return "declined"
        if action == "expire":
            await service.expire(token_id)
            return "expired"
        raise Refused(f"no action {action}")

    async def accounts() -> list[Account]:
        found = await db.read(rows.list_partners)
        return [
            Account(
                id=str(r["partner_id"]),
                kind="partnerId",
                fields=[
                    ("Callback URL", redact_url(r["callback_url"]) or "none"),
                    ("Token TTL", f"{r['token_ttl_seconds']} s"),
                    ("Callback faults", _faults(r["faults"])),
                ],
            )
            for r in found
        ]

    async def create_account(form: Mapping[str, str]) -> str:
        """A new partner through the control API's own checks and write; never an existing
        one (a throwaway account must not change somebody's partner)."""
        partner_id = form.get("partnerId", "").strip() or f"PTR{random_digits(7)}"
        secret = form.get("partnerSecret", "")
        if not 8 <= len(secret) <= 256:
            raise Refused("The partner secret must be 8 to 256 characters.")
        if not partner_id.isascii() or not partner_id.isalnum():
            raise Refused("The partnerId must be letters and digits.")
        body = PartnerBody(partnerSecret=secret, callbackUrl=form.get("callbackUrl", "").strip())
        check_partner(partner_id, body)

        def tx(conn: Conn) -> str:
            # insert-if-absent, not check-then-upsert: on PostgreSQL concurrent forms each saw
            # no partner, and each "created" it with its own secret over the previous one
            created = rows.insert_partner(
                conn,
                partner_id,
                secret=secret,
                callback_url=body.callbackUrl,
                token_ttl_seconds=default_ttl_seconds,
            )
            if not created:
                raise Refused(f"Partner {partner_id} already exists.")
            return partner_id

        return await db.write(tx)

    tokens = ObjectKind(
        name="tokens",
        title="Tokens",
        states=STATES,
        list=listing,
        counts=counts,
        detail=detail,
        act=act,
        actions=("pay", "decline", "expire"),
        label_title="reference1",
        id_name="token_id",
    )
    return DashboardPart(
        kinds=[tokens],
        accounts=accounts,
        create_account=create_account,
        new_account=(
            Input("partnerId", "partnerId", "random"),
            Input("partnerSecret", "partnerSecret", "8 characters or more", kind="password"),
            Input("callbackUrl", "Callback URL", "http://127.0.0.1:9000/confirm", kind="url"),
        ),
    )


def _faults(text: str | None) -> Any:
    found = json.loads(text or "{}")
    return found or "none"
