"""K PLUS in the request journal and fault injection.

* account: ``partnerId`` of the body, else the ``Partner-Id`` header;
* redacted: ``partnerSecret`` (body) and the ``Partner-Secret`` header;
* objects: ``tokenId`` of the request or the answer, and the customer page's ``{token_id}``;
* fault errors: any ``errorCode`` of ``errors.CODES``, answered with its HTTP status and the
  request's ``partnerTxnUid`` / ``partnerId`` echoed, like a real error;
* a route of ``/kplus/payment/…`` and its ``/v1/kplus/payment/…`` twin are one route.
"""

from __future__ import annotations

from starlette.responses import Response

from ...observe.spec import Exchange, ProviderObserve, Redaction, collect_ids, first_text
from . import store as rows
from .errors import CODES, error_response


def account(ex: Exchange) -> str | None:
    return first_text(ex.doc.get("partnerId")) or first_text(ex.headers.get("partner-id"))


def object_ids(ex: Exchange) -> list[str]:
    asked = collect_ids([ex.path_params.get("token_id"), ex.doc.get("tokenId")])
    # generate-token: the new token is only in the answer (parsed only then)
    return asked or collect_ids([(ex.answer or {}).get("tokenId")])


def render_error(code: str, ex: Exchange) -> Response:
    uid, pid = ex.doc.get("partnerTxnUid"), ex.doc.get("partnerId")
    return error_response(
        code,
        CODES[code].meaning,
        partner_txn_uid=uid if isinstance(uid, str) and len(uid) <= 64 else None,
        partner_id=pid if isinstance(pid, str) and len(pid) <= 64 else None,
    )


def route_key(route: str) -> str:
    return route.removeprefix("/v1")


OBSERVE = ProviderObserve(
    redaction=Redaction(
        secrets=frozenset({"partnerSecret"}), headers=frozenset({"Partner-Secret"})
    ),
    account=account,
    object_ids=object_ids,
    error_codes=frozenset(CODES),
    render_error=render_error,
    default_error="internal_error",
    route_key=route_key,
    count_objects=rows.count_objects,
)
