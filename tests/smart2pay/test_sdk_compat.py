"""What Smart2Pay's published clients send, as paysandbox's own test cases: the browser js-sdk's
tokenization (CORS), the PHP SDK's capture listings and list filters, the .NET SDK's refund
status object, its ``RequestId`` header (resent unchanged on a retry), and its 3-D Secure /
"without card details" payments (201 Open with a RedirectURL to paysandbox's pages)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from paysandbox.providers.smart2pay.config import Smart2PayConfig

from ..support import LiveServer, Receiver, test_settings
from .builders import (
    AUTH,
    advance,
    auth_body,
    capture,
    codes,
    mtid,
    pay,
    payment_body,
    refund,
    status_of,
)

ORIGIN = "https://shop.example"

# ------------------------------------------------------------------ 1. CORS (js-sdk)


def test_preflight_then_tokenize_from_a_browser_origin(client: httpx.Client) -> None:
    """The js-sdk's fetch: POST with Authorization + Content-Type: application/json;charset=utf-8
    from another origin, so the browser asks first with OPTIONS."""
    pre = client.options(
        "/v1/card/authenticate",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert pre.status_code == 204, pre.text
    assert pre.headers["access-control-allow-origin"] == ORIGIN
    assert pre.headers["access-control-allow-methods"] == "POST, OPTIONS"
    allowed = {h.strip() for h in pre.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed
    assert pre.headers["vary"] == "Origin"
    assert pre.content == b""
    r = client.post(
        "/v1/card/authenticate",
        json=auth_body(),
        headers={
            **AUTH,
            "Origin": ORIGIN,
            "Content-Type": "application/json;charset=utf-8",
        },
    )
    assert r.status_code == 201, r.text
    assert r.headers["access-control-allow-origin"] == ORIGIN
    value = r.json()["CardAuthentication"]["CreditCardToken"]["Value"]
    assert len(value) == 32


def test_cors_also_on_errors_and_only_on_the_browser_route(client: httpx.Client) -> None:
    r = client.post(
        "/v1/card/authenticate", json=auth_body(), headers={"Origin": ORIGIN}
    )  # no credentials: the page must still be able to read the 401
    assert r.status_code == 401
    assert r.headers["access-control-allow-origin"] == ORIGIN
    r = client.get("/v1/payments", headers={**AUTH, "Origin": ORIGIN})
    assert r.status_code == 200
    assert "access-control-allow-origin" not in r.headers
    r = client.options("/v1/payments", headers={"Origin": ORIGIN})
    assert r.status_code == 405
    assert codes(r.json(), "Payment") == ["105"]
    r = client.post("/v1/card/authenticate", json=auth_body(), headers=AUTH)
    assert r.status_code == 201 and "access-control-allow-origin" not in r.headers


@pytest.fixture
def strict_server(fresh_db_url: str) -> Iterator[LiveServer]:
    config = Smart2PayConfig(cors_origins=[ORIGIN])
    live = LiveServer(test_settings(fresh_db_url, providers={"smart2pay": config}))
    yield live
    live.stop()


def test_configured_origins_only(strict_server: LiveServer) -> None:
    with strict_server.client() as c:
        ok = c.options(
            "/v1/card/authenticate",
            headers={"Origin": ORIGIN + "/", "Access-Control-Request-Method": "POST"},
        )
        assert ok.status_code == 204
        assert ok.headers["access-control-allow-origin"] == ORIGIN + "/"
        other = c.options(
            "/v1/card/authenticate",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert other.status_code == 204
        assert "access-control-allow-origin" not in other.headers
        r = c.post(
            "/v1/card/authenticate",
            json=auth_body(),
            headers={**AUTH, "Origin": "https://evil.example"},
        )
        assert r.status_code == 201  # the server answers; the browser refuses to hand it over
        assert "access-control-allow-origin" not in r.headers


# ------------------------------------------------------------------ 2. capture listings (PHP SDK)


def test_capture_listing_and_one_capture(client: httpx.Client) -> None:
    p = pay(client, 9000, capture=False)
    r = client.get(f"/v1/payments/{p['ID']}/captures", headers=AUTH)
    assert r.status_code == 200 and r.json() == {"Captures": []}
    assert capture(client, p["ID"], "?amount=4500").status_code == 200
    r = client.get(f"/v1/payments/{p['ID']}/captures", headers=AUTH)
    assert r.status_code == 200, r.text
    [one] = r.json()["Captures"]
    assert one["PaymentID"] == p["ID"] and one["SiteID"] == 1010
    assert (one["Amount"], one["Currency"]) == (4500, "EUR")
    assert one["MerchantTransactionID"] == p["MerchantTransactionID"]
    assert one["Status"] == {"ID": 2, "Info": "Success", "Reasons": []}
    assert len(one["Created"]) == 14
    r = client.get(f"/v1/payments/{p['ID']}/captures/{one['ID']}/", headers=AUTH)
    assert r.status_code == 200 and r.json() == {"Capture": one}


def test_a_queued_capture_shows_its_status_then_success(client: httpx.Client) -> None:
    p = pay(client, 10002, capture=True)
    [one] = client.get(f"/v1/payments/{p['ID']}/captures", headers=AUTH).json()["Captures"]
    assert one["Status"]["Info"] == "Open"
    assert [x["Code"] for x in one["Status"]["Reasons"]] == ["5288"]
    advance(client, 61)
    [one] = client.get(f"/v1/payments/{p['ID']}/captures", headers=AUTH).json()["Captures"]
    assert one["Status"] == {"ID": 2, "Info": "Success", "Reasons": []}


def test_capture_not_found_in_smart2pay_format(client: httpx.Client) -> None:
    p = pay(client, 2000, capture=True)
    r = client.get(f"/v1/payments/{p['ID']}/captures/999999", headers=AUTH)
    assert r.status_code == 404 and codes(r.json(), "Payment") == ["1"]
    r = client.get(f"/v1/payments/{p['ID']}/captures/abc", headers=AUTH)
    assert r.status_code == 404 and codes(r.json(), "Payment") == ["1"]
    r = client.get("/v1/payments/999999/captures", headers=AUTH)
    assert r.status_code == 404 and codes(r.json(), "Payment") == ["17"]


# ------------------------------------------------------------------ 3. refund status (.NET SDK)


def test_refund_status_has_what_both_sdks_parse(client: httpx.Client) -> None:
    p = pay(client, 2000, capture=True)
    ref = refund(client, p["ID"], 700).json()["Refund"]
    for path in (
        f"/v1/refunds/{ref['ID']}/status",
        f"/v1/payments/{p['ID']}/refunds/{ref['ID']}/status",
    ):
        r = client.get(path, headers=AUTH)
        assert r.status_code == 200, r.text
        got = r.json()["Refund"]
        assert got["ID"] == ref["ID"] and got["InitialPaymentID"] == p["ID"]
        assert got["MerchantTransactionID"] == ref["MerchantTransactionID"]
        assert got["StateDetails"] == {"ID": 2, "Info": "Success", "Reasons": []}
        assert got["Status"] == got["StateDetails"]


# ------------------------------------------------------------------ 4. list filters


def _ids(client: httpx.Client, query: str) -> list[int]:
    r = client.get(f"/v1/payments{query}", headers=AUTH)
    assert r.status_code == 200, r.text
    return [p["ID"] for p in r.json()["Payments"]]


def test_status_country_currency_and_offset_filters(client: httpx.Client) -> None:
    br = pay(client, 2000, capture=False, BillingAddress={"Country": "BR"})
    de = pay(client, 2000, capture=True, BillingAddress={"Country": "de"})
    usd = pay(client, 3000, capture=False, Currency="USD")
    queued = pay(client, 10002, capture=True)
    assert _ids(client, "?statusID=9") == [usd["ID"], br["ID"]]
    assert _ids(client, "?statusID=11") == [de["ID"]]
    assert _ids(client, "?statusID=33") == [queued["ID"]]
    assert _ids(client, "?country=BR") == [br["ID"]]
    assert _ids(client, "?country=de") == [de["ID"]]
    assert _ids(client, "?currency=usd") == [usd["ID"]]
    assert _ids(client, "?statusID=9&country=BR&currency=EUR") == [br["ID"]]
    assert _ids(client, "?limit=2&offset=1") == [usd["ID"], de["ID"]]
    assert _ids(client, "?limit=2&offset=10") == []
    advance(client, 61)  # the queued capture is Captured now, even before anyone reads it
    assert _ids(client, "?statusID=33") == []
    assert _ids(client, "?statusID=11") == [queued["ID"], de["ID"]]


def test_the_dotnet_sdk_filter_query(client: httpx.Client) -> None:
    """CardPaymentsFilter{startDate, endDate, limit, statusID} as the .NET SDK writes it."""
    p = pay(client, 2000, capture=False)
    other = pay(client, 2000, capture=True)
    created = client.get(f"/v1/payments/{p['ID']}", headers=AUTH).json()["Payment"]["Created"]
    query = f"?startDate={created[:8]}000000&endDate={created[:8]}235959&limit=100&statusID=9"
    assert _ids(client, query) == [p["ID"]]
    assert other["ID"] not in _ids(client, query)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?statusID=99", ["2"]),
        ("?statusID=nine", ["2"]),
        ("?country=BRA", ["108"]),
        ("?currency=EU", ["109"]),
        ("?offset=-1", ["106"]),
        ("?limit=0", ["107"]),
        ("?minimumAmount=x&startDate=2020", ["111", "112"]),
        ("?statusID=99&country=1", ["2", "108"]),
    ],
)
def test_unknown_filter_values_are_refused(
    client: httpx.Client, query: str, expected: list[str]
) -> None:
    pay(client, 2000)
    r = client.get(f"/v1/payments{query}", headers=AUTH)
    assert r.status_code == 400, r.text
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    assert codes(r.json(), "Payment") == expected


# ------------------------------------------------------------------ 5. RequestId


def _count(client: httpx.Client) -> int:
    return len(_ids(client, "?limit=1000"))


def test_same_request_id_and_body_answers_the_stored_answer(client: httpx.Client) -> None:
    body = payment_body(2000, capture=False)
    headers = {**AUTH, "RequestId": "6da98b57-f7e2-480d-9e73-ba346deaf863"}
    first = client.post("/v1/payments", json=body, headers=headers)
    assert first.status_code == 201, first.text
    again = client.post("/v1/payments", json=body, headers=headers)
    assert again.status_code == 201
    assert again.json() == first.json()
    assert _count(client) == 1
    # without the header the same body is a new request: MerchantTransactionID is taken
    dup = client.post("/v1/payments", json=body, headers=AUTH)
    assert dup.status_code == 400 and codes(dup.json(), "Payment") == ["20"]


def test_same_request_id_with_another_body_is_refused(client: httpx.Client) -> None:
    headers = {**AUTH, "RequestId": "req-1"}
    assert client.post("/v1/payments", json=payment_body(), headers=headers).status_code == 201
    r = client.post("/v1/payments", json=payment_body(), headers=headers)
    assert r.status_code == 400, r.text
    assert codes(r.json(), "Payment") == ["20"]
    assert "RequestId" in r.json()["Payment"]["Status"]["Reasons"][0]["Info"]
    assert _count(client) == 1


def test_a_retried_capture_and_refund_do_not_run_twice(client: httpx.Client) -> None:
    p = pay(client, 9000, capture=False)
    h = {**AUTH, "RequestId": "cap-1"}
    one = client.post(f"/v1/payments/{p['ID']}/capture?amount=4000", headers=h)
    two = client.post(f"/v1/payments/{p['ID']}/capture?amount=4000", headers=h)
    assert one.status_code == two.status_code == 200
    assert two.json() == one.json()
    assert one.json()["Payment"]["Status"]["Info"] == "PartiallyCaptured"
    other = client.post(f"/v1/payments/{p['ID']}/capture?amount=3000", headers=h)
    assert other.status_code == 400 and codes(other.json(), "Payment") == ["20"]
    body = {"Refund": {"MerchantTransactionID": mtid("r_"), "Amount": 1000}}
    rh = {**AUTH, "RequestId": "ref-1"}
    a = client.post(f"/v1/payments/{p['ID']}/refunds", json=body, headers=rh)
    b = client.post(f"/v1/payments/{p['ID']}/refunds/", json=body, headers=rh)
    assert a.status_code == b.status_code == 201 and a.json() == b.json()
    assert len(client.get(f"/v1/payments/{p['ID']}/refunds", headers=AUTH).json()["Refunds"]) == 1


def test_an_error_answer_is_not_stored(client: httpx.Client) -> None:
    """A refused request changed nothing, so the same RequestId may run again once fixed
    (the .NET SDK does not retry a 400, but a merchant's own retry loop might)."""
    h = {**AUTH, "RequestId": "err-1"}
    bad = payment_body()
    bad["Payment"]["Amount"] = 0
    r = client.post("/v1/payments", json=bad, headers=h)
    assert r.status_code == 400 and codes(r.json(), "Payment") == ["1001"]
    r = client.post("/v1/payments", json=bad, headers=h)
    assert r.status_code == 400 and codes(r.json(), "Payment") == ["1001"]


def test_request_ids_are_per_site_and_checked(client: httpx.Client) -> None:
    r = client.put("/_sandbox/smart2pay/sites/2020", json={"apiKey": "other"})
    assert r.status_code == 200
    from .builders import basic

    body = payment_body()
    a = client.post("/v1/payments", json=body, headers={**AUTH, "RequestId": "same"})
    b = client.post(
        "/v1/payments", json=body, headers={**basic(2020, "other"), "RequestId": "same"}
    )
    assert a.status_code == b.status_code == 201
    assert a.json()["Payment"]["SiteID"] == 1010 and b.json()["Payment"]["SiteID"] == 2020
    r = client.post("/v1/payments", json=payment_body(), headers={**AUTH, "RequestId": "x" * 129})
    assert r.status_code == 400 and codes(r.json(), "Payment") == ["1"]


def test_racing_retries_with_one_request_id_create_one_payment(server: LiveServer) -> None:
    with server.client() as c:
        assert c.post("/_sandbox/reset").status_code == 200
    body = payment_body(2000)
    answers: list[httpx.Response] = []

    def send() -> None:
        with server.client() as c:
            answers.append(c.post("/v1/payments", json=body, headers={**AUTH, "RequestId": "race"}))

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status_code for r in answers] == [201] * 8
    assert len({r.json()["Payment"]["ID"] for r in answers}) == 1
    with server.client() as c:
        assert _count(c) == 1


