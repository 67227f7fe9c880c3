"""NICEPay field rules: type classes, sizes, mandatory fields, code lists, dates, masks.

Type classes as paysandbox applies them (docs/nicepay.md explains why; NICEPay's own examples
break a literal reading — ``"billingPhone":"021-579-00000"`` is "N", ``"deliveryNm":
"email@merchant.com"`` is "A", ``cartData`` JSON is "AN"):

* ``N`` — ASCII digits only. Phone numbers (``billingPhone``, ``deliveryPhone``) also allow
  ``+ - ( ) .`` and spaces.
* ``A`` — codes (``bankCd``, ``mitraCd``, ``currency``): ASCII letters only; names and places:
  letters, spaces and ``. , ' - @ ( ) / &`` (no digits).
* ``AN`` — identifiers (``iMid``, ``tXid``, ``merchantToken``): ASCII letters and digits; free
  text (names of goods, addresses, e-mail, URLs): any printable text.
* ``ANS`` — any printable text.

Sizes are maxima (``timeStamp``, ``payMethod`` and the date/time fields are exact). Empty strings
count as absent (the documents send ``""`` for every unused field). All NICEPay dates and times
are Western Indonesian Time (WIB, UTC+7).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

import msgspec

from ...core.clock import US, from_datetime, to_datetime
from ...web import BodyError, decode_json
from .errors import NicepayError

WIB = timezone(timedelta(hours=7), "WIB")

CC, VA, CVS, CLICKPAY, EWALLET, PAYLOAN = "01", "02", "03", "04", "05", "06"
PAY_METHODS = {
    CC: "Credit Card",
    VA: "Virtual Account",
    CVS: "Convenience Store",
    CLICKPAY: "ClickPay",
    EWALLET: "E-Wallet",
    PAYLOAN: "Payloan",
}
#: Bank codes of NICEPay's "Bank Code" table; ``prefix`` starts every vacctNo of that bank.
BANKS: dict[str, tuple[str, str]] = {
    "BMRI": ("Bank Mandiri", "7001"),
    "IBBK": ("Bank International Indonesia Maybank", "7812"),
    "BBBA": ("Bank Permata", "8625"),
    "CENA": ("Bank Central Asia", "3901"),
    "BNIN": ("Bank Negara Indonesia 46", "8848"),
    "HNBN": ("Bank KEB Hana Indonesia", "9722"),
    "BRIN": ("Bank Rakyat Indonesia", "8877"),
    "BNIA": ("Bank CIMB Niaga", "5919"),
    "BDIN": ("Bank Danamon Indonesia", "7915"),
    "OTHR": ("ATM Bersama / Alto / Link / Prima", "9999"),
}
#: Mitra codes allowed per payMethod (NICEPay "Mitra Code" table; LINK/DANA/ESHP from newer
#: e-wallet documents).
MITRA: dict[str, dict[str, str]] = {
    CVS: {"ALMA": "Alfamart", "INDO": "Indomaret"},
    CLICKPAY: {"MDRC": "ClickPay Mandiri", "BCAC": "ClickPay BCA", "CIMC": "ClickPay CIMB"},
    EWALLET: {
        "MDRE": "E-Wallet Mandiri",
        "BCAE": "Sakuku (BCA)",
        "OVOE": "OVO",
        "LINK": "LinkAja",
        "DANA": "DANA",
        "ESHP": "ShopeePay",
    },
    PAYLOAN: {"AKLP": "Akulaku", "KDVI": "Kredivo"},
}
ISSUER = ("BMRI", "PT Bank Mandiri (Persero)")

#: v2 Redirect (Checkout API): ``payMethod`` 00 lets the customer choose on NICEPay's page.
ALL = "00"

#: paysandbox's own test cards (NICEPay's sandbox has none): the outcome without the 3-D Secure
#: page, in the one payment request. Any other card number shows the page as before.
MAGIC_CARDS: dict[str, str] = {
    "4000000000000077": "frictionless",  # paid at once, no challenge
    "4000000000000101": "threeds_failed",  # the issuer's 3-D Secure fails (9117)
    "4000000000000002": "declined",  # authenticated, then declined by the issuer
}  # issuing/acquiring bank reported for cards

# Always ``fullmatch``: ``$`` would also match before a trailing newline ("1000\n").
_DIGITS = re.compile(r"[0-9]+")
_PHONE = re.compile(r"[0-9+\-(). ]+")
_LETTERS = re.compile(r"[A-Za-z]+")
_NAME = re.compile(r"(?:[^\W\d_]|[ .,'’\-@()/&])+")
_ID = re.compile(r"[A-Za-z0-9]+")


@dataclass(frozen=True)
class Field:
    name: str
    cls: str  # N, PHONE, ACODE, A, ID, AN, ANS, JSON
    size: int
    required: bool = False
    missing: str | None = None  # CODES name when absent (default: the operation's code)
    invalid: str | None = None  # CODES name when malformed (default: the operation's code)
    exact: bool = False
    length: str | None = None  # CODES name when the length is wrong (default: ``invalid``)
    #: a JSON number is zero-padded to ``size`` (``"payMethod": 2`` is ``"02"``); only for N
    #: codes and times that are in no merchantToken formula
    pad: bool = False


def digits(value: str) -> bool:
    """NICEPay's ``N`` class: ASCII digits only (``str.isdigit`` also takes "²" and "٣")."""
    return bool(_DIGITS.fullmatch(value))


