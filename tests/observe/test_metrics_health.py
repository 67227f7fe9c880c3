"""Prometheus metrics (parsed with the client library's own parser) and the health check."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ..kplus.builders import generate_body
from ..support import LiveServer, Receiver, test_settings, wait_until
from .helpers import add_fault, creds, kplus_generate, sb


def scrape(client: httpx.Client) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    r = client.get("/_sandbox/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    out: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(
    m: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return m.get((name, frozenset(labels.items())), 0.0)


INQ = {"provider": "kplus", "route": "/kplus/payment/inquire-token", "method": "POST"}


def test_metrics_move_as_requests_are_made(client: httpx.Client, receiver: Receiver) -> None:
    token = kplus_generate(client)["tokenId"]
    before = scrape(client)
    for _ in range(3):
        client.post("/kplus/payment/inquire-token", json=creds(tokenId=token))
    client.post("/kplus/payment/inquire-token", json=creds(tokenId="KMCMPTnonePMT"))
    add_fault(client, provider="kplus", route="/kplus/payment/inquire-token", kind="error", times=1)
    client.post("/kplus/payment/inquire-token", json=creds(tokenId=token))
    after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("paysandbox_requests_total", **INQ, status="200") == 3
    assert delta("paysandbox_requests_total", **INQ, status="404") == 1
    assert delta("paysandbox_requests_total", **INQ, status="500") == 1
    assert delta("paysandbox_request_duration_seconds_count", **INQ) == 5
    assert delta("paysandbox_request_duration_seconds_bucket", **INQ, le="+Inf") == 5
    assert delta("paysandbox_request_duration_seconds_sum", **INQ) > 0
    assert delta("paysandbox_faults_applied_total", provider="kplus", kind="error") == 1
    assert ("paysandbox_journal_dropped_total", frozenset()) in after
    # objects by provider and state, from the database at scrape time
    requested = value(
        after, "paysandbox_objects", provider="kplus", kind="token", state="REQUESTED"
    )
    assert requested >= 1
    sb.pay(client)
    assert (
        value(
            scrape(client),
            "paysandbox_objects",
            provider="smart2pay",
            kind="payment",
            state="Captured",
        )
        >= 1
    )


def test_delivery_attempts_are_counted(client: httpx.Client, receiver: Receiver) -> None:
    client.put("/_sandbox/smart2pay/sites/1010", json={"notificationUrl": receiver.url + "/n"})
    before = scrape(client)
    sb.pay(client)
    receiver.wait_for(1)

    def counted() -> bool:
        m = scrape(client)
        ok = value(
            m, "paysandbox_delivery_attempts_total", provider="smart2pay", outcome="succeeded"
        )
        return (
            ok
            - value(
                before,
                "paysandbox_delivery_attempts_total",
                provider="smart2pay",
                outcome="succeeded",
            )
            >= 1
        )

    wait_until(counted)
    m = scrape(client)
    assert value(m, "paysandbox_delivery_attempt_duration_seconds_count", provider="smart2pay") >= 1


def test_health_ok(client: httpx.Client) -> None:
    r = client.get("/_sandbox/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["database"] in ("sqlite", "postgresql")


def test_health_503_when_the_database_is_gone(fresh_db_url: str) -> None:
    live = LiveServer(test_settings(fresh_db_url))
    try:
        with live.client() as c:
            assert c.get("/_sandbox/health").status_code == 200
            live.app.state.sandbox.ctx.db.close()  # the database goes away under the server
            r = c.get("/_sandbox/health")
            assert r.status_code == 503
            body = r.json()
            assert body["status"] == "unavailable"
            assert body["reason"].startswith("database unreachable")
            # metrics stay readable without the database
            assert c.get("/_sandbox/metrics").status_code == 200
    finally:
        live.stop()


@pytest.mark.sqlite_only
def test_a_database_file_deleted_under_the_server_refuses_changes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Deleting the SQLite file under a running server: every later change would go to a file
    no one can open again (answered, then gone at the next start). Changes are refused in the
    provider's own error format instead, and the health check says why. The cause is logged
    once with no traceback; each refused request adds one line, without a traceback."""
    path = tmp_path / "gone.db"
    live = LiveServer(test_settings(f"sqlite:///{path}"))
    try:
        with live.client() as c:
            token = kplus_generate(c)["tokenId"]
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            with caplog.at_level("WARNING", logger="paysandbox"):
                r = c.post("/kplus/payment/generate-token", json=generate_body())
                assert r.status_code == 500
                assert r.json()["statusCode"] == "10" and r.json()["errorCode"] == "internal_error"
                r = c.post("/kplus/payment/cancel-token", json=creds(tokenId=token, reference1="r"))
                assert r.status_code == 500 and r.json()["errorCode"] == "internal_error"
            refused = [m for m in caplog.records if "refused" in m.getMessage()]
            assert [m.getMessage().split(" refused")[0] for m in refused] == [
                "POST /kplus/payment/generate-token",
                "POST /kplus/payment/cancel-token",
            ]
            assert all(m.exc_info is None for m in caplog.records)  # no traceback anywhere
            assert sum("was deleted or replaced" in m.getMessage() for m in caplog.records) == 3
            health = c.get("/_sandbox/health")
            assert health.status_code == 503
            assert "was deleted or replaced while the server ran" in health.json()["reason"]
            assert str(path) in health.json()["reason"]
    finally:
        live.stop()
