"""Smart2Pay field rules: ONE table (``FIELDS``) with each field's type and regexp, and the walk
that checks a request against it.

The ``Customer``, ``BillingAddress``, ``Card``, ``CreditCardToken`` and ``Status`` rows are
seed 004's machine-readable ``CardAuthentication`` schema, regexps copied verbatim (a test
compares them with the seed). ``Payment`` and ``Refund`` rows come from Smart2Pay's payment and
refund request schemas; where those give no regexp, paysandbox adds a length limit (marked
"own" in docs/smart2pay.md). ``ShippingAddress`` uses the ``BillingAddress`` rows.

Checks: a regexp is matched against the *whole* value (``re.fullmatch``, ASCII ``\\d``), so a
trailing newline never slips through ``$``. Types: ``string`` accepts text, or a JSON integer
(taken as its decimal text); ``int`` accepts an integer or a digit string; ``bool`` accepts
true/false or "true"/"false"; ``date`` is text that must also be a real calendar date; ``null``
is the same as absent. Object keys match case-insensitively (Smart2Pay's server does);
unknown keys are ignored. Every violation is reported, each naming its field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from .errors import Reason, reason


@dataclass(frozen=True)
class Rule:
    type: str  # string | int | bool | date | datetime | object | array
    regexp: str = ""
    code: str = "2"
    max_length: int = 255  # own limit for all text (the database's column size)


#: Which rule group an object-valued field uses.
OBJECTS: dict[str, dict[str, str]] = {
    "CardAuthentication": {
        "Customer": "Customer",
        "BillingAddress": "BillingAddress",
        "Card": "Card",
        "CreditCardToken": "CreditCardToken",
        "Status": "Status",
    },
    "Payment": {
        "Customer": "Customer",
        "BillingAddress": "BillingAddress",
        "ShippingAddress": "BillingAddress",
        "Card": "Card",
        "CreditCardToken": "CreditCardToken",
    },
    "Refund": {},
}

_ADDR = r"^(.{1,255})?$"
_MTID = r"^[0-9a-zA-Z_-]{1,50}$"

#: THE schema table: "Group.Field" → type, regexp, return code.
FIELDS: dict[str, Rule] = {
    # --- seed 004: CardAuthentication.Customer
    "Customer.ID": Rule("int", r"^\d{1,12}$", "1608"),
    "Customer.MerchantCustomerID": Rule("string", r"^([0-9a-zA-Z_-]{1,50})?$", "1600"),
    "Customer.Email": Rule(
        "string", r"^[a-zA-Z0-9\._%+-]{1,100}@[a-zA-Z0-9\.-]{1,40}\.[a-zA-Z]{1,8}$", "1601"
    ),
    "Customer.FirstName": Rule("string", "", "1602"),
    "Customer.LastName": Rule("string", "", "1603"),
    "Customer.Gender": Rule("string", "", "1604"),
    "Customer.DateOfBirth": Rule(
        "date", r"^(((19|20)\d\d)(0[1-9]|1[012])(0[1-9]|[12][0-9]|3[01]))$", "112"
    ),
    "Customer.SocialSecurityNumber": Rule("string", "", "1605"),
    "Customer.Phone": Rule("string", "", "1606"),
    "Customer.Company": Rule("string", "", "1607"),
    "Customer.InputDateTime": Rule("datetime", "", "112", max_length=64),
    # --- seed 004: CardAuthentication.BillingAddress
    "BillingAddress.ID": Rule("int", r"^\d{1,12}$", "1410"),
    "BillingAddress.Country": Rule("string", r"^([A-Za-z]{2})?$", "1408"),
    "BillingAddress.City": Rule("string", _ADDR, "1401"),
    "BillingAddress.ZipCode": Rule("string", _ADDR, "1402"),
    "BillingAddress.State": Rule("string", _ADDR, "1403"),
    "BillingAddress.Street": Rule("string", _ADDR, "1404"),
    "BillingAddress.StreetNumber": Rule("string", _ADDR, "1405"),
    "BillingAddress.HouseNumber": Rule("string", _ADDR, "1406"),
    "BillingAddress.HouseExtension": Rule("string", _ADDR, "1407"),
    # --- seed 004: CardAuthentication.Card
    "Card.HolderName": Rule("string", r"^[^\d]*$", "1200"),
    "Card.Number": Rule("string", r"^(\d{16,19})$", "1201"),
    "Card.ExpirationMonth": Rule("string", r"^(0?[1-9]|1[0-2])$", "1202"),
    "Card.ExpirationYear": Rule("string", r"^(20|)([0-9]{2})$", "1203"),
    "Card.IssuingBankCountry": Rule("string", r"^[a-zA-Z]{2}$", "2"),
    "Card.SecurityCode": Rule("string", r"^([0-9]){3,4}$", "1204"),
    "Card.RequireSecurityCode": Rule("bool", "", "2"),
    "Card.Token": Rule("string", "", "2"),
    "Card.MaskedNumber": Rule("string", "", "2"),
    # --- seed 004: CardAuthentication.CreditCardToken
    "CreditCardToken.Value": Rule("string", "", "2400"),
    "CreditCardToken.RequireSecurityCode": Rule("bool", "", "2"),
    "CreditCardToken.SecurityCode": Rule("string", "", "1204"),
    # --- seed 004: CardAuthentication.Status (answer-only; checked for type when sent)
    "Status.ID": Rule("int", "", "2"),
    "Status.Info": Rule("string", "", "2"),
    "Status.Reasons": Rule("array", "", "2"),
    # --- Payment request (Smart2Pay payments schema; "own" limits where it has none)
    "Payment.MerchantTransactionID": Rule("string", _MTID, "1000"),
    "Payment.OriginatorTransactionID": Rule("string", _MTID, "1011"),
    "Payment.Amount": Rule("int", r"^\d{1,12}$", "1001"),
    "Payment.Currency": Rule("string", r"^[A-Z]{3}$", "1002"),
    # own: an absolute http(s) URL of at most 2048 characters (the browser is sent there and
    # the done page links to it: a javascript: or data: URL would run on the sandbox's origin)
    "Payment.ReturnURL": Rule(
        "string",
        r"^(?:[Hh][Tt][Tt][Pp][Ss]?://[^\s/?#][^\s]{0,2039})?$",
        "1003",
        max_length=2048,
    ),
    "Payment.Description": Rule("string", r"^(.{1,255})?$", "1004"),
    "Payment.StatementDescriptor": Rule("string", r"^(.{1,255})?$", "1005"),
    "Payment.ClientIP": Rule("string", r"^(\d{1,3}\.){3}\d{1,3}$", "2"),
    "Payment.SkinID": Rule("int", r"^\d{1,12}$", "114"),
    "Payment.Capture": Rule("bool", "", "2"),
    "Payment.GenerateCreditCardToken": Rule("bool", "", "2"),
    "Payment.Moto": Rule("bool", "", "2"),
    "Payment.Retry": Rule("bool", "", "2"),
    "Payment.3DSecure": Rule("bool", "", "2"),
    "Payment.Articles": Rule("array", "", "2"),
    # minutes; SDK-PHP's regexp. No return code of its own is documented: 2 (Validation failed)
    "Payment.PaymentTokenLifetime": Rule("int", r"^\d{1,12}$", "2"),
    # --- Refund request (Smart2Pay refund schema)
    "Refund.MerchantTransactionID": Rule("string", _MTID, "2200"),
    "Refund.OriginatorTransactionID": Rule("string", _MTID, "2209"),
    "Refund.Amount": Rule("int", r"^\d{1,12}$", "2201"),
    "Refund.Currency": Rule("string", r"^[A-Z]{3}$", "2202"),
    "Refund.Description": Rule("string", r"^(.{1,255})?$", "2203"),
    "Refund.StatementDescriptor": Rule("string", r"^(.{1,255})?$", "2204"),
    "Refund.Details": Rule("object", "", "2"),
}

#: ``PaymentTokenLifetime`` (minutes a payment waiting on the customer stays payable). The
#: default is the hosted-card-form example's: its request sends none, its answer shows 10. The
#: bounds are our own (the documents give none): at least a minute, at most a year.
TOKEN_LIFETIME_DEFAULT_MINUTES = 10
TOKEN_LIFETIME_MAX_MINUTES = 525_600


def token_lifetime_problem(minutes: int) -> Reason | None:
    """The reason a ``PaymentTokenLifetime`` that passed its regexp is still refused."""
    if 1 <= minutes <= TOKEN_LIFETIME_MAX_MINUTES:
        return None
    return reason(
        "2",
        "Payment.PaymentTokenLifetime is invalid - must be 1 to "
        f"{TOKEN_LIFETIME_MAX_MINUTES} minutes",
    )


_COMPILED = {k: re.compile(r.regexp, re.ASCII) for k, r in FIELDS.items() if r.regexp}
_BY_GROUP: dict[str, dict[str, str]] = {}  # group → lower-case field → canonical field
for _key in FIELDS:
    _group, _field = _key.split(".", 1)
    _BY_GROUP.setdefault(_group, {})[_field.lower()] = _field
for _root, _children in OBJECTS.items():
    for _child in _children:
        _BY_GROUP.setdefault(_root, {})[_child.lower()] = _child

#: Mandatory fields, by place in the request (root object, then the path inside it).
REQUIRED: dict[str, tuple[str, ...]] = {
    "CardAuthentication": ("Card",),
    "CardAuthentication.Card": ("Number", "ExpirationMonth", "ExpirationYear"),
    "Payment": ("MerchantTransactionID", "Amount", "Currency"),
    "Payment.Card": ("Number", "ExpirationMonth", "ExpirationYear"),
    "Payment.CreditCardToken": ("Value",),
    "Refund": ("MerchantTransactionID", "Amount"),
}
#: Return code for an absent mandatory field, when not the field's own code.
_MISSING_CODE = {"CardAuthentication.Card": "1206", "CreditCardToken.Value": "2404"}


def _label(group: str, path: str, name: str) -> str:
    """How a field is named in Info: ``Payment.Amount``, ``Card.Number``,
    ``ShippingAddress.Country`` (the path inside the request, root object included only for
    root-level fields, as Smart2Pay's own Info texts do)."""
    return f"{path}.{name}" if path else f"{group}.{name}"


def _scalar(rule: Rule, value: Any) -> tuple[Any, str | None]:
    """(normalised value, problem) for one scalar."""
    t = rule.type
    if t in ("string", "date", "datetime"):
        if isinstance(value, bool) or not isinstance(value, str | int):
            return None, "must be text"
        text = str(value)
        # also where a regexp is given: the seed's HolderName pattern (^[^\d]*$) has no length,
        # and PostgreSQL refused a name past the column's 255 characters (a 500)
        if len(text) > rule.max_length:
            return None, f"is longer than {rule.max_length} characters"
        return text, None
    if t == "int":
        if isinstance(value, bool):
            return None, "must be an integer"
        if isinstance(value, int):
            return value, None
        if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 18:
            return int(value), None
        return None, "must be an integer"
    if t == "bool":
        if isinstance(value, bool):
            return value, None
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true", None
        return None, "must be true or false"
    if t == "array":
        return (value, None) if isinstance(value, list) else (None, "must be an array")
    if t == "object":
        return (value, None) if isinstance(value, dict) else (None, "must be an object")
    raise AssertionError(f"unknown rule type {t}")


def _check_value(key: str, rule: Rule, value: Any, label: str) -> tuple[Any, Reason | None]:
    norm, problem = _scalar(rule, value)
    if problem is not None:
        return None, reason(rule.code, f"{label} is invalid - {problem}")
    pattern = _COMPILED.get(key)
    if pattern is not None and not pattern.fullmatch(str(norm)):
        return None, reason(rule.code, f"{label} is invalid - RegEx: {rule.regexp}")
    if rule.type == "date":
        try:
            date(int(norm[:4]), int(norm[4:6]), int(norm[6:8]))
        except ValueError:
            return None, reason(rule.code, f"{label} is invalid - not a calendar date")
    return norm, None


def check(root: str, doc: Any, reasons: list[Reason]) -> dict[str, Any]:
    """Walk ``doc`` (the object under the root key) against ``FIELDS``; append every violation
    to ``reasons``; return the object with canonical keys and normalised values."""
    return _walk(root, root, "", doc, reasons)


def _walk(
    root: str, group: str, path: str, doc: dict[str, Any], reasons: list[Reason]
) -> dict[str, Any]:
    names = _BY_GROUP.get(group, {})
    children = OBJECTS.get(group, {})
    out: dict[str, Any] = {}
    seen: set[str] = set()
    for raw_key, value in doc.items():
        name = names.get(str(raw_key).lower())
        if name is None or value is None:
            continue
        seen.add(name)
        label = _label(group, path, name)
        if name in children:
            if not isinstance(value, dict):
                reasons.append(reason("2", f"{label} is invalid - must be an object"))
                continue
            sub = f"{path}.{name}" if path else name
            out[name] = _walk(root, children[name], sub, value, reasons)
            continue
        key = f"{group}.{name}"
        norm, problem = _check_value(key, FIELDS[key], value, label)
        if problem is not None:
            reasons.append(problem)
        else:
            out[name] = norm
    for name in REQUIRED.get(f"{root}.{path}" if path else root, ()):
        if name not in seen:  # present but invalid is already reported
            label = _label(group, path, name)
            reasons.append(reason(_missing_code(group, name), f"{label} is required"))
    return out


def _missing_code(group: str, name: str) -> str:
    key = f"{group}.{name}"
    if key in _MISSING_CODE:
        return _MISSING_CODE[key]
    return FIELDS[key].code if key in FIELDS else "2"


# ------------------------------------------------------------------ card numbers


def whole_number(text: str, max_digits: int) -> int | None:
    """``text`` as a whole number when it is 1 to ``max_digits`` ASCII digits, else None (the
    control API's, dashboard's and config's ids and amounts; ``str.isdigit()`` alone is also
    true for ``"²"``, which ``int`` refuses)."""
    if text.isascii() and text.isdigit() and len(text) <= max_digits:
        return int(text)
    return None


def luhn_ok(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


_BRANDS: tuple[tuple[str, tuple[tuple[int, int], ...]], ...] = (
    # (brand, ((prefix_from, prefix_to) over the first 6 digits))
    ("AMEX", ((340000, 349999), (370000, 379999))),
    ("DINERS", ((300000, 305999), (360000, 369999), (380000, 399999))),
    ("JCB", ((352800, 358999),)),
    ("DISCOVER", ((601100, 601199), (644000, 659999))),
    ("UNIONPAY", ((620000, 629999),)),
    ("MASTERCARD", ((222100, 272099), (510000, 559999))),
    ("MAESTRO", ((500000, 509999), (560000, 589999), (630000, 639999), (670000, 679999))),
    ("VISA", ((400000, 499999),)),
)


def brand_of(number: str) -> str:
    """The card scheme from the number's leading digits; ``CARD`` when none matches."""
    head = int(number[:6])
    for brand, ranges in _BRANDS:
        if any(lo <= head <= hi for lo, hi in ranges):
            return brand
    return "CARD"


def masked(brand: str, last4: str) -> str:
    """Smart2Pay's masked form, ``VISA-1111``."""
    return f"{brand}-{last4}"


def card_facts(card: dict[str, Any], reasons: list[Reason], label: str = "Card") -> dict[str, Any]:
    """What paysandbox keeps of a validated ``Card``: never the number or the security code."""
    number = card.get("Number")
    if isinstance(number, str) and not luhn_ok(number):
        reasons.append(reason("1201", f"{label}.Number is invalid - Luhn check failed"))
        return {}
    if not isinstance(number, str):
        return {}
    month = card.get("ExpirationMonth", "")
    year = card.get("ExpirationYear", "")
    return {
        "brand": brand_of(number),
        "last4": number[-4:],
        "holder_name": card.get("HolderName"),
        "exp_month": month.zfill(2),
        "exp_year": year if len(year) == 4 else f"20{year}",
        "issuing_bank_country": (card.get("IssuingBankCountry") or "").upper() or None,
    }
