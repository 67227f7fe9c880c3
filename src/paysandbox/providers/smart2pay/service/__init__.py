"""Smart2Pay verbs on the core and the store: no HTTP in here.

Every verb is one database call: the site's credential check, the validation, the conditional
state change, its events and its notifications are one transaction, so an error anywhere leaves
nothing behind. Verbs on an existing payment take its row lock first, so racing captures,
cancels and refunds see each other's amounts and exactly one wins a transition.

Queued/requested statuses (test amounts 10002, 10003, 10006) are written with a *pending*
transition due ``QUEUE_SECONDS`` later on the sandbox clock; its notification is enqueued at the
same moment with that delay, and the transition itself is written by the first verb or read
that finds it due (``queues.settle``).

``Smart2PayService`` is the async face: each method runs one transaction function from the
module for its concern (``tokens``, ``payments``, ``captures``, ``cancels``, ``refunds``,
``hosted`` for the customer's pages; ``queues`` and ``notify`` serve them) and wakes the sender
after verbs that may notify. The POST verbs answer ``(HTTP status, body)``, rendered inside
their transaction so that ``requests`` can store it for a retried ``RequestId``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ....delivery.outbox import Outbox
from ....store.db import Database, Row
from .. import views
from ..errors import Smart2PayError
from ..listing import ListQuery
from ..model import Payment
from . import cancels, captures, hosted, on_behalf, payments, queues, refunds, requests, tokens
from ._common import (
    PAYMENT,
    TOKEN,
    Answer,
    Body,
    Credentials,
    RequestKey,
    new_token_value,
    unauthorized,
)

__all__ = [
    "PAYMENT",
    "TOKEN",
    "Answer",
    "Body",
    "Credentials",
    "RequestKey",
    "Smart2PayService",
    "new_token_value",
    "unauthorized",
]


class Smart2PayService:
    def __init__(
        self, db: Database, outbox: Outbox, *, on_commit: Callable[[], None] = lambda: None
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.on_commit = on_commit

    async def _once(
        self,
        creds: Credentials,
        render: Callable[[Any], Answer],
        tx: Callable[..., Any],
        *args: Any,
    ) -> Answer:
        """One verb in one transaction, answered once per ``RequestId`` (``requests``)."""
        result = await self.db.write(requests.once_tx, creds, render, tx, *args)
        self.on_commit()
        return result

    # ------------------------------------------------------------ card tokens

    async def authenticate(self, creds: Credentials, doc: Body) -> Answer:
        def render(row: Row) -> Answer:
            return 201, views.card_authentication(row)

        return await self._once(creds, render, tokens.authenticate_tx, creds, doc)

    async def get_token(self, creds: Credentials, value: str) -> Row:
        return await self.db.read(tokens.get_token_tx, creds, value)

    async def cancel_token(self, creds: Credentials, value: str) -> Answer:
        def render(row: Row) -> Answer:
            return 200, views.token(row, with_status=True)

        return await self._once(creds, render, tokens.cancel_token_tx, creds, value)

    # ------------------------------------------------------------ payments

    async def create_payment(self, creds: Credentials, doc: Body, base_url: str) -> Answer:
        return await self._once(
            creds, _payment_answer, payments.create_tx, self.outbox, creds, doc, base_url
        )

    async def get_payment(self, creds: Credentials, payment_id: int) -> Payment:
        payment = await self.db.read_one(payments.get_payment_tx, creds, payment_id)
        if payment.due:
            # written down, then answered as written: the read's own view of the due change
            # (Expired) may have lost to the customer, who finished in between
            await self.db.write(queues.settle_tx, payment.id)
            payment = await self.db.read_one(payments.get_payment_tx, creds, payment_id)
        return payment

    async def list_payments(self, creds: Credentials, query: ListQuery) -> list[Payment]:
        return await self.db.read(payments.list_tx, creds, query)

    async def capture(
        self, creds: Credentials, payment_id: int, amount: int | Smart2PayError | None
    ) -> Answer:
        return await self._once(
            creds, _payment_answer, captures.capture_tx, self.outbox, creds, payment_id, amount
        )

    async def cancel(self, creds: Credentials, payment_id: int) -> Answer:
        def render(payment: Payment) -> Answer:
            return 200, views.payment(payment)

        return await self._once(creds, render, cancels.cancel_tx, self.outbox, creds, payment_id)

    async def captures(self, creds: Credentials, payment_id: int) -> tuple[Payment, list[Row]]:
        return await self.db.read(captures.list_captures_tx, creds, payment_id)

    async def capture_of(
        self, creds: Credentials, payment_id: int, capture_id: int
    ) -> tuple[Payment, Row]:
        return await self.db.read(captures.get_capture_tx, creds, payment_id, capture_id)

    # ------------------------------------------------------------ refunds

    async def refund(self, creds: Credentials, payment_id: int, doc: Body) -> Answer:
        def render(result: tuple[Row, int]) -> Answer:
            return result[1], views.refund(result[0])

        return await self._once(
            creds, render, refunds.refund_tx, self.outbox, creds, payment_id, doc
        )

    async def refunds(self, creds: Credentials, payment_id: int) -> list[Row]:
        return await self.db.read(refunds.refunds_tx, creds, payment_id)

    async def get_refund(self, creds: Credentials, payment_id: int | None, refund_id: int) -> Row:
        return await self.db.read(refunds.get_refund_tx, creds, payment_id, refund_id)

    # ------------------------------------------------------------ the customer's pages

    async def page(self, key: str) -> Payment:
        payment = await self.db.read(hosted.page_tx, key)
        if payment.due:  # e.g. its lifetime ended: written down, as a read of the API does
            await self.db.write(queues.settle_tx, payment.id)
            payment = await self.db.read(hosted.page_tx, key)  # as written (see get_payment)
        return payment

    async def submit_card(self, key: str, form: dict[str, str]) -> Payment:
        payment = await self.db.write(hosted.submit_card_tx, self.outbox, key, form)
        self.on_commit()
        return payment

    async def decide(self, key: str, action: str) -> Payment:
        payment = await self.db.write(hosted.decide_tx, self.outbox, key, action)
        self.on_commit()
        return payment

    # ------------------------------------------------------------ control API

    async def inspect_payment(self, payment_id: int) -> tuple[Payment, list[Row], list[Any]]:
        found = await self.db.read(payments.inspect_payment_tx, payment_id)
        if found[0].due:
            await self.db.write(queues.settle_tx, payment_id)
            found = await self.db.read(payments.inspect_payment_tx, payment_id)
        return found

    async def inspect_token(self, value: str) -> tuple[Row, list[Any]]:
        return await self.db.read(tokens.inspect_token_tx, value)

    async def create_token_fixture(
        self, site_id: int, value: str | None, doc: dict[str, Any]
    ) -> tuple[Row, list[Any]]:
        """A card token with a chosen value (``tokens.fixture_tx``), and its events."""
        row = await self.db.write(tokens.fixture_tx, site_id, value, doc)
        return await self.inspect_token(str(row["value"]))

    # ------------------------------------------------------------ control API: the merchant's
    # verbs on behalf of the payment's own site (``on_behalf``)

    async def capture_for_site(self, payment_id: int, amount: int | None) -> tuple[Payment, int]:
        result = await self.db.write(on_behalf.capture_tx, self.outbox, payment_id, amount)
        self.on_commit()
        return result

    async def cancel_for_site(self, payment_id: int) -> Payment:
        result = await self.db.write(on_behalf.cancel_tx, self.outbox, payment_id)
        self.on_commit()
        return result

    async def refund_for_site(
        self, payment_id: int, amount: int, merchant_transaction_id: str | None = None
    ) -> tuple[Row, int]:
        result = await self.db.write(
            on_behalf.refund_tx, self.outbox, payment_id, amount, merchant_transaction_id
        )
        self.on_commit()
        return result


def _payment_answer(result: tuple[Payment, int]) -> Answer:
    return result[1], views.payment(result[0])
