"""Smart2Pay in the request journal and fault injection.

* account: the SiteID of the ``Authorization: Basic`` header (never the ApiKey);
* redacted: the ``Authorization`` header, ``Card.SecurityCode`` (removed) and
  ``Card.Number`` (→ last four digits);
* objects: the path's payment/refund ids and token value, and the answer's ``ID`` /
  ``CreditCardToken.Value``;
* fault errors: any return code of ``errors.CODES`` (``"17"``), answered with its HTTP status
  and the route's root object carrying ``Status.Reasons[{Code, Info}]``.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from starlette.responses import Response

from ...observe.spec import Exchange, ProviderObserve, Redaction, collect_ids
from . import store as rows
from .errors import CODES, Smart2PayError, error_response, reason
from .errors import root_for as _root_for


def account(ex: Exchange) -> str | None:
    scheme, _, value = ex.headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        site = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")[0]
    except (binascii.Error, ValueError):
        return None
    return site if site.isdigit() and len(site) <= 18 else None


def object_ids(ex: Exchange) -> list[str]:
    found: list[Any] = [
        ex.path_params.get("pid"),
        ex.path_params.get("rid"),
        ex.path_params.get("value"),
    ]
    for root in (ex.answer or {}).values():
        if isinstance(root, dict):
            found.append(root.get("ID"))
            token = root.get("CreditCardToken")
            if isinstance(token, dict):
                found.append(token.get("Value"))
    return collect_ids(found)


def render_error(code: str, ex: Exchange) -> Response:
    return error_response(_root_for(ex.path), Smart2PayError([reason(code)]))


OBSERVE = ProviderObserve(
    redaction=Redaction(
        pans=frozenset({"Number"}),
        cvv=frozenset({"SecurityCode"}),
        headers=frozenset({"Authorization"}),
    ),
    account=account,
    object_ids=object_ids,
    error_codes=frozenset(CODES),
    render_error=render_error,
    default_error="18",
    count_objects=rows.count_objects,
)
