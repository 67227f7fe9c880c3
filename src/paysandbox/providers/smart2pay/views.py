"""Smart2Pay answers as Smart2Pay writes them: every documented field present, null when
empty; amounts as JSON integers of minor units; times ``yyyyMMddHHmmss`` (UTC)."""

from __future__ import annotations

import json
from typing import Any

from ...core.clock import iso, to_datetime
from ...core.events import Event
from ...delivery.urls import redact_url
from ...store.db import Row
from . import rules
from .model import OPEN, STATUS_IDS, TOKEN_STATUS_IDS, Payment
from .schemas import AddressIn, CustomerIn

METHOD_ID_CARDS = 6


def s2p_time(us: int | None) -> str | None:
    return None if us is None else to_datetime(int(us)).strftime("%Y%m%d%H%M%S")


def status(name: str | None, reasons: list[Any] | None = None) -> dict[str, Any]:
    return {
        "ID": STATUS_IDS.get(name) if name else None,
        "Info": name,
        "Reasons": [{"Code": c, "Info": i} for c, i in (reasons or [])],
    }


def customer(c: CustomerIn, customer_id: int) -> dict[str, Any]:
    return {
        "ID": customer_id,
        "MerchantCustomerID": c.MerchantCustomerID,
        "Email": c.Email,
        "FirstName": c.FirstName,
        "LastName": c.LastName,
        "Gender": c.Gender,
        "SocialSecurityNumber": c.SocialSecurityNumber,
        "Phone": c.Phone,
        "Company": c.Company,
    }


def address(a: AddressIn, address_id: int) -> dict[str, Any]:
    return {
        "ID": address_id,
        "City": a.City,
        "ZipCode": a.ZipCode,
        "State": a.State,
        "Street": a.Street,
        "StreetNumber": a.StreetNumber,
        "HouseNumber": a.HouseNumber,
        "HouseExtension": a.HouseExtension,
        "Country": a.Country,
    }


def card(facts: Row) -> dict[str, Any]:
    """The masked card: brand + last four, never the number or the security code."""
    return {
        "HolderName": facts["holder_name"],
        "Number": rules.masked(str(facts["brand"]), str(facts["last4"])),
        "ExpirationMonth": facts["exp_month"],
        "ExpirationYear": facts["exp_year"],
        "IssuingBankCountry": facts["issuing_bank_country"],
    }


def _json(text: str | None) -> Any:
    return None if text is None else json.loads(text)


# ------------------------------------------------------------------ card tokens


def token(row: Row, *, with_status: bool) -> dict[str, Any]:
    """``GET /v1/card/token/{value}`` (no Status) and the cancel answer (with Status)."""
    body: dict[str, Any] = {
        "Card": card(row),
        "CreditCardToken": {"Value": row["value"], "Active": _active(row)},
    }
    if with_status:
        body["Status"] = token_status(row)
    return {"CardAuthentication": body}


def _active(row: Row) -> str:
    return "true" if row["status"] == "Active" else "false"


def token_status(row: Row) -> dict[str, Any]:
    if row["status"] == "Active":
        return status("Success")
    return {"ID": TOKEN_STATUS_IDS["Canceled"], "Info": "Canceled", "Reasons": []}


def card_authentication(row: Row) -> dict[str, Any]:
    """``POST /v1/card/authenticate`` → 201."""
    return {
        "CardAuthentication": {
            "Customer": _json(row["customer"]),
            "BillingAddress": _json(row["billing_address"]),
            "Card": card(row),
            "CreditCardToken": {"Value": row["value"], "Active": _active(row)},
            "Status": token_status(row),
        }
    }


# ------------------------------------------------------------------ payments


def payment_fields(p: Payment) -> dict[str, Any]:
    r = p.effective
    token_value = r["token_value"] if r["generate_token"] else None
    return {
        "ID": int(r["id"]),
        "ClientIP": r["client_ip"],
        "SkinID": r["skin_id"],
        "Created": s2p_time(r["created_at_us"]),
        "MerchantTransactionID": r["merchant_transaction_id"],
        "OriginatorTransactionID": r["originator_transaction_id"],
        "Amount": int(r["amount"]),
        "Currency": r["currency"],
        "CapturedAmount": int(r["captured_amount"]),
        "ReturnURL": r["return_url"],
        "Description": r["description"],
        "StatementDescriptor": r["statement_descriptor"],
        "MethodID": METHOD_ID_CARDS,
        "MethodOptionID": None,
        "SiteID": int(r["site_id"]),
        "NotificationDateTime": None,
        "Customer": _json(r["customer"]),
        "BillingAddress": _json(r["billing_address"]),
        "ShippingAddress": _json(r["shipping_address"]),
        "Articles": None,
        "Card": _json(r["card"]) or None,
        "CreditCardToken": {"Value": token_value} if token_value else None,
        "Status": status(r["status"], json.loads(r["reasons"])),
        "CaptureDetails": _json(r["capture_details"]),
        "MethodTransactionID": None,
        "PaymentTokenLifetime": r["token_lifetime_minutes"],
        "Capture": bool(r["capture_flag"]),
        "Retry": False,
        "RedirectURL": r["redirect_url"] if r["status"] == OPEN else None,
        "3DSecure": True if r["three_d_secure"] else None,
    }


def payment(p: Payment) -> dict[str, Any]:
    return {"Payment": payment_fields(p)}


def payment_status(p: Payment) -> dict[str, Any]:
    r = p.effective
    return {
        "Payment": {
            "ID": int(r["id"]),
            "MerchantTransactionID": r["merchant_transaction_id"],
            "Status": status(r["status"], json.loads(r["reasons"])),
        }
    }


