"""The journal, faults and account-clock pages with stand-in sources (``dashboard/extras.py``):
what the pages show once those services are plugged in, checked before they exist — the
dashboard's own routes on the request edge, over HTTP (Starlette's test client)."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from starlette.applications import Starlette

from paysandbox import edge
from paysandbox.control.errors import CONTROL, to_control
from paysandbox.core.clock import real_now_us
from paysandbox.dashboard import pages
from paysandbox.dashboard.extras import (
    AccountClock,
    Exchange,
    Extras,
    Fault,
    FaultKind,
)
from paysandbox.dashboard.parts import Input, Refused
from paysandbox.store import migrate
from paysandbox.store.db import open_database

with warnings.catch_warnings():  # it prefers another httpx package; this one works
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

NOW = real_now_us()
EXCHANGE = Exchange(
    id="x1",
    at_us=NOW,
    method="POST",
    path="/kplus/payment/generate-token",
    status=400,
    owner="kplus",
    latency_ms=1.5,
    request_headers=[
        ("Content-Type", "application/json"),
        ("Content-Length", "999"),
        ("Host", "h"),
    ],
    request_body='{"partnerSecret":"[redacted]","note":"it\'s <b>"}',
    response_headers=[("Content-Type", "application/json")],
    response_body='{"statusCode":"10","errorCode":"invalid_parameter"}',
    object_ids=["T1"],
    redacted=["partnerSecret"],
)


class Journal:
    async def recent(
        self, filters: Mapping[str, str], offset: int, limit: int
    ) -> tuple[list[Exchange], bool]:
        self.filters = dict(filters)
        return [EXCHANGE], False

    async def get(self, exchange_id: str) -> Exchange | None:
        return EXCHANGE if exchange_id == "x1" else None

    async def touching(self, object_id: str, limit: int) -> list[Exchange]:
        return [EXCHANGE]


class Faults:
    kinds = (FaultKind("status", "Answer with an HTTP status", (Input("status", "Status"),)),)

    def __init__(self) -> None:
        self.items: list[Fault] = []

    async def active(self) -> list[Fault]:
        return list(self.items)

    async def add(self, kind: str, form: Mapping[str, str]) -> Fault:
        if not form.get("status", "").isdigit():
            raise Refused("status must be a number")
        fault = Fault(str(len(self.items) + 1), kind, f"answer {form['status']}")
        self.items.append(fault)
        return fault

    async def remove(self, fault_id: str) -> None:
        self.items = [f for f in self.items if f.id != fault_id]


class Clocks:
    async def differing(self) -> list[AccountClock]:
        return [AccountClock("kplus", "PTR1", 3600, NOW + 3600 * 1_000_000)]

    async def advance(self, provider: str, account: str, seconds: float) -> None: ...

    async def reset(self, provider: str, account: str) -> None: ...


@pytest.fixture
def dash(tmp_path: Path) -> Iterator[tuple[TestClient, Faults]]:
    url = f"sqlite:///{tmp_path / 'd.db'}"
    migrate.upgrade(url, [])
    db = open_database(url)
    faults = Faults()
    extras = Extras(journal=Journal(), faults=faults, clocks=Clocks())
    ops = pages.ops(db, [], wake=lambda: None, extras=extras)
    app = Starlette(routes=edge.routes(ops, lambda path: CONTROL, lambda path: to_control))
    with TestClient(app, base_url="http://testserver") as client:
        yield client, faults
    db.close()


def _csrf(client: TestClient) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', client.get("/_sandbox/").text)
    assert found is not None
    return found.group(1)


def test_overview_shows_recent_requests_faults_and_clocks(
    dash: tuple[TestClient, Faults],
) -> None:
    client, faults = dash
    faults.items.append(Fault("9", "status", "answer 503"))
    html = client.get("/_sandbox/").text
    assert "/_sandbox/ui/journal/x1" in html and "generate-token" in html
    assert "answer 503" in html and "PTR1" in html and "+3600 s" in html
    assert "not available" not in html


def test_journal_list_and_exchange(dash: tuple[TestClient, Faults]) -> None:
    client, _ = dash
    r = client.get("/_sandbox/ui/journal", params={"status": "400"})
    assert r.status_code == 200 and 'data-testid="exchange-row"' in r.text
    r = client.get("/_sandbox/ui/journal/x1")
    assert r.status_code == 200
    assert "redacted: <code>partnerSecret</code>" in r.text
    assert "&lt;b&gt;" in r.text and '<b>"' not in r.text  # request text is escaped
    assert 'data-testid="request"' in r.text and 'data-testid="response"' in r.text
    assert "curl -X POST '{origin}/kplus/payment/generate-token'" in r.text
    # the request as received, less what curl sets itself: the journal's body is redacted, so
    # its Content-Length no longer matched and the copied command hung
    curl = r.text[r.text.index("data-curl>") : r.text.index("</textarea>")]
    assert "-H 'Content-Type: application/json'" in curl
    assert "Content-Length" not in curl and "-H 'Host" not in curl
    assert "it&#39;\\&#39;&#39;s" in r.text  # a quote in the body is closed and reopened
    assert client.get("/_sandbox/ui/journal/nope").status_code == 404


def test_faults_add_and_remove(dash: tuple[TestClient, Faults]) -> None:
    client, faults = dash
    token = _csrf(client)
    r = client.post(
        "/_sandbox/ui/faults",
        data={"csrf": token, "kind": "status", "status": "503"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and [f.description for f in faults.items] == ["answer 503"]
    page = client.get("/_sandbox/ui/faults").text
    assert page.count('data-testid="fault"') == 1
    bad = client.post("/_sandbox/ui/faults", data={"csrf": token, "kind": "status", "status": "x"})
    assert bad.status_code == 400 and "status must be a number" in bad.text
    assert client.post("/_sandbox/ui/faults", data={"kind": "status"}).status_code == 403
    r = client.post("/_sandbox/ui/faults/1/remove", data={"csrf": token}, follow_redirects=False)
    assert r.status_code == 303 and faults.items == []


def test_accounts_show_account_clocks(dash: tuple[TestClient, Faults]) -> None:
    client, _ = dash
    html = client.get("/_sandbox/ui/accounts").text
    assert "PTR1" in html and "+3600 s" in html
