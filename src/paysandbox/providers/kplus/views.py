"""K PLUS answers as KBank writes them: every documented field present, null when empty."""

from __future__ import annotations

from typing import Any

from ...core.amounts import format_major
from . import rules
from .model import PAID, Token


def _ok(partner_txn_uid: str, partner_id: str) -> dict[str, Any]:
    return {
        "partnerTxnUid": partner_txn_uid,
        "partnerId": partner_id,
        "statusCode": "00",
        "errorCode": None,
        "errorDesc": None,
    }


def generated(uid: str, partner_id: str, token: Token, app_url: str) -> dict[str, Any]:
    return {
        **_ok(uid, partner_id),
        "tokenId": token.token_id,
        "callBackAppUrl": app_url,
        "expiryDate": rules.kbank_time(int(token["expires_at_us"])),
    }


def payment_fields(token: Token) -> dict[str, Any]:
    """The token's payment-related fields, shared by inquire-token and Confirm Payment."""
    paid = token.status == PAID
    return {
        "paymentStatus": token.status,
        "paymentTimeStamp": rules.unix_seconds(token["paid_at_us"]) if paid else None,
        "paymentRefernceId": token["payment_reference_id"],
        "slipImage": token["slip_image"],
        "paymentAccount": token["payment_account"] if paid else None,
        "paymentDt": rules.kbank_time(token["paid_at_us"]),
        "reference1": token["reference1"],
        "reference2": token["reference2"],
        "totalAmount": format_major(int(token["total_amount"])),
        "currencyCode": token["currency_code"],
        "currencyExponent": str(token["currency_exponent"]),
        "tokenId": token.token_id,
        "additionalInfo1": token["additional_info1"],
        "additionalInfo2": token["additional_info2"],
        "additionalInfo3": token["additional_info3"],
    }


def inquired(uid: str, partner_id: str, token: Token) -> dict[str, Any]:
    return {**_ok(uid, partner_id), **payment_fields(token)}


def cancelled(uid: str, partner_id: str, token: Token) -> dict[str, Any]:
    return {
        **_ok(uid, partner_id),
        "tokenList": [
            {"tokenId": token.token_id, "reference1": token["reference1"], "status": token.status}
        ],
    }


def control(token: Token, events: list[Any], app_url: str, slip_url: str) -> dict[str, Any]:
    """The control API's view: the token's every field plus its event history. The slip is a
    link to its PNG (``slipImageUrl``), not the ~50 KB of base64 the wire answers carry."""
    fields = payment_fields(token)
    fields.pop("slipImage")
    return {
        "tokenId": token.token_id,
        "partnerId": token["partner_id"],
        "partnerTxnUid": token["partner_txn_uid"],
        "status": token.status,
        "storedStatus": token["status"],
        "callBackAppUrl": app_url,
        "createdAt": rules.utc_iso(int(token["created_at_us"])),
        "expiresAt": rules.utc_iso(int(token["expires_at_us"])),
        "paidAt": rules.utc_iso(int(token["paid_at_us"])) if token["paid_at_us"] else None,
        "shopName": token["shop_name"],
        "shippingFee": format_major(int(token["shipping_fee"])),
        "items": [
            {**item, "amount": None if item["amount"] is None else format_major(item["amount"])}
            for item in token.items
        ],
        "osPlatform": token["os_platform"],
        **fields,
        "slipImageUrl": slip_url if token["slip_image"] else None,
        "events": [
            {"seq": e.seq, "kind": e.kind, "at": rules.utc_iso(e.at_us), "data": e.data}
            for e in events
        ],
    }


def summary(token: Token) -> dict[str, Any]:
    """One line of ``GET /_sandbox/kplus/tokens``."""
    return {
        "tokenId": token.token_id,
        "partnerId": token["partner_id"],
        "partnerTxnUid": token["partner_txn_uid"],
        "status": token.status,
        "totalAmount": format_major(int(token["total_amount"])),
        "reference1": token["reference1"],
        "createdAt": rules.utc_iso(int(token["created_at_us"])),
        "expiresAt": rules.utc_iso(int(token["expires_at_us"])),
        "paidAt": rules.utc_iso(int(token["paid_at_us"])) if token["paid_at_us"] else None,
    }
