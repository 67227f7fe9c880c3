"""NICEPay verbs on the store: registration, inquiry, cancel, the payment page, and the
customer simulations of the control API.

Each verb is one ``db.write``/``db.read``: the merchant lookup, the merchantToken check, the
conditional state change, its event and the notification are one transaction, so an error
anywhere leaves nothing behind and racing requests on one transaction get exactly one winner.
Field rules that need no database run before the transaction (``rules``).

``NicepayService`` only wires the verbs to the database and the outbox; each verb lives in its
own module: ``registration`` (Direct and Redirect), ``inquiry``, ``cancel``, ``payment`` (the
payment page), ``redirect`` (the Redirect API's page) and ``simulate`` (control-side pay /
expire / read), with shared helpers in ``_common``.
"""

from __future__ import annotations

from collections.abc import Callable

from ....core.events import Event
from ....delivery.outbox import Outbox
from ....store.db import Database, Row
from ..model import Txn
from ..schemas import Cancel, Inquiry, Payment, Registration
from . import cancel, inquiry, payment, redirect, registration, simulate
from ._common import OBJECT
from .cancel import CancelResult
from .payment import FAIL_CODES, SESSION_TTL_US, PaymentResult

__all__ = [
    "DEFAULT_VALIDITY_SECONDS",
    "FAIL_CODES",
    "OBJECT",
    "SESSION_TTL_US",
    "CancelResult",
    "NicepayService",
    "PaymentResult",
]

DEFAULT_VALIDITY_SECONDS = 24 * 3600


class NicepayService:
    def __init__(
        self,
        db: Database,
        outbox: Outbox,
        *,
        default_validity_seconds: int = DEFAULT_VALIDITY_SECONDS,
        on_commit: Callable[[], None] = lambda: None,
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.default_validity_seconds = default_validity_seconds
        self.on_commit = on_commit

    # ------------------------------------------------------------ Direct API

    async def register(self, req: Registration) -> Txn:
        values, extra = registration.check(req)
        return await self.db.write(
            registration.register_tx, values, extra, self.default_validity_seconds
        )

    async def register_redirect(self, req: Registration) -> Txn:
        """v2 Redirect (Checkout) registration: the same transaction as v2 Direct."""
        values, extra = registration.check(req, redirect=True)
        return await self.db.write(
            registration.register_tx, values, extra, self.default_validity_seconds
        )

    async def inquire(self, req: Inquiry) -> Txn:
        values = inquiry.check(req)
        txn = await self.db.read_one(inquiry.inquire_tx, values)  # one SELECT (joined on PG)
        if txn.needs_expiry_recorded:
            await self.db.write(inquiry.record_expiry_tx, txn.t_xid)
        return txn

    async def cancel(self, req: Cancel) -> CancelResult:
        values, partial, amount = cancel.check(req)
        return await self.db.write(cancel.cancel_tx, values, partial, amount)

    # ------------------------------------------------------------ payment page

    async def start_payment(self, req: Payment) -> tuple[Txn, Row, PaymentResult | None]:
        """The payment page's session; for one of paysandbox's test cards, also its outcome."""
        values = payment.check(req)
        result = await self.db.write(payment.start_and_maybe_finish_tx, values, self.outbox)
        if result[2] is not None:
            self.on_commit()
        return result

    # ------------------------------------------------------------ Redirect page

    async def redirect_page(self, t_xid: str) -> Txn:
        txn = await self.db.read(redirect.page_tx, t_xid)
        if txn.needs_expiry_recorded:
            await self.db.write(inquiry.record_expiry_tx, txn.t_xid)
        return txn

    async def redirect_choose(self, t_xid: str, method: str, code: str) -> Txn:
        return await self.db.write(
            redirect.choose_tx, t_xid, method, code, self.default_validity_seconds
        )

    async def redirect_session(
        self, t_xid: str, card: dict[str, str | None]
    ) -> tuple[Txn, Row | None, PaymentResult | None]:
        result = await self.db.write(redirect.open_session_tx, t_xid, card, self.outbox)
        if result[2] is not None:
            self.on_commit()
        return result

    async def get_session(self, session_id: str) -> tuple[Txn, Row]:
        return await self.db.read(payment.get_session_tx, session_id)

    async def finish_payment(self, session_id: str, approve: bool) -> PaymentResult:
        result = await self.db.write(payment.finish_payment_tx, session_id, approve, self.outbox)
        self.on_commit()
        return result

    # ------------------------------------------------------------ control (customer)

    async def pay(self, t_xid: str, amount: int | None) -> Txn:
        txn = await self.db.write(simulate.pay_tx, t_xid, amount, self.outbox)
        self.on_commit()
        return txn

    async def expire(self, t_xid: str) -> Txn:
        return await self.db.write(simulate.expire_tx, t_xid)

    async def get(self, t_xid: str) -> tuple[Txn, list[Event], list[Row]]:
        return await self.db.read(simulate.get_tx, t_xid)
