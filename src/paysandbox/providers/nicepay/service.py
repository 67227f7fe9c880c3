"""NICEPay verbs on the store: registration, inquiry, cancel, the payment page, and the
customer simulations of the control API.

Each verb is one ``db.write``/``db.read``: the merchant lookup, the merchantToken check, the
conditional state change, its event and the notification are one transaction, so an error
anywhere leaves nothing behind and racing requests on one transaction get exactly one winner.
Field rules that need no database run before the transaction (``rules``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ...core.clock import US
from ...core.errors import Conflict, NotFound
from ...core.events import Event
from ...core.ids import UPPER_HEX, random_digits, random_string
from ...delivery.outbox import Outbox
from ...delivery.urls import BadUrl, check_callback_url
from ...store import clock as clock_rows
from ...store import events
from ...store import nicepay as rows
from ...store.db import Conn, Database, Row
from . import auth, callbacks, rules
from .errors import NicepayError
from .model import CANCELED, EXPIRED, FAILED, INIT, PAID, STATUS_WORD, UNPAID, Txn, sources
from .rules import CC, CLICKPAY, CVS, EWALLET, PAYLOAN, VA
from .schemas import Cancel, Inquiry, Payment, Registration

OBJECT = "nicepay_transaction"
SESSION_TTL_US = 30 * 60 * US
DEFAULT_VALIDITY_SECONDS = 24 * 3600
FAIL_CODES = {
    CC: "threeds_failed",
    CLICKPAY: "clickpay_failed",
    EWALLET: "ewallet_failed",
    PAYLOAN: "payloan_failed",
}


@dataclass(frozen=True)
class CancelResult:
    txn: Txn
    cancel_txid: str
    amount: int


@dataclass(frozen=True)
class PaymentResult:
    """How a payment-page session ended: the transaction and the callBackUrl parameters."""

    txn: Txn
    call_back_url: str
    result_cd: str
    result_msg: str


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

    # ------------------------------------------------------------ registration

    async def register(self, req: Registration) -> Txn:
        values = rules.check_fields(rules.REGISTRATION, req, "reg_data")
        extra = _registration_checks(values)
        return await self.db.write(self._register_tx, values, extra)

    def _register_tx(self, conn: Conn, v: dict[str, str | None], extra: dict[str, Any]) -> Txn:
        now = clock_rows.now_us(conn)
        imid, pm = _s(v["iMid"]), _s(v["payMethod"])
        key = _merchant_key(conn, imid)
        auth.verify(
            v["merchantToken"],
            auth.order_token(_s(v["timeStamp"]), imid, _s(v["referenceNo"]), _s(v["amt"]), key),
            "registration",
        )
        row: dict[str, Any] = {
            "imid": imid,
            "pay_method": pm,
            "status": UNPAID if pm in (VA, CVS) else INIT,
            "reference_no": v["referenceNo"],
            "amt": extra["amt"],
            "amt_text": v["amt"],
            "cancel_amt": 0,
            "currency": "IDR",
            "goods_nm": v["goodsNm"],
            "billing_nm": v["billingNm"],
            "description": v["description"],
            "db_process_url": extra["db_process_url"],
            "request": json.dumps(
                {k: x for k, x in v.items() if x is not None and k != "merchantToken"}
            ),
            "cart_data": extra["cart"],
            "vat": v["vat"],
            "fee": v["fee"],
            "notax_amt": v["notaxAmt"],
            "bank_cd": None,
            "vacct_no": None,
            "mitra_cd": extra.get("mitra_cd"),
            "pay_no": None,
            "valid_until_us": None,
            "instmnt_type": extra.get("instmnt_type"),
            "instmnt_mon": extra.get("instmnt_mon"),
            "recurr_opt": v["recurrOpt"],
            "m_ref_no": v["mRefNo"],
            "created_at_us": now,
            "updated_at_us": now,
        }
        if pm == VA:
            row["valid_until_us"] = rules.parse_validity(
                v["vacctValidDt"],
                v["vacctValidTm"],
                now,
                self.default_validity_seconds,
                "va_expiry",
            )
            row["bank_cd"] = extra["bank_cd"]
            scope = "va:" + extra["bank_cd"]
            row["vacct_no"] = _issue_vacct(conn, scope, extra["bank_cd"], v["merFixAcctId"], now)
            claimed = row["vacct_no"]
        elif pm == CVS:
            row["valid_until_us"] = rules.parse_validity(
                v["payValidDt"], v["payValidTm"], now, self.default_validity_seconds, "cvs_expiry"
            )
            scope = "cvs:" + extra["mitra_cd"]
            row["pay_no"] = claimed = _issue_pay_no(conn, scope, now)
        t_xid = _insert_with_new_txid(conn, imid, pm, now, row)
        if pm in (VA, CVS):
            rows.attach_number(conn, scope, claimed, t_xid)
        events.append(
            conn,
            OBJECT,
            t_xid,
            "registered",
            now,
            {
                "referenceNo": v["referenceNo"],
                "amt": extra["amt"],
                "payMethod": pm,
                "vacctNo": row["vacct_no"],
                "payNo": row["pay_no"],
            },
        )
        return Txn(_get(conn, t_xid), now)

    # ------------------------------------------------------------ inquiry

    async def inquire(self, req: Inquiry) -> Txn:
        values = rules.check_fields(rules.INQUIRY, req, "inquiry_data")
        rules.parse_amt(_s(values["amt"]), "amt_invalid")
        txn = await self.db.read(self._inquire_tx, values)
        if txn.needs_expiry_recorded:
            await self.db.write(self._record_expiry_tx, txn.t_xid)
        return txn

    def _inquire_tx(self, conn: Conn, v: dict[str, str | None]) -> Txn:
        now = clock_rows.now_us(conn)
        imid = _s(v["iMid"])
        key = _merchant_key(conn, imid)
        auth.verify(
            v["merchantToken"],
            auth.order_token(_s(v["timeStamp"]), imid, _s(v["referenceNo"]), _s(v["amt"]), key),
            "inquiry",
        )
        row = rows.get_transaction(conn, _s(v["tXid"]))
        if row is None or row["imid"] != imid:
            raise NicepayError("inquiry_txid", "no transaction with this tXid for this iMid")
        if row["reference_no"] != v["referenceNo"]:
            raise NicepayError("inquiry_txid", "referenceNo does not match the transaction")
        if int(row["amt"]) != int(_s(v["amt"])):
            raise NicepayError("inquiry_txid", "amt does not match the transaction")
        return Txn(row, now)

    def _record_expiry_tx(self, conn: Conn, t_xid: str) -> None:
        now = clock_rows.now_us(conn)
        row = rows.get_transaction(conn, t_xid)
        if row is not None:
            _record_expiry(conn, Txn(row, now))

    # ------------------------------------------------------------ cancel

    async def cancel(self, req: Cancel) -> CancelResult:
        raw_type = rules.to_text(req.cancelType, "cancelType", "cancel_type")
        partial = raw_type is not None and raw_type.lstrip("0") == "2"
        values = rules.check_fields(
            rules.cancel_fields(partial), req, "partial_cancel" if partial else "full_cancel"
        )
        if _s(values["cancelType"]).lstrip("0") not in ("1", "2"):
            raise NicepayError("cancel_type", "cancelType must be 1 (full) or 2 (partial)")
        amount = rules.parse_amt(_s(values["amt"]), "cancel_amt_zero")
        result = await self.db.write(self._cancel_tx, values, partial, amount)
        return result

    def _cancel_tx(
        self, conn: Conn, v: dict[str, str | None], partial: bool, amount: int
    ) -> CancelResult:
        now = clock_rows.now_us(conn)
        op = "partial_cancel" if partial else "full_cancel"
        imid, t_xid = _s(v["iMid"]), _s(v["tXid"])
        key = _merchant_key(conn, imid)
        auth.verify(
            v["merchantToken"],
            auth.cancel_token(_s(v["timeStamp"]), imid, t_xid, _s(v["amt"]), key),
            "cancel",
        )
        row = rows.get_transaction(conn, t_xid)
        if row is None:
            raise NicepayError("partial_txid" if partial else "full_txid", "unknown tXid")
        if row["imid"] != imid:
            raise NicepayError(
                "partial_mid" if partial else "full_mid", "the tXid belongs to another iMid"
            )
        txn = Txn(row, now)
        pm = txn.pay_method
        if v["payMethod"] != pm:
            raise NicepayError(op, f"payMethod does not match the transaction ({pm})")
        status = txn.status
        if status in (CANCELED, EXPIRED, FAILED):
            raise NicepayError(op, f"the transaction is already {STATUS_WORD[status]}")
        amt = int(row["amt"])
        if status == PAID and pm in (VA, CVS):
            raise NicepayError("va_paid")
        if status in (INIT, UNPAID):
            if partial:
                raise NicepayError("partial_before_purchase")
            if amount != amt:
                raise NicepayError(op, f"amt must be the transaction amount {amt}")
            changed = rows.transition(
                conn,
                t_xid,
                from_states=sources(CANCELED, among=(INIT, UNPAID)),
                values={"status": CANCELED, "cancel_amt": amt, "updated_at_us": now},
                unexpired_at_us=now,
            )
            if changed:
                rows.release_numbers(conn, t_xid)
        else:  # PAID card / ClickPay / e-wallet / Payloan: void or refund
            cancelled = int(row["cancel_amt"])
            if not partial and cancelled > 0:
                raise NicepayError("after_partial")
            if not partial and amount != amt:
                raise NicepayError(op, f"amt must be the transaction amount {amt}")
            if partial and amount > txn.remaining:
                raise NicepayError(
                    "partial_amount", f"amt {amount} is more than the remaining {txn.remaining}"
                )
            changed = rows.add_cancel_amount(
                conn,
                t_xid,
                amount,
                from_states=sources(CANCELED, among=(PAID,)),
                full_state=CANCELED,
                now_us=now,
            )
        if not changed:  # lost a race inside the database: nothing was changed
            raise NicepayError(op, "the transaction changed meanwhile; inquire and retry")
        cancel_txid = _insert_cancel(
            conn,
            imid,
            pm,
            now,
            {
                "t_xid": t_xid,
                "cancel_type": "2" if partial else "1",
                "amt": amount,
                "cancel_msg": v["cancelMsg"],
                "at_us": now,
            },
        )
        after = Txn(_get(conn, t_xid), now)
        events.append(
            conn,
            OBJECT,
            t_xid,
            "partially_canceled" if after.status == PAID else "canceled",
            now,
            {
                "cancelType": "2" if partial else "1",
                "amt": amount,
                "canceltXid": cancel_txid,
                "cancelAmt": int(after["cancel_amt"]),
                "cancelMsg": v["cancelMsg"],
            },
        )
        return CancelResult(after, cancel_txid, amount)

    # ------------------------------------------------------------ payment page

    async def start_payment(self, req: Payment) -> tuple[Txn, Row]:
        values = rules.check_fields(rules.PAYMENT, req, "payment_params")
        values["callBackUrl"] = _callback_url(
            _s(values["callBackUrl"]), "callback_url_invalid", "callBackUrl"
        )
        return await self.db.write(self._start_payment_tx, values)

    def _start_payment_tx(self, conn: Conn, v: dict[str, str | None]) -> tuple[Txn, Row]:
        now = clock_rows.now_us(conn)
        row = rows.get_transaction(conn, _s(v["tXid"]))
        if row is None:
            raise NicepayError("card_txid", "unknown tXid")
        imid = str(row["imid"])
        key = _merchant_key(conn, imid)
        auth.verify(
            v["merchantToken"],
            auth.order_token(
                _s(v["timeStamp"]), imid, str(row["reference_no"]), str(row["amt_text"]), key
            ),
            "payment",
        )
        txn = Txn(row, now)
        _require_payable(txn)
        masked = exp = None
        if txn.pay_method == CC:
            masked, exp = _check_card(v)
        session_id = random_string(40)
        rows.insert_session(
            conn,
            {
                "session_id": session_id,
                "t_xid": txn.t_xid,
                "call_back_url": v["callBackUrl"],
                "card_no_masked": masked,
                "card_exp_yymm": exp,
                "card_holder_nm": v["cardHolderNm"],
                "state": "pending",
                "created_at_us": now,
                "finished_at_us": None,
            },
        )
        events.append(
            conn, OBJECT, txn.t_xid, "payment_page", now, {"cardNo": masked, "cardExpYymm": exp}
        )
        session = rows.get_session(conn, session_id)
        assert session is not None
        return txn, session

    async def get_session(self, session_id: str) -> tuple[Txn, Row]:
        return await self.db.read(self._get_session_tx, session_id)

    def _get_session_tx(self, conn: Conn, session_id: str) -> tuple[Txn, Row]:
        now = clock_rows.now_us(conn)
        session = rows.get_session(conn, session_id)
        if session is None:
            raise NicepayError("card_txid", "unknown payment session")
        return Txn(_get(conn, str(session["t_xid"])), now), session

    async def finish_payment(self, session_id: str, approve: bool) -> PaymentResult:
        result = await self.db.write(self._finish_payment_tx, session_id, approve)
        self.on_commit()
        return result

    def _finish_payment_tx(self, conn: Conn, session_id: str, approve: bool) -> PaymentResult:
        now = clock_rows.now_us(conn)
        session = rows.get_session(conn, session_id)
        if session is None:
            raise NicepayError("card_txid", "unknown payment session")
        txn = Txn(_get(conn, str(session["t_xid"])), now)
        if session["state"] != "pending":
            _require_payable(txn)
            raise NicepayError("tx_exists", "this payment page was already used")
        if now - int(session["created_at_us"]) > SESSION_TTL_US:
            raise NicepayError("tx_expired")
        _require_payable(txn)
        pm = txn.pay_method
        if approve:
            values: dict[str, Any] = {
                "status": PAID,
                "updated_at_us": now,
                "paid_at_us": now,
                "paid_amt": int(txn["amt"]),
                "match_cl": "1",
                "card_no_masked": session["card_no_masked"],
                "card_exp_yymm": session["card_exp_yymm"],
            }
            if pm == CC:
                values["auth_no"] = random_digits(6)
            else:
                values["receipt_code"] = random_string(14, UPPER_HEX)
                if not txn["m_ref_no"]:
                    values["m_ref_no"] = random_digits(13)
            kind = "paid"
        else:
            values = {
                "status": FAILED,
                "updated_at_us": now,
                "card_no_masked": session["card_no_masked"],
                "card_exp_yymm": session["card_exp_yymm"],
            }
            kind = "failed"
        dst = str(values["status"])
        if not rows.transition(
            conn, txn.t_xid, from_states=sources(dst, among=(INIT,)), values=values
        ):
            raise NicepayError("tx_exists", "the transaction changed meanwhile")
        rows.finish_session(conn, session_id, "approved" if approve else "declined", now)
        after = Txn(_get(conn, txn.t_xid), now)
        events.append(
            conn,
            OBJECT,
            txn.t_xid,
            kind,
            now,
            {
                "via": "3ds-page" if pm == CC else "approval-page",
                "authNo": after["auth_no"],
                "cardNo": after["card_no_masked"],
            },
        )
        if approve:
            self._notify(conn, after, now)
            return PaymentResult(after, str(session["call_back_url"]), "0000", "SUCCESS")
        fail = NicepayError(FAIL_CODES[pm])
        return PaymentResult(
            after, str(session["call_back_url"]), fail.code.result_cd, fail.code.message
        )

    # ------------------------------------------------------------ control (customer)

    async def pay(self, t_xid: str, amount: int | None) -> Txn:
        txn = await self.db.write(self._pay_tx, t_xid, amount)
        self.on_commit()
        return txn

    def _pay_tx(self, conn: Conn, t_xid: str, amount: int | None) -> Txn:
        now = clock_rows.now_us(conn)
        txn = Txn(_any(conn, t_xid), now)
        if txn.pay_method == CC:
            raise Conflict(
                "credit-card transactions are paid through the 3-D Secure page "
                "(POST /nicepay/direct/v2/payment)",
                txn.status,
            )
        if txn.status not in (INIT, UNPAID):
            raise Conflict(f"the transaction is {STATUS_WORD[txn.status]}", txn.status)
        amt = int(txn["amt"])
        paid = amount if amount is not None else amt
        match_cl = "1" if paid == amt else "2" if paid > amt else "3"
        values: dict[str, Any] = {
            "status": PAID,
            "updated_at_us": now,
            "paid_at_us": now,
            "paid_amt": paid,
            "match_cl": match_cl,
        }
        if txn.pay_method != VA:
            values["receipt_code"] = random_string(14, UPPER_HEX)
        changed = rows.transition(
            conn, t_xid, from_states=sources(PAID), values=values, unexpired_at_us=now
        )
        if not changed:  # another request won inside the database: answer with its result
            winner = Txn(_get(conn, t_xid), now)
            raise Conflict(f"the transaction is {STATUS_WORD[winner.status]}", winner.status)
        rows.release_numbers(conn, t_xid)
        after = Txn(_get(conn, t_xid), now)
        events.append(
            conn,
            OBJECT,
            t_xid,
            "paid",
            now,
            {"via": "control-api", "paidAmount": paid, "matchCl": match_cl},
        )
        self._notify(conn, after, now)
        return after

    async def expire(self, t_xid: str) -> Txn:
        return await self.db.write(self._expire_tx, t_xid)

    def _expire_tx(self, conn: Conn, t_xid: str) -> Txn:
        now = clock_rows.now_us(conn)
        txn = Txn(_any(conn, t_xid), now)
        if txn.pay_method not in (VA, CVS):
            raise Conflict("only VA (02) and CVS (03) numbers expire", txn.status)
        if txn.needs_expiry_recorded:
            _record_expiry(conn, txn)
            return Txn(_get(conn, t_xid), now)
        if txn.status != UNPAID:
            raise Conflict(f"the transaction is {STATUS_WORD[txn.status]}", txn.status)
        changed = rows.transition(
            conn,
            t_xid,
            from_states=sources(EXPIRED),
            values={
                "status": EXPIRED,
                "updated_at_us": now,
                "valid_until_us": min(now, int(txn["valid_until_us"])),
            },
        )
        after = Txn(_get(conn, t_xid), now)
        if not changed:  # another request won inside the database: its state stands
            raise Conflict(f"the transaction is {STATUS_WORD[after.status]}", after.status)
        rows.release_numbers(conn, t_xid)
        events.append(conn, OBJECT, t_xid, "expired", now, {"forced": True})
        return after

    async def get(self, t_xid: str) -> tuple[Txn, list[Event], list[Row]]:
        return await self.db.read(self._get_tx, t_xid)

    def _get_tx(self, conn: Conn, t_xid: str) -> tuple[Txn, list[Event], list[Row]]:
        now = clock_rows.now_us(conn)
        txn = Txn(_any(conn, t_xid), now)
        return txn, events.history(conn, OBJECT, t_xid), rows.cancels_of(conn, t_xid)

    # ------------------------------------------------------------ notification

    def _notify(self, conn: Conn, txn: Txn, now: int) -> None:
        key = _merchant_key(conn, str(txn["imid"]))
        msg = callbacks.notification(txn, key)
        ids = self.outbox.enqueue(conn, msg, now)
        events.append(conn, OBJECT, txn.t_xid, "notification_queued", now, {"deliveries": ids})


# ---------------------------------------------------------------- helpers


def _s(value: str | None) -> str:
    """A field that ``rules`` has already made mandatory."""
    assert value is not None
    return value


def _registration_checks(v: dict[str, str | None]) -> dict[str, Any]:
    """The registration rules that need no database; returns the parsed values."""
    pm = _s(v["payMethod"])
    if pm not in rules.PAY_METHODS:
        raise NicepayError("paymethod", "payMethod must be one of 01–06")
    if _s(v["currency"]).upper() != "IDR":
        raise NicepayError("currency", "currency must be IDR")
    out: dict[str, Any] = {
        "amt": rules.parse_amt(_s(v["amt"]), "amt_invalid"),
        "db_process_url": _callback_url(_s(v["dbProcessUrl"]), "db_process_url", "dbProcessUrl"),
        "cart": rules.parse_cart(v["cartData"]),
    }
    if pm in (CC, EWALLET, PAYLOAN) and not (v["userIP"] or v["userIp"]):
        raise NicepayError("user_ip", "userIP is mandatory for payMethod 01, 05 and 06")
    if pm == VA:
        bank = (v["bankCd"] or "").upper()
        if bank not in rules.BANKS:
            raise NicepayError("bank_cd", "bankCd must be one of " + ", ".join(rules.BANKS))
        fix = v["merFixAcctId"]
        if fix is not None and not (fix.isascii() and fix.isdigit() and len(fix) <= 16):
            raise NicepayError("reg_data", "merFixAcctId must be at most 16 digits")
        out["bank_cd"] = bank
    if pm in rules.MITRA:
        mitra = (v["mitraCd"] or "").upper()
        if mitra not in rules.MITRA[pm]:
            raise NicepayError(
                "mitra_cd",
                f"mitraCd for payMethod {pm} must be one of " + ", ".join(rules.MITRA[pm]),
            )
        out["mitra_cd"] = mitra
    if pm in (CC, PAYLOAN):
        itype, imon = v["instmntType"] or "1", v["instmntMon"] or "1"
        if itype.lstrip("0") not in ("1", "2"):
            raise NicepayError("instmnt_type", "instmntType must be 1 or 2")
        if not 1 <= int(imon) <= 36:
            raise NicepayError("instmnt_mon", "instmntMon must be 1–36")
        out["instmnt_type"], out["instmnt_mon"] = itype.lstrip("0"), str(int(imon))
    if v["recurrOpt"] is not None and v["recurrOpt"].lstrip("0") not in ("", "1", "2"):
        raise NicepayError("reg_data", "recurrOpt must be 0, 1 or 2")
    return out


def _merchant_key(conn: Conn, imid: str) -> str:
    merchant = rows.get_merchant(conn, imid)
    if merchant is None:
        raise NicepayError("mid_invalid", "unknown iMid")
    return str(merchant["merchant_key"])


def _get(conn: Conn, t_xid: str) -> Row:
    row = rows.get_transaction(conn, t_xid)
    assert row is not None
    return row


def _any(conn: Conn, t_xid: str) -> Row:
    row = rows.get_transaction(conn, t_xid)
    if row is None:
        raise NotFound(f"no NICEPay transaction {t_xid}")
    return row


def _insert_with_new_txid(conn: Conn, imid: str, pm: str, now: int, row: dict[str, Any]) -> str:
    """tXid = iMid + payMethod + yyyyMMddHHmmss (WIB) + 4 random digits; drawn again on a
    clash (``INSERT … ON CONFLICT DO NOTHING`` settles races between processes)."""
    stamp = rules.wib_stamp(now)
    for _ in range(60):
        t_xid = f"{imid}{pm}{stamp}{random_digits(4)}"
        if rows.insert_transaction(conn, {"t_xid": t_xid, **row}):
            return t_xid
    raise NicepayError("txid_generation")


def _insert_cancel(conn: Conn, imid: str, pm: str, now: int, row: dict[str, Any]) -> str:
    stamp = rules.wib_stamp(now)
    for _ in range(60):
        cancel_txid = f"{imid}{pm}{stamp}{random_digits(4)}"
        if rows.insert_cancel(conn, {"cancel_txid": cancel_txid, **row}):
            return cancel_txid
    raise NicepayError("txid_generation")


def _callback_url(value: str, code: str, name: str) -> str:
    """A merchant URL the sender / browser can use (the shared check), else ``code``."""
    value = value.strip()
    if any(c.isspace() for c in value):
        raise NicepayError(code, f"{name} must be an http(s) URL without spaces")
    try:
        return check_callback_url(value, field=name, max_length=255)
    except BadUrl as exc:
        raise NicepayError(code, str(exc)) from None


def _claim(conn: Conn, scope: str, number: str, now: int) -> bool:
    """Claim an open VA / CVS number. A claim left by a transaction that is no longer open (its
    validity passed on the sandbox clock and nobody recorded it yet) is released first; a claim
    of an open transaction, or one taken by a racing registration, is not."""
    if rows.claim_number(conn, scope, number):
        return True
    holder = rows.number_holder(conn, scope, number)
    if holder is None:
        return False
    row = rows.get_transaction(conn, holder)
    if row is not None:
        txn = Txn(row, now)
        if txn.status == UNPAID:
            return False
        _record_expiry(conn, txn)
    rows.release_numbers(conn, holder)
    return rows.claim_number(conn, scope, number)


def _issue_vacct(conn: Conn, scope: str, bank: str, fixed: str | None, now: int) -> str:
    prefix = rules.BANKS[bank][1]
    if fixed:
        number = prefix + fixed
        if not _claim(conn, scope, number, now):
            raise NicepayError("vacct_duplicate", "an open VA of this bank has this merFixAcctId")
        return number
    for _ in range(20):
        number = prefix + random_digits(12)
        if _claim(conn, scope, number, now):
            return number
    raise NicepayError("txid_generation")


def _issue_pay_no(conn: Conn, scope: str, now: int) -> str:
    for _ in range(20):
        number = random_digits(12)
        if _claim(conn, scope, number, now):
            return number
    raise NicepayError("txid_generation")


def _record_expiry(conn: Conn, txn: Txn) -> None:
    if not txn.needs_expiry_recorded:
        return
    if rows.transition(
        conn,
        txn.t_xid,
        from_states=sources(EXPIRED),
        values={"status": EXPIRED, "updated_at_us": txn.now_us},
    ):
        rows.release_numbers(conn, txn.t_xid)
        events.append(
            conn,
            OBJECT,
            txn.t_xid,
            "expired",
            txn.now_us,
            {"validUntil": rules.wib_stamp(int(txn["valid_until_us"]))},
        )


def _require_payable(txn: Txn) -> None:
    """The payment page serves 01 / 04 / 05 / 06 transactions that still wait for payment."""
    if txn.pay_method in (VA, CVS):
        raise NicepayError("not_allowed", "VA and CVS transactions are paid at the bank / store")
    status = txn.status
    if status == PAID:
        raise NicepayError("already_approved")
    if status in (FAILED, CANCELED):
        raise NicepayError("tx_exists", f"the transaction is {STATUS_WORD[status]}")
    if status == EXPIRED:
        raise NicepayError("tx_expired")


def _check_card(v: dict[str, str | None]) -> tuple[str, str]:
    """Card fields of a credit-card payment; returns (masked number, expiry). The full number
    and the CVV go no further than this function."""
    card_no, exp, cvv = v["cardNo"], v["cardExpYymm"], v["cardCvv"]
    if card_no is None:
        raise NicepayError("card_param", "cardNo is mandatory")
    if not 12 <= len(card_no) <= 19:
        raise NicepayError("card_param", "cardNo must be 12–19 digits")
    if exp is None:
        raise NicepayError("card_exp", "cardExpYymm is mandatory")
    rules.check_card_exp(exp)
    if cvv is None or not 3 <= len(cvv) <= 4:
        raise NicepayError("card_param", "cardCvv must be 3 or 4 digits")
    return rules.mask_card(card_no), exp
