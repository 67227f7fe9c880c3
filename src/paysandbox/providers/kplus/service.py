"""K PLUS verbs on the core and the store: no HTTP in here.

Every verb is one database call: the credential check, the duplicate-``partnerTxnUid`` check,
the conditional state change, its event and any callback are one transaction, so an error
anywhere leaves nothing behind, and racing requests on one token get exactly one winner.
generate-token's change is a single statement (``rows.create_token``: the claim, the token
and its events), run with ``Database.write_one`` — on PostgreSQL without ``BEGIN``/``COMMIT``;
with the partner as this process last read it, guarded in that statement, it is the only
statement, and joined with the other requests' of the same loop turn (``rows.create_tokens``
through ``Database.write_joined``): one round trip for them all.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from typing import Any

from ...core.clock import US, sandbox_now_us
from ...core.credentials import account_secret_matches
from ...core.ids import LOWER_ALNUM, random_digits, time_ordered_string
from ...delivery.outbox import Faults, Outbox
from ...store import clock as clock_rows
from ...store import events
from ...store.db import Conn, Database, Row
from . import callbacks, rules
from . import store as rows
from .errors import KPlusError
from .model import CANCELLED, EXPIRED, PAID, REQUESTED, TOKEN_STATES, VOIDED, Token
from .schemas import CancelToken, Common, GenerateToken, InquireToken

OBJECT = "kplus_token"
PROVIDER = "kplus"  # the name its accounts' clocks are kept under

#: Renders the payment slip PNG (base64) for a token being paid; None = no slip.
SlipRenderer = Callable[[Row, int, str, str], str | None]


#: Partners whose last-read copy a process keeps for generate-token (a long-lived shared
#: sandbox may see a throwaway partner per test run: the copy must not grow without end).
PARTNERS_SEEN_MAX = 10_000


def new_token_id() -> str:
    """``KMCMPT`` + 40 lower-case letters/digits + ``PMT``: 11 of the time it was made (so new
    tokens sort last in the tokens' index), then 29 random ones (~150 bits); see
    ``ids.time_ordered_string``."""
    return f"KMCMPT{time_ordered_string(40, LOWER_ALNUM)}PMT"


class KPlusService:
    def __init__(
        self,
        db: Database,
        outbox: Outbox,
        *,
        default_ttl_seconds: int,
        on_commit: Callable[[], None] = lambda: None,
        slip_renderer: SlipRenderer | None = None,
    ) -> None:
        self.db = db
        self.outbox = outbox
        self.default_ttl_seconds = default_ttl_seconds
        self.on_commit = on_commit
        self.slip_renderer = slip_renderer
        #: generate-token: each partner as last read (only partners that exist), see below;
        #: at most ``partners_seen_max``, the longest unseen forgotten first.
        self._partners_seen: dict[str, dict[str, Any]] = {}
        self.partners_seen_max = PARTNERS_SEEN_MAX

    # ------------------------------------------------------------ partner API

    async def generate(self, req: GenerateToken, *, token_id: str | None = None) -> Token:
        """Issue a token; ``token_id`` is for control-API fixtures that need a known id."""
        if not req.reference1.strip():
            raise KPlusError("invalid_reference1", "reference1 must not be empty")
        rules.check_currency(req.currencyCode, req.currencyExponent)
        values: dict[str, Any] = {
            "reference1": req.reference1,
            "reference2": req.reference2,
            "total_amount": rules.parse_amount(req.totalAmount, "totalAmount", allow_zero=False),
            "shipping_fee": rules.parse_amount(req.shippingFee, "shippingFee", allow_zero=True),
            "currency_code": "THB",
            "currency_exponent": 2,
            "shop_name": req.shopName,
            "shop_image_url": rules.check_image_url(req.shopImageUrl, "shopImageUrl"),
            "partner_icon_url": req.partnerIconUrl
            and rules.check_image_url(req.partnerIconUrl, "partnerIconUrl"),
            "os_platform": rules.check_platform(req.osPlatform),
            "items": json.dumps([_item(i, n) for n, i in enumerate(req.items or [])]),
            "buyer_name": req.buyerName,
            "partner_token": req.partnerToken,
            "promotion_code": req.promotionCode,
            "additional_info1": req.additionalInfo1,
            "additional_info2": req.additionalInfo2,
            "additional_info3": req.additionalInfo3,
            "request_dt": rules.parse_request_dt(req.requestDt),
        }
        token_id, given = (token_id, True) if token_id is not None else (new_token_id(), False)
        if not given:
            # The partner as this process last saw it (secret, TTL, clock offset) spares the
            # read: the token is then created only if the database still says the same (a
            # guard inside the one statement), else nothing is written and the request starts
            # over, reading afresh. The statement is joined with those of the other requests
            # of this loop turn (``write_joined``: one round trip on PostgreSQL).
            seen = self._partners_seen.get(req.partnerId)
            if seen is not None and account_secret_matches(
                req.partnerSecret, seen["partner_secret"]
            ):
                row, history, now = self._new_token(req, values, token_id, seen)
                claim = _claim(req, now)
                created = await self.db.write_joined(
                    rows.create_tokens, rows.NewToken(claim, row, history, seen)
                )
                if created == rows.CREATED:
                    return _token(row, now)
                if created == rows.DUPLICATE:
                    raise _duplicate_uid()
                self._partners_seen.pop(req.partnerId, None)  # changed since: read afresh
        # The partner read and the token's one changing statement (the claim, the token and its
        # events; see rows.create_token), so on PostgreSQL no BEGIN/COMMIT is needed. A fixture
        # with a given tokenId checks that id between the claim and the insert: a transaction.
        run = self.db.write if given else self.db.write_one
        return await run(self._generate_tx, req, values, token_id, given)

    def _generate_tx(
        self, conn: Conn, req: GenerateToken, values: dict[str, Any], token_id: str, given: bool
    ) -> Token:
        found = rows.partner_with_clock(conn, req.partnerId)
        _check_secret(req, found["partner_secret"] if found is not None else None)
        assert found is not None
        partner = rows.partner_as_read(found)
        if not given:
            self._remember(req.partnerId, partner)
        row, history, now = self._new_token(req, values, token_id, partner)
        if given:  # claimed first, as every verb does, then the given id checked
            _claim_uid(conn, req, "generate-token", now)
            if rows.get_token(conn, token_id) is not None:
                raise KPlusError("duplicate_request", f"tokenId {token_id} already exists")
        created = rows.create_token(conn, row, history, claim=None if given else _claim(req, now))
        if created == rows.DUPLICATE:
            raise _duplicate_uid()
        if created == rows.ID_TAKEN:  # raised: the write's transaction undoes the claim
            raise KPlusError("duplicate_request", f"tokenId {token_id} already exists")
        return _token(row, now)

    def _new_token(
        self,
        req: GenerateToken,
        values: dict[str, Any],
        token_id: str,
        partner: Mapping[str, Any],
    ) -> tuple[dict[str, Any], list[tuple[Any, ...]], int]:
        """The token's row and events, as of the partner's clock now."""
        now = sandbox_now_us(partner["clock_offset_us"])
        ttl = int(partner["token_ttl_seconds"] or self.default_ttl_seconds)
        outcome = rules.test_outcome(values["total_amount"])
        if outcome == "expire":
            ttl = 0  # test amount: expired the moment it is generated
        row = {
            "token_id": token_id,
            "partner_id": req.partnerId,
            "partner_txn_uid": req.partnerTxnUid,
            "status": REQUESTED,
            **values,
            "created_at_us": now,
            "expires_at_us": now + ttl * US,
            "updated_at_us": now,
        }
        history = [
            events.row(
                OBJECT,
                token_id,
                "created",
                now,
                {"partnerTxnUid": req.partnerTxnUid, "totalAmount": values["total_amount"]},
            )
        ]
        if outcome == "decline":
            declined = {"by": "customer", "testAmount": True}
            history.append(events.row(OBJECT, token_id, "declined", now, declined))
        return row, history, now

    def _remember(self, partner_id: str, partner: dict[str, Any]) -> None:
        seen = self._partners_seen
        seen.pop(partner_id, None)  # re-inserted last: the most recently read
        while len(seen) >= self.partners_seen_max:
            del seen[next(iter(seen))]
        seen[partner_id] = partner

    async def inquire(self, req: InquireToken) -> Token:
        rules.parse_request_dt(req.requestDt)
        token = await self.db.read_one(self._inquire_tx, req)  # one SELECT: its own snapshot
        if token.needs_expiry_recorded:
            await self.db.write(self._record_expiry_tx, token.token_id)
        return token

    def _inquire_tx(self, conn: Conn, req: InquireToken) -> Token:
        row = rows.token_for_partner(conn, req.tokenId, req.partnerId)
        _check_secret(req, row["partner_secret"] if row is not None else None)
        assert row is not None
        if row["token_id"] is None:
            raise KPlusError("token_not_found", "tokenId not found")
        return Token(row, sandbox_now_us(int(row["clock_offset_us"])))

    def _record_expiry_tx(self, conn: Conn, token_id: str) -> None:
        row = rows.get_token(conn, token_id)
        if row is None:
            return
        now = _now(conn, str(row["partner_id"]))
        if not Token(row, now).needs_expiry_recorded:
            return
        if rows.transition_token(
            conn,
            token_id,
            from_states=TOKEN_STATES.sources(EXPIRED),
            values={"status": EXPIRED, "updated_at_us": now},
        ):
            events.append(
                conn,
                OBJECT,
                token_id,
                "expired",
                now,
                {"expiresAt": rules.utc_iso(int(row["expires_at_us"]))},
            )

    async def cancel(self, req: CancelToken) -> Token:
        rules.parse_request_dt(req.requestDt)
        if not req.reference1.strip():
            raise KPlusError("invalid_reference1", "reference1 must not be empty")
        return await self.db.write(self._cancel_tx, req)

    def _cancel_tx(self, conn: Conn, req: CancelToken) -> Token:
        _authenticate(conn, req)
        now = _now(conn, req.partnerId)
        _claim_uid(conn, req, "cancel-token", now)
        token = Token(_owned_token(conn, req.tokenId, req.partnerId), now)
        _require_unpaid(token)
        changed = rows.transition_token(
            conn,
            req.tokenId,
            from_states=TOKEN_STATES.sources(CANCELLED),
            values={"status": CANCELLED, "updated_at_us": now},
            unexpired_at_us=now,
        )
        if not changed:  # lost a race inside the database: report the winner's state
            _lost_race(Token(_owned_token(conn, req.tokenId, req.partnerId), now))
        events.append(
            conn,
            OBJECT,
            req.tokenId,
            "cancelled",
            now,
            {"partnerTxnUid": req.partnerTxnUid, "by": "partner"},
        )
        row = rows.get_token(conn, req.tokenId)
        assert row is not None
        return Token(row, now)

    # ------------------------------------------------------------ customer / control

    async def pay(self, token_id: str, payment_account: str | None, via: str) -> Token:
        """The customer pays. The slip (≈8 ms of PNG work) is drawn on a worker thread *before*
        the write transaction, from the values the transaction then stores, so no write lock is
        held (and, on SQLite, the event loop is not held) while it renders."""
        masked = rules.mask_account(payment_account or random_digits(10))
        row, paid_at = await self.db.read(self._payable_tx, token_id)
        day = rules.kbank_time(paid_at) or ""
        reference = f"{day[:10].replace('-', '')}{random_digits(12)}"
        slip = None
        if self.slip_renderer is not None:
            slip = await asyncio.to_thread(self.slip_renderer, row, paid_at, reference, masked)
        token = await self.db.write(self._pay_tx, token_id, masked, via, paid_at, reference, slip)
        self.on_commit()
        return token

    def _payable_tx(self, conn: Conn, token_id: str) -> tuple[Row, int]:
        row, now = _token_now(conn, token_id)
        _require_unpaid(Token(row, now))
        if rules.test_outcome(int(row["total_amount"])) == "decline":
            raise KPlusError("qr_declined", "the customer declined this token (test amount)")
        return row, now

    def _pay_tx(
        self,
        conn: Conn,
        token_id: str,
        masked: str,
        via: str,
        paid_at: int,
        reference: str,
        slip: str | None,
    ) -> Token:
        _, now = _token_now(conn, token_id)
        changed = rows.transition_token(
            conn,
            token_id,
            from_states=TOKEN_STATES.sources(PAID),
            values={
                "status": PAID,
                "updated_at_us": now,
                "paid_at_us": paid_at,
                "payment_reference_id": reference,
                "payment_account": masked,
                "slip_image": slip,
            },
            unexpired_at_us=now,
        )
        if not changed:
            _lost_race(Token(_any_token(conn, token_id), now))
        events.append(
            conn,
            OBJECT,
            token_id,
            "paid",
            now,
            {"paymentRefernceId": reference, "paymentAccount": masked, "via": via},
        )
        paid = _any_token(conn, token_id)
        partner = rows.get_partner(conn, str(paid["partner_id"]))
        if partner is not None and partner["callback_url"]:
            msg = callbacks.confirm_payment(paid, partner, now)
            faults = Faults.from_mapping(json.loads(partner["faults"]))
            ids = self.outbox.enqueue(conn, msg, now, faults)
            events.append(conn, OBJECT, token_id, "callback_queued", now, {"deliveries": ids})
        return Token(paid, now)

    async def expire(self, token_id: str) -> Token:
        return await self.db.write(self._expire_tx, token_id)

    def _expire_tx(self, conn: Conn, token_id: str) -> Token:
        row, now = _token_now(conn, token_id)
        token = Token(row, now)
        _require_unpaid(token)
        changed = rows.transition_token(
            conn,
            token_id,
            from_states=TOKEN_STATES.sources(EXPIRED),
            values={
                "status": EXPIRED,
                "updated_at_us": now,
                "expires_at_us": min(now, int(token["expires_at_us"])),
            },
        )
        if not changed:
            _lost_race(Token(_any_token(conn, token_id), now))
        events.append(conn, OBJECT, token_id, "expired", now, {"forced": True})
        return Token(_any_token(conn, token_id), now)

    async def decline(self, token_id: str) -> Token:
        return await self.db.write(self._decline_tx, token_id)

    def _decline_tx(self, conn: Conn, token_id: str) -> Token:
        row, now = _token_now(conn, token_id)
        token = Token(row, now)
        _require_unpaid(token)
        events.append(conn, OBJECT, token_id, "declined", now, {"by": "customer"})
        return token

    async def get(self, token_id: str) -> tuple[Token, list[Any]]:
        """The token and its history, for the customer page and the control API; like
        inquire-token, the first sight of an expired token records its ``expired`` event."""
        token, history = await self.db.read(self._get_tx, token_id)
        if token.needs_expiry_recorded:
            await self.db.write(self._record_expiry_tx, token_id)
            token, history = await self.db.read(self._get_tx, token_id)
        return token, history

    def _get_tx(self, conn: Conn, token_id: str) -> tuple[Token, list[Any]]:
        row, now = _token_now(conn, token_id)
        token = Token(row, now)
        return token, events.history(conn, OBJECT, token_id)


def _item(item: Any, n: int) -> dict[str, Any]:
    return {
        "itemName": item.itemName,
        "quantity": rules.parse_quantity(item.quantity, f"items[{n}].quantity")
        if item.quantity is not None
        else None,
        "amount": rules.parse_amount(item.amount, f"items[{n}].amount", allow_zero=True)
        if item.amount is not None
        else None,
    }


def _now(conn: Conn, partner_id: str) -> int:
    """The partner's time: the sandbox clock plus the partner's own offset."""
    return clock_rows.account_now_us(conn, PROVIDER, partner_id)


def _token_now(conn: Conn, token_id: str) -> tuple[Row, int]:
    """A token (any partner's) and its partner's time."""
    row = _any_token(conn, token_id)
    return row, _now(conn, str(row["partner_id"]))


def _authenticate(conn: Conn, req: Common) -> Row:
    partner = rows.get_partner(conn, req.partnerId)
    _check_secret(req, partner["partner_secret"] if partner is not None else None)
    assert partner is not None
    return partner


def _check_secret(req: Common, expected: str | None) -> None:
    """Unknown partner and wrong secret get the same answer, after the same constant-time work."""
    if not account_secret_matches(req.partnerSecret, expected):
        raise KPlusError("authentication_error", "partnerId or partnerSecret is invalid")


def _claim_uid(conn: Conn, req: Common, operation: str, now: int) -> None:
    if not rows.claim_request_uid(conn, req.partnerId, req.partnerTxnUid, operation, now):
        raise _duplicate_uid()


def _duplicate_uid() -> KPlusError:
    return KPlusError("duplicate_request", "this request is duplicated (partnerTxnUid reused)")


def _owned_token(conn: Conn, token_id: str, partner_id: str) -> Row:
    row = rows.get_token(conn, token_id)
    if row is None or row["partner_id"] != partner_id:
        raise KPlusError("token_not_found", "tokenId not found")
    return row


def _any_token(conn: Conn, token_id: str) -> Row:
    row = rows.get_token(conn, token_id)
    if row is None:
        raise KPlusError("token_not_found", "tokenId not found")
    return row


def _lost_race(token: Token) -> None:
    """A conditional update changed nothing: answer with the state that won. If the token
    still looks unpaid, something else moved it (never expected): refuse rather than pretend."""
    _require_unpaid(token)
    raise KPlusError("internal_error", "the token changed concurrently; retry")


def _require_unpaid(token: Token) -> None:
    status = token.status
    if status == PAID:
        raise KPlusError("qr_paid", "token is already paid")
    if status == CANCELLED:
        raise KPlusError("qr_cancelled", "token is already cancelled")
    if status == VOIDED:
        raise KPlusError("qr_paid", "token was paid and has been voided")
    if status == EXPIRED:
        raise KPlusError("qr_expired", "token has expired")


def _claim(req: GenerateToken, now: int) -> dict[str, Any]:
    """generate-token's ``kplus_request_uids`` row."""
    return {
        "partner_id": req.partnerId,
        "partner_txn_uid": req.partnerTxnUid,
        "operation": "generate-token",
        "at_us": now,
    }


def _token(row: Mapping[str, Any], now: int) -> Token:
    """The token just created from ``row``."""
    return Token(
        {
            **row,
            "paid_at_us": None,
            "payment_reference_id": None,
            "payment_account": None,
            "slip_image": None,
        },
        now,
    )
