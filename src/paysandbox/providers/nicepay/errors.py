"""NICEPay result codes and the error body ``{"resultCd": …, "resultMsg": …}``.

``CODES`` is the single table of every ``resultCd`` paysandbox returns on the NICEPay routes
(keyed by a name used in the code), with its HTTP status and NICEPay's own message from the
"NICEPay code" table; docs/nicepay.md prints the same table (a test keeps them in sync).
NICEPay answers business errors with HTTP 200 and the code in the body, so only route-level
problems (unknown path, wrong method, oversized body, internal failure) use other statuses.
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
    result_cd: str
    message: str
    when: str


def _c(cd: str, message: str, when: str, http: int = 200) -> Code:
    return Code(http, cd, message, when)


CODES: dict[str, Code] = {
    "success": _c("0000", "SUCCESS", "the operation succeeded"),
    # --- the request as a whole
    "http_message": _c(
        "9001",
        "Failed to register your order. Please check your HTTP Message.",
        "body is not JSON / not a JSON object / nested too deeply, or Content-Type is not "
        "application/json",
    ),
    "body_too_large": _c(
        "9001",
        "Failed to register your order. Please check your HTTP Message.",
        "body larger than the configured limit",
        413,
    ),
    "no_route": _c(
        "9001",
        "Failed to register your order. Please check your HTTP Message.",
        "no NICEPay route at this path",
        404,
    ),
    "method_not_allowed": _c(
        "9001",
        "Failed to register your order. Please check your HTTP Message.",
        "the route exists with another method",
        405,
    ),
    "server_error": _c("1003", "Server error.", "unexpected failure inside paysandbox", 500),
    "timestamp": _c("9031", "Date/Time check.", "timeStamp missing or not 14 digits"),
    "token_invalid": _c(
        "9010",
        "Invalid Merchant Token. Contact NICEPay for further information.",
        "merchantToken missing or not the SHA-256 of the operation's formula",
    ),
    "mid_invalid": _c(
        "9011",
        "Invalid MID, Merchant is not registered. Contact NICEPay for further information.",
        "iMid missing, malformed or unknown",
    ),
    # --- registration
    "reg_data": _c(
        "8003",
        "Order registration data error.",
        "registration: a field has the wrong type class or size, or an unknown code value",
    ),
    "txid_generation": _c(
        "9006",
        "Transaction number generated error.",
        "no free tXid for this second (more than 10,000 per second per iMid and payMethod)",
    ),
    "amt_missing": _c(
        "9007",
        "Undefined: Amount. Please check your request parameter and make sure [amt] is defined.",
        "amt missing or empty",
    ),
    "amt_invalid": _c(
        "9008",
        "Invalid Request Amount. Amount should only number and do not includes decimal.",
        "amt not a whole positive number of at most 12 digits",
    ),
    "paymethod": _c(
        "9012",
        "This Payment method is currently not activated. Contact Nicepay for further information.",
        "payMethod missing or not one of 01–06",
    ),
    "currency": _c(
        "9013",
        "Undefined: Currency Code. Please check your request parameter and make sure "
        "[currencyCode] is defined.",
        "currency missing or not IDR",
    ),
    "reference_no": _c(
        "9014",
        "Undefined: Reference No. Please check your request parameter and make sure "
        "[referenceNo] is defined.",
        "referenceNo missing (or too long / not text)",
    ),
    "goods_nm": _c(
        "9015",
        "Undefined: Goods Name. Please check your request parameter and make sure "
        "[goodsNm] is defined.",
        "goodsNm missing",
    ),
    "billing_nm": _c(
        "9016",
        "Undefined: Buyer Name. Please check your request parameter and make sure "
        "[billingNm] is defined.",
        "billingNm missing",
    ),
    "billing_phone": _c(
        "9017",
        "Undefined: Buyer Phone Number. Please check your request parameter and make "
        "sure [billingPhone] is defined.",
        "billingPhone missing",
    ),
    "billing_email": _c(
        "9018",
        "Undefined: Buyer Email Address. Please check your request parameter and make "
        "sure [billingEmail] is defined.",
        "billingEmail missing",
    ),
    "callback_url": _c(
        "9019",
        "Undefined: Callback URL. Please check your request parameter and make sure "
        "[callbackUrl] is defined.",
        "payment: callBackUrl missing",
    ),
    "db_process_url": _c(
        "9020",
        "Undefined: Debit Process URL. Please check your request parameter and make "
        "sure [dbProcessUrl] is defined.",
        "dbProcessUrl missing or not a usable absolute http(s) URL",
    ),
    "cart_data": _c(
        "9022",
        "Invalid Card Data. Please check [cartData] parameter, and make sure you send "
        "valid JSON format.",
        "cartData is not JSON or is nested too deeply (typographic quotes are tolerated)",
    ),
    "user_ip": _c(
        "9024",
        "Undefined: Customer IP Address. Please check your request parameter and make "
        "sure [userIP] is defined.",
        "userIP missing for payMethod 01, 05 or 06",
    ),
    "billing_city": _c(
        "9025",
        "Undefined: Buyer City. Please check your request parameter and make sure "
        "[billingCity] is defined.",
        "billingCity missing",
    ),
    "billing_state": _c(
        "9026",
        "Undefined: Buyer State. Please check your request parameter and make sure "
        "[billingState] is defined.",
        "billingState missing",
    ),
    "billing_post_cd": _c(
        "9027",
        "Undefined: Buyer Postal Code. Please check your request parameter and make "
        "sure [billingPostCd] is defined.",
        "billingPostCd missing",
    ),
    "billing_country": _c(
        "9028",
        "Undefined: Buyer Country. Please check your request parameter and make sure "
        "[billingCountry] is defined.",
        "billingCountry missing",
    ),
    "instmnt_mon": _c(
        "9029",
        "Installment is not available for defined month",
        "instmntMon not 1–36",
    ),
    "instmnt_type": _c("9118", "Invalid Installment Type.", "instmntType not 1 or 2"),
    "va_expiry": _c(
        "9210",
        "Error in expiration date of deposit, expiration time for deposit, and "
        "inclusion of letters.",
        "VA: vacctValidDt/vacctValidTm not a real date/time",
    ),
    "va_expiry_length": _c(
        "9211",
        "Expiration date and time for deposit length is not valid.",
        "VA: vacctValidDt not 8 or vacctValidTm not 6 digits",
    ),
    "vacct_duplicate": _c(
        "9233",
        "vacctNo is duplicate.",
        "VA: merFixAcctId already names an open VA of this bank",
    ),
    "bank_cd": _c("9237", "Invalid BankCd.", "VA: bankCd missing or not a known bank code"),
    "cvs_expiry": _c(
        "9510",
        "Error in expiration date of deposit, expiration time for deposit, and "
        "inclusion of letters.",
        "CVS: payValidDt/payValidTm not a real date/time",
    ),
    "cvs_expiry_length": _c(
        "9511",
        "Expiration date and time for deposit length is not valid.",
        "CVS: payValidDt not 8 or payValidTm not 6 digits",
    ),
    "mitra_cd": _c(
        "9751",
        "Invalid Parameter.",
        "mitraCd missing or not a known code for the payMethod (CVS, ClickPay, e-wallet, Payloan)",
    ),
    # --- inquiry
    "inquiry_data": _c(
        "8002",
        "Order inquiry error.",
        "inquiry: a field has the wrong type class or size",
    ),
    "inquiry_txid": _c(
        "8004",
        "The tXid error during the order inquiry.",
        "inquiry: no transaction with this tXid, iMid, referenceNo and amt",
    ),
    # --- payment (browser-facing)
    "redirect_txid": _c(
        "8022",
        "The tXid error during the card authorization.",
        "redirect payment page: tXid missing or unknown",
        404,
    ),
    "card_txid": _c(
        "8022",
        "The tXid error during the card authorization.",
        "payment: tXid missing or unknown",
    ),
    "card_param": _c(
        "8027",
        "Invalid Parameter (PAN or expiry or country_code)",
        "payment (01): cardNo / cardCvv missing or not digits of the right length",
    ),
    "callback_url_invalid": _c(
        "8028",
        "Invalid Parameter (callbackUrl)",
        "payment: callBackUrl is not a usable absolute http(s) URL",
    ),
    "payment_params": _c(
        "9147",
        "Invalid parameters.",
        "payment: another field has the wrong type class or size",
    ),
    "card_exp": _c(
        "9160",
        "Invalid expired date format YYMM",
        "payment (01): cardExpYymm missing or not YYMM",
    ),
    "not_allowed": _c(
        "9502",
        "Transaction not allowed.",
        "payment for a VA or CVS transaction (those are paid at the bank / store)",
    ),
    "tx_exists": _c(
        "9116",
        "Transaction already exist. Please make new transaction.",
        "payment of a transaction that failed or was cancelled",
    ),
    "already_approved": _c(
        "9126",
        "Transaction already approved.",
        "payment of a transaction that is already paid",
    ),
    "tx_expired": _c(
        "9129",
        "Transaction failed: Expired transaction. Please make new transaction.",
        "payment page left open longer than its validity (30 minutes of sandbox time)",
    ),
    "threeds_failed": _c(
        "9117",
        "3D Secure Failed. Please kindly check your card data and try again.",
        "callBackUrl result when the customer presses Fail on the 3-D Secure page",
    ),
    "card_declined": _c(
        "9995",
        "Card declined by the issuer.",
        "callBackUrl result for paysandbox's test card 4000000000000002 (paysandbox's own code)",
    ),
    "clickpay_failed": _c(
        "9806", "Transaction Payment Fail", "callBackUrl result when a ClickPay payment is declined"
    ),
    "ewallet_failed": _c(
        "9752", "E-Wallet Payment Fail.", "callBackUrl result when an e-wallet payment is declined"
    ),
    "payloan_failed": _c(
        "9030",
        "Transaction Fail. Please check information.",
        "callBackUrl result when a Payloan payment is declined",
    ),
    # --- cancel
    "full_cancel": _c(
        "8061",
        "Full canceled error.",
        "full cancel: wrong payMethod, amt not the transaction amount, already cancelled, "
        "expired or failed, or a field of the wrong class/size",
    ),
    "partial_cancel": _c(
        "8062",
        "Partial cancled error.",
        "partial cancel: wrong payMethod, already fully cancelled, not cancellable, or a field "
        "of the wrong class/size",
    ),
    "full_mid": _c(
        "8063",
        "The MID error during the full cancel.",
        "full cancel: the tXid belongs to another iMid",
    ),
    "full_txid": _c(
        "8064", "The tXID error during the full cancel.", "full cancel: tXid missing or unknown"
    ),
    "partial_mid": _c(
        "8065",
        "The MID error during the partial cancel.",
        "partial cancel: the tXid belongs to another iMid",
    ),
    "partial_txid": _c(
        "8066",
        "The tXID error during the partial cancel.",
        "partial cancel: tXid missing or unknown",
    ),
    "partial_amount": _c(
        "8067",
        "The amount error during the partial cancel.",
        "partial cancel: amt larger than what remains (amt − cancelAmt)",
    ),
    "cancel_type": _c("9301", "Invalid Cancel Type.", "cancelType missing or not 1 / 2"),
    "cancel_amt": _c(
        "9312",
        "No cancellation amount or cancellation amount includes the letter.",
        "cancel: amt missing or not digits",
    ),
    "after_partial": _c(
        "9320",
        "Can not cancel the entire data already partially canceled.",
        "full cancel (type 1) of a transaction that already has partial cancels",
    ),
    "cancel_amt_zero": _c(
        "9321", "Please fill in the requested amount greater than zero.", "cancel: amt is 0"
    ),
    "partial_before_purchase": _c(
        "9327",
        "It can not be partial cancelation before purchase.",
        "partial cancel of a transaction that is not paid yet",
    ),
    "va_paid": _c(
        "9330",
        "Virtual account deposit has been completed can not be canceled.",
        "cancel of a VA or CVS transaction that is already paid",
    ),
}


class NicepayError(WireError):
    """A NICEPay error answer; ``name`` must be a key of ``CODES``."""

    def __init__(self, name: str, detail: str | None = None) -> None:
        if name not in CODES:
            raise ValueError(f"undocumented NICEPay result code {name!r}")
        super().__init__(detail or CODES[name].message)
        self.name = name
        self.detail = detail
        self.http_status = CODES[name].http_status

    @property
    def code(self) -> Code:
        return CODES[self.name]

    @property
    def wire_code(self) -> str:
        return self.code.result_cd

    @property
    def result_msg(self) -> str:
        """NICEPay's own message, followed by what exactly was wrong (never a secret)."""
        base = self.code.message
        return f"{base} ({self.detail})" if self.detail else base

    def render(self, request: Request) -> Response:
        return error_response(self)


def error_body(exc: NicepayError) -> dict[str, str]:
    return {"resultCd": exc.code.result_cd, "resultMsg": exc.result_msg}


def error_response(exc: NicepayError) -> Response:
    return json_response(error_body(exc), exc.code.http_status)
