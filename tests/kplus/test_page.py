"""The page behind ``callBackAppUrl`` (the simulated K PLUS app): over plain HTTP, and in real
headless Chromium (``@pytest.mark.browser``).

The screenshot test writes ``docs/screenshots/kplus-app-{mobile,desktop}.png`` when
``PAYSANDBOX_SCREENSHOTS`` names a directory (``docs/screenshots/make.py`` sets it), else into
the test's temporary directory.
"""

from __future__ import annotations

import base64
import io
import os
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image, ImageDraw, ImageFont

from ..support import Receiver, wait_until
from .builders import creds, generate_body


def data_png(color: tuple[int, int, int], text: str, size: int = 112) -> str:
    """A small PNG as a ``data:`` URL (shop image / partner icon without any network)."""
    img = Image.new("RGB", (size, size), color)
    d = ImageDraw.Draw(img)
    d.text(
        (size / 2, size / 2),
        text,
        font=ImageFont.load_default(size=size // 2),
        fill="white",
        anchor="mm",
        stroke_width=1,
        stroke_fill="white",
    )
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def cafe_order(**extra: Any) -> dict[str, Any]:
    """A realistic order with inline images, for the browser tests and the screenshots."""
    return generate_body(
        shopName="Baan Chaa Café",
        shopImageUrl=data_png((232, 119, 34), "BC"),
        partnerIconUrl=data_png((0, 122, 58), "P", 64),
        reference1="INV-20240611-0042",
        totalAmount="280.00",
        shippingFee="30.00",
        items=[
            {"itemName": "Thai iced tea", "quantity": "2", "amount": "65.00"},
            {"itemName": "Mango sticky rice", "quantity": "1", "amount": "120.00"},
        ],
        **extra,
    )


def generate(client: httpx.Client, **extra: Any) -> dict[str, Any]:
    r = client.post("/kplus/payment/generate-token", json=generate_body(**extra))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def inquire(client: httpx.Client, token_id: str) -> dict[str, Any]:
    r = client.post("/kplus/payment/inquire-token", json=creds(tokenId=token_id))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def token_view(client: httpx.Client, token_id: str) -> dict[str, Any]:
    r = client.get(f"/_sandbox/kplus/tokens/{token_id}")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def path_of(url: str) -> str:
    return httpx.URL(url).raw_path.decode()


# ------------------------------------------------------------------ over plain HTTP


def test_page_shows_the_order(client: httpx.Client) -> None:
    gen = generate(
        client,
        shopName="Kasikorn Shop",
        totalAmount="1234.5",
        shippingFee="40",
        reference1="REF-777",
        items=[{"itemName": "Shirt", "quantity": "2", "amount": "597.25"}],
        partnerIconUrl="https://partner.example/icon.png",
    )
    r = client.get(path_of(gen["callBackAppUrl"]))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["cache-control"] == "no-store"
    html = r.text
    for text in (
        "Kasikorn Shop",
        "1,234.50",
        "THB",
        "REF-777",
        "Shirt",
        "× 2",
        "597.25",
        "40.00",
        'src="https://shop.example/logo.png"',
        'src="https://partner.example/icon.png"',
        gen["tokenId"],
    ):
        assert text in html, text
    assert 'data-testid="pay"' in html and 'data-testid="decline"' in html
    # No external assets: no stylesheet links, no script sources, no web fonts.
    assert "<link" not in html and "<script src" not in html and "@import" not in html
    assert "url(http" not in html
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'nonce-" in csp


def test_countdown_is_rendered_from_the_sandbox_clock(client: httpx.Client) -> None:
    gen = generate(client)
    assert client.post("/_sandbox/clock/advance", json={"seconds": 1700}).status_code == 200
    html = client.get(path_of(gen["callBackAppUrl"])).text
    now_ms = int(re.search(r'data-now-ms="(\d+)"', html).group(1))  # type: ignore[union-attr]
    exp_ms = int(re.search(r'data-expires-ms="(\d+)"', html).group(1))  # type: ignore[union-attr]
    assert 95_000 <= exp_ms - now_ms <= 100_000  # 1800 s TTL - 1700 s advanced


def test_unknown_token_is_an_html_404(client: httpx.Client) -> None:
    for r in (
        client.get("/kplus/app/KMCMPTnosuchtokenPMT"),
        client.post("/kplus/app/KMCMPTnosuchtokenPMT/pay"),
        client.post("/kplus/app/KMCMPTnosuchtokenPMT/decline"),
    ):
        assert r.status_code == 404
        assert r.headers["content-type"].startswith("text/html")
        assert "Payment not found" in r.text


def test_merchant_text_is_escaped(client: httpx.Client) -> None:
    gen = generate(client, shopName="<script>alert(1)</script>", reference1='"><b>x')
    html = client.get(path_of(gen["callBackAppUrl"])).text
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert '"><b>x' not in html


def test_pay_form_redirects_to_the_outcome(client: httpx.Client) -> None:
    gen = generate(client)
    page = path_of(gen["callBackAppUrl"])
    r = client.post(page + "/pay", data={"paymentAccount": "123-4-56789-0"})
    assert r.status_code == 303 and r.headers["location"] == page + "?done=paid"
    html = client.get(r.headers["location"]).text
    assert "Payment successful" in html and "x-x-x6789-x" in html
    assert 'data-testid="pay"' not in html
    slip = re.search(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert slip is not None and base64.b64decode(slip.group(1)).startswith(b"\x89PNG")
    body = inquire(client, gen["tokenId"])
    assert body["paymentStatus"] == "PAID" and body["paymentAccount"] == "x-x-x6789-x"
    assert body["paymentRefernceId"] in html
    events = [e["kind"] for e in token_view(client, gen["tokenId"])["events"]]
    assert events == ["created", "paid"]
    assert token_view(client, gen["tokenId"])["events"][1]["data"]["via"] == "app-page"


def test_pay_without_account_uses_a_random_masked_one(client: httpx.Client) -> None:
    gen = generate(client)
    r = client.post(path_of(gen["callBackAppUrl"]) + "/pay", data={"paymentAccount": ""})
    assert r.status_code == 303
    assert re.fullmatch(r"x-x-x\d{4}-x", inquire(client, gen["tokenId"])["paymentAccount"])


def test_errors_are_friendly_messages(client: httpx.Client) -> None:
    gen = generate(client)
    page = path_of(gen["callBackAppUrl"])
    r = client.post(page + "/pay", data={"paymentAccount": "12"})
    assert r.headers["location"] == page + "?error=invalid_parameter"
    html = client.get(r.headers["location"]).text
    assert "at least 5 digits" in html and 'data-testid="pay"' in html
    assert inquire(client, gen["tokenId"])["paymentStatus"] == "REQUESTED"

    assert client.post(page + "/pay").status_code == 303
    for action in ("pay", "decline"):
        r = client.post(page + f"/{action}")
        assert r.status_code == 303 and r.headers["location"] == page + "?error=qr_paid"
        html = client.get(r.headers["location"]).text
        assert "already been made" in html and "Traceback" not in html
    # Unknown error keys in the query string show nothing; request text is never echoed.
    html = client.get(page + "?error=<b>boom</b>").text
    assert "boom" not in html
    # A GET on an action URL (reload, bookmark) goes back to the page.
    r = client.get(page + "/pay")
    assert r.status_code == 303 and r.headers["location"] == page


def test_decline_leaves_the_token_unpaid(client: httpx.Client) -> None:
    gen = generate(client)
    page = path_of(gen["callBackAppUrl"])
    r = client.post(page + "/decline")
    assert r.status_code == 303 and r.headers["location"] == page + "?done=declined"
    html = client.get(page).text
    assert "Payment declined" in html and 'data-testid="pay"' not in html
    assert 'data-testid="pay"' in client.get(page + "?review=1").text
    view = token_view(client, gen["tokenId"])
    assert view["status"] == "REQUESTED" and view["paymentRefernceId"] is None
    assert [e["kind"] for e in view["events"]] == ["created", "declined"]
    assert inquire(client, gen["tokenId"])["paymentStatus"] == "REQUESTED"
    # Changing one's mind: still payable.
    assert client.post(page + "/pay").headers["location"] == page + "?done=paid"


def test_expired_and_cancelled_tokens_show_their_final_state(client: httpx.Client) -> None:
    expiring, cancelled = generate(client), generate(client)
    r = client.post(
        "/kplus/payment/cancel-token",
        json=creds(tokenId=cancelled["tokenId"], reference1="KS1234567"),
    )
    assert r.json()["statusCode"] == "00", r.text
    html = client.get(path_of(cancelled["callBackAppUrl"])).text
    assert "Cancelled by the shop" in html and 'data-testid="pay"' not in html

    client.post("/_sandbox/clock/advance", json={"seconds": 1801})
    page = path_of(expiring["callBackAppUrl"])
    html = client.get(page).text
    assert "Payment request expired" in html and 'data-testid="pay"' not in html
    r = client.post(page + "/pay")
    assert r.headers["location"] == page + "?error=qr_expired"
    assert "has expired" in client.get(r.headers["location"]).text


# ------------------------------------------------------------------ in real Chromium


@pytest.fixture
def partner_callback(client: httpx.Client, receiver: Receiver) -> Receiver:
    r = client.put("/_sandbox/kplus/partners/PTR1902369", json={"callbackUrl": receiver.url})
    assert r.status_code == 200, r.text
    return receiver


@pytest.mark.browser
def test_browser_pay(client: httpx.Client, page: Any, partner_callback: Receiver) -> None:
    r = client.post("/kplus/payment/generate-token", json=cafe_order())
    gen = r.json()
    outside: list[str] = []

    def record(request: Any) -> None:
        if not request.url.startswith((str(client.base_url), "data:")):
            outside.append(request.url)

    page.on("request", record)
    page.goto(gen["callBackAppUrl"])
    assert page.get_by_test_id("shop-name").inner_text() == "Baan Chaa Café"
    assert page.get_by_test_id("total").inner_text() == "280.00"
    assert page.get_by_test_id("reference1").inner_text() == "INV-20240611-0042"
    countdown = page.get_by_test_id("countdown")
    wait_until(lambda: re.fullmatch(r"(29|30):\d\d", countdown.inner_text()))

    page.get_by_test_id("account").fill("111-2-33333-4")
    page.get_by_test_id("pay").click()
    page.wait_for_url(re.compile(r"\?done=paid$"))
    assert page.get_by_test_id("outcome").inner_text() == "Payment successful"
    assert page.get_by_test_id("payment-account").inner_text() == "x-x-x3333-x"
    assert page.get_by_test_id("slip").evaluate("img => img.naturalWidth") == 480
    assert outside == []  # nothing fetched from anywhere but the sandbox itself

    body = inquire(client, gen["tokenId"])
    assert body["paymentStatus"] == "PAID"
    assert page.get_by_test_id("payment-reference").inner_text() == body["paymentRefernceId"]
    png = base64.b64decode(body["slipImage"])
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert Image.open(io.BytesIO(png)).size == (480, 640)

    got = partner_callback.wait_for(1)
    callback = got[0].json()
    assert callback["tokenId"] == gen["tokenId"] and callback["paymentStatus"] == "PAID"
    assert callback["slipImage"] == body["slipImage"]


@pytest.mark.browser
def test_browser_decline(client: httpx.Client, page: Any, partner_callback: Receiver) -> None:
    gen = client.post("/kplus/payment/generate-token", json=cafe_order()).json()
    page.goto(gen["callBackAppUrl"])
    page.get_by_test_id("decline").click()
    page.wait_for_url(re.compile(r"\?done=declined$"))
    assert "declined" in page.get_by_test_id("notice").inner_text()
    assert page.locator("[data-view=declined]").is_visible()
    assert page.get_by_test_id("pay").count() == 0

    view = token_view(client, gen["tokenId"])
    assert view["status"] == "REQUESTED"
    assert [e["kind"] for e in view["events"]] == ["created", "declined"]
    assert inquire(client, gen["tokenId"])["paymentStatus"] == "REQUESTED"
    assert partner_callback.requests == []  # KBank calls back on payment only


@pytest.mark.browser
def test_browser_countdown_reaches_zero_and_shows_expired(client: httpx.Client, page: Any) -> None:
    r = client.put("/_sandbox/kplus/partners/PTR1902369", json={"tokenTtlSeconds": 600})
    assert r.status_code == 200, r.text
    gen = client.post("/kplus/payment/generate-token", json=cafe_order()).json()
    # 597 of the 600 seconds pass on the sandbox clock: the page has three seconds left.
    client.post("/_sandbox/clock/advance", json={"seconds": 597})
    page.goto(gen["callBackAppUrl"])
    assert re.fullmatch(r"00:0[0-3]", page.get_by_test_id("countdown").inner_text())
    page.locator("[data-view=expired]").wait_for(timeout=10_000)
    assert page.get_by_test_id("outcome").inner_text() == "Payment request expired"
    assert page.get_by_test_id("pay").count() == 0


@pytest.mark.browser
def test_screenshots(client: httpx.Client, browser: Any, tmp_path: Path) -> None:
    """The page at phone (390×844) and desktop (1280×800) size; no horizontal scrolling."""
    out = Path(os.environ.get("PAYSANDBOX_SCREENSHOTS") or tmp_path)
    out.mkdir(parents=True, exist_ok=True)
    gen = client.post("/kplus/payment/generate-token", json=cafe_order()).json()
    mobile, desktop = {"width": 390, "height": 844}, {"width": 1280, "height": 800}
    for name, viewport in (("mobile", mobile), ("desktop", desktop)):
        context = browser.new_context(viewport=viewport, device_scale_factor=1)
        try:
            p = context.new_page()
            p.goto(gen["callBackAppUrl"])
            assert p.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
            assert p.get_by_test_id("pay").is_visible()  # no scrolling needed to pay
            p.screenshot(path=str(out / f"kplus-app-{name}.png"))
        finally:
            context.close()
        with Image.open(out / f"kplus-app-{name}.png") as shot:
            assert shot.size == (viewport["width"], viewport["height"])

    # The paid state (receipt and slip), whole page at phone width.
    page_url = path_of(gen["callBackAppUrl"])
    assert client.post(page_url + "/pay", data={"paymentAccount": "111-2-33333-4"}).is_redirect
    context = browser.new_context(viewport=mobile, device_scale_factor=1)
    try:
        p = context.new_page()
        p.goto(gen["callBackAppUrl"])
        p.get_by_test_id("slip").wait_for()
        assert p.evaluate("document.documentElement.scrollWidth") <= mobile["width"]
        p.screenshot(path=str(out / "kplus-app-paid-mobile.png"), full_page=True)
    finally:
        context.close()
