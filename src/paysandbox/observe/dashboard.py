"""The dashboard's journal and fault pages, over the same journal rows and fault book that the
control API serves (``dashboard.extras`` protocols): one way to read, add and remove."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..dashboard.extras import Exchange, Fault, FaultKind
from ..dashboard.parts import Input, Refused
from ..store import observe as rows
from ..store.db import Database, Row
from . import faults as fault_specs
from . import journal as journal_views
from .faults import FaultBook, FaultError
from .journal import Journal
from .routes import add_fault_tx, parse_status
from .spec import ProviderObserve


def _exchange(row: Row) -> Exchange:
    view = journal_views.view(row)
    path = view["path"] + (f"?{view['query']}" if view["query"] else "")
    response = view["response"] or {"headers": [], "body": ""}
    return Exchange(
        id=str(view["id"]),
        at_us=int(row["at_us"]),
        method=str(view["method"]),
        path=path,
        status=int(view["status"] or 0),
        owner=str(view["provider"]),
        latency_ms=float(view["latencyMs"] or 0),
        request_headers=[(str(k), str(v)) for k, v in view["request"]["headers"]],
        request_body=str(view["request"]["body"]),
        response_headers=[(str(k), str(v)) for k, v in response["headers"]],
        response_body=str(response["body"]),
        object_ids=list(view["objectIds"]),
    )


class JournalSource:
    def __init__(self, db: Database, journal: Journal) -> None:
        self.db, self.journal = db, journal

    async def recent(
        self, filters: Mapping[str, str], offset: int, limit: int
    ) -> tuple[list[Exchange], bool]:
        await self.journal.settle()
        try:
            status = parse_status(filters.get("status") or None)
        except Exception:
            status = None
        owner = filters.get("owner") or None
        obj = filters.get("object") or None
        method = (filters.get("method") or "").upper()
        path = filters.get("path") or ""
        found = await self.db.read(
            lambda c: rows.list_entries(
                c,
                provider=owner,
                account=None,
                routes=None,
                status=status,
                object_id=obj,
                since_us=None,
                limit=min(offset + limit + 1, 1000) if not (method or path) else 1000,
            )
        )
        picked = [
            r
            for r in found
            if (not method or r["method"] == method) and (not path or path in r["route"])
        ]
        page = picked[offset : offset + limit]
        return [_exchange(r) for r in page], len(picked) > offset + limit

    async def get(self, exchange_id: str) -> Exchange | None:
        await self.journal.settle()
        row = await self.db.read(rows.get_entry, exchange_id)
        return None if row is None else _exchange(row)

    async def touching(self, object_id: str, limit: int) -> list[Exchange]:
        return (await self.recent({"object": object_id}, 0, limit))[0]


class FaultSource:
    kinds: Sequence[FaultKind] = ()

    def __init__(
        self,
        db: Database,
        book: FaultBook,
        providers: Mapping[str, tuple[ProviderObserve, Sequence[str]]],
    ) -> None:
        self.db, self.book, self.providers = db, book, providers
        names = sorted(providers)
        common = (
            Input("provider", "Provider", " | ".join(names)),
            Input("account", "Account (optional)", "an account id"),
            Input("route", "Route (optional)", "a path as in the OpenAPI document"),
            Input("times", "Times (empty: until removed)", "1", "numeric"),
        )
        self.kinds = (
            FaultKind("latency", "Latency", (*common, Input("latencyMs", "Latency ms", "500"))),
            FaultKind(
                "error", "Error answer", (*common, Input("error", "Error code", "the API's code"))
            ),
            FaultKind("timeout", "Timeout (no answer)", common),
            FaultKind("reset", "Connection reset", common),
            FaultKind("lost-answer", "Lost answer (done, then dropped)", common),
        )

    async def active(self) -> list[Fault]:
        found = await self.db.read(rows.list_faults)
        out = []
        for row in found:
            view = fault_specs.view(row)
            if not view["active"]:
                continue
            shown = {k: v for k, v in view.items() if v is not None and k not in ("id", "kind")}
            what = " ".join(str(view[k]) for k in ("provider", "account", "route") if view[k])
            out.append(Fault(str(view["id"]), str(view["kind"]), what, shown))
        return out

    async def add(self, kind: str, form: Mapping[str, str]) -> Fault:
        raw: dict[str, Any] = {"kind": kind}
        for key in ("provider", "account", "route", "error"):
            if form.get(key, "").strip():
                raw[key] = form[key].strip()
        times, latency = form.get("times", "").strip(), form.get("latencyMs", "").strip()
        if times:
            if not (times.isascii() and times.isdigit() and len(times) <= 7):
                raise Refused("Times must be a whole number.")  # not Python's int() message
            raw["times"] = int(times)
        if latency:
            try:
                raw["latencyMs"] = float(latency)
            except ValueError:
                raise Refused("Latency must be a number of milliseconds.") from None
        try:
            spec = fault_specs.parse(raw, self.providers)
        except (ValueError, FaultError) as exc:
            raise Refused(f"invalid fault: {exc}") from None
        row = await self.db.write(add_fault_tx, spec)
        await self.book.refresh()
        view = fault_specs.view(row)
        return Fault(str(view["id"]), kind, str(view.get("route") or view["provider"]), view)

    async def remove(self, fault_id: str) -> None:
        await self.db.write(rows.delete_fault, fault_id)
        await self.book.refresh()
