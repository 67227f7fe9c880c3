"""K PLUS error codes and the error body ``{partnerTxnUid, partnerId, statusCode "10",
errorCode, errorDesc}``.

``CODES`` is the single table of every errorCode paysandbox returns on the K PLUS routes, with
its HTTP status and KBank's short code; docs/kplus.md prints the same table.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from ...edge import WireError
from ...web import json_response


@dataclass(frozen=True)
class Code:
    http_status: int
    kbank: str
    meaning: str


CODES: dict[str, Code] = {
    "bad_request": Code(400, "EMBR", "malformed JSON, not a JSON object, or an unreadable body"),
    "unsupported_media_type": Code(415, "EMBR", "Content-Type is not application/json"),
    "request_too_large": Code(413, "EMBR", "body larger than the configured limit"),
    "missing_parameter": Code(400, "EMMP", "a mandatory field is absent or null"),
    "invalid_parameter": Code(400, "EMIP", "a field has the wrong type, length or format"),
    "authentication_error": Code(
        401, "EMA", "unknown partnerId, wrong partnerSecret, or header/body partner mismatch"
    ),
    "duplicate_request": Code(409, "EMDR", "partnerTxnUid already used by this partner"),
    "invalid_currency_code": Code(400, "EMICC", "currencyCode is not THB"),
    "invalid_txn_amount": Code(
        400, "EMITA", "amount not a positive number with at most two decimals"
    ),
    "invalid_reference1": Code(400, "EMIR", "reference1 is missing or empty"),
    "token_not_found": Code(404, "EMTNF", "no such tokenId for this partner"),
    "qr_paid": Code(409, "EMQRP", "the token is already paid"),
    "qr_cancelled": Code(409, "EMQRC", "the token is already cancelled"),
    "qr_expired": Code(409, "EMQRAE", "the token has expired"),
    "qr_declined": Code(
        409,
        "EMQRD",
        "control / app page only: paying a token of test amount 4001.00, which the customer "
        "declined (paysandbox's own code)",
    ),
    "not_found": Code(404, "EMNF", "no such K PLUS route"),
    "method_not_allowed": Code(405, "EMNA", "the route exists for POST only"),
    "internal_error": Code(500, "EMIU", "unexpected failure inside paysandbox"),
}


class KPlusError(WireError):
    """A K PLUS error answer; ``code`` must be a key of ``CODES``. The answer echoes the
    request's ``partnerTxnUid`` / ``partnerId`` when the routes could read them (``echo``)."""

    def __init__(self, code: str, desc: str) -> None:
        super().__init__(desc)
        if code not in CODES:
            raise ValueError(f"undocumented K PLUS error code {code!r}")
        self.code = code
        self.desc = desc
        self.http_status = CODES[code].http_status

    @property
    def wire_code(self) -> str:
        return self.code

    def render(self, request: Request) -> Response:
        uid, pid = echoed(request)
        return error_response(self.code, self.desc, partner_txn_uid=uid, partner_id=pid)


_ECHO = "paysandbox.kplus.echo"


def echo(request: Request, partner_txn_uid: str | None, partner_id: str | None) -> None:
    """Remember what an error answer to this request should echo (in the request's scope)."""
    request.scope[_ECHO] = (partner_txn_uid, partner_id)


def echoed(request: Request) -> tuple[str | None, str | None]:
    found: tuple[str | None, str | None] = request.scope.get(_ECHO, (None, None))
    return found


def error_response(
    code: str, desc: str, *, partner_txn_uid: str | None = None, partner_id: str | None = None
) -> Response:
    return json_response(
        {
            "partnerTxnUid": partner_txn_uid,
            "partnerId": partner_id,
            "statusCode": "10",
            "errorCode": code,
            "errorDesc": desc,
        },
        CODES[code].http_status,
    )