def payments(items: list[Payment]) -> dict[str, Any]:
    return {"Payments": [payment_fields(p) for p in items]}


# ------------------------------------------------------------------ captures


def capture_fields(p: Payment, c: Row) -> dict[str, Any]:
    """One capture (PHP SDK's capture structure). Its status is the payment's
    ``CaptureDetails.Status`` for the capture that CaptureDetails names, Success otherwise."""
    r = p.effective
    details = _json(r["capture_details"]) or {}
    state = details.get("Status") if details.get("ID") == int(c["id"]) else None
    return {
        "ID": int(c["id"]),
        "PaymentID": int(r["id"]),
        "SiteID": int(r["site_id"]),
        "Created": s2p_time(c["created_at_us"]),
        "MerchantTransactionID": r["merchant_transaction_id"],
        "OriginatorTransactionID": r["originator_transaction_id"],
        "Amount": int(c["amount"]),
        "Currency": r["currency"],
        "Status": state or status("Success"),
    }


def captures(p: Payment, items: list[Row]) -> dict[str, Any]:
    return {"Captures": [capture_fields(p, c) for c in items]}


def capture(p: Payment, c: Row) -> dict[str, Any]:
    return {"Capture": capture_fields(p, c)}


# ------------------------------------------------------------------ refunds


def refund_fields(r: Row) -> dict[str, Any]:
    return {
        "ID": int(r["id"]),
        "SiteID": int(r["site_id"]),
        "Created": s2p_time(r["created_at_us"]),
        "MerchantTransactionID": r["merchant_transaction_id"],
        "OriginatorTransactionID": r["originator_transaction_id"],
        "InitialPaymentID": int(r["payment_id"]),
        "Amount": int(r["amount"]),
        "Currency": r["currency"],
        "Description": r["description"],
        "StatementDescriptor": r["statement_descriptor"],
        "Customer": None,
        "BillingAddress": None,
        "BankAddress": None,
        "Articles": None,
        "Status": status(r["status"], json.loads(r["reasons"])),
    }


def refund(r: Row) -> dict[str, Any]:
    return {"Refund": refund_fields(r)}


def refund_status(r: Row) -> dict[str, Any]:
    """Both shapes Smart2Pay's SDKs parse: ``Status`` (PHP SDK, the refund object) and
    ``InitialPaymentID`` + ``StateDetails`` (the .NET SDK's refund status object)."""
    state = status(r["status"], json.loads(r["reasons"]))
    return {
        "Refund": {
            "ID": int(r["id"]),
            "MerchantTransactionID": r["merchant_transaction_id"],
            "InitialPaymentID": int(r["payment_id"]),
            "Status": state,
            "StateDetails": state,
        }
    }


def refunds(rows: list[Row]) -> dict[str, Any]:
    return {"Refunds": [refund_fields(r) for r in rows]}


# ------------------------------------------------------------------ control API


def _events(history: list[Event]) -> list[dict[str, Any]]:
    return [{"seq": e.seq, "kind": e.kind, "at": iso(e.at_us), "data": e.data} for e in history]


def control_payment(p: Payment, refund_rows: list[Row], history: list[Event]) -> dict[str, Any]:
    r = p.effective
    return {
        "id": p.id,
        "siteId": int(r["site_id"]),
        "status": r["status"],
        "statusId": STATUS_IDS.get(str(r["status"])),
        "storedStatus": p.row["status"],
        "pending": (
            {"status": r["pending_status"], "at": iso(int(r["pending_at_us"]))}
            if r["pending_status"]
            else None
        ),
        "capturedAmount": int(r["captured_amount"]),
        "refundedAmount": int(r["refunded_amount"]),
        "openRefundAmount": int(r["open_refund_amount"]),
        "moto": bool(r["moto"]),
        "createdAt": iso(int(r["created_at_us"])),
        "updatedAt": iso(int(r["updated_at_us"])),
        "payment": payment_fields(p),
        "refunds": [refund_fields(x) for x in refund_rows],
        "events": _events(history),
    }


def control_token(row: Row, history: list[Event]) -> dict[str, Any]:
    return {
        "value": row["value"],
        "siteId": int(row["site_id"]),
        "status": row["status"],
        "origin": row["origin"],
        "createdAt": iso(int(row["created_at_us"])),
        "updatedAt": iso(int(row["updated_at_us"])),
        **token(row, with_status=True),
        "customer": _json(row["customer"]),
        "billingAddress": _json(row["billing_address"]),
        "events": _events(history),
    }


def site(row: Row) -> dict[str, Any]:
    """A site as the control API shows it: never its API key, nor a password in its
    notification URL."""
    return {
        "siteId": int(row["site_id"]),
        "notificationUrl": redact_url(row["notification_url"]),
        "faults": json.loads(row["faults"]),
    }


def control_summary(p: Payment) -> dict[str, Any]:
    """One line of ``GET /_sandbox/smart2pay/payments``."""
    r = p.effective
    return {
        "id": p.id,
        "siteId": int(r["site_id"]),
        "merchantTransactionId": r["merchant_transaction_id"],
        "status": r["status"],
        "statusId": STATUS_IDS.get(str(r["status"])),
        "amount": int(r["amount"]),
        "currency": r["currency"],
        "capturedAmount": int(r["captured_amount"]),
        "refundedAmount": int(r["refunded_amount"]),
        "createdAt": iso(int(r["created_at_us"])),
    }