def _check_class(cls: str, value: str) -> bool:
    if cls == "N":
        return digits(value)
    if cls == "PHONE":
        return bool(_PHONE.fullmatch(value))
    if cls == "ACODE":
        return bool(_LETTERS.fullmatch(value))
    if cls == "A":
        return bool(_NAME.fullmatch(value))
    if cls == "ID":
        return bool(_ID.fullmatch(value))
    if cls == "JSON":
        return True
    return value.isprintable()


_CLASS_WORDS = {
    "N": "digits only",
    "PHONE": "a phone number (digits, + - ( ) . and spaces)",
    "ACODE": "letters only",
    "A": "letters, spaces and . , ' - @ ( ) / &",
    "ID": "letters and digits only",
    "AN": "printable text",
    "ANS": "printable text",
    "JSON": "JSON",
}


def to_text(value: Any, name: str, invalid: str) -> str | None:
    """A decoded scalar as the text the client meant: numbers as their digits."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        raise NicepayError(invalid, f"{name} must be text or a number")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        # a JSON number with a fraction or an exponent (10000.0, 1e4) as the text it is, never
        # digits only: NICEPay's N fields take digits and nothing else ("Amount should only
        # number and do not includes decimal", 9008 for amt); 10000.0 was read as 10000
        return repr(value)
    if isinstance(value, dict | list):  # only JSON fields (cartData, sellers) reach here
        try:
            return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        except RecursionError:
            raise NicepayError(invalid, f"{name} is nested too deeply") from None
    raise NicepayError(invalid, f"{name} has an unsupported type")


def check_fields(spec: list[Field], struct: Any, default: str) -> dict[str, str | None]:
    """Apply ``spec`` in order; the first problem raises its documented code."""
    out: dict[str, str | None] = {}
    for f in spec:
        invalid = f.invalid or default
        raw = getattr(struct, f.name)
        value = to_text(raw, f.name, invalid)
        if f.pad and value is not None and isinstance(raw, int | float) and value.isdigit():
            value = value.zfill(f.size)
        if value is None or value == "":
            if f.required:
                raise NicepayError(f.missing or default, f"{f.name} is mandatory")
            out[f.name] = None
            continue
        if (f.exact and len(value) != f.size) or len(value) > f.size:
            what = f"exactly {f.size}" if f.exact else f"at most {f.size}"
            raise NicepayError(f.length or invalid, f"{f.name} must be {what} characters")
        if not _check_class(f.cls, value):
            raise NicepayError(invalid, f"{f.name} must be {_CLASS_WORDS[f.cls]}")
        out[f.name] = value
    return out


def F(name: str, cls: str, size: int, *, req: bool = False, **kw: Any) -> Field:
    return Field(name, cls, size, req, **kw)


_TS = F("timeStamp", "N", 14, req=True, missing="timestamp", invalid="timestamp", exact=True)
_IMID = F("iMid", "ID", 10, req=True, missing="mid_invalid", invalid="mid_invalid")
_TOKEN = F("merchantToken", "ID", 255, req=True, missing="token_invalid", invalid="token_invalid")
_IP = 45  # AN 15 in the documents; IPv6 addresses need 45 (their own example is "0:0:0:0:0:0:0:1")

REGISTRATION: list[Field] = [
    _TS,
    _IMID,
    F(
        "payMethod",
        "N",
        2,
        req=True,
        missing="paymethod",
        invalid="paymethod",
        exact=True,
        pad=True,
    ),
    F("currency", "ACODE", 3, req=True, missing="currency", invalid="currency"),
    F("amt", "N", 12, req=True, missing="amt_missing", invalid="amt_invalid"),
    F("referenceNo", "ANS", 40, req=True, missing="reference_no", invalid="reference_no"),
    F("goodsNm", "AN", 100, req=True, missing="goods_nm"),
    F("billingNm", "A", 100, req=True, missing="billing_nm"),
    F("billingPhone", "PHONE", 15, req=True, missing="billing_phone"),
    F("billingEmail", "AN", 40, req=True, missing="billing_email"),
    F("billingAddr", "AN", 100),
    F("billingCity", "A", 50, req=True, missing="billing_city"),
    F("billingState", "A", 50, req=True, missing="billing_state"),
    F("billingPostCd", "N", 10, req=True, missing="billing_post_cd"),
    F("billingCountry", "A", 10, req=True, missing="billing_country"),
    F("dbProcessUrl", "AN", 255, req=True, missing="db_process_url", invalid="db_process_url"),
    _TOKEN,
    F("deliveryNm", "A", 30),
    F("deliveryPhone", "PHONE", 15),
    F("deliveryAddr", "AN", 100),
    F("deliveryCity", "A", 50),
    F("deliveryState", "A", 50),
    F("deliveryPostCd", "N", 10),
    F("deliveryCountry", "A", 10),
    F("cartData", "JSON", 4000, invalid="cart_data"),
    F("sellers", "JSON", 4000),
    F("vat", "N", 12),
    F("fee", "N", 12),
    F("notaxAmt", "N", 12),
    F("description", "AN", 100),
    F("reqDt", "N", 8, exact=True),
    F("reqTm", "N", 6, exact=True, pad=True),
    F("reqDomain", "AN", 100),
    F("reqServerIP", "AN", _IP),
    F("reqClientVer", "AN", 50),
    F("userIP", "AN", _IP),
    F("userIp", "AN", _IP),
    F("callBackUrl", "ANS", 255, invalid="callback_url_invalid"),
    F("userSessionID", "AN", 100),
    F("userAgent", "AN", 512),  # AN 100 documented; the documents' own example has 113
    F("userLanguage", "AN", 100),  # A 2 documented; the example is "ko-KR,en-US;q=0.8,…"
    F("instmntType", "N", 2, invalid="instmnt_type"),
    F("instmntMon", "N", 2, invalid="instmnt_mon"),
    F("recurrOpt", "N", 2),
    F("bankCd", "ACODE", 4, invalid="bank_cd"),
    F("vacctValidDt", "N", 8, exact=True, invalid="va_expiry", length="va_expiry_length"),
    F(
        "vacctValidTm",
        "N",
        6,
        exact=True,
        invalid="va_expiry",
        length="va_expiry_length",
        pad=True,
    ),
    F("merFixAcctId", "AN", 40),
    F("mitraCd", "ACODE", 4, invalid="mitra_cd"),
    F("payValidDt", "N", 8, exact=True, invalid="cvs_expiry", length="cvs_expiry_length"),
    F(
        "payValidTm",
        "N",
        6,
        exact=True,
        invalid="cvs_expiry",
        length="cvs_expiry_length",
        pad=True,
    ),
    F("mRefNo", "AN", 18),
]

INQUIRY: list[Field] = [
    _TS,
    F("tXid", "ID", 30, req=True, missing="inquiry_txid", invalid="inquiry_txid"),
    _IMID,
    F("referenceNo", "ANS", 40, req=True, missing="reference_no"),
    F("amt", "N", 12, req=True, missing="amt_missing", invalid="amt_invalid"),
    _TOKEN,
]


def cancel_fields(partial: bool) -> list[Field]:
    txid, mid = ("partial_txid", "partial_mid") if partial else ("full_txid", "full_mid")
    return [
        _TS,
        F("tXid", "ID", 30, req=True, missing=txid, invalid=txid),
        F("iMid", "ID", 10, req=True, missing=mid, invalid=mid),
        F("payMethod", "N", 2, req=True, exact=True, pad=True),
        F("cancelType", "N", 2, req=True, missing="cancel_type", invalid="cancel_type"),
        F("cancelMsg", "AN", 255),
        _TOKEN,
        F("preauthToken", "AN", 100),
        F("amt", "N", 12, req=True, missing="cancel_amt", invalid="cancel_amt"),
        F("fee", "N", 12),
        F("vat", "N", 12),
        F("notaxAmt", "N", 12),
        F("cancelServerIp", "AN", _IP),
        F("cancelUserId", "AN", 30),
        F("cancelUserIp", "AN", _IP),
        F("cancelUserInfo", "AN", 100),
        F("cancelRetryCnt", "N", 2),
        F("worker", "AN", 10),
    ]


PAYMENT: list[Field] = [
    _TS,
    F("tXid", "ID", 30, req=True, missing="card_txid", invalid="card_txid"),
    _TOKEN,
    F("callBackUrl", "ANS", 255, req=True, missing="callback_url", invalid="callback_url_invalid"),
    F("cardNo", "N", 20, invalid="card_param"),
    F("cardExpYymm", "N", 4, exact=True, invalid="card_exp"),
    F("cardCvv", "N", 4, invalid="card_param"),
    F("cardHolderNm", "A", 50),
    F("cardHolderEmail", "AN", 40),
    F("recurringToken", "AN", 64),
    F("preauthToken", "AN", 64),
    F("clickPayNo", "N", 16),
    F("dataField3", "N", 16),
    F("clickPayToken", "N", 6),
]


# ------------------------------------------------------------------ values


def parse_amt(value: str, zero_code: str, name: str = "amt") -> int:
    """A whole IDR amount (already checked to be at most 12 digits); zero is refused."""
    n = int(value)
    if n <= 0:
        raise NicepayError(zero_code, f"{name} must be greater than zero")
    return n


_ANY_JSON: msgspec.json.Decoder[Any] = msgspec.json.Decoder()
_SMART_QUOTES = str.maketrans({"“": '"', "”": '"', "„": '"', "‘": "'", "’": "'"})


def parse_cart(value: str | None) -> str:
    """cartData as stored: JSON text. Typographic quotes (as in NICEPay's own examples) are
    read as plain quotes; a sum different from ``amt`` is accepted (the examples differ too)."""
    if value is None:
        return "{}"
    for text in (value, value.translate(_SMART_QUOTES)):
        try:
            decode_json(_ANY_JSON, text.encode("utf-8"))
        except (BodyError, msgspec.ValidationError):  # the latter: a number past float's range
            continue
        return value
    raise NicepayError("cart_data", "cartData must be a JSON object (as text or as JSON)")


# ------------------------------------------------------------------ time (WIB)


def wib(us: int) -> datetime:
    return to_datetime(us, WIB)


def wib_date(us: int | None) -> str | None:
    return None if us is None else wib(us).strftime("%Y%m%d")


def wib_time(us: int | None) -> str | None:
    return None if us is None else wib(us).strftime("%H%M%S")


def wib_stamp(us: int) -> str:
    return wib(us).strftime("%Y%m%d%H%M%S")


def parse_validity(
    dt: str | None, tm: str | None, now_us: int, default_seconds: int, invalid: str
) -> int:
    """Absolute end of validity from YYYYMMDD + HH24MISS (WIB). Neither given → now + default;
    only the time → today; only the date → 23:59:59 that day. The stated second is the last
    valid one, whole: a VA valid until 23:59:59 can still be paid at 23:59:59.9 and is expired
    from 00:00:00 (the stored end is that second's last microsecond; answers show the second).
    A moment in the past is kept (the documents' own examples carry 2018 dates): the number is
    then expired at once."""
    if dt is None and tm is None:
        return now_us + default_seconds * US
    date = dt or wib(now_us).strftime("%Y%m%d")
    try:
        naive = datetime.strptime(date + (tm or "235959"), "%Y%m%d%H%M%S")
    except ValueError:
        raise NicepayError(invalid, "validity date/time is not a real YYYYMMDD HH24MISS") from None
    return from_datetime(naive.replace(tzinfo=WIB)) + US - 1


# ------------------------------------------------------------------ cards


def mask_card(card_no: str) -> str:
    """NICEPay's masked form: first 6 and last 4 digits (``422222******2222``)."""
    if len(card_no) <= 10:
        return "*" * (len(card_no) - 4) + card_no[-4:]
    return card_no[:6] + "*" * (len(card_no) - 10) + card_no[-4:]


def check_holder_name(value: str) -> str:
    """``cardHolderNm`` as the Direct payment's field rule takes it (class ``A``, at most 50
    characters); the Redirect page's form sends it unchecked."""
    if len(value) > 50 or not _check_class("A", value):
        raise NicepayError("payment_params", f"cardHolderNm must be at most 50 {_CLASS_WORDS['A']}")
    return value


def check_card_exp(value: str) -> str:
    """``YYMM``: four ASCII digits, month 01–12 (the redirect page's form sends it unchecked)."""
    if not (len(value) == 4 and digits(value)):
        raise NicepayError("card_exp", "cardExpYymm must be YYMM")
    if not 1 <= int(value[2:]) <= 12:
        raise NicepayError("card_exp", "cardExpYymm month must be 01–12")
    return value


# ------------------------------------------------------------------ payment parameters

_PAYMENT_NAMES = {f.name for f in PAYMENT} | {"referenceNo", "amt", "iMid", "returnJsonFormat"}


def parse_payment_params(raw: str) -> dict[str, str]:
    """Form or query text as real clients send it.

    Tolerates an un-encoded ``callBackUrl`` (one merchant library appends it raw and last, so
    its own ``?a=1&b=2`` must stay part of it) and NICEPay's e-wallet example, which glues the
    other parameters onto callBackUrl with a ``?``.
    """
    params: dict[str, str] = {}
    for k, v in parse_qsl(raw, keep_blank_values=True):
        params.setdefault(k, v)
    marker = raw.rfind("callBackUrl=")
    if marker >= 0 and (marker == 0 or raw[marker - 1] == "&"):
        rest = raw[marker + len("callBackUrl=") :]
        tail_keys = {k for k, _ in parse_qsl(rest, keep_blank_values=True)[1:]}
        if "&" in rest and not (tail_keys & (_PAYMENT_NAMES - {"callBackUrl"})):
            params["callBackUrl"] = unquote_plus(rest)
    cb = params.get("callBackUrl", "")
    if "?" in cb and "tXid" not in params:
        base, _, query = cb.partition("?")
        inner = dict(parse_qsl(query, keep_blank_values=True))
        if "tXid" in inner:
            for k, v in inner.items():
                if k in _PAYMENT_NAMES:
                    params.setdefault(k, v)
            params["callBackUrl"] = base
    return params
