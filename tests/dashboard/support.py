"""Helpers for the dashboard tests: forms as a browser sends them."""

from __future__ import annotations

import re
from typing import Any

import httpx

from ..kplus.builders import generate_body


def csrf(client: httpx.Client, path: str = "/_sandbox/") -> str:
    """Open a dashboard page (which sets the cookie) and read the form token from it."""
    r = client.get(path)
    assert r.status_code == 200, r.text
    found = re.search(r'name="csrf" value="([^"]+)"', r.text)
    assert found is not None
    return found.group(1)


def submit(client: httpx.Client, path: str, **fields: str) -> httpx.Response:
    """POST a dashboard form with a valid token, as the page itself would."""
    token = csrf(client)
    return client.post(
        path,
        data={"csrf": token, **fields},
        headers={"Origin": str(client.base_url).rstrip("/"), "Sec-Fetch-Site": "same-origin"},
    )


def kplus_token(client: httpx.Client, **extra: Any) -> str:
    r = client.post("/kplus/payment/generate-token", json=generate_body(**extra))
    assert r.status_code == 200, r.text
    return str(r.json()["tokenId"])


def kplus_status(client: httpx.Client, token_id: str) -> str:
    r = client.get(f"/_sandbox/kplus/tokens/{token_id}")
    assert r.status_code == 200, r.text
    return str(r.json()["status"])
