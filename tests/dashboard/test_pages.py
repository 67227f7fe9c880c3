"""The dashboard over plain HTTP: pages, filters and paging, actions through the services,
refusal of cross-site forms, live fragments, deliveries and retry, and the Smart2Pay control
verbs the dashboard uses."""

from __future__ import annotations

import base64
import re
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from ..kplus.builders import generate_body
from ..nicepay.builders import PAY, page_action, payment_params, register
from ..nicepay.test_redirect import register_redirect
from ..smart2pay.builders import pay as s2p_pay
from ..smart2pay.builders import payment_body
from ..support import Receiver, wait_settled, wait_until
from .support import csrf, kplus_status, kplus_token, submit


def test_overview_is_a_strict_html_page(client: httpx.Client) -> None:
    token_id = kplus_token(client)
    r = client.get("/_sandbox/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["x-frame-options"] == "DENY"
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    nonce = re.search(r"script-src 'nonce-([^']+)'", csp).group(1)  # type: ignore[union-attr]
    assert f'<script nonce="{nonce}">' in r.text and f'<style nonce="{nonce}">' in r.text
    # no external assets, nothing inline without the nonce
    # (the one <link> is the empty icon, "data:,": no /favicon.ico request)
    links = re.findall(r"<link[^>]*>", r.text)
    assert links == ['<link rel="icon" href="data:,">'], links
    assert "<script src" not in r.text and "url(http" not in r.text
    assert "onclick=" not in r.text
    cookie = r.headers["set-cookie"]
    assert "paysandbox_dashboard=" in cookie and "HttpOnly" in cookie
    assert "SameSite=strict" in cookie and "Path=/_sandbox/" in cookie
    for title in ("K PLUS", "NICEPay", "Smart2Pay"):
        assert title in r.text
    kplus = r.text.split('data-testid="provider-kplus"')[1].split("</section>")[0]
    assert re.search(r"REQUESTED</span> <b>1</b>", kplus), kplus
    assert f"/_sandbox/ui/kplus/tokens/{token_id}" in r.text  # among the newest
    listing = client.get("/_sandbox/ui/kplus/tokens")
    assert token_id in listing.text


def test_every_page_renders(client: httpx.Client) -> None:
    token_id = kplus_token(client)
    t_xid = register(client)["tXid"]
    pid = s2p_pay(client, capture=False)["ID"]
    for path, text in (
        ("/_sandbox/ui/kplus/tokens", token_id),
        (f"/_sandbox/ui/kplus/tokens/{token_id}", "Open the customer page"),
        ("/_sandbox/ui/nicepay/transactions", t_xid),
        (f"/_sandbox/ui/nicepay/transactions/{t_xid}", "Virtual Account"),
        ("/_sandbox/ui/smart2pay/payments", str(pid)),
        (f"/_sandbox/ui/smart2pay/payments/{pid}", "Authorized"),
        ("/_sandbox/ui/smart2pay/tokens", "Nothing matches."),
        ("/_sandbox/ui/deliveries", "No deliveries."),
        ("/_sandbox/ui/accounts", "PTR1902369"),
        ("/_sandbox/ui/accounts", "IONPAYTEST"),
        ("/_sandbox/ui/accounts", "1010"),
    ):
        r = client.get(path)
        assert r.status_code == 200, (path, r.text)
        assert text in r.text, path
    accounts = client.get("/_sandbox/ui/accounts").text
    # secrets are never shown
    assert "7da57c4eb242435fa3e91bb7a69e2a28" not in accounts and "gabi" not in accounts


def test_a_checkout_whose_method_is_not_chosen_renders(client: httpx.Client) -> None:
    """A v2 Redirect registration of payMethod 00 (the customer chooses on the page): its page
    was a 500 (KeyError '00' for the title) until a method was chosen. Found by fuzzing."""
    t_xid = register_redirect(client, "00")["tXid"]
    r = client.get(f"/_sandbox/ui/nicepay/transactions/{t_xid}")
    assert r.status_code == 200, r.text[:300]
    assert "NICEPay Checkout (method not chosen)" in r.text and t_xid in r.text
    r = client.get("/_sandbox/ui/nicepay/transactions")
    assert r.status_code == 200 and t_xid in r.text


def test_unknown_object_is_an_html_404(client: httpx.Client) -> None:
    for path in (
        "/_sandbox/ui/kplus/tokens/KMCMPTnosuchPMT",
        "/_sandbox/ui/nicepay/transactions/NOSUCH",
        "/_sandbox/ui/smart2pay/payments/999999",
        "/_sandbox/ui/smart2pay/payments/not-a-number",
        "/_sandbox/ui/deliveries/nosuch",
    ):
        r = client.get(path)
        assert r.status_code == 404, path
        assert r.headers["content-type"].startswith("text/html")
        assert "There is no" in r.text


def test_listing_filters_and_pages(client: httpx.Client) -> None:
    ids = [kplus_token(client, reference1=f"REF-{n:03d}") for n in range(27)]
    first = client.get("/_sandbox/ui/kplus/tokens").text
    assert first.count('data-testid="object-row"') == 25
    assert ids[-1] in first and ids[0] not in first  # newest first
    assert 'data-testid="next-page"' in first
    second = client.get("/_sandbox/ui/kplus/tokens", params={"page": "2"}).text
    assert second.count('data-testid="object-row"') == 2 and ids[0] in second
    assert 'data-testid="next-page"' not in second

    assert client.post(f"/_sandbox/kplus/tokens/{ids[5]}/pay").status_code == 200
    paid = client.get("/_sandbox/ui/kplus/tokens", params={"state": "PAID"}).text
    assert paid.count('data-testid="object-row"') == 1 and ids[5] in paid

    found = client.get("/_sandbox/ui/kplus/tokens", params={"q": "REF-013"}).text
    assert found.count('data-testid="object-row"') == 1 and ids[13] in found
    # without regard to case, on both engines (PostgreSQL's LIKE is exact: ILIKE there)
    for q in ("ref-013", ids[13].upper()):
        found = client.get("/_sandbox/ui/kplus/tokens", params={"q": q}).text
        assert found.count('data-testid="object-row"') == 1 and ids[13] in found, q
    # LIKE wildcards are taken literally
    none = client.get("/_sandbox/ui/kplus/tokens", params={"q": "REF-0_3"}).text
    assert 'data-testid="empty"' in none

    other = client.get("/_sandbox/ui/kplus/tokens", params={"account": "NOBODY"}).text
    assert 'data-testid="empty"' in other
    later = client.get("/_sandbox/ui/kplus/tokens", params={"since": "2999-01-01"}).text
    assert 'data-testid="empty"' in later
    # a day as both ends takes in that whole day (until meant its first moment: nothing)
    today = client.get("/_sandbox/clock").json()["now"][:10]
    one_day = client.get(
        "/_sandbox/ui/kplus/tokens", params={"since": today, "until": today, "page": "2"}
    ).text
    assert one_day.count('data-testid="object-row"') == 2, one_day
    earlier = client.get("/_sandbox/ui/kplus/tokens", params={"until": "2000-01-01"}).text
    assert 'data-testid="empty"' in earlier

    # the sandbox clock decides what is expired, in counts and in the state filter
    assert client.post("/_sandbox/clock/advance", json={"seconds": 1801}).status_code == 200
    expired = client.get("/_sandbox/ui/kplus/tokens", params={"state": "EXPIRED", "page": "2"})
    assert expired.text.count('data-testid="object-row"') == 1
    overview = client.get("/_sandbox/").text
    assert re.search(r"EXPIRED</span> <b>26</b>", overview)


def test_an_action_runs_the_service_and_a_cross_site_form_is_refused(
    client: httpx.Client,
) -> None:
    token_id = kplus_token(client)
    path = f"/_sandbox/ui/kplus/tokens/{token_id}/pay"
    token = csrf(client)
    origin = str(client.base_url).rstrip("/")
    refused = [
        client.post(path, data={}),  # no token
        client.post(path, data={"csrf": "x" * 43}),  # a wrong one
        client.post(path, data={"csrf": token}, headers={"Origin": "http://evil.example"}),
        client.post(path, data={"csrf": token}, headers={"Sec-Fetch-Site": "cross-site"}),
        client.post(path, data={"csrf": token}, headers={"Sec-Fetch-Site": "same-site"}),
        client.post(path, content=f"csrf={token}".encode(), headers={"Content-Type": "text/plain"}),
    ]
    assert [r.status_code for r in refused] == [403, 403, 403, 403, 403, 415]
    # the request guard refuses what the browser marks as cross-site or from another origin,
    # the dashboard's own check the rest (a form without the page's token, same-site): pages
    # either way (the guard's were the control API's JSON)
    for n, r in enumerate(refused):
        assert "text/html" in r.headers["content-type"], (n, r.text)
    assert all("another site" in refused[n].text for n in (2, 3))
    assert "refused" in refused[4].text
    # a token from another browser (another cookie) does not do either
    with httpx.Client(base_url=client.base_url) as other:
        assert csrf(other) != token  # this browser has a cookie of its own
        assert other.post(path, data={"csrf": token}).status_code == 403
    assert kplus_status(client, token_id) == "REQUESTED"  # nothing changed

    r = client.post(
        path,
        data={"csrf": token, "paymentAccount": "0011230055"},
        headers={"Origin": origin, "Sec-Fetch-Site": "same-origin"},
    )
    assert r.status_code == 303
    assert r.headers["location"] == f"/_sandbox/ui/kplus/tokens/{token_id}?done=pay"
    view = client.get(f"/_sandbox/kplus/tokens/{token_id}").json()
    assert view["status"] == "PAID" and view["paymentAccount"] == "x-x-x3005-x"
    assert [e["kind"] for e in view["events"]] == ["created", "paid"]
    assert view["events"][1]["data"]["via"] == "dashboard"
    page = client.get(r.headers["location"]).text
    assert 'data-testid="done"' in page and "data:image/png;base64," in page
    assert 'data-testid="no-actions"' in page  # nothing applies to a paid token

    again = submit(client, f"/_sandbox/ui/kplus/tokens/{token_id}/expire")
    assert again.status_code == 409
    assert 'data-testid="error">token is already paid' in again.text


def test_a_bad_action_value_is_refused_with_a_message(client: httpx.Client) -> None:
    token_id = kplus_token(client)
    r = submit(client, f"/_sandbox/ui/kplus/tokens/{token_id}/pay", paymentAccount="12")
    assert r.status_code == 400
    assert "4 to 32 characters" in r.text
    t_xid = register(client)["tXid"]
    # "²" is a digit to str.isdigit, not to int(); "1.5" was read as 15 rupiah and paid
    for amount in ("ten", "²", "1.5", "15.00", "1.2345"):
        r = submit(client, f"/_sandbox/ui/nicepay/transactions/{t_xid}/pay", amount=amount)
        assert r.status_code == 400 and "whole number" in r.text, amount
    assert client.get(f"/_sandbox/nicepay/transactions/{t_xid}").json()["state"] == "UNPAID"
    r = submit(client, f"/_sandbox/ui/nicepay/transactions/{t_xid}/pay", amount="12.000")
    assert r.status_code == 303  # Indonesian thousands dots: twelve thousand
    paid = client.get(f"/_sandbox/nicepay/transactions/{t_xid}").json()
    assert paid["state"] == "PAID" and paid["paidAmt"] == 12000, paid
    pid = s2p_pay(client, amount=2000, capture=False)["ID"]
    for action in ("capture", "refund"):
        for amount in ("²", "1.234", "0", "1,00", "-1"):
            r = submit(client, f"/_sandbox/ui/smart2pay/payments/{pid}/{action}", amount=amount)
            assert r.status_code == 400 and "as it is shown, e.g. 11.54" in r.text, r.text
    for kind in ("payments", "tokens"):  # a site filter that is no number matches nothing
        page = client.get(f"/_sandbox/ui/smart2pay/{kind}", params={"account": "²"})
        assert page.status_code == 200 and 'data-testid="empty"' in page.text
    wire = client.get(f"/v1/payments/{pid}", headers={"Authorization": "Basic MTAxMDpnYWJp"})
    assert wire.json()["Payment"]["Status"]["Info"] == "Authorized"


def test_live_fragment_is_only_the_live_block(client: httpx.Client) -> None:
    token_id = kplus_token(client)
    r = client.get(f"/_sandbox/ui/kplus/tokens/{token_id}", params={"fragment": "live"})
    assert r.status_code == 200
    assert "<html" not in r.text and "<nav" not in r.text
    assert token_id in r.text and 'data-testid="timeline"' in r.text
    overview = client.get("/_sandbox/", params={"fragment": "live"}).text
    assert "<html" not in overview and 'data-testid="provider-kplus"' in overview


def test_clock_form_moves_the_sandbox_clock(client: httpx.Client) -> None:
    r = submit(client, "/_sandbox/ui/clock/advance", seconds="3600")
    assert r.status_code == 303 and r.headers["location"] == "/_sandbox/"
    assert client.get("/_sandbox/clock").json()["offsetSeconds"] == 3600
    bad = submit(client, "/_sandbox/ui/clock/advance", seconds="-5")
    assert bad.status_code == 400
    assert client.get("/_sandbox/clock").json()["offsetSeconds"] == 3600


def test_delivery_pages_show_every_attempt_and_retry(client: httpx.Client) -> None:
    receiver = Receiver(script=[(500, b'{"statusCode":"99"}')]).start()
    try:
        r = client.put(
            "/_sandbox/kplus/partners/PTR1902369", json={"callbackUrl": receiver.url + "/cb"}
        )
        assert r.status_code == 200, r.text
        token_id = kplus_token(client)
        assert submit(client, f"/_sandbox/ui/kplus/tokens/{token_id}/pay").status_code == 303
        receiver.wait_for(1)
        wait_settled(client)
        delivery = client.get("/_sandbox/deliveries", params={"objectId": token_id}).json()
        (d,) = delivery["deliveries"]
        assert d["state"] == "pending" and d["attempts"] == 1

        page = client.get(f"/_sandbox/ui/deliveries/{d['id']}").text
        assert page.count('data-testid="attempt"') == 1 and "HTTP 500" in page
        assert "not accepted" in page and f"/_sandbox/ui/kplus/tokens/{token_id}" in page
        # the partner secret the callback carries is redacted
        assert "7da57c4eb242435fa3e91bb7a69e2a28" not in page
        detail = client.get(f"/_sandbox/ui/kplus/tokens/{token_id}").text
        assert d["id"] in detail
        overview = client.get("/_sandbox/").text
        assert d["id"] in overview  # pending: needs attention

        r = submit(client, f"/_sandbox/ui/deliveries/{d['id']}/retry")
        assert r.status_code == 303
        receiver.wait_for(2)
        wait_until(
            lambda: client.get(f"/_sandbox/deliveries/{d['id']}").json()["state"] == "succeeded"
        )
        page = client.get(f"/_sandbox/ui/deliveries/{d['id']}").text
        assert page.count('data-testid="attempt"') == 2 and "HTTP 200" in page
        listing = client.get(
            "/_sandbox/ui/deliveries", params={"provider": "kplus", "state": "succeeded"}
        ).text
        assert d["id"] in listing
        assert d["id"] not in client.get("/_sandbox/ui/deliveries", params={"state": "failed"}).text
    finally:
        receiver.stop()


def test_smart2pay_verbs_through_the_control_api(client: httpx.Client) -> None:
    pid = s2p_pay(client, amount=2000, capture=False)["ID"]
    base = f"/_sandbox/smart2pay/payments/{pid}"
    r = client.post(f"{base}/refunds", json={"amount": 100})
    assert r.status_code == 409, r.text
    assert r.json()["error"] == "conflict" and "Authorized" in r.json()["message"]
    r = client.post(f"{base}/capture", json={"amount": 1500})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "PartiallyCaptured" and r.json()["capturedAmount"] == 1500
    r = client.post(f"{base}/refunds", json={"amount": 500, "merchantTransactionId": "rf-1"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "PartiallyRefunded" and body["refundedAmount"] == 500
    assert body["refunds"][0]["MerchantTransactionID"] == "rf-1"
    assert client.post(f"{base}/refunds").json()["error"] == "bad_request"
    assert client.post(f"{base}/cancel").status_code == 409
    assert client.post("/_sandbox/smart2pay/payments/999999/capture").status_code == 404
    # what the merchant sees over the wire is the same payment
    wire = client.get(f"/v1/payments/{pid}", headers={"Authorization": "Basic MTAxMDpnYWJp"})
    assert wire.json()["Payment"]["Status"]["Info"] == "PartiallyRefunded"


def test_journal_and_faults_are_wired_on_this_server(client: httpx.Client) -> None:
    for path in ("/_sandbox/ui/journal", "/_sandbox/ui/faults"):
        r = client.get(path)
        assert r.status_code == 200
        assert 'data-testid="unavailable"' not in r.text, r.text
    r = submit(client, "/_sandbox/ui/faults", kind="x")
    assert r.status_code == 400 and "invalid fault" in r.text
    # a person's words, not Python's conversion errors
    for field, value, words in (
        ("latencyMs", "abc", "Latency must be a number of milliseconds."),
        ("times", "1.5", "Times must be a whole number."),
    ):
        r = submit(
            client, "/_sandbox/ui/faults", kind="latency", provider="kplus", **{field: value}
        )
        assert r.status_code == 400 and words in r.text, r.text
        assert "could not convert" not in r.text and "invalid literal" not in r.text


def test_nicepay_card_page_links_its_open_3ds_page(client: httpx.Client) -> None:
    reg = register(client, "01")
    detail = f"/_sandbox/ui/nicepay/transactions/{reg['tXid']}"
    html = client.get(detail).text
    assert "Open the 3-D Secure page" not in html  # no session yet
    assert 'data-testid="no-actions"' in html  # a card is paid on its page, not by a button
    r = client.post(PAY, data=payment_params(reg["tXid"], reg["referenceNo"]))
    assert r.status_code == 200
    html = client.get(detail).text
    link = re.search(r'<a href="([^"]+)" data-testid="link">Open the 3-D Secure page', html)
    assert link is not None and link.group(1) == httpx.URL(page_action(r.text)).path
    assert client.get(link.group(1)).status_code == 200
    client.post(page_action(r.text), data={"result": "approve"})
    html = client.get(detail).text
    assert "Open the 3-D Secure page" not in html and ">PAID<" in html


def test_merchant_text_is_escaped(client: httpx.Client) -> None:
    token_id = kplus_token(client, shopName="<script>alert(1)</script>", reference1='"><b>x')
    detail_path = f"/_sandbox/ui/kplus/tokens/{token_id}"
    for path in ("/_sandbox/", "/_sandbox/ui/kplus/tokens", detail_path):
        html = client.get(path).text
        assert "<script>alert(1)" not in html and '"><b>x' not in html
    detail = client.get(f"/_sandbox/ui/kplus/tokens/{token_id}").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in detail


def test_smart2pay_actions_that_fail_are_not_done(client: httpx.Client) -> None:
    """A capture the scenario fails (10005: reason 104) and a refund past what is left (stored
    as Failed) say they failed, not "Done"."""
    failing = s2p_pay(client, amount=10005, capture=False)["ID"]
    r = submit(client, f"/_sandbox/ui/smart2pay/payments/{failing}/capture")
    assert r.status_code == 400 and "The capture failed" in r.text, r.text
    pid = s2p_pay(client, amount=2000)["ID"]  # captured
    r = submit(client, f"/_sandbox/ui/smart2pay/payments/{pid}/refund", amount="25")
    assert r.status_code == 400 and "refund of 25.00 EUR failed" in r.text, r.text
    r = submit(client, f"/_sandbox/ui/smart2pay/payments/{pid}/refund", amount="5.00")
    assert r.status_code == 303 and r.headers["location"].endswith("?done=refund")


def test_smart2pay_buttons_follow_the_state(client: httpx.Client) -> None:
    pid = s2p_pay(client, amount=2000, capture=False)["ID"]
    base = f"/_sandbox/ui/smart2pay/payments/{pid}"
    html = client.get(base).text
    assert 'data-testid="action-capture"' in html and 'data-testid="action-cancel"' in html
    assert 'data-testid="action-refund"' not in html
    assert submit(client, f"{base}/capture", amount="15.00").status_code == 303
    html = client.get(base).text
    assert ">PartiallyCaptured<" in html and 'data-testid="action-refund"' in html
    assert 'data-testid="action-capture"' not in html
    r = submit(client, f"{base}/refund")  # empty: all that is left
    assert r.status_code == 303
    view = client.get(f"/_sandbox/smart2pay/payments/{pid}").json()
    assert view["status"] == "Refunded" and view["refundedAmount"] == 1500
    r = submit(client, f"{base}/capture")
    assert r.status_code == 409 and "needs Authorized" in r.text
    cancelled = s2p_pay(client, amount=2000, capture=False)["ID"]
    assert submit(client, f"/_sandbox/ui/smart2pay/payments/{cancelled}/cancel").status_code == 303
    view = client.get(f"/_sandbox/smart2pay/payments/{cancelled}").json()
    assert view["status"] == "Cancelled"
    assert submit(client, "/_sandbox/ui/smart2pay/payments/77777777/cancel").status_code == 404


def test_throwaway_accounts_are_created_through_the_control_checks(client: httpx.Client) -> None:
    r = submit(
        client,
        "/_sandbox/ui/accounts/kplus/new",
        partnerId="PTRTEMP01",
        partnerSecret="s3cret-s3cret",
        callbackUrl="http://127.0.0.1:9/cb",
    )
    assert r.status_code == 303
    assert r.headers["location"] == "/_sandbox/ui/accounts?created=PTRTEMP01"
    page = client.get(r.headers["location"]).text
    assert "PTRTEMP01" in page and "s3cret-s3cret" not in page  # never the secret
    (partner,) = [
        p
        for p in client.get("/_sandbox/kplus/partners").json()["partners"]
        if p["partnerId"] == "PTRTEMP01"
    ]
    assert partner["callbackUrl"] == "http://127.0.0.1:9/cb"
    body = generate_body(partnerId="PTRTEMP01", partnerSecret="s3cret-s3cret")
    assert client.post("/kplus/payment/generate-token", json=body).json()["statusCode"] == "00"

    again = submit(
        client, "/_sandbox/ui/accounts/kplus/new", partnerId="PTRTEMP01", partnerSecret="x" * 9
    )
    assert again.status_code == 400 and "already exists" in again.text
    body = generate_body(partnerId="PTRTEMP01", partnerSecret="s3cret-s3cret")
    assert client.post("/kplus/payment/generate-token", json=body).json()["statusCode"] == "00"
    bad_url = submit(
        client, "/_sandbox/ui/accounts/kplus/new", partnerSecret="x" * 9, callbackUrl="ftp://x"
    )
    assert bad_url.status_code == 400 and 'data-testid="error"' in bad_url.text
    short = submit(client, "/_sandbox/ui/accounts/kplus/new", partnerSecret="short")
    assert short.status_code == 400 and "8 to 256" in short.text

    r = submit(client, "/_sandbox/ui/accounts/smart2pay/new", siteId="4242", apiKey="k3y")
    assert r.status_code == 303
    auth = {"Authorization": "Basic " + base64.b64encode(b"4242:k3y").decode()}
    created = client.post("/v1/payments", json=payment_body(), headers=auth)
    assert created.status_code == 201, created.text
    again = submit(client, "/_sandbox/ui/accounts/smart2pay/new", siteId="4242", apiKey="z")
    assert again.status_code == 400 and "already exists" in again.text
    # no such form for a provider whose accounts come only from the configuration
    assert "/_sandbox/ui/accounts/nicepay/new" not in client.get("/_sandbox/ui/accounts").text


@pytest.mark.parametrize(
    ("provider", "ident", "secret_field"),
    [
        ("kplus", {"partnerId": "PTRRACE01"}, "partnerSecret"),
        ("smart2pay", {"siteId": "4343"}, "apiKey"),
    ],
)
def test_racing_new_account_forms_create_it_once(
    client: httpx.Client, provider: str, ident: dict[str, str], secret_field: str
) -> None:
    """Twelve forms creating the same partner / site at once: one is told "created" and its
    secret is the one that works; the others are told it exists (on PostgreSQL each used to
    see no account, "create" it and overwrite the secret before)."""
    start = threading.Barrier(12)

    def create(n: int) -> tuple[int, str]:
        secret = f"secret-number-{n:02d}"
        with httpx.Client(base_url=client.base_url, timeout=30) as c:
            token = csrf(c)
            start.wait()
            r = c.post(
                f"/_sandbox/ui/accounts/{provider}/new",
                data={"csrf": token, **ident, secret_field: secret},
                headers={"Origin": str(c.base_url).rstrip("/"), "Sec-Fetch-Site": "same-origin"},
            )
            return r.status_code, secret

    with ThreadPoolExecutor(12) as pool:
        results = list(pool.map(create, range(12)))
    assert sorted(status for status, _ in results) == [303] + [400] * 11, results
    [winner] = [secret for status, secret in results if status == 303]
    for _, secret in results:
        if provider == "kplus":
            body = generate_body(partnerId="PTRRACE01", partnerSecret=secret)
            works = client.post("/kplus/payment/generate-token", json=body).json()["statusCode"]
            assert (works == "00") == (secret == winner), (secret, works)
        else:
            basic = base64.b64encode(f"4343:{secret}".encode()).decode()
            r = client.post(
                "/v1/payments", json=payment_body(), headers={"Authorization": f"Basic {basic}"}
            )
            assert (r.status_code == 201) == (secret == winner), (secret, r.status_code)


def test_dashboard_addresses_answer_with_pages(client: httpx.Client) -> None:
    """A person's mistakes on dashboard paths get a page in the dashboard's style, not the
    control API's JSON: an unknown page, a GET of an action's address, ``/_sandbox``."""
    for path, status in (
        ("/_sandbox/ui/", 404),
        ("/_sandbox/ui/nope", 404),
        ("/_sandbox/ui/clock/advance", 405),
    ):
        r = client.get(path)
        assert r.status_code == status, (path, r.text)
        assert r.headers["content-type"].startswith("text/html"), path
        assert 'data-testid="message"' in r.text and 'href="/_sandbox/"' in r.text
    big = client.post(
        "/_sandbox/ui/clock/advance",
        content=b"seconds=1&csrf=" + b"x" * 2_000_000,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert big.status_code == 413 and big.headers["content-type"].startswith("text/html"), big.text[
        :200
    ]
    r = client.get("/_sandbox", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/_sandbox/"
    # an id the request guard refuses (found by fuzzing: it was the control API's JSON)
    for path in (
        "/_sandbox/ui/kplus/tokens/a%20b",
        "/_sandbox/ui/nicepay/transactions/%2e%2e",
        "/_sandbox/ui/smart2pay/payments/%FF",
        "/_sandbox/ui/deliveries/" + "1" * 129,
    ):
        r = client.get(path)
        assert r.status_code == 400, (path, r.text)
        assert r.headers["content-type"].startswith("text/html"), (path, r.text)
        assert 'data-testid="message"' in r.text and "invalid id in the path" in r.text
    token_id = kplus_token(client)
    r = client.post(
        "/_sandbox/ui/accounts/kplus/PTR%3C1%3E/reset",
        data={"csrf": csrf(client)},
        headers={"Origin": str(client.base_url).rstrip("/")},
    )
    assert r.status_code == 400 and r.headers["content-type"].startswith("text/html"), r.text
    assert kplus_status(client, token_id) == "REQUESTED"
    assert client.get("/_sandbox/kplus/tokens/a%20b").json()["error"] == "bad_request"
    # the control API keeps its JSON
    r = client.get("/_sandbox/nope")
    assert r.status_code == 404 and r.json()["error"] == "not_found"


def test_a_bad_id_in_a_dashboard_path_is_a_page(client: httpx.Client) -> None:
    """An id the control plane's guard refuses (too long, ``<``, a space) on a dashboard path
    is a 400 page in the dashboard's style, and a form from another site a 403 page: both got
    the control API's JSON. The control API keeps its JSON for the same ids."""
    long_id = "x" * 300
    for method, path in (
        ("GET", f"/_sandbox/ui/kplus/tokens/{long_id}"),
        ("GET", "/_sandbox/ui/deliveries/%3Cscript%3E"),
        ("GET", "/_sandbox/ui/journal/a%20b"),
        ("POST", f"/_sandbox/ui/deliveries/{long_id}/retry"),
    ):
        r = client.request(method, path)
        assert r.status_code == 400, (path, r.text[:200])
        assert r.headers["content-type"].startswith("text/html"), (path, r.text[:200])
        assert 'data-testid="message"' in r.text and "ids are 1-128" in r.text, path
        assert "<script>" not in r.text
    r = client.post(
        "/_sandbox/ui/clock/advance",
        data={"seconds": "60"},
        headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    )
    assert r.status_code == 403 and r.headers["content-type"].startswith("text/html"), r.text
    assert "another site" in r.text
    r = client.get(f"/_sandbox/kplus/tokens/{long_id}")
    assert r.status_code == 400 and r.json()["error"] == "bad_request"
    r = client.post(
        "/_sandbox/clock/advance", json={"seconds": 1}, headers={"Origin": "https://evil.example"}
    )
    assert r.status_code == 403 and r.json()["error"] == "cross_site_request"


def test_smart2pay_amounts_are_shown_and_read_as_money(client: httpx.Client) -> None:
    """The wire's minor units (1154) are 11.54 EUR on every dashboard page, as K PLUS and
    NICEPay amounts are money there; the capture and refund forms read an amount as it is
    shown (they read "11.54" as minor units, and "1154" as 11.54)."""
    pid = s2p_pay(client, amount=1154, capture=False)["ID"]
    base = f"/_sandbox/ui/smart2pay/payments/{pid}"
    listing = client.get("/_sandbox/ui/smart2pay/payments").text
    assert "11.54 EUR" in listing and "1154 EUR" not in listing
    assert "minor units" not in listing
    assert "11.54 EUR" in client.get("/_sandbox/").text
    html = client.get(base).text
    assert 'placeholder="11.54"' in html and "0.00 EUR" in html  # nothing captured yet
    assert re.search(r">amount<.*?>11\.54 EUR<", html, re.S), html
    assert submit(client, f"{base}/capture", amount="10.5").status_code == 303
    view = client.get(f"/_sandbox/smart2pay/payments/{pid}").json()
    assert view["capturedAmount"] == 1050, view  # the control API keeps minor units
    html = client.get(base).text
    assert "10.50 EUR" in html and 'placeholder="10.50"' in html
    assert submit(client, f"{base}/refund", amount="0.5").status_code == 303
    html = client.get(base).text
    assert "0.50 EUR" in html and "(10.00 EUR)" in html, html  # the refunds table, what is left
    view = client.get(f"/_sandbox/smart2pay/payments/{pid}").json()
    assert view["refundedAmount"] == 50, view
