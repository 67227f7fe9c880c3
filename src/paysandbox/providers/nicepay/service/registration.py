"""Registration: the field checks that need no database, then one transaction that verifies
the merchantToken, draws the tXid, issues the VA / CVS number (claiming it against open
transactions, in the tXid's name) and inserts the transaction with its ``registered`` event."""

from __future__ import annotations

import json
from typing import Any

from ....core.ids import random_digits
from ....store import events
from ....store.db import Conn, Row
from .. import auth, rules
from .. import store as rows
from ..errors import NicepayError
from ..model import INIT, UNPAID, Txn
from ..rules import CC, CVS, EWALLET, PAYLOAN, VA
from ..schemas import Registration
from ._common import OBJECT, callback_url, given, key_and_now, record_expiry


def check(
    req: Registration, *, redirect: bool = False
) -> tuple[dict[str, str | None], dict[str, Any]]:
    """The field values and the parsed values the transaction needs. ``redirect``: the v2
    Redirect (Checkout) registration — payMethod 00 allowed, callBackUrl mandatory, userIP
    optional, and a bank / mitra code may be left for the customer to choose on the page."""
    values = rules.check_fields(rules.REGISTRATION, req, "reg_data")
    return values, _registration_checks(values, redirect)


def register_tx(
    conn: Conn, v: dict[str, str | None], extra: dict[str, Any], default_validity_seconds: int
) -> Txn:
    imid, pm = given(v["iMid"]), given(v["payMethod"])
    key, now = key_and_now(conn, imid)
    auth.verify(
        v["merchantToken"],
        auth.order_token(
            given(v["timeStamp"]), imid, given(v["referenceNo"]), given(v["amt"]), key
        ),
        "registration",
    )
    chosen_later = bool(extra.get("choose_on_page"))
    # drawn first, so a number is claimed in its name: no second statement to name the holder
    # unless this tXid turns out to be taken (``_insert_with_new_txid`` draws another)
    t_xid = _draw_txid(imid, pm, now)
    row: dict[str, Any] = {
        "imid": imid,
        "pay_method": pm,
        "status": UNPAID if pm in (VA, CVS) and not chosen_later else INIT,
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
    if chosen_later:
        pass  # payMethod 00, or no bankCd / mitraCd yet: the customer chooses on the page
    elif pm == VA:
        row["valid_until_us"] = rules.parse_validity(
            v["vacctValidDt"],
            v["vacctValidTm"],
            now,
            default_validity_seconds,
            "va_expiry",
        )
        row["bank_cd"] = extra["bank_cd"]
        scope = "va:" + extra["bank_cd"]
        row["vacct_no"] = _issue_vacct(conn, scope, extra["bank_cd"], v["merFixAcctId"], now, t_xid)
        claimed = row["vacct_no"]
    elif pm == CVS:
        row["valid_until_us"] = rules.parse_validity(
            v["payValidDt"], v["payValidTm"], now, default_validity_seconds, "cvs_expiry"
        )
        scope = "cvs:" + extra["mitra_cd"]
        row["pay_no"] = claimed = _issue_pay_no(conn, scope, now, t_xid)
    stored = _insert_with_new_txid(conn, imid, pm, now, row, t_xid)
    if pm in (VA, CVS) and not chosen_later and stored["t_xid"] != t_xid:
        rows.attach_number(conn, scope, claimed, stored["t_xid"])
    t_xid = str(stored["t_xid"])
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
    return Txn(stored, now)


def _registration_checks(v: dict[str, str | None], redirect: bool = False) -> dict[str, Any]:
    """The registration rules that need no database; returns the parsed values."""
    pm = given(v["payMethod"])
    if pm not in rules.PAY_METHODS and not (redirect and pm == rules.ALL):
        allowed = "00 or one of 01–06" if redirect else "one of 01–06"
        raise NicepayError("paymethod", f"payMethod must be {allowed}")
    if given(v["currency"]).upper() != "IDR":
        raise NicepayError("currency", "currency must be IDR")
    out: dict[str, Any] = {
        "amt": rules.parse_amt(given(v["amt"]), "amt_invalid"),
        "db_process_url": callback_url(given(v["dbProcessUrl"]), "db_process_url", "dbProcessUrl"),
        "cart": rules.parse_cart(v["cartData"]),
    }
    if redirect:
        if not v["callBackUrl"]:
            raise NicepayError("callback_url", "callBackUrl is mandatory for the Redirect API")
        out["call_back_url"] = callback_url(v["callBackUrl"], "callback_url_invalid", "callBackUrl")
        pending = pm == rules.ALL or (pm == VA and not v["bankCd"])
        pending = pending or (pm in rules.MITRA and not v["mitraCd"])
        if pending:
            out["choose_on_page"] = True
            if pm != rules.ALL:
                out.update(_instalments(v, pm))
            return out
    elif pm in (CC, EWALLET, PAYLOAN) and not (v["userIP"] or v["userIp"]):
        # NICEPay's v2 documents mark userIP mandatory (docs/nicepay.md, "userIP")
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
    out.update(_instalments(v, pm))
    if v["recurrOpt"] is not None and v["recurrOpt"].lstrip("0") not in ("", "1", "2"):
        raise NicepayError("reg_data", "recurrOpt must be 0, 1 or 2")
    return out


def _instalments(v: dict[str, str | None], pm: str) -> dict[str, Any]:
    if pm not in (CC, PAYLOAN):
        return {}
    itype, imon = v["instmntType"] or "1", v["instmntMon"] or "1"
    if itype.lstrip("0") not in ("1", "2"):
        raise NicepayError("instmnt_type", "instmntType must be 1 or 2")
    if not 1 <= int(imon) <= 36:
        raise NicepayError("instmnt_mon", "instmntMon must be 1–36")
    return {"instmnt_type": itype.lstrip("0"), "instmnt_mon": str(int(imon))}


def _draw_txid(imid: str, pm: str, now: int) -> str:
    """tXid = iMid + payMethod + yyyyMMddHHmmss (WIB) + 4 random digits."""
    return f"{imid}{pm}{rules.wib_stamp(now)}{random_digits(4)}"


def _insert_with_new_txid(
    conn: Conn, imid: str, pm: str, now: int, row: dict[str, Any], t_xid: str
) -> Row:
    """The transaction as stored: under ``t_xid``, or a tXid drawn again while the one tried is
    taken (``INSERT … ON CONFLICT DO NOTHING`` settles races between processes)."""
    for _ in range(60):
        stored = rows.insert_transaction(conn, {"t_xid": t_xid, **row})
        if stored is not None:
            return stored
        t_xid = _draw_txid(imid, pm, now)
    raise NicepayError("txid_generation")


def _claim(conn: Conn, scope: str, number: str, now: int, t_xid: str | None) -> bool:
    """Claim an open VA / CVS number for ``t_xid`` (None: named later). A claim left by a
    transaction that is no longer open (its validity passed on the sandbox clock and nobody
    recorded it yet) is released first; a claim of an open transaction, or one taken by a
    racing registration, is not."""
    if rows.claim_number(conn, scope, number, t_xid):
        return True
    holder = rows.number_holder(conn, scope, number)
    if holder is None:
        return False
    row = rows.get_transaction(conn, holder)
    if row is not None:
        txn = Txn(row, now)
        if txn.status == UNPAID:
            return False
        record_expiry(conn, txn)
    rows.release_numbers(conn, holder)
    return rows.claim_number(conn, scope, number, t_xid)


def _issue_vacct(
    conn: Conn, scope: str, bank: str, fixed: str | None, now: int, t_xid: str | None = None
) -> str:
    prefix = rules.BANKS[bank][1]
    if fixed:
        number = prefix + fixed
        if not _claim(conn, scope, number, now, t_xid):
            raise NicepayError("vacct_duplicate", "an open VA of this bank has this merFixAcctId")
        return number
    for _ in range(20):
        number = prefix + random_digits(12)
        if _claim(conn, scope, number, now, t_xid):
            return number
    raise NicepayError("txid_generation")


def _issue_pay_no(conn: Conn, scope: str, now: int, t_xid: str | None = None) -> str:
    for _ in range(20):
        number = random_digits(12)
        if _claim(conn, scope, number, now, t_xid):
            return number
    raise NicepayError("txid_generation")
