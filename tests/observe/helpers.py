"""Shared helpers of the journal / faults / metrics tests."""

from __future__ import annotations

from typing import Any

import httpx

from paysandbox.store.db import open_database

from ..kplus.builders import V1_HEADERS, creds, generate_body
from ..nicepay import builders as nb
from ..smart2pay import builders as sb

KPLUS_SECRET = "7da57c4eb242435fa3e91bb7a69e2a28"
S2P_AUTH_B64 = "MTAxMDpnYWJp"
NICEPAY_PAN = "4222222222222222"
S2P_PAN = sb.VISA


def stored_rows(db_url: str) -> list[dict[str, Any]]:
    """What is in the journal table, read straight from the database (not through the API)."""
    db = open_database(db_url)
    try:
        return [dict(r) for r in db.write_sync(lambda c: c.all("SELECT * FROM sandbox_requests"))]
    finally:
        db.close()


def entries(client: httpx.Client, **filters: Any) -> list[dict[str, Any]]:
    r = client.get("/_sandbox/requests", params={"limit": 1000, **filters})
    assert r.status_code == 200, r.text
    found: list[dict[str, Any]] = r.json()["requests"]
    return found


def add_fault(client: httpx.Client, **spec: Any) -> dict[str, Any]:
    r = client.post("/_sandbox/faults", json=spec)
    assert r.status_code == 201, r.text
    doc: dict[str, Any] = r.json()
    return doc


def kplus_generate(client: httpx.Client, **extra: Any) -> dict[str, Any]:
    r = client.post("/kplus/payment/generate-token", json=generate_body(**extra))
    assert r.status_code == 200, r.text
    doc: dict[str, Any] = r.json()
    return doc


__all__ = ["V1_HEADERS", "creds", "generate_body", "nb", "sb"]
