"""Journal entries: the raw exchange the middleware captures (``Raw``), the stored row built
from it (parsed, redacted, with account and object ids), and the row as the API shows it.

Pure functions, used by the journal's writer process and, where there is none, by the serving
process itself.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import msgspec

from ..core.clock import iso
from ..store.db import Row
from .spec import Exchange, ProviderObserve, Redaction, header_value

log = logging.getLogger("paysandbox.journal")

#: ``scheme://user:password@`` in any text (also JSON's ``http:\/\/``): a callback URL with a
#: password, sent in a request body, is stored with ``***@`` instead. The patterns start
#: behind the ``://`` (a lookbehind, as ``logs.py``'s): one that matched the scheme too was
#: tried from every letter of a long run of them (quadratic: one 200 KB request held the
#: journal writer for over a minute), and a bounded scheme missed ``a111…://``.
_USERINFO = re.compile(r"(?:(?<=://)|(?<=:\\/\\/))[^\s/@\"'<>]+@")


_USERINFO_ENCODED = re.compile(r"(?<=%3A%2F%2F)(?:(?!%2F|&|\s).)+?%40", re.I)


def mask_userinfo(text: str) -> str:
    if "@" in text:
        text = _USERINFO.sub("***@", text)
    if "%40" in text:
        text = _USERINFO_ENCODED.sub("***%40", text)
    return text


#: ``sandbox_requests.account``'s size (a client's own partner or merchant id, any length).
ACCOUNT_CHARS = 128


class Raw(NamedTuple):
    """One exchange as seen by the middleware, untouched. Wherever a ``Raw`` is taken, a plain
    tuple of its fields in this order is taken too (``RawTuple``): that is what the middleware
    makes (5x cheaper than ``Raw(...)`` with keywords) and what goes to the writer process."""

    id: str
    at_us: int
    provider: str
    method: str
    route: str | None
    path: str
    path_params: dict[str, str]
    query: bytes
    request_headers: list[tuple[bytes, bytes]]
    request_body: bytes
    status: int | None  # the answer produced (None: none was)
    sent: bool  # False: the client got no answer (timeout, reset, lost-answer)
    response_headers: list[tuple[bytes, bytes]]
    response_body: bytes
    latency_ms: float
    fault_id: str | None
    fault_kind: str | None
    outcome: str  # answered | dropped | answer-lost | error


#: A ``Raw`` or a plain tuple of its fields, in ``Raw``'s order.
RawTuple = tuple[Any, ...]

_ENCODE = msgspec.json.Encoder()


def _unblock(block: str) -> list[list[str]]:
    return [line.split(": ", 1) for line in block.split("\n") if line]


class Hooks(NamedTuple):
    """What building an entry needs of a provider (all of it can be sent to the writer)."""

    redaction: Redaction
    account: Callable[[Exchange], str | None]
    object_ids: Callable[[Exchange], list[str]]


def hooks_of(obs: ProviderObserve) -> Hooks:
    return Hooks(obs.redaction, obs.account, obs.object_ids)


def build_rows(
    raws: Sequence[RawTuple], hooks: Mapping[str, Hooks], max_body: int
) -> tuple[list[tuple[Any, ...]], int]:
    """The stored rows of a batch, and how many entries could not be built (logged)."""
    built = []
    failed = 0
    for raw in raws:
        try:
            built.append(build_row(raw, hooks[raw[2]], max_body))  # [2]: provider
        except Exception:
            log.exception("journal entry %s could not be built", raw[0])  # [0]: id
            failed += 1
    return built, failed


def build_row(raw: RawTuple, hooks: Hooks, max_body: int) -> tuple[Any, ...]:
    """The stored row of one exchange: redacted, with account and object ids. ``raw``: a
    ``Raw``, or a plain tuple of its fields (as the writer process receives them)."""
    (
        rid,
        at_us,
        provider,
        method,
        route,
        path,
        path_params,
        raw_query,
        request_headers,
        request_body,
        status,
        sent,
        response_headers,
        response_body,
        latency_ms,
        fault_id,
        fault_kind,
        outcome,
    ) = raw
    red = hooks.redaction
    query = raw_query.decode("latin-1") if raw_query else ""
    exchange = Exchange(
        method=method,
        path=path,
        route=route,
        path_params=path_params,
        query=query,
        raw_headers=request_headers,
        body=request_body,
        answer_headers=response_headers,
        answer_body=response_body,
    )
    try:
        account = hooks.account(exchange)
        ids = hooks.object_ids(exchange)
    except Exception:  # a hook must never lose the entry
        log.exception("journal hook failed for %s %s", method, path)
        account, ids = None, []
    if account is not None:
        if "\x00" in account:  # a client's "\u0000": no PostgreSQL text
            account = account.replace("\x00", "\ufffd")
        # the column's size: PostgreSQL refuses a longer value, and with it the whole batch
        account = account[:ACCOUNT_CHARS]
    ids = [i.replace("\x00", "\ufffd") if "\x00" in i else i for i in ids]
    # Redaction sees the whole body (a secret cut in half by the size cap would survive).
    req_text = red.body(request_body.decode("utf-8", "replace"), exchange.content_type)
    resp_type = header_value(response_headers, b"content-type") or ""
    if resp_type.lower().startswith("text/html"):
        # A page is what the browser showed, not data a client parses; a card form's page would
        # also put card field names in the journal. Its size is kept, its markup is not.
        resp_text = f"(an HTML page of {len(response_body)} bytes, not kept)"
    else:
        resp_text = red.body(response_body.decode("utf-8", "replace"), resp_type)
    req_text, resp_text = mask_userinfo(req_text), mask_userinfo(resp_text)
    exchange_doc = {
        "path": path,
        "query": red.pairs(query) if query else "",
        "request": {
            "headers": red.header_block(request_headers),
            "body": req_text[:max_body],
            "bodyBytes": len(request_body),
            "truncated": len(req_text) > max_body,
        },
        "response": None
        if status is None
        else {
            "status": status,
            "headers": red.header_block(response_headers),
            "body": resp_text[:max_body],
            "bodyBytes": len(response_body),
            "truncated": len(resp_text) > max_body,
            "sent": sent,
        },
        "outcome": outcome,
        "faultKind": fault_kind,
    }
    return (
        rid,
        at_us,
        provider,
        account,
        method,
        route,
        status if sent else None,
        round(latency_ms, 3),
        " " + " ".join(ids) + " " if ids else "",
        fault_id,
        _ENCODE.encode(exchange_doc).decode(),
    )


def view(row: Row) -> dict[str, Any]:
    ex = json.loads(row["exchange"])
    ids = row["object_ids"].split()
    return {
        "id": row["id"],
        "at": iso(row["at_us"]),
        "provider": row["provider"],
        "account": row["account"],
        "method": row["method"],
        "route": row["route"],
        "path": ex["path"],
        "query": ex["query"],
        "status": row["status"],  # as sent; null when the client got no answer
        "latencyMs": row["latency_ms"],
        "objectIds": ids,
        "fault": None
        if row["fault_id"] is None
        else {"id": row["fault_id"], "kind": ex["faultKind"]},
        "outcome": ex["outcome"],
        "request": {**ex["request"], "headers": _unblock(ex["request"]["headers"])},
        "response": None
        if ex["response"] is None
        else {**ex["response"], "headers": _unblock(ex["response"]["headers"])},
    }
