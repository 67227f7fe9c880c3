"""Smart2Pay verbs on the core and the store: no HTTP in here.

Every verb is one database call: the site's credential check, the validation, the conditional
state change, its events and its notifications are one transaction, so an error anywhere leaves
nothing behind. Verbs on an existing payment take its row lock first, so racing captures,
cancels and refunds see each other's amounts and exactly one wins a transition.

Queued/requested statuses (test amounts 10002, 10003, 10006) are written with a *pending*
transition due ``QUEUE_SECONDS`` later on the sandbox clock; its notification is enqueued at the
same moment with that delay, and the transition itself is written by the first verb or read
that finds it due (``_settle``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from ...core.clock import US
from ...core.credentials import account_secret_matches
from ...core.ids import UPPER_HEX, random_string
from ...delivery.outbox import Faults, Outbox
from ...store import clock as clock_rows
from ...store import events
from ...store import smart2pay as rows
from ...store.db import Conn, Database, Row
from . import callbacks, rules, scenarios, views
from .errors import Reason, Smart2PayError, reason
from .model import (
    ACTIVE,
    AUTHORIZED,
    CANCELED,
    FAILED,
    PARTIALLY_REFUNDED,
    PAYMENT_STATES,
    REFUND_FAILED,
    REFUND_OPEN,
    REFUND_SUCCESS,
    REFUNDABLE,
    REFUNDED,
    STATUS_IDS,
    TOKEN_STATES,
    Payment,
)
from .schemas import AddressIn, CardAuthenticationIn, CustomerIn, PaymentIn, RefundIn

PAYMENT = "smart2pay_payment"
TOKEN = "smart2pay_token"  # noqa: S105 - an event object type, not a secret


@dataclass(frozen=True)
class Credentials:
    """What the Basic header said; checked against the site inside each transaction."""

    site_id: int
    api_key: str


#: A request's root object, or the error to answer once the credentials have been checked.
Body = dict[str, Any] | Smart2PayError


def new_token_value() -> str:
    """32 upper-case hex characters from the OS CSPRNG (128 bits)."""
    return random_string(32, UPPER_HEX)


def unauthorized() -> Smart2PayError:
    return Smart2PayError([reason("0")], http_status=401)


class Smart2PayService:
    def __init__(
        self, db: Database, outbox: Outbox, *, on_commit: Callable[[], None] = lambda: None
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.on_commit = on_commit

    # ------------------------------------------------------------ card tokens

    async def authenticate(self, creds: Credentials, doc: Body) -> Row:
        return await self.db.write(self._authenticate_tx, creds, doc)

    def _authenticate_tx(self, conn: Conn, creds: Credentials, doc: Body) -> Row:
        now = clock_rows.now_us(conn)
        site = _site(conn, creds)
        doc = _body(doc)
        reasons: list[Reason] = []
        checked = rules.check("CardAuthentication", doc, reasons)
        facts = rules.card_facts(checked.get("Card") or {}, reasons)
        if reasons:
            raise Smart2PayError(reasons, http_status=400)
        req = msgspec.convert(checked, CardAuthenticationIn)
        value = new_token_value()
        row = {
            "value": value,
            "site_id": site["site_id"],
            "status": ACTIVE,
            **facts,
            "customer": _customer_json(conn, site, req.Customer, now),
            "billing_address": _address_json(conn, site, req.BillingAddress, now),
            "origin": "authenticate",
            "created_at_us": now,
            "updated_at_us": now,
        }
        rows.insert_token(conn, row)
        events.append(
            conn,
            TOKEN,
            value,
            "created",
            now,
            {"card": rules.masked(facts["brand"], facts["last4"]), "via": "authenticate"},
        )
        stored = rows.get_token(conn, value)
        assert stored is not None
        return stored

    async def get_token(self, creds: Credentials, value: str) -> Row:
        return await self.db.read(self._get_token_tx, creds, value)

    def _get_token_tx(self, conn: Conn, creds: Credentials, value: str) -> Row:
        site = _site(conn, creds)
        return _owned_token(conn, value, int(site["site_id"]))

    async def cancel_token(self, creds: Credentials, value: str) -> Row:
        return await self.db.write(self._cancel_token_tx, creds, value)

    def _cancel_token_tx(self, conn: Conn, creds: Credentials, value: str) -> Row:
        now = clock_rows.now_us(conn)
        site = _site(conn, creds)
        token = _owned_token(conn, value, int(site["site_id"]))
        changed = rows.transition_token(
            conn,
            str(token["value"]),
            from_states=TOKEN_STATES.sources(CANCELED),
            values={"status": CANCELED, "updated_at_us": now},
        )
        current = rows.get_token(conn, str(token["value"]))
        assert current is not None
        if not changed:
            body = views.token(current, with_status=False)["CardAuthentication"]
            raise Smart2PayError(
                [reason("2401", "CreditCardToken is not available - it is already canceled")],
                body=body,
                status=(3, "Canceled"),
            )
        events.append(conn, TOKEN, str(token["value"]), "canceled", now, {"by": "merchant"})
        return current

    # ------------------------------------------------------------ payments

    async def create_payment(self, creds: Credentials, doc: Body) -> tuple[Payment, int]:
        result = await self.db.write(self._create_tx, creds, doc)
        self.on_commit()
        return result

    def _create_tx(self, conn: Conn, creds: Credentials, doc: Body) -> tuple[Payment, int]:
        now = clock_rows.now_us(conn)
        site = _site(conn, creds)
        site_id = int(site["site_id"])
        doc = _body(doc)
        reasons: list[Reason] = []
        checked = rules.check("Payment", doc, reasons)
        card_in, token_in = checked.get("Card"), checked.get("CreditCardToken")
        facts: Mapping[str, Any] = {}
        if card_in is not None and token_in is not None:
            reasons.append(reason("1", "Invalid data - send Card or CreditCardToken, not both"))
        elif card_in is not None:
            facts = rules.card_facts(card_in, reasons)
        elif token_in is None and not any(
            r[1].startswith(("Card", "CreditCardToken")) for r in reasons
        ):
            reasons.append(
                reason("2600", "Credit card details are missing - send Card or CreditCardToken")
            )
        if checked.get("Amount") == 0:
            reasons.append(reason("1001", "Payment.Amount is invalid - must be greater than 0"))
        if checked.get("3DSecure") is True:
            reasons.append(
                reason(
                    "2",
                    "Payment.3DSecure is invalid - 3-D Secure redirects are "
                    "not simulated by paysandbox",
                )
            )
        if reasons:
            raise Smart2PayError(
                reasons, http_status=400, body=_echo(checked), status=(STATUS_IDS[FAILED], FAILED)
            )
        req = msgspec.convert(checked, PaymentIn)
        token_value: str | None = None
        if req.CreditCardToken is not None:
            token_value = req.CreditCardToken.Value.strip().upper()
            facts = _usable_token_facts(conn, token_value, site_id, echo=_echo(checked))

        scenario = scenarios.scenario_for(req.Amount)
        capture = bool(req.Capture)
        step = scenario.create_capture if capture else scenario.create_authorize
        amount = req.Amount
        state = _step_values(step, amount, amount, now)
        failed = state["status"] == FAILED
        if req.Card is not None and req.GenerateCreditCardToken and not failed:
            token_value = new_token_value()
        card_view = views.card(facts)
        values = {
            "site_id": site_id,
            "merchant_transaction_id": req.MerchantTransactionID,
            "originator_transaction_id": req.OriginatorTransactionID,
            "amount": amount,
            "currency": req.Currency,
            "captured_amount": state.pop("captured_amount"),
            "refunded_amount": 0,
            "open_refund_amount": 0,
            **{k: v for k, v in state.items() if k != "capture_status"},
            "capture_flag": capture,
            "generate_token": bool(req.GenerateCreditCardToken) and token_value is not None,
            "moto": bool(req.Moto),
            "return_url": req.ReturnURL,
            "description": req.Description,
            "statement_descriptor": req.StatementDescriptor,
            "client_ip": req.ClientIP,
            "skin_id": req.SkinID,
            "customer": _customer_json(conn, site, req.Customer, now),
            "billing_address": _address_json(conn, site, req.BillingAddress, now),
            "shipping_address": _address_json(conn, site, req.ShippingAddress, now),
            "card": json.dumps(card_view),
            "token_value": token_value,
            "capture_details": None,
            "created_at_us": now,
            "updated_at_us": now,
        }
        payment_id = rows.insert_payment(conn, values)
        if payment_id is None:
            raise Smart2PayError(
                [reason("20", "Key is duplicated - MerchantTransactionID is already used")],
                body=_echo(checked),
                status=(STATUS_IDS[FAILED], FAILED),
            )
        if req.Card is not None and token_value is not None:
            rows.insert_token(
                conn,
                {
                    "value": token_value,
                    "site_id": site_id,
                    "status": ACTIVE,
                    **facts,
                    "customer": values["customer"],
                    "billing_address": values["billing_address"],
                    "origin": f"payment:{payment_id}",
                    "created_at_us": now,
                    "updated_at_us": now,
                },
            )
            events.append(
                conn,
                TOKEN,
                token_value,
                "created",
                now,
                {"card": card_view["Number"], "via": f"payment {payment_id}"},
            )
        if capture and state["capture_status"] is not None:
            _record_capture(conn, payment_id, amount, state, now)
        events.append(
            conn,
            PAYMENT,
            str(payment_id),
            "created",
            now,
            {
                "status": values["status"],
                "amount": amount,
                "currency": req.Currency,
                "merchantTransactionID": req.MerchantTransactionID,
                "capture": capture,
                "card": card_view["Number"],
                "viaToken": req.CreditCardToken is not None,
                "moto": bool(req.Moto),
                "scenario": scenario.title,
            },
        )
        payment = _payment(conn, payment_id, now)
        self._notify_payment(conn, site, payment, now)
        return payment, 402 if failed else 201

    async def get_payment(self, creds: Credentials, payment_id: int) -> Payment:
        payment = await self.db.read(self._get_payment_tx, creds, payment_id)
        if payment.due:
            await self.db.write(self._settle_tx, payment.id)
        return payment

    def _get_payment_tx(self, conn: Conn, creds: Credentials, payment_id: int) -> Payment:
        site = _site(conn, creds)
        return _owned_payment(conn, payment_id, int(site["site_id"]), clock_rows.now_us(conn))

    def _settle_tx(self, conn: Conn, payment_id: int) -> None:
        row = rows.lock_payment(conn, payment_id)
        if row is not None:
            _settle(conn, row, clock_rows.now_us(conn))

    async def list_payments(
        self, creds: Credentials, filters: dict[str, Any], limit: int
    ) -> list[Payment]:
        return await self.db.read(self._list_tx, creds, filters, limit)

    def _list_tx(
        self, conn: Conn, creds: Credentials, filters: dict[str, Any], limit: int
    ) -> list[Payment]:
        site = _site(conn, creds)
        now = clock_rows.now_us(conn)
        return [
            Payment(r, now) for r in rows.list_payments(conn, int(site["site_id"]), filters, limit)
        ]

    async def capture(
        self, creds: Credentials, payment_id: int, amount: int | None
    ) -> tuple[Payment, int]:
        result = await self.db.write(self._capture_tx, creds, payment_id, amount)
        self.on_commit()
        return result

    def _capture_tx(
        self, conn: Conn, creds: Credentials, payment_id: int, amount: int | None
    ) -> tuple[Payment, int]:
        now = clock_rows.now_us(conn)
        site = _site(conn, creds)
        payment = _locked_payment(conn, payment_id, int(site["site_id"]), now)
        _require_authorized(payment, "capture")
        total = int(payment["amount"])
        if amount is not None and not 0 < amount <= total:
            raise Smart2PayError(
                [
                    reason(
                        "1013",
                        "Payment.AmountToCapture exceeds initial payment authorized "
                        f"amount - must be 1 to {total}",
                    )
                ],
                http_status=400,
                body=views.payment_fields(payment),
                status=(STATUS_IDS[payment.status], payment.status),
            )
        captured = total if amount is None else amount
        step = scenarios.scenario_for(total).capture
        state = _step_values(step, captured, total, now)
        capture_status = state.pop("capture_status")
        values = {**state, "updated_at_us": now}
        if not rows.transition_payment(conn, payment.id, from_states=(AUTHORIZED,), values=values):
            raise AssertionError("payment changed under its row lock")
        _record_capture(
            conn, payment.id, captured, {**state, "capture_status": capture_status}, now
        )
        events.append(
            conn,
            PAYMENT,
            str(payment.id),
            "capture",
            now,
            {"amount": captured, "status": state["status"], "pending": state["pending_status"]},
        )
        payment = _payment(conn, payment.id, now)
        self._notify_payment(conn, site, payment, now)
        return payment, 402 if state["status"] == FAILED else 200

    async def cancel(self, creds: Credentials, payment_id: int) -> Payment:
        result = await self.db.write(self._cancel_tx, creds, payment_id)
        self.on_commit()
        return result

    def _cancel_tx(self, conn: Conn, creds: Credentials, payment_id: int) -> Payment:
        now = clock_rows.now_us(conn)
        site = _site(conn, creds)
        payment = _locked_payment(conn, payment_id, int(site["site_id"]), now)
        _require_authorized(payment, "cancel")
        total = int(payment["amount"])
        step = scenarios.scenario_for(total).cancel
        state = _step_values(step, 0, total, now)
        state.pop("capture_status")
        values = {**state, "updated_at_us": now}
        if not rows.transition_payment(conn, payment.id, from_states=(AUTHORIZED,), values=values):
            raise AssertionError("payment changed under its row lock")
        events.append(
            conn,
            PAYMENT,
            str(payment.id),
            "cancel",
            now,
            {"status": state["status"], "pending": state["pending_status"]},
        )
        payment = _payment(conn, payment.id, now)
        self._notify_payment(conn, site, payment, now)
        return payment

    # ------------------------------------------------------------ refunds

    async def refund(self, creds: Credentials, payment_id: int, doc: Body) -> tuple[Row, int]:
        result = await self.db.write(self._refund_tx, creds, payment_id, doc)
        self.on_commit()
        return result

    def _refund_tx(
        self, conn: Conn, creds: Credentials, payment_id: int, doc: Body
    ) -> tuple[Row, int]:
        now = clock_rows.now_us(conn)
        site = _site(conn, creds)
        payment = _locked_payment(conn, payment_id, int(site["site_id"]), now)
        doc = _body(doc)
        reasons: list[Reason] = []
        checked = rules.check("Refund", doc, reasons)
        echo = {k: checked.get(k) for k in ("MerchantTransactionID", "Amount")}
        if checked.get("Amount") == 0:
            reasons.append(reason("2201", "Refund.Amount is invalid - must be greater than 0"))
        if checked.get("Currency") not in (None, payment["currency"]):
            reasons.append(
                reason(
                    "2202",
                    "Refund.Currency is invalid - must be the payment's "
                    f"currency {payment['currency']}",
                )
            )
        if reasons:
            raise Smart2PayError(reasons, http_status=400, body=echo)
        req = msgspec.convert(checked, RefundIn)
        if payment.status not in REFUNDABLE:
            raise Smart2PayError(
                [
                    reason(
                        "2205",
                        f"Refund.State is invalid - the payment is {payment.status}; "
                        "only Captured, PartiallyCaptured or PartiallyRefunded payments "
                        "can be refunded",
                    )
                ],
                body=echo,
            )
        if int(payment["open_refund_amount"]) > 0:
            raise Smart2PayError([reason("2207")], body=echo)
        available = int(payment["captured_amount"]) - int(payment["refunded_amount"])
        refund_state = scenarios.scenario_for(int(payment["amount"])).refund
        refund_reasons: list[Reason] = []
        if req.Amount > available:
            refund_state = REFUND_FAILED
            refund_reasons = [reason("2206")]
        refund_id = rows.insert_refund(
            conn,
            {
                "payment_id": payment.id,
                "site_id": site["site_id"],
                "merchant_transaction_id": req.MerchantTransactionID,
                "originator_transaction_id": req.OriginatorTransactionID,
                "amount": req.Amount,
                "currency": payment["currency"],
                "description": req.Description,
                "statement_descriptor": req.StatementDescriptor,
                "status": refund_state,
                "reasons": json.dumps(refund_reasons),
                "created_at_us": now,
                "updated_at_us": now,
            },
        )
        if refund_id is None:
            raise Smart2PayError(
                [reason("20", "Key is duplicated - Refund.MerchantTransactionID is already used")],
                body=echo,
            )
        events.append(
            conn,
            PAYMENT,
            str(payment.id),
            "refund",
            now,
            {
                "refundId": refund_id,
                "amount": req.Amount,
                "status": refund_state,
                "available": available,
            },
        )
        if refund_state == REFUND_SUCCESS:
            refunded = int(payment["refunded_amount"]) + req.Amount
            new_status = (
                REFUNDED if refunded >= int(payment["captured_amount"]) else PARTIALLY_REFUNDED
            )
            assert new_status in PAYMENT_STATES.transitions[payment.status]
            if not rows.transition_payment(
                conn,
                payment.id,
                from_states=REFUNDABLE,
                values={
                    "status": new_status,
                    "refunded_amount": refunded,
                    "reasons": "[]",
                    "updated_at_us": now,
                },
            ):
                raise AssertionError("payment changed under its row lock")
        elif refund_state == REFUND_OPEN:
            rows.transition_payment(
                conn,
                payment.id,
                from_states=REFUNDABLE,
                values={"open_refund_amount": req.Amount, "updated_at_us": now},
            )
        refund = rows.get_refund(conn, refund_id)
        assert refund is not None
        if site["notification_url"]:
            self._enqueue(conn, site, payment.id, "refund", views.refund(refund), now)
            if refund_state == REFUND_SUCCESS:
                self._notify_payment(conn, site, _payment(conn, payment.id, now), now)
        return refund, 402 if refund_state == REFUND_FAILED else 201

    async def refunds(self, creds: Credentials, payment_id: int) -> list[Row]:
        return await self.db.read(self._refunds_tx, creds, payment_id)

    def _refunds_tx(self, conn: Conn, creds: Credentials, payment_id: int) -> list[Row]:
        site = _site(conn, creds)
        _owned_payment(conn, payment_id, int(site["site_id"]), clock_rows.now_us(conn))
        return rows.refunds_of(conn, payment_id)

    async def get_refund(self, creds: Credentials, payment_id: int | None, refund_id: int) -> Row:
        return await self.db.read(self._get_refund_tx, creds, payment_id, refund_id)

    def _get_refund_tx(
        self, conn: Conn, creds: Credentials, payment_id: int | None, refund_id: int
    ) -> Row:
        site = _site(conn, creds)
        if payment_id is not None:
            _owned_payment(conn, payment_id, int(site["site_id"]), clock_rows.now_us(conn))
        refund = rows.get_refund(conn, refund_id, int(site["site_id"]))
        if refund is None or (payment_id is not None and int(refund["payment_id"]) != payment_id):
            raise Smart2PayError(
                [reason("1", f"Invalid data - no refund {refund_id}")], http_status=404
            )
        return refund

    # ------------------------------------------------------------ control API

    async def inspect_payment(self, payment_id: int) -> tuple[Payment, list[Row], list[Any]]:
        found = await self.db.read(self._inspect_payment_tx, payment_id)
        if found[0].due:
            await self.db.write(self._settle_tx, payment_id)
            found = await self.db.read(self._inspect_payment_tx, payment_id)
        return found

    def _inspect_payment_tx(
        self, conn: Conn, payment_id: int
    ) -> tuple[Payment, list[Row], list[Any]]:
        row = rows.get_payment(conn, payment_id)
        if row is None:
            raise Smart2PayError([reason("17")])
        return (
            Payment(row, clock_rows.now_us(conn)),
            rows.refunds_of(conn, payment_id),
            events.history(conn, PAYMENT, str(payment_id)),
        )

    async def inspect_token(self, value: str) -> tuple[Row, list[Any]]:
        return await self.db.read(self._inspect_token_tx, value)

    def _inspect_token_tx(self, conn: Conn, value: str) -> tuple[Row, list[Any]]:
        row = rows.get_token(conn, value.upper())
        if row is None:
            raise Smart2PayError([reason("2400")], http_status=404)
        return row, events.history(conn, TOKEN, str(row["value"]))

    # ------------------------------------------------------------ notifications

    def _notify_payment(self, conn: Conn, site: Row, payment: Payment, now: int) -> None:
        """The payment's current status; and, for a queued status, the status it will move on
        to, enqueued now and due when the sandbox clock gets there."""
        if not site["notification_url"]:
            return
        self._enqueue(conn, site, payment.id, "payment", views.payment(payment), now)
        pending_at = payment.row["pending_at_us"]
        if payment.row["pending_status"] and pending_at is not None:
            later = Payment(payment.row, int(pending_at))
            self._enqueue(
                conn,
                site,
                payment.id,
                "payment",
                views.payment(later),
                now,
                delay_us=int(pending_at) - now,
            )

    def _enqueue(
        self,
        conn: Conn,
        site: Row,
        payment_id: int,
        kind: str,
        body: dict[str, Any],
        now: int,
        delay_us: int = 0,
    ) -> None:
        msg = callbacks.notification(site, payment_id, kind, body)
        faults = Faults.from_mapping(json.loads(site["faults"]))
        if delay_us:
            faults = Faults(
                faults.duplicate,
                faults.delay_seconds + delay_us / US,
                faults.out_of_order,
                faults.reorder_window_seconds,
            )
        ids = self.outbox.enqueue(conn, msg, now, faults)
        events.append(
            conn,
            PAYMENT,
            str(payment_id),
            "notification_queued",
            now,
            {"kind": kind, "deliveries": ids, "dueInSeconds": delay_us / US},
        )


# ---------------------------------------------------------------- helpers


def _body(doc: Body) -> dict[str, Any]:
    if isinstance(doc, Smart2PayError):
        raise doc
    return doc


def _site(conn: Conn, creds: Credentials) -> Row:
    site = rows.get_site(conn, creds.site_id)
    expected = str(site["api_key"]) if site is not None else None
    if site is None or not account_secret_matches(creds.api_key, expected):
        raise unauthorized()
    return site


def _owned_token(conn: Conn, value: str, site_id: int) -> Row:
    row = rows.get_token(conn, value.strip().upper())
    if row is None or int(row["site_id"]) != site_id:
        raise Smart2PayError(
            [reason("2400", "CreditCardToken is invalid - no such token")], http_status=404
        )
    return row


def _usable_token_facts(conn: Conn, value: str, site_id: int, echo: dict[str, Any]) -> Row:
    if not rows.lock_active_token(conn, value, site_id):
        row = rows.get_token(conn, value)
        failed = (STATUS_IDS[FAILED], FAILED)
        if row is None or int(row["site_id"]) != site_id:
            raise Smart2PayError(
                [reason("2400", "CreditCardToken.Value is invalid - no such token")],
                body=echo,
                status=failed,
            )
        raise Smart2PayError(
            [reason("2401", "CreditCardToken is not available - the token is canceled")],
            body=echo,
            status=failed,
        )
    row = rows.get_token(conn, value)
    assert row is not None
    return row


def _echo(checked: dict[str, Any]) -> dict[str, Any]:
    return {k: checked.get(k) for k in ("MerchantTransactionID", "Amount", "Currency")}


def _customer_json(conn: Conn, site: Row, c: CustomerIn | None, now: int) -> str | None:
    if c is None:
        return None
    data = msgspec.to_builtins(c)
    cid = rows.new_customer(conn, int(site["site_id"]), data, now)
    return json.dumps(views.customer(c, cid))


def _address_json(conn: Conn, site: Row, a: AddressIn | None, now: int) -> str | None:
    if a is None:
        return None
    aid = rows.new_address(conn, int(site["site_id"]), msgspec.to_builtins(a), now)
    return json.dumps(views.address(a, aid))


def _step_values(step: scenarios.Step, captured: int, total: int, now: int) -> dict[str, Any]:
    """Column values for entering ``step`` (capture amount ``captured`` of ``total``)."""
    status = scenarios.resolve(step.status, captured, total)
    codes = [reason(c) for c in step.codes]
    is_capture = status in ("Captured", "PartiallyCaptured")
    values: dict[str, Any] = {
        "status": status,
        "reasons": json.dumps(codes),
        "captured_amount": captured if is_capture else 0,
        "pending_status": None,
        "pending_at_us": None,
        "pending_changes": None,
        "capture_status": None,
    }
    if is_capture:
        values["capture_status"] = ("Success", [])
    elif status in ("QueuedForCapturing", "CaptureRequested"):
        values["capture_status"] = ("Open", codes)
    elif status == FAILED and "104" in step.codes:
        values["capture_status"] = ("Failed", codes)
    if step.then is not None:
        later = scenarios.resolve(step.then, captured, total)
        values["pending_status"] = later
        values["pending_at_us"] = now + step.after_seconds * US
        changes: dict[str, Any] = {"reasons": "[]"}
        if later in ("Captured", "PartiallyCaptured"):
            changes["captured_amount"] = captured
        values["pending_changes"] = json.dumps(changes)
    return values


def _record_capture(
    conn: Conn, payment_id: int, amount: int, state: dict[str, Any], now: int
) -> None:
    """Write the capture row and the payment's ``CaptureDetails`` (and its settled form)."""
    capture_id = rows.new_capture(conn, payment_id, amount, now)
    name, codes = state["capture_status"]
    details = {"ID": capture_id, "Amount": amount, "Status": views.status(name, codes)}
    values: dict[str, Any] = {"capture_details": json.dumps(details)}
    if state.get("pending_changes"):
        changes = json.loads(state["pending_changes"])
        if "captured_amount" in changes:
            changes["capture_details"] = json.dumps(
                {**details, "Status": views.status("Success", [])}
            )
            values["pending_changes"] = json.dumps(changes)
    conn.exec(
        f"UPDATE smart2pay_payments SET {', '.join(f'{k} = ?' for k in values)} WHERE id = ?",
        *values.values(),
        payment_id,
    )


