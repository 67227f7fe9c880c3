"""NICEPay on the web dashboard: transactions (list, detail; pay / expire a VA or CVS number
through ``NicepayService``, the verbs of the control API; a link to an open 3-D Secure or
approval page) and merchants.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from urllib.parse import quote

from ...core.errors import NotFound
from ...dashboard.parts import (
    Account,
    Action,
    DashboardPart,
    Detail,
    Entry,
    Input,
    ListQuery,
    ObjectKind,
    Refused,
    Summary,
    Table,
)
from ...store import clock as clock_rows
from ...store.db import Conn, Database
from . import rules, views
from . import store as rows
from .errors import NicepayError
from .model import INIT, STATES, UNPAID
from .rules import CC, CVS, VA
from .service import SESSION_TTL_US, NicepayService

STATE_ORDER = ("INIT", "UNPAID", "PAID", "FAILED", "CANCELED", "EXPIRED")
assert set(STATE_ORDER) == set(STATES.states)


def _method(code: object) -> str:
    return rules.PAY_METHODS.get(str(code), str(code))


def _idr(amount: int) -> str:
    return f"{amount:,}".replace(",", ".") + " IDR"


#: an amount written with thousands dots: 15.000, 1.250.000
_GROUPED = re.compile(r"[0-9]{1,3}(?:\.[0-9]{3})+")


def part(service: NicepayService, db: Database) -> DashboardPart:
    async def listing(q: ListQuery) -> tuple[list[Summary], bool]:
        def tx(conn: Conn) -> list[Summary]:
            found = rows.page_transactions(
                conn,
                clock_rows.now_us(conn),
                account=q.account,
                state=q.state,
                search=q.search,
                since_us=q.since_us,
                until_us=q.until_us,
                offset=q.offset,
                limit=q.limit + 1,
            )
            return [
                Summary(
                    id=str(r["t_xid"]),
                    account=str(r["imid"]),
                    state=str(r["state"]),
                    created_at_us=int(r["created_at_us"]),
                    amount=_idr(int(r["amt"])),
                    label=f"{r['reference_no']} · {_method(r['pay_method'])}",
                )
                for r in found
            ]

        found = await db.read(tx)
        return found[: q.limit], len(found) > q.limit

    async def counts() -> Mapping[str, int]:
        def tx(conn: Conn) -> dict[str, int]:
            now = clock_rows.now_us(conn)
            return {str(r["state"]): int(r["n"]) for r in rows.count_by_state(conn, now)}

        return await db.read(tx)

    async def detail(t_xid: str) -> Detail | None:
        try:
            txn, history, cancels = await service.get(t_xid)
        except (NicepayError, NotFound):
            return None
        sessions = await db.read(rows.sessions_of, t_xid)
        view = views.control(txn, history, cancels)
        view.pop("events")
        cancel_rows = view.pop("cancels")
        actions: list[Action] = []
        if txn.pay_method in (VA, CVS) and txn.status == UNPAID:
            actions = [
                Action(
                    "pay",
                    "Pay",
                    (Input("amount", "Amount paid (IDR)", str(int(txn["amt"])), "numeric"),),
                    hint="Another amount is notified with matchCl 2 (more) / 3 (less)",
                ),
                Action("expire", "Expire now", tone="danger"),
            ]
        elif txn.pay_method not in (CC, VA, CVS) and txn.status == INIT:
            actions = [Action("pay", "Pay (approve without the page)")]
        links = [
            (
                "Open the 3-D Secure page" if txn.pay_method == CC else "Open the approval page",
                f"/nicepay/direct/v2/payment/session/{quote(str(s['session_id']), safe='')}",
            )
            for s in sessions
            if s["state"] == "pending" and int(s["created_at_us"]) + SESSION_TTL_US > txn.now_us
        ][:1]
        # a Redirect registration of payMethod 00 has no method until the customer chooses
        method = rules.PAY_METHODS.get(txn.pay_method, "Checkout (method not chosen)")
        return Detail(
            id=txn.t_xid,
            title=f"NICEPay {method}",
            state=txn.status,
            account=str(txn["imid"]),
            fields=list(view.items()),
            events=[Entry(e.at_us, e.kind, e.data) for e in history],
            actions=actions,
            links=links,
            tables=[
                Table(
                    "Cancels",
                    ("canceltXid", "type", "amount", "message", "at"),
                    [
                        (c["canceltXid"], c["cancelType"], c["amt"], c["cancelMsg"], c["at"])
                        for c in cancel_rows
                    ],
                )
            ],
            delivery_object_id=txn.t_xid,
        )

    async def act(t_xid: str, action: str, form: Mapping[str, str]) -> str:
        if action == "pay":
            text = form.get("amount", "").strip()
            # "15.000" is Indonesian for fifteen thousand: dots only between groups of three
            # ("1.5" was read as 15 and paid)
            if _GROUPED.fullmatch(text):
                text = text.replace(".", "")
            amount = None
            if text:
                if not rules.digits(text) or not 1 <= int(text) <= 999_999_999_999:
                    raise Refused(
                        "The amount must be a whole number of rupiah, at least 1 (15000 or 15.000)."
                    )
                amount = int(text)
            await service.pay(t_xid, amount)
            return "paid"
        if action == "expire":
            await service.expire(t_xid)
            return "expired"
        raise Refused(f"no action {action}")

    async def accounts() -> list[Account]:
        found = await db.read(rows.list_merchants)
        return [
            Account(
                id=str(r["imid"]),
                kind="iMid",
                fields=[("Notification faults", json.loads(r["faults"] or "{}") or "none")],
            )
            for r in found
        ]

    transactions = ObjectKind(
        name="transactions",
        title="Transactions",
        states=STATE_ORDER,
        list=listing,
        counts=counts,
        detail=detail,
        act=act,
        actions=("pay", "expire"),
        label_title="referenceNo · method",
        id_name="t_xid",
    )
    return DashboardPart(kinds=[transactions], accounts=accounts)