# ------------------------------------------------------------------ 6. 3-D Secure and card form


def _page(client: httpx.Client, url: str) -> tuple[str, str]:
    path = urlsplit(url).path
    r = client.get(path)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), r.text
    return path, r.text


def _notified(receiver: Receiver, client: httpx.Client) -> None:
    r = client.put("/_sandbox/smart2pay/sites/1010", json={"notificationUrl": receiver.url + "/n"})
    assert r.status_code == 200


def test_3d_secure_payment_is_open_then_authenticated(
    client: httpx.Client, receiver: Receiver
) -> None:
    """The .NET SDK's 3-D Secure test: Capture, Retry, 3DSecure true, ReturnURL."""
    _notified(receiver, client)
    body = payment_body(
        2000,
        capture=True,
        ReturnURL="http://demo.smart2pay.com/redirect.php?shop=1",
        Retry=True,
        PaymentTokenLifetime=5,
        **{"3DSecure": True},
    )
    r = client.post("/v1/payments", json=body, headers=AUTH)
    assert r.status_code == 201, r.text
    p = r.json()["Payment"]
    assert p["Status"] == {"ID": 1, "Info": "Open", "Reasons": []}
    assert p["RedirectURL"].startswith(str(client.base_url) + "/smart2pay/payment/")
    assert p["3DSecure"] is True and p["MethodID"] == 6 and p["Card"]["Number"] == "VISA-1111"
    assert p["CapturedAmount"] == 0
    path, html = _page(client, p["RedirectURL"])
    assert 'id="authenticate"' in html and 'id="fail"' in html and "20.00 EUR" in html
    assert client.post(f"/v1/payments/{p['ID']}/capture", headers=AUTH).status_code == 402
    done = client.post(path, data={"action": "authenticate"})
    assert done.status_code == 303
    back = urlsplit(done.headers["location"])
    assert (back.netloc, back.path) == ("demo.smart2pay.com", "/redirect.php")
    assert dict(parse_qsl(back.query)) == {
        "shop": "1",
        "data": "11",
        "MerchantTransactionID": p["MerchantTransactionID"],
    }
    after = client.get(f"/v1/payments/{p['ID']}", headers=AUTH).json()["Payment"]
    assert after["Status"]["Info"] == "Captured" and after["CapturedAmount"] == 2000
    assert after["RedirectURL"] is None
    got = receiver.wait_for(2)
    assert [x.json()["Payment"]["Status"]["Info"] for x in got] == ["Open", "Captured"]
    # the page now shows the outcome and its buttons are gone; a second press changes nothing
    _, html = _page(client, p["RedirectURL"])
    assert 'id="authenticate"' not in html and "Captured" in html
    assert client.post(path, data={"action": "fail"}).status_code == 303
    assert status_of(client, p["ID"]) == (11, "Captured")


