"""NICEPay in the request journal and fault injection.

* account: ``iMid`` of the JSON body, the form body or the query string, else the iMid a
  ``tXid`` there begins with (the card ``payment`` call, the Redirect page);
* redacted: ``merchantKey`` (should a client ever send it), ``cardCvv`` (removed) and
  ``cardNo`` (→ last four digits) in bodies and in the query strings of the browser routes.
  ``merchantToken`` is kept: it is a one-way SHA-256 over the request's own fields and the key,
  not the key, and seeing it is what lets a merchant debug a 9010 signature refusal;
* objects: ``tXid`` (request, answer, or the page's redirect), ``canceltXid``, the payment
  page's ``{session_id}``;
* fault errors: any name of ``errors.CODES`` (``mid_invalid``) or its ``resultCd`` (``9011``,
  the first name with that code), answered with its HTTP status and NICEPay body.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from starlette.responses import Response

from ...observe.spec import Exchange, ProviderObserve, Redaction, collect_ids, first_text
from . import store as rows
from .errors import CODES, NicepayError, error_response

_BY_RESULT_CD: dict[str, str] = {}
for _name, _code in CODES.items():
    if _name != "success":
        _BY_RESULT_CD.setdefault(_code.result_cd, _name)
ERROR_CODES = frozenset(n for n in CODES if n != "success") | frozenset(_BY_RESULT_CD)


#: A tXid after its iMid: payMethod (2), yyyyMMddHHmmss (14), four digits.
_TXID_TAIL = 20


def account(ex: Exchange) -> str | None:
    """The request's ``iMid``; else the one its ``tXid`` begins with (the card ``payment``
    call and the Redirect page's forms carry only the tXid: their entries had no account, and
    a fault limited to the merchant never applied to them)."""
    imid = first_text(ex.doc.get("iMid"))
    if imid is not None:
        return imid
    t_xid = first_text(ex.doc.get("tXid"))
    if t_xid is not None and _TXID_TAIL < len(t_xid) <= _TXID_TAIL + 10:
        tail = t_xid[-_TXID_TAIL:]
        if tail.isascii() and tail.isdigit() and t_xid[:-_TXID_TAIL].isalnum():
            return t_xid[:-_TXID_TAIL]
    return None


def object_ids(ex: Exchange) -> list[str]:
    answer = ex.answer or {}
    redirected = dict(parse_qsl(urlsplit(ex.location).query)) if ex.location else {}
    return collect_ids(
        [
            ex.doc.get("tXid"),
            answer.get("tXid"),
            answer.get("canceltXid"),
            redirected.get("tXid"),  # the payment page's redirect to callBackUrl
            ex.path_params.get("session_id"),
        ]
    )


def render_error(code: str, ex: Exchange) -> Response:
    return error_response(NicepayError(_BY_RESULT_CD.get(code, code)))


OBSERVE = ProviderObserve(
    redaction=Redaction(
        secrets=frozenset({"merchantKey"}),
        pans=frozenset({"cardNo"}),
        cvv=frozenset({"cardCvv"}),
    ),
    account=account,
    object_ids=object_ids,
    error_codes=ERROR_CODES,
    render_error=render_error,
    default_error="server_error",
    count_objects=rows.count_objects,
)
