"""A person's journeys through the dashboard in real headless Chromium: objects made through
the providers' APIs are found on the overview, opened, driven with the simulate buttons; their
timelines, slips and deliveries show up; a delivery is retried; an open page follows changes
made elsewhere (live updates).

The screenshot test writes ``docs/screenshots/dashboard-*.png`` when ``PAYSANDBOX_SCREENSHOTS``
names a directory (``docs/screenshots/make.py`` sets it), else into the test's temporary one.
"""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from ..kplus.test_page import cafe_order
from ..nicepay.builders import register
from ..smart2pay.builders import pay as s2p_pay
from ..support import LiveServer, Receiver, test_settings, wait_until

pytestmark = pytest.mark.browser


def set_kplus_callback(client: httpx.Client, url: str) -> None:
    r = client.put("/_sandbox/kplus/partners/PTR1902369", json={"callbackUrl": url})
    assert r.status_code == 200, r.text


def state_of(page: Any) -> str:
    return str(page.get_by_test_id("state").first.inner_text())


def test_kplus_token_journey(
    client: httpx.Client, server: LiveServer, receiver: Receiver, page: Any
) -> None:
    receiver.script = [(500, b'{"statusCode":"99"}')]  # the first callback fails
    set_kplus_callback(client, receiver.url + "/kplus/confirm")
    gen = client.post("/kplus/payment/generate-token", json=cafe_order()).json()
    token_id = gen["tokenId"]

    page.goto(f"{server.base_url}/_sandbox/")
    kplus = page.get_by_test_id("provider-kplus")
    assert "REQUESTED 1" in " ".join(kplus.inner_text().split())
    kplus.get_by_test_id("latest").filter(has_text=token_id).click()
    page.wait_for_url(f"**/_sandbox/ui/kplus/tokens/{token_id}")
    assert page.get_by_test_id("object-id").inner_text() == token_id
    assert state_of(page) == "REQUESTED"
    assert "Baan Chaa Café" in page.content()

    page.fill("input[name=paymentAccount]", "0011230055")
    page.get_by_test_id("action-pay").click()
    page.wait_for_url(re.compile(r"\?done=pay$"))
    assert state_of(page) == "PAID"
    timeline = page.get_by_test_id("timeline").inner_text()
    assert "created" in timeline and "paid" in timeline and "callback_queued" in timeline
    slip = page.get_by_test_id("image")
    assert slip.is_visible()
    src = slip.get_attribute("src")
    assert base64.b64decode(src.split(",", 1)[1]).startswith(b"\x89PNG")
    assert slip.evaluate("img => img.naturalWidth") > 100  # the browser decoded it
    assert page.get_by_test_id("no-actions").is_visible()

    got = receiver.wait_for(1)
    assert got[0].json()["tokenId"] == token_id and got[0].path == "/kplus/confirm"
    # the delivery is on the token's page; the live block shows its failed attempt
    row = page.get_by_test_id("delivery-row").first
    row.wait_for()
    page.wait_for_function(
        "() => document.body.innerText.includes('HTTP 500')", timeout=15_000, polling=500
    )
    row.get_by_role("link").first.click()
    page.wait_for_url("**/_sandbox/ui/deliveries/*")
    assert page.get_by_test_id("attempt").count() == 1
    assert "HTTP 500" in page.get_by_test_id("attempts").inner_text()

    page.get_by_test_id("retry").click()
    page.wait_for_url(re.compile(r"\?done=retry$"))
    assert page.get_by_test_id("done").is_visible()
    assert len(receiver.wait_for(2)) == 2
    # the open page updates itself: the second attempt appears without a reload
    page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=attempt]').length === 2",
        timeout=15_000,
        polling=500,
    )
    # an attempt is on record while in flight; the delivery settles right after
    page.wait_for_function(
        "() => document.querySelector('[data-testid=state]').innerText === 'succeeded'",
        timeout=15_000,
        polling=500,
    )
    page.get_by_test_id("object-link").click()
    page.wait_for_url(f"**/_sandbox/ui/kplus/tokens/{token_id}")