def test_3d_secure_fail_and_the_test_amounts_still_decide(client: httpx.Client) -> None:
    body = payment_body(2000, capture=False, **{"3DSecure": True})
    p = client.post("/v1/payments", json=body, headers=AUTH).json()["Payment"]
    path = urlsplit(p["RedirectURL"]).path
    assert client.post(path, data={"action": "fail"}).status_code == 303
    after = client.get(f"/v1/payments/{p['ID']}", headers=AUTH).json()["Payment"]
    assert after["Status"]["Info"] == "Failed"
    assert [x["Code"] for x in after["Status"]["Reasons"]] == ["13"]
    # amount 10002 with Capture: authenticated → QueuedForCapturing 5288 → Captured after 60 s
    body = payment_body(10002, capture=True, **{"3DSecure": True})
    q = client.post("/v1/payments", json=body, headers=AUTH).json()["Payment"]
    client.post(urlsplit(q["RedirectURL"]).path, data={"action": "authenticate"})
    assert status_of(client, q["ID"]) == (33, "QueuedForCapturing")
    advance(client, 61)
    assert status_of(client, q["ID"]) == (11, "Captured")
    # amount 10001: authenticated, then the authorization itself fails
    body = payment_body(10001, capture=True, **{"3DSecure": True})
    f = client.post("/v1/payments", json=body, headers=AUTH).json()["Payment"]
    client.post(urlsplit(f["RedirectURL"]).path, data={"action": "authenticate"})
    assert status_of(client, f["ID"]) == (4, "Failed")


