"""The provider-neutral control API: clock, reset, deliveries, error format."""

from __future__ import annotations

import httpx

from ..kplus.builders import creds, generate_body
from ..support import KPLUS_ID


def test_clock_moves_forward_only_by_request(client: httpx.Client) -> None:
    before = client.get("/_sandbox/clock").json()
    assert set(before) == {"now", "nowUnixMs", "offsetSeconds"}
    assert before["offsetSeconds"] == 0
    r = client.post("/_sandbox/clock/advance", json={"seconds": 86400})
    assert r.status_code == 200
    after = r.json()
    assert after["offsetSeconds"] == 86400
    assert after["nowUnixMs"] - before["nowUnixMs"] >= 86_400_000
    assert client.get("/_sandbox/clock").json()["offsetSeconds"] == 86400


def test_clock_advance_rejects_bad_bodies(client: httpx.Client) -> None:
    for body in ({"seconds": -1}, {"seconds": "x"}, {"minutes": 1}, {}):
        r = client.post("/_sandbox/clock/advance", json=body)
        assert r.status_code == 400, body
        assert r.json()["error"] == "bad_request" and r.json()["message"]
    r = client.post(
        "/_sandbox/clock/advance", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["error"] == "bad_request"
    for headers in ({}, {"Content-Type": "application/json"}):  # no body: seconds is required
        r = client.post("/_sandbox/clock/advance", content=b"", headers=headers)
        assert r.status_code == 400, r.text
        assert r.json()["error"] == "bad_request" and "seconds" in r.json()["message"]
    r = client.post(
        "/_sandbox/clock/advance", content=b"seconds=5", headers={"Content-Type": "text/plain"}
    )
    assert r.status_code == 415 and r.json()["error"] == "unsupported_media_type"
    assert client.get("/_sandbox/clock").json()["offsetSeconds"] == 0


def test_reset_forgets_objects_clock_and_credential_changes(client: httpx.Client) -> None:
    token = client.post("/kplus/payment/generate-token", json=generate_body()).json()["tokenId"]
    client.post("/_sandbox/clock/advance", json={"seconds": 60})
    client.put(f"/_sandbox/kplus/partners/{KPLUS_ID}", json={"callbackUrl": "http://127.0.0.1:9/x"})
    r = client.post("/_sandbox/reset")
    assert r.status_code == 200 and r.json()["reset"] is True
    assert client.get(f"/_sandbox/kplus/tokens/{token}").status_code == 404
    assert client.get("/_sandbox/clock").json()["offsetSeconds"] == 0
    partners = client.get("/_sandbox/kplus/partners").json()["partners"]
    demo = next(p for p in partners if p["partnerId"] == KPLUS_ID)
    assert demo["callbackUrl"] is None
    # demo credentials still work after a reset
    r = client.post("/kplus/payment/generate-token", json=generate_body())
    assert r.json()["statusCode"] == "00"


def test_control_not_found_and_method_errors(client: httpx.Client) -> None:
    r = client.get("/_sandbox/kplus/tokens/KMCMPTnothing")
    assert r.status_code == 404
    assert r.json() == {
        "error": "not_found",
        "message": "tokenId not found",
        "detail": "token_not_found",
    }
    r = client.get("/_sandbox/deliveries/dlv_nothing")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = client.post("/_sandbox/deliveries/dlv_nothing/retry")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = client.get("/_sandbox/nothing-here")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = client.delete("/_sandbox/clock")
    assert r.status_code == 405 and r.json()["error"] == "method_not_allowed"
    r = client.get("/_sandbox/deliveries?limit=abc")
    assert r.status_code == 400 and r.json()["error"] == "bad_request"


def test_partner_put_validation_and_secret_never_shown(client: httpx.Client) -> None:
    r = client.put(f"/_sandbox/kplus/partners/{KPLUS_ID}", json={"callbackUrl": "ftp://x"})
    assert r.status_code == 400 and r.json()["error"] == "bad_request"
    r = client.put("/_sandbox/kplus/partners/NEWPARTNER", json={"callbackUrl": "http://a/b"})
    assert r.status_code == 400 and "partnerSecret" in r.json()["message"]
    r = client.put(
        "/_sandbox/kplus/partners/NEWPARTNER",
        json={"partnerSecret": "s3cret-value", "faults": {"duplicate": True}},
    )
    assert r.status_code == 200
    assert r.json() == {
        "partnerId": "NEWPARTNER",
        "callbackUrl": None,
        "tokenTtlSeconds": 1800,
        "faults": {
            "duplicate": True,
            "delaySeconds": 0,
            "outOfOrder": False,
            "reorderWindowSeconds": 5,
        },
    }
    listing = client.get("/_sandbox/kplus/partners")
    assert "s3cret-value" not in listing.text and "7da57c4e" not in listing.text
    gen = client.post(
        "/kplus/payment/generate-token",
        json=generate_body(partnerId="NEWPARTNER", partnerSecret="s3cret-value"),
    )
    assert gen.json()["statusCode"] == "00"
    inq = client.post("/kplus/payment/inquire-token", json=creds(tokenId=gen.json()["tokenId"]))
    assert inq.json()["errorCode"] == "token_not_found"  # another partner's token


def test_partner_callback_url_is_parsed_and_its_password_hidden(client: httpx.Client) -> None:
    for bad in ("http://[::1", "http://host:99999/x", "mailto:a@b"):
        r = client.put(f"/_sandbox/kplus/partners/{KPLUS_ID}", json={"callbackUrl": bad})
        assert r.status_code == 400 and r.json()["error"] == "bad_request", bad
        assert bad not in r.text
    r = client.put(
        f"/_sandbox/kplus/partners/{KPLUS_ID}",
        json={"callbackUrl": "http://shop:pa55word@127.0.0.1:9/cb"},
    )
    assert r.status_code == 200
    assert r.json()["callbackUrl"] == "http://***@127.0.0.1:9/cb"
    assert "pa55word" not in client.get("/_sandbox/kplus/partners").text
