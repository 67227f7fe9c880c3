"""Smart2Pay on the web dashboard: payments (list, detail with refunds; capture / cancel /
refund through ``Smart2PayService`` on behalf of the payment's own site — the wire API's own
transactions, as the control API runs them), card tokens, and sites.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from ...core.amounts import format_major, parse_major
from ...core.errors import InvalidInput, NotFound
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
    Table,
)
from ...store import clock as clock_rows
from ...store.db import Conn, Database
from . import rules, views
from . import store as rows
from .config import site_id
from .control import check_site, save_site
from .errors import Smart2PayError
from .model import AUTHORIZED, PAYMENT_STATES, REFUNDABLE, TOKEN_STATES
from .schemas import SiteBody
from .service import Smart2PayService

PAYMENT_STATE_ORDER = (
    "Open",  # waiting for 3-D Secure or the hosted card form
    "Authorized",
    "QueuedForCapturing",
    "CaptureRequested",
    "Captured",
    "PartiallyCaptured",
    "QueuedForCanceling",
    "Cancelled",
    "Failed",
    "Expired",  # Open past its PaymentTokenLifetime
    "PartiallyRefunded",
    "Refunded",
)
assert set(PAYMENT_STATE_ORDER) == set(PAYMENT_STATES.states)
TOKEN_STATE_ORDER = ("Active", "Canceled")
assert set(TOKEN_STATE_ORDER) == set(TOKEN_STATES.states)


def _site(account: str | None) -> int | None:
    """A site id filter; an id that is not a number matches nothing (-1)."""
    if not account:
        return None
    site = rules.whole_number(account, 12)
    return -1 if site is None else site


def _money(minor: object, currency: object) -> str:
    """An amount as money: the wire's minor units (1154) as ``11.54 EUR`` — the last two
    digits are the decimals, whatever the currency (Smart2Pay's documents)."""
    return f"{format_major(int(str(minor)))} {currency}"


def _amount(text: str, what: str) -> int | None:
    """A form's amount, read as it is shown (``11.54``, ``11``), in minor units; empty: None."""
    text = text.strip()
    if not text:
        return None
    try:
        value = parse_major(text, exponent=2, field=what)
    except InvalidInput:
        value = 0
    if value < 1:
        raise Refused(
            f"The {what} must be written as it is shown, e.g. 11.54 "
            "(at most two decimals, at least 0.01)."
        )
    return value


def part(service: Smart2PayService, db: Database) -> DashboardPart:
    # ------------------------------------------------------------ payments

    async def list_payments(q: ListQuery) -> tuple[list[Summary], bool]:
        def tx(conn: Conn) -> list[Summary]:
            found = rows.page_payments(
                conn,
                clock_rows.now_us(conn),
                site_id=_site(q.account),
                state=q.state,
                search=q.search,
                since_us=q.since_us,
                until_us=q.until_us,
                offset=q.offset,
                limit=q.limit + 1,
            )
            return [
                Summary(
                    id=str(r["id"]),
                    account=str(r["site_id"]),
                    state=str(r["state"]),
                    created_at_us=int(r["created_at_us"]),
                    amount=_money(r["amount"], r["currency"]),
                    label=str(r["merchant_transaction_id"]),
                )
                for r in found
            ]

        found = await db.read(tx)
        return found[: q.limit], len(found) > q.limit

    async def count_payments() -> Mapping[str, int]:
        def tx(conn: Conn) -> dict[str, int]:
            now = clock_rows.now_us(conn)
            return {str(r["state"]): int(r["n"]) for r in rows.count_payments_by_state(conn, now)}

        return await db.read(tx)

    async def payment_detail(object_id: str) -> Detail | None:
        payment_id = rules.whole_number(object_id, 18)
        if payment_id is None:
            return None
        try:
            payment, refunds, history = await service.inspect_payment(payment_id)
        except Smart2PayError:
            return None
        view = views.control_payment(payment, refunds, history)
        view.pop("events")
        refund_views = view.pop("refunds")
        currency = payment["currency"]
        # as money, as the listing shows it (the "payment" field stays the wire's JSON)
        amounts = {"amount": _money(payment["amount"], currency)}
        for key in ("capturedAmount", "refundedAmount", "openRefundAmount"):
            amounts[key] = _money(view.pop(key), currency)
        fields = list(view.items())
        at = next(n for n, (k, _) in enumerate(fields) if k == "moto")
        fields[at:at] = list(amounts.items())
        status = payment.status
        actions: list[Action] = []
        if status == AUTHORIZED:
            actions = [
                Action(
                    "capture",
                    "Capture",
                    (
                        Input(
                            "amount", "Amount", str(format_major(int(payment["amount"]))), "decimal"
                        ),
                    ),
                    hint=f"{currency}; empty: the whole amount",
                ),
                Action("cancel", "Cancel", tone="danger"),
            ]
        elif status in REFUNDABLE and int(payment["open_refund_amount"]) == 0:
            available = int(payment["captured_amount"]) - int(payment["refunded_amount"])
            actions = [
                Action(
                    "refund",
                    "Refund",
                    (Input("amount", "Amount", str(format_major(available)), "decimal"),),
                    hint=f"{currency}; empty: all that is left ({_money(available, currency)})",
                )
            ]
        return Detail(
            id=str(payment.id),
            title="Smart2Pay payment",
            state=status,
            account=str(payment["site_id"]),
            fields=fields,
            events=[Entry(e.at_us, e.kind, e.data) for e in history],
            actions=actions,
            tables=[
                Table(
                    "Refunds",
                    ("ID", "MerchantTransactionID", "Amount", "Status", "Created"),
                    [
                        (
                            r["ID"],
                            r["MerchantTransactionID"],
                            _money(r["Amount"], r["Currency"]),
                            r["Status"]["Info"] if r["Status"] else "",
                            r["Created"],
                        )
                        for r in refund_views
                    ],
                )
            ],
            delivery_object_id=str(payment.id),
        )

    async def act(object_id: str, action: str, form: Mapping[str, str]) -> str:
        payment_id = rules.whole_number(object_id, 18)
        if payment_id is None:
            raise NotFound(f"no payment {object_id[:40]}")
        if action == "capture":
            amount = _amount(form.get("amount", ""), "amount")
            payment, status = await service.capture_for_site(payment_id, amount)
            if status >= 400:  # the scenario failed it (10005: reason 104): not "Done"
                raise Refused(f"The capture failed: the payment is {payment.status}.")
            return "captured"
        if action == "cancel":
            await service.cancel_for_site(payment_id)
            return "cancelled"
        if action == "refund":
            amount = _amount(form.get("amount", ""), "amount")
            if amount is None:
                payment, _, _ = await service.inspect_payment(payment_id)
                amount = int(payment["captured_amount"]) - int(payment["refunded_amount"])
                if amount < 1:
                    raise Refused("Nothing is left to refund.")
            refunded, status = await service.refund_for_site(payment_id, amount)
            if status >= 400:  # stored as a Failed refund (more than is left, 2206): not "Done"
                shown = _money(amount, refunded["currency"])
                raise Refused(f"The refund of {shown} failed and is recorded as Failed.")
            return "refunded"
        raise Refused(f"no action {action}")

    # ------------------------------------------------------------ card tokens

    async def list_tokens(q: ListQuery) -> tuple[list[Summary], bool]:
        found = await db.read(
            lambda conn: rows.page_tokens(
                conn,
                site_id=_site(q.account),
                state=q.state,
                search=q.search,
                since_us=q.since_us,
                until_us=q.until_us,
                offset=q.offset,
                limit=q.limit + 1,
            )
        )
        out = [
            Summary(
                id=str(r["value"]),
                account=str(r["site_id"]),
                state=str(r["status"]),
                created_at_us=int(r["created_at_us"]),
                amount=f"{r['brand'] or ''} ···· {r['last4'] or ''}",
                label=str(r["holder_name"] or ""),
            )
            for r in found
        ]
        return out[: q.limit], len(out) > q.limit

    async def count_tokens() -> Mapping[str, int]:
        found = await db.read(rows.count_tokens_by_state)
        return {str(r["state"]): int(r["n"]) for r in found}

    async def token_detail(value: str) -> Detail | None:
        try:
            row, history = await service.inspect_token(value)
        except Smart2PayError:
            return None
        view = views.control_token(row, history)
        view.pop("events")
        return Detail(
            id=str(row["value"]),
            title="Smart2Pay card token",
            state=str(row["status"]),
            account=str(row["site_id"]),
            fields=list(view.items()),
            events=[Entry(e.at_us, e.kind, e.data) for e in history],
            actions=[],
        )

    # ------------------------------------------------------------ sites

    async def accounts() -> list[Account]:
        found = await db.read(rows.list_sites)
        out = []
        for r in found:
            v = views.site(r)
            out.append(
                Account(
                    id=str(r["site_id"]),
                    kind="SiteID",
                    fields=[
                        ("Notification URL", v.get("notificationUrl") or "none"),
                        ("Notification faults", json.loads(r["faults"] or "{}") or "none"),
                    ],
                )
            )
        return out

    async def create_account(form: Mapping[str, str]) -> str:
        """A new site through the control API's own checks and write; never an existing one."""
        raw = form.get("siteId", "").strip() or f"9{random_digits(5)}"
        try:
            site = site_id(raw)
        except ValueError as exc:
            raise Refused(f"SiteID: {exc}.") from None
        key = form.get("apiKey", "")
        if not 1 <= len(key) <= 256:
            raise Refused("The ApiKey must be 1 to 256 characters.")
        body = SiteBody(apiKey=key, notificationUrl=form.get("notificationUrl", "").strip())
        check_site(body)

        def tx(conn: Conn) -> str:
            # insert-if-absent first (see the K PLUS dashboard): one creator wins on either engine
            if not rows.insert_site(conn, site, key):
                raise Refused(f"Site {site} already exists.")
            return str(save_site(conn, site, body)["site_id"])  # its notification URL

        return await db.write(tx)

    payments = ObjectKind(
        name="payments",
        title="Payments",
        states=PAYMENT_STATE_ORDER,
        list=list_payments,
        counts=count_payments,
        detail=payment_detail,
        act=act,
        actions=("capture", "cancel", "refund"),
        amount_title="Amount",
        label_title="MerchantTransactionID",
        id_name="payment_id",
    )
    tokens = ObjectKind(
        name="tokens",
        title="Card tokens",
        states=TOKEN_STATE_ORDER,
        list=list_tokens,
        counts=count_tokens,
        detail=token_detail,
        amount_title="Card",
        label_title="Holder",
        id_name="value",
    )
    return DashboardPart(
        kinds=[payments, tokens],
        accounts=accounts,
        create_account=create_account,
        new_account=(
            Input("siteId", "SiteID", "random", "numeric"),
            Input("apiKey", "ApiKey", "", kind="password"),
            Input("notificationUrl", "Notification URL", "http://127.0.0.1:9000/n", kind="url"),
        ),
    )