def test_payment_without_card_details_uses_the_hosted_card_form(client: httpx.Client) -> None:
    """The .NET SDK's "without card details" test: no Card, no token → 201 Open + RedirectURL."""
    body = payment_body(
        9000,
        capture=False,
        ReturnURL="http://demo.smart2pay.com/redirect.php",
        GenerateCreditCardToken=True,
    )
    del body["Payment"]["Card"]
    r = client.post("/v1/payments", json=body, headers=AUTH)
    assert r.status_code == 201, r.text
    p = r.json()["Payment"]
    assert p["Status"]["Info"] == "Open" and p["Card"] is None and p["RedirectURL"]
    path, html = _page(client, p["RedirectURL"])
    assert 'name="Number"' in html and 'id="pay"' in html
    bad = client.post(
        path,
        data={
            "action": "card",
            "HolderName": "John Doe",
            "Number": "4111111111111112",
            "ExpirationMonth": "02",
            "ExpirationYear": "2030",
            "SecurityCode": "312",
        },
    )
    assert bad.status_code == 400 and "Luhn" in bad.text and "4111111111111112" not in bad.text
    assert status_of(client, p["ID"]) == (1, "Open")
    ok = client.post(
        path,
        data={
            "action": "card",
            "HolderName": "John Doe",
            "Number": "4111111111111111",
            "ExpirationMonth": "02",
            "ExpirationYear": "2030",
            "SecurityCode": "312",
        },
    )
    assert ok.status_code == 303
    assert dict(parse_qsl(urlsplit(ok.headers["location"]).query))["data"] == "9"
    after = client.get(f"/v1/payments/{p['ID']}", headers=AUTH).json()["Payment"]
    assert after["Status"]["Info"] == "Authorized"
    assert after["Card"]["Number"] == "VISA-1111" and after["Card"]["ExpirationYear"] == "2030"
    token = after["CreditCardToken"]["Value"]
    t = client.get(f"/v1/card/token/{token}", headers=AUTH)
    assert t.status_code == 200 and t.json()["CardAuthentication"]["Card"]["Number"] == "VISA-1111"
    assert client.post(f"/v1/payments/{p['ID']}/capture", headers=AUTH).status_code == 200