def _payment(conn: Conn, payment_id: int, now: int) -> Payment:
    row = rows.get_payment(conn, payment_id)
    assert row is not None
    return Payment(row, now)


def _owned_payment(conn: Conn, payment_id: int, site_id: int, now: int) -> Payment:
    row = rows.get_payment(conn, payment_id, site_id)
    if row is None:
        raise Smart2PayError([reason("17", f"Payment is invalid - no payment {payment_id}")])
    return Payment(row, now)


def _locked_payment(conn: Conn, payment_id: int, site_id: int, now: int) -> Payment:
    row = rows.lock_payment(conn, payment_id, site_id)
    if row is None:
        raise Smart2PayError([reason("17", f"Payment is invalid - no payment {payment_id}")])
    return _settle(conn, row, now)


def _settle(conn: Conn, row: Row, now: int) -> Payment:
    """Write down a due pending transition (the caller holds the row lock)."""
    payment = Payment(row, now)
    if not payment.due:
        return payment
    values = {k: v for k, v in payment.effective.items() if k in _SETTLE_COLUMNS}
    to = str(values["status"])
    assert PAYMENT_STATES.can(str(row["status"]), to)
    if rows.transition_payment(
        conn, payment.id, from_states=(str(row["status"]),), values=values, due_by_us=now
    ):
        events.append(
            conn,
            PAYMENT,
            str(payment.id),
            "settled",
            int(row["pending_at_us"]),
            {"from": row["status"], "to": to, "by": "sandbox clock"},
        )
    return _payment(conn, payment.id, now)


_SETTLE_COLUMNS = frozenset(
    {
        "status",
        "reasons",
        "captured_amount",
        "capture_details",
        "pending_status",
        "pending_at_us",
        "pending_changes",
        "updated_at_us",
    }
)


def _require_authorized(payment: Payment, verb: str) -> None:
    if payment.status != AUTHORIZED:
        raise Smart2PayError(
            [
                reason(
                    "1006",
                    f"Payment.State is invalid - the payment is {payment.status}; "
                    f"{verb} needs Authorized",
                )
            ],
            body=views.payment_fields(payment),
            status=(STATUS_IDS[payment.status], payment.status),
        )