def test_nicepay_va_journey(
    client: httpx.Client, server: LiveServer, receiver: Receiver, page: Any
) -> None:
    paid = register(client, "02", dbProcessUrl=receiver.url + "/notify")["tXid"]
    expiring = register(client, "02")["tXid"]

    page.goto(f"{server.base_url}/_sandbox/")
    page.get_by_test_id("provider-nicepay").get_by_test_id("latest").filter(has_text=paid).click()
    page.wait_for_url(f"**/_sandbox/ui/nicepay/transactions/{paid}")
    assert state_of(page) == "UNPAID"
    page.fill("input[name=amount]", "12000")
    page.get_by_test_id("action-pay").click()
    page.wait_for_url(re.compile(r"\?done=pay$"))
    assert state_of(page) == "PAID"
    assert "paid" in page.get_by_test_id("timeline").inner_text()
    assert page.get_by_test_id("delivery-row").count() == 1
    note = receiver.wait_for(1)[0]
    assert b"matchCl=2" in note.body and paid.encode() in note.body  # paid more than amt

    page.goto(f"{server.base_url}/_sandbox/ui/nicepay/transactions?state=UNPAID")
    page.get_by_role("link", name=expiring).click()
    page.get_by_test_id("action-expire").click()
    page.wait_for_url(re.compile(r"\?done=expire$"))
    assert state_of(page) == "EXPIRED"
    assert "expired" in page.get_by_test_id("timeline").inner_text()
    assert page.get_by_test_id("no-actions").is_visible()
    view = client.get(f"/_sandbox/nicepay/transactions/{expiring}").json()
    assert view["state"] == "EXPIRED"


def test_open_page_follows_changes_made_elsewhere(
    client: httpx.Client, server: LiveServer, page: Any
) -> None:
    t_xid = register(client, "02")["tXid"]
    page.goto(f"{server.base_url}/_sandbox/ui/nicepay/transactions/{t_xid}")
    assert state_of(page) == "UNPAID"
    page.goto(f"{server.base_url}/_sandbox/")
    before = page.get_by_test_id("provider-nicepay").inner_text()
    assert "PAID 0" in " ".join(before.split())
    assert client.post(f"/_sandbox/nicepay/transactions/{t_xid}/pay").status_code == 200
    page.wait_for_function(
        "() => document.querySelector('[data-testid=provider-nicepay]')"
        ".innerText.replace(/\\s+/g, ' ').includes('PAID 1')",
        timeout=15_000,
        polling=500,
    )


def test_smart2pay_payment_journey(
    client: httpx.Client, server: LiveServer, receiver: Receiver, page: Any
) -> None:
    r = client.put("/_sandbox/smart2pay/sites/1010", json={"notificationUrl": receiver.url + "/n"})
    assert r.status_code == 200, r.text
    pid = str(s2p_pay(client, amount=2000, capture=False)["ID"])

    page.goto(f"{server.base_url}/_sandbox/")
    page.get_by_test_id("provider-smart2pay").get_by_test_id("latest").filter(
        has_text=pid
    ).first.click()
    page.wait_for_url(f"**/_sandbox/ui/smart2pay/payments/{pid}")
    assert state_of(page) == "Authorized"
    page.get_by_test_id("action-capture").click()
    page.wait_for_url(re.compile(r"\?done=capture$"))
    assert state_of(page) == "Captured"
    assert "capture" in page.get_by_test_id("timeline").inner_text()

    page.fill("input[name=amount]", "5.00")  # as the page shows amounts: 5.00 EUR
    page.get_by_test_id("action-refund").click()
    page.wait_for_url(re.compile(r"\?done=refund$"))
    assert state_of(page) == "PartiallyRefunded"
    assert "refund" in page.get_by_test_id("timeline").inner_text()
    body = page.content()
    assert "5.00 EUR" in body  # the refunds table
    assert page.get_by_test_id("delivery-row").count() >= 2
    wire = client.get(f"/v1/payments/{pid}", headers={"Authorization": "Basic MTAxMDpnYWJp"})
    assert wire.json()["Payment"]["Status"]["Info"] == "PartiallyRefunded"
    wait_until(lambda: len(receiver.requests) >= 2)