def test_card_form_with_3d_secure_and_cancel(client: httpx.Client) -> None:
    body = payment_body(2000, capture=True, **{"3DSecure": True})
    del body["Payment"]["Card"]
    p = client.post("/v1/payments", json=body, headers=AUTH).json()["Payment"]
    path = urlsplit(p["RedirectURL"]).path
    # no ReturnURL: the browser comes back to the page, which shows the next step
    r = client.post(
        path,
        data={
            "action": "card",
            "Number": "5555555555554444",
            "ExpirationMonth": "2",
            "ExpirationYear": "30",
            "SecurityCode": "123",
        },
    )
    assert r.status_code == 303 and r.headers["location"] == path
    _, html = _page(client, p["RedirectURL"])
    assert 'id="authenticate"' in html
    assert client.post(path, data={"action": "authenticate"}).status_code == 303
    assert status_of(client, p["ID"]) == (11, "Captured")
    other = payment_body(2000)
    del other["Payment"]["Card"]
    q = client.post("/v1/payments", json=other, headers=AUTH).json()["Payment"]
    assert (
        client.post(urlsplit(q["RedirectURL"]).path, data={"action": "cancel"}).status_code == 303
    )
    after = client.get(f"/v1/payments/{q['ID']}", headers=AUTH).json()["Payment"]
    assert after["Status"]["Info"] == "Cancelled"
    assert [x["Code"] for x in after["Status"]["Reasons"]] == ["119"]


def test_unknown_payment_page_is_a_404(client: httpx.Client) -> None:
    r = client.get("/smart2pay/payment/00000000000000000000000000000000")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    r = client.post("/smart2pay/payment/00000000000000000000000000000000", data={"action": "fail"})
    assert r.status_code == 404
