"""The Confirm Payment callback (KBank → partner), built for the outbox.

Body: every field of the contract (kplus.md "Confirm Payment callback"), including
``partnerSecret`` (KBank sends it so the partner can authenticate the call; it is redacted
wherever paysandbox shows a delivery) and ``paymentStatus`` "PAID" as in KBank's example.
Success: HTTP 2xx with ``statusCode`` "00".
"""

from __future__ import annotations

import json

from ...core.amounts import format_major
from ...delivery.outbox import OutboundMessage
from ...store.db import Row
from ...web import JSON_ENCODER
from . import rules

SUCCESS_RULE = "kplus_status00"


def partner_accepted(status: int, body: bytes) -> bool:
    """KBank's rule: the partner answers HTTP 2xx with ``statusCode`` "00"; anything else (or no
    answer) is a failed delivery to retry."""
    if not 200 <= status < 300:
        return False
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: an answer nested absurdly deep
        return False
    return isinstance(doc, dict) and doc.get("statusCode") == "00"


def confirm_payment(token: Row, partner: Row, now_us: int) -> OutboundMessage:
    body = {
        "partnerTxnUid": token["partner_txn_uid"],
        "partnerId": token["partner_id"],
        "partnerSecret": partner["partner_secret"],
        "requestDt": rules.kbank_time(now_us),
        "reference1": token["reference1"],
        "reference2": token["reference2"],
        "totalAmount": format_major(int(token["total_amount"])),
        "slipImage": token["slip_image"],
        "paymentRefernceId": token["payment_reference_id"],
        "paymentAccount": token["payment_account"],
        "paymentDt": rules.kbank_time(token["paid_at_us"]),
        "paymentStatus": "PAID",
        "currencyCode": token["currency_code"],
        "currencyExponent": str(token["currency_exponent"]),
        "tokenId": token["token_id"],
        "additionalInfo1": token["additional_info1"],
        "additionalInfo2": token["additional_info2"],
        "additionalInfo3": token["additional_info3"],
    }
    return OutboundMessage(
        provider="kplus",
        account_id=str(token["partner_id"]),
        object_id=str(token["token_id"]),
        event="confirm-payment",
        url=str(partner["callback_url"]),
        body=JSON_ENCODER.encode(body).decode(),
        content_type="application/json",
        secret_keys=("partnerSecret",),
        success_rule=SUCCESS_RULE,
    )