def test_screenshots(
    client: httpx.Client, server: LiveServer, browser: Any, tmp_path: Path
) -> None:
    """Overview and a paid token's page at phone (390×844) and desktop (1280×800) size; no
    horizontal scrolling of the page itself."""
    out = Path(os.environ.get("PAYSANDBOX_SCREENSHOTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    for _ in range(3):
        r = client.post("/kplus/payment/generate-token", json=cafe_order())
        assert r.status_code == 200, r.text
    token_id = client.post("/kplus/payment/generate-token", json=cafe_order()).json()["tokenId"]
    assert client.post(f"/_sandbox/kplus/tokens/{token_id}/pay").status_code == 200
    register(client, "02")
    pid = s2p_pay(client, amount=2000, capture=False)["ID"]
    client.post(f"/_sandbox/smart2pay/payments/{pid}/capture")
    s2p_pay(client, amount=3100)
    mobile, desktop = {"width": 390, "height": 844}, {"width": 1280, "height": 800}
    shots = {
        "overview": f"{server.base_url}/_sandbox/",
        "token": f"{server.base_url}/_sandbox/ui/kplus/tokens/{token_id}",
    }
    for name, url in shots.items():
        for size, viewport in (("mobile", mobile), ("desktop", desktop)):
            context = browser.new_context(viewport=viewport, device_scale_factor=1)
            try:
                p = context.new_page()
                p.goto(url)
                assert p.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
                path = out / f"dashboard-{name}-{size}.png"
                p.screenshot(path=str(path))
            finally:
                context.close()
            with Image.open(path) as shot:
                assert shot.size == (viewport["width"], viewport["height"])


def test_sign_in_with_the_control_token(fresh_db_url: str, browser: Any) -> None:
    """With a control token the dashboard sends a browser to the sign-in page; after signing
    in, the pages and their forms work with the session cookie alone."""
    secured = LiveServer(test_settings(fresh_db_url, control_token="dash-board-token-123"))
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        with secured.client() as c:
            auth = {"Authorization": "Bearer dash-board-token-123"}
            gen = c.post("/kplus/payment/generate-token", json=cafe_order()).json()
            assert c.get("/_sandbox/").status_code == 401  # not a browser: no page
        page = context.new_page()
        page.goto(f"{secured.base_url}/_sandbox/")
        page.wait_for_url("**/_sandbox/login?next=/_sandbox/")
        page.fill("#token", "wrong-token-wrong")
        page.click("#sign-in")
        page.locator("#token").wait_for()  # still the sign-in page
        assert page.url.endswith("/_sandbox/login")
        page.fill("#token", "dash-board-token-123")
        page.click("#sign-in")
        page.wait_for_url(f"{secured.base_url}/_sandbox/")
        page.get_by_test_id("provider-kplus").get_by_test_id("latest").first.click()
        page.get_by_test_id("action-pay").click()
        page.wait_for_url(re.compile(r"\?done=pay$"))
        assert state_of(page) == "PAID"
        with secured.client() as c:
            view = c.get(f"/_sandbox/kplus/tokens/{gen['tokenId']}", headers=auth).json()
            assert view["status"] == "PAID"
    finally:
        context.close()
        secured.stop()


def test_a_fault_made_on_its_page_shows_in_the_journal(
    client: httpx.Client, server: LiveServer, page: Any
) -> None:
    """A person adds an error fault from the faults page, the merchant's next inquiry gets the
    provider's documented error, and the journal page shows that request with its 404."""
    gen = client.post("/kplus/payment/generate-token", json=cafe_order()).json()
    page.goto(f"{server.base_url}/_sandbox/ui/faults")
    form = page.locator("form", has=page.get_by_test_id("add-error"))
    form.locator("input[name=provider]").fill("kplus")
    form.locator("input[name=route]").fill("/kplus/payment/inquire-token")
    form.locator("input[name=error]").fill("token_not_found")
    form.locator("input[name=times]").fill("1")
    page.get_by_test_id("add-error").click()
    page.wait_for_url("**/_sandbox/ui/faults")
    assert "error" in page.get_by_test_id("fault").inner_text()

    body = {k: v for k, v in cafe_order().items() if k in ("partnerId", "partnerSecret")}
    r = client.post(
        "/kplus/payment/inquire-token",
        json={
            **body,
            "partnerTxnUid": "INQ-F",
            "requestDt": "1562240442",
            "tokenId": gen["tokenId"],
        },
    )
    assert r.status_code == 404 and r.json()["errorCode"] == "token_not_found"

    page.goto(f"{server.base_url}/_sandbox/ui/journal")
    text = page.content()
    assert "/kplus/payment/inquire-token" in text and "404" in text


class _Shop:
    """A merchant's site on another origin (another port): answers every GET with a page."""

    def __enter__(self) -> _Shop:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from threading import Thread

        seen = self.seen = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append(self.path)
                body = b"<!doctype html><title>shop</title><p id=back>back at the shop</p>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def test_smart2pay_page_sends_the_browser_back_to_the_shop(
    client: httpx.Client, server: LiveServer, page: Any
) -> None:
    """The 3-D Secure page's form answers 303 to ReturnURL on the merchant's origin: the
    page's Content-Security-Policy must let the browser follow it (``form-action`` covers a
    form's redirects in Chromium)."""
    from ..smart2pay.builders import AUTH, payment_body

    with _Shop() as shop:
        body = payment_body(2000, ReturnURL=f"{shop.url}/return?o=1", **{"3DSecure": True})
        p = client.post("/v1/payments", json=body, headers=AUTH).json()["Payment"]
        page.goto(p["RedirectURL"])
        page.click("#authenticate")
        page.wait_for_url(f"{shop.url}/return?**", timeout=10_000)
        assert page.locator("#back").inner_text() == "back at the shop"
        assert shop.seen and "data=11" in shop.seen[0] and "o=1" in shop.seen[0]


def test_live_updates_leave_an_unchanged_page_alone(
    client: httpx.Client, server: LiveServer, page: Any
) -> None:
    """A detail page's live block is swapped only when what it shows changed: the focus, a typed
    value and the "Done" notice survive the polls (every poll rebuilt the block before, and the
    notice went with the first), and a change made elsewhere still shows up."""
    token_id = client.post("/kplus/payment/generate-token", json=cafe_order()).json()["tokenId"]
    other = client.post("/kplus/payment/generate-token", json=cafe_order()).json()["tokenId"]
    client.post(f"/_sandbox/kplus/tokens/{other}/decline")
    page.goto(f"{server.base_url}/_sandbox/ui/kplus/tokens/{token_id}?done=decline")
    assert page.get_by_test_id("done").is_visible()
    page.fill("input[name=paymentAccount]", "0011230055")
    page.get_by_test_id("action-pay").focus()
    page.wait_for_timeout(7_000)  # two polls and the baseline
    assert page.get_by_test_id("done").is_visible()  # not swapped away
    assert page.evaluate("document.activeElement.dataset.testid") == "action-pay"
    assert page.input_value("input[name=paymentAccount]") == "0011230055"
    page.evaluate("document.activeElement.blur()")
    client.post(f"/_sandbox/kplus/tokens/{token_id}/expire")  # a change made elsewhere
    page.wait_for_function(
        "() => document.querySelector('[data-testid=state]').innerText.includes('EXPIRED')",
        timeout=15_000,
        polling=500,
    )
    assert page.locator("input[name=paymentAccount]").count() == 0  # swapped: no pay form


def test_lists_stay_readable_at_phone_width(
    client: httpx.Client, server: LiveServer, browser: Any
) -> None:
    """At 390 px the Id column wrapped a character a line (a row ~1,000 px tall); a long id
    now stays whole and the table scrolls inside its box, never the page."""
    for _ in range(3):
        client.post("/kplus/payment/generate-token", json=cafe_order())
    context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        page.goto(f"{server.base_url}/_sandbox/ui/kplus/tokens")
        heights = page.eval_on_selector_all(
            "[data-testid=object-row]", "rows => rows.map(r => r.getBoundingClientRect().height)"
        )
        assert len(heights) == 3 and max(heights) < 150, heights
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    finally:
        context.close()


def test_the_header_clock_follows_the_sandbox_clock(
    client: httpx.Client, server: LiveServer, page: Any
) -> None:
    """The header's sandbox time and offset follow the live updates (they stayed at the page's
    load time): a clock moved elsewhere by a day shows up without a reload."""
    token_id = client.post("/kplus/payment/generate-token", json=cafe_order()).json()["tokenId"]
    page.goto(f"{server.base_url}/_sandbox/ui/kplus/tokens/{token_id}")
    shown = page.get_by_test_id("clock").inner_text()
    assert not page.get_by_test_id("clock-offset").is_visible()
    r = client.post("/_sandbox/clock/advance", json={"seconds": 86400})
    assert r.status_code == 200, r.text
    ahead = r.json()["now"][:10]  # the sandbox's date, a day on
    assert not shown.startswith(ahead)
    page.wait_for_function(
        f"() => document.querySelector('[data-testid=clock]').innerText.startsWith('{ahead}')",
        timeout=15_000,
        polling=500,
    )
    assert page.get_by_test_id("clock-offset").inner_text() == "+86400 s"
