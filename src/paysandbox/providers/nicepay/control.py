"""NICEPay control routes under ``/_sandbox/nicepay/`` (simulate the customer, inspect).

``POST /_sandbox/nicepay/transactions/{tXid}/pay`` (optional ``{"amount": N}``: a transfer
larger / smaller than ``amt`` is notified with ``matchCl`` 2 / 3),
``POST …/expire``, ``GET /_sandbox/nicepay/transactions/{tXid}`` (with events and cancels),
``GET /_sandbox/nicepay/transactions?iMid=&limit=``, ``GET /_sandbox/nicepay/merchants``,
``PUT /_sandbox/nicepay/merchants/{iMid}`` ``{"merchantKey", "faults"}`` (create — a new merchant
needs a key —, or change the key and / or the notification faults; the key is never shown).
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

import msgspec
from msgspec import Meta
from starlette.requests import Request
from starlette.responses import Response

from ...control.errors import ControlError, decode_optional, only_params, parse_limit
from ...control.schemas import FaultsBody
from ...core.clock import iso
from ...edge import Op
from ...store import clock as clock_rows
from ...store.db import Conn, Database, Row
from ...web import json_response
from . import store as rows
from . import views
from .model import STATES, Txn
from .schemas import PayTransaction
from .service import NicepayService
from .service._common import PROVIDER


class MerchantBody(msgspec.Struct, forbid_unknown_fields=True):
    """``PUT /_sandbox/nicepay/merchants/{iMid}``: a new merchant needs a merchantKey; an
    existing one changes only what is given. ``faults`` replaces the previous switches."""

    merchantKey: Annotated[str, Meta(min_length=8, max_length=256)] | None = None
    faults: FaultsBody | None = None


def merchant_view(row: Row) -> dict[str, Any]:
    """A merchant as the control API shows it: never its key."""
    return {"iMid": row["imid"], "faults": json.loads(row["faults"])}


_IMID = re.compile(r"^[A-Za-z0-9]{1,10}$")


def ops(service: NicepayService, db: Database, *, max_body: int) -> list[Op]:
    async def show(t_xid: str) -> Response:
        txn, history, cancels = await service.get(t_xid)
        return json_response(views.control(txn, history, cancels))

    async def get_transaction(request: Request) -> Response:
        return await show(request.path_params["t_xid"])

    async def pay(request: Request) -> Response:
        body = await decode_optional(request, PayTransaction, max_body)
        t_xid = request.path_params["t_xid"]
        await service.pay(t_xid, body.amount)
        return await show(t_xid)

    async def expire(request: Request) -> Response:
        t_xid = request.path_params["t_xid"]
        await service.expire(t_xid)
        return await show(t_xid)

    async def list_transactions(request: Request) -> Response:
        q = request.query_params
        only_params(q, "iMid", "state", "limit")
        limit = parse_limit(q)
        state = q.get("state")
        if state is not None and state not in STATES.states:
            # it was ignored: every transaction came back
            raise ControlError(
                "bad_request", f"state must be one of {', '.join(sorted(STATES.states))}"
            )

        def _list(conn: Conn) -> list[dict[str, object]]:
            base = clock_rows.now_us(conn)
            own = clock_rows.own_offsets(conn, PROVIDER)
            found = rows.list_transactions(conn, q.get("iMid"), limit, state=state, now_us=base)
            out: list[dict[str, object]] = []
            for r in found:
                t = Txn(r, base + own.get(str(r["imid"]), 0))
                out.append(
                    {
                        "tXid": t.t_xid,
                        "iMid": r["imid"],
                        "payMethod": t.pay_method,
                        "state": t.status,
                        "status": t.status_code,
                        "referenceNo": r["reference_no"],
                        "amt": int(r["amt"]),
                        "createdAt": iso(int(r["created_at_us"])),
                    }
                )
            return out

        return json_response({"transactions": await db.read(_list)})

    async def list_merchants(request: Request) -> Response:
        found = await db.read(rows.list_merchants)
        return json_response({"merchants": [merchant_view(r) for r in found]})

    async def put_merchant(request: Request) -> Response:
        body = await decode_optional(request, MerchantBody, max_body)
        imid = request.path_params["imid"]
        if not _IMID.match(imid):
            raise ControlError("bad_request", "iMid must be 1-10 letters or digits")
        faults = msgspec.to_builtins(body.faults) if body.faults is not None else None
        try:
            row = await db.write(rows.upsert_merchant, imid, body.merchantKey, faults)
        except ValueError:
            raise ControlError("bad_request", "a new merchant needs a merchantKey") from None
        return json_response(merchant_view(row))

    base = "/_sandbox/nicepay/transactions"
    return [
        Op("GET", base, list_transactions, "Transactions, newest first (?iMid=&limit=)"),
        Op("GET", f"{base}/{{t_xid}}", get_transaction, "A transaction with its events"),
        Op(
            "POST",
            f"{base}/{{t_xid}}/pay",
            pay,
            "The customer pays (VA transfer, CVS payment; optional amount)",
            PayTransaction,
        ),
        Op("POST", f"{base}/{{t_xid}}/expire", expire, "Expire it now"),
        Op("GET", "/_sandbox/nicepay/merchants", list_merchants, "Merchants (never their keys)"),
        Op(
            "PUT",
            "/_sandbox/nicepay/merchants/{imid}",
            put_merchant,
            "Create or change a merchant: key, notification faults",
            MerchantBody,
        ),
    ]
