"""The dashboard's journal, fault and account-clock pages on the real services (not stand-ins):
what a person does there goes through the same journal rows, fault book and account
transactions as the control API."""

from __future__ import annotations

import httpx

from ..kplus.builders import generate_body
from .support import submit


def _partner(client: httpx.Client) -> dict[str, str]:
    r = client.post("/_sandbox/kplus/partners")
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def _token(client: httpx.Client, partner: dict[str, str]) -> tuple[str, dict[str, str]]:
    body = generate_body(partnerId=partner["partnerId"], partnerSecret=partner["partnerSecret"])
    r = client.post("/kplus/payment/generate-token", json=body)
    assert r.status_code == 200, r.text
    return r.json()["tokenId"], body


def _inquire(client: httpx.Client, token: str, body: dict[str, str]) -> httpx.Response:
    creds = {k: body[k] for k in ("partnerId", "partnerSecret", "requestDt")}
    return client.post(
        "/kplus/payment/inquire-token",
        json={**creds, "partnerTxnUid": f"inq-{token[-8:]}", "tokenId": token},
    )


def test_journal_page_shows_what_the_client_sent(client: httpx.Client) -> None:
    partner = _partner(client)
    token, _ = _token(client, partner)
    page = client.get("/_sandbox/ui/journal")
    assert page.status_code == 200 and "not available" not in page.text
    assert "/kplus/payment/generate-token" in page.text
    assert partner["partnerSecret"] not in page.text  # redacted before it was stored
    entry = client.get("/_sandbox/requests", params={"objectId": token}).json()["requests"][0]
    one = client.get(f"/_sandbox/ui/journal/{entry['id']}")
    assert one.status_code == 200 and token in one.text
    assert partner["partnerSecret"] not in one.text


def test_journal_page_of_a_deeply_nested_body(client: httpx.Client) -> None:
    """A body nested past Python's JSON parser's depth is refused by the provider and kept in
    the journal; its page was a 500 (RecursionError while indenting it). Found by fuzzing."""
    body = b"[" * 5000 + b"]" * 5000
    r = client.post(
        "/kplus/payment/generate-token",
        content=body,
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 400 and r.json()["errorCode"] == "bad_request", r.text
    rid = r.headers["X-Sandbox-Request-Id"]
    assert client.get(f"/_sandbox/requests/{rid}").json()["request"]["body"] == body.decode()
    page = client.get(f"/_sandbox/ui/journal/{rid}")
    assert page.status_code == 200, page.text[:300]
    assert "[[[[" in page.text and "bad_request" in page.text


def test_a_fault_added_from_the_form_makes_a_request_fail(client: httpx.Client) -> None:
    partner = _partner(client)
    token, body = _token(client, partner)
    r = submit(
        client,
        "/_sandbox/ui/faults",
        kind="error",
        provider="kplus",
        account=partner["partnerId"],
        route="/kplus/payment/inquire-token",
        error="token_not_found",
        times="1",
    )
    assert r.status_code == 303, r.text
    [fault] = client.get("/_sandbox/faults").json()["faults"]
    assert (fault["kind"], fault["account"], fault["remaining"]) == (
        "error",
        partner["partnerId"],
        1,
    )
    assert fault["id"] in client.get("/_sandbox/ui/faults").text  # listed while active
    failed = _inquire(client, token, body)
    assert failed.status_code == 404 and failed.json()["errorCode"] == "token_not_found"
    assert _inquire(client, token, body).json()["paymentStatus"] == "REQUESTED"  # used up
    assert fault["id"] not in client.get("/_sandbox/ui/faults").text  # used up: not active
    # a refused form says why and adds nothing
    bad = submit(client, "/_sandbox/ui/faults", kind="error", provider="nobody")
    assert bad.status_code == 400 and "invalid fault" in bad.text
    assert len(client.get("/_sandbox/faults").json()["faults"]) == 1
    r = submit(client, f"/_sandbox/ui/faults/{fault['id']}/remove")
    assert r.status_code == 303 and client.get("/_sandbox/faults").json()["faults"] == []


def test_an_account_clock_and_reset_from_the_accounts_page(client: httpx.Client) -> None:
    partner, other = _partner(client), _partner(client)
    token, body = _token(client, partner)
    other_token, other_body = _token(client, other)
    where = f"/_sandbox/ui/accounts/kplus/{partner['partnerId']}"
    assert 'name="seconds"' in client.get("/_sandbox/ui/accounts").text
    r = submit(client, f"{where}/clock/advance", seconds="1801")
    assert r.status_code == 303, r.text
    assert _inquire(client, token, body).json()["paymentStatus"] == "EXPIRED"
    assert _inquire(client, other_token, other_body).json()["paymentStatus"] == "REQUESTED"
    # the lists count it on its partner's clock too
    expired = client.get("/_sandbox/ui/kplus/tokens", params={"state": "EXPIRED"}).text
    assert token in expired and other_token not in expired
    requested = client.get("/_sandbox/ui/kplus/tokens", params={"state": "REQUESTED"}).text
    assert token not in requested and other_token in requested
    overview = client.get("/_sandbox/").text
    assert partner["partnerId"] in overview  # among the clocks that differ
    bad = submit(client, f"{where}/clock/advance", seconds="soon")
    assert bad.status_code == 400 and "seconds must be a number" in bad.text
    r = submit(client, f"{where}/reset")
    assert r.status_code == 303
    assert _inquire(client, token, body).json()["errorCode"] == "token_not_found"
    clock = client.get(f"/_sandbox/kplus/partners/{partner['partnerId']}/clock").json()
    assert clock["offsetSeconds"] == 0
    gone = submit(client, "/_sandbox/ui/accounts/kplus/NOSUCHPTR/reset")
    assert gone.status_code == 404
