"""The credit-card flow through the 3-D Secure page, and an e-wallet approval, in real
headless Chromium: the merchant sends the browser to /payment, the customer presses a button,
the browser lands on callBackUrl with the result."""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest

from ..support import LiveServer, Receiver
from .builders import INQ, PAY, inquiry, notification_token, payment_params, register
from .test_va_flow import form

pytestmark = pytest.mark.browser


def landed(page: Any) -> dict[str, str]:
    page.wait_for_url("**/_sandbox/clock?*")
    return dict(parse_qsl(urlsplit(page.url).query, keep_blank_values=True))


def test_card_authenticate_in_chromium(
    client: httpx.Client, server: LiveServer, receiver: Receiver, page: Any
) -> None:
    reg = register(client, "01", dbProcessUrl=receiver.url)
    # callBackUrl: any page of the sandbox will do as the merchant's landing page
    params = payment_params(
        reg["tXid"], reg["referenceNo"], callback=f"{server.base_url}/_sandbox/clock"
    )
    page.goto(f"{server.base_url}{PAY}?{urlencode(params)}")
    assert page.title() == "3-D Secure authentication"
    assert page.inner_text("#card") == "422222******2222"
    assert page.inner_text("#amount") == "IDR 10.000"
    page.click("#authenticate")
    q = landed(page)
    assert (q["resultCd"], q["tXid"], q["cardNo"]) == ("0000", reg["tXid"], "422222******2222")

    note = form(receiver.wait_for(1)[0].body)
    assert note["merchantToken"] == notification_token(reg["tXid"], "10000")
    inq = client.post(INQ, json=inquiry(reg["tXid"], reg["referenceNo"])).json()
    assert inq["status"] == "0"


def test_card_fail_from_merchant_form_post(
    client: httpx.Client, server: LiveServer, page: Any
) -> None:
    """The merchant's own page posts the form (as NICEPay's PHP/Java clients do)."""
    reg = register(client, "01")
    params = payment_params(
        reg["tXid"], reg["referenceNo"], callback=f"{server.base_url}/_sandbox/clock"
    )
    inputs = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in params.items()
    )
    page.set_content(
        f'<form id="f" method="post" action="{server.base_url}{PAY}">{inputs}'
        '<button id="go">Pay</button></form>'
    )
    page.click("#go")
    page.wait_for_selector("#fail")
    page.click("#fail")
    q = landed(page)
    assert q["resultCd"] == "9117"
    inq = client.post(INQ, json=inquiry(reg["tXid"], reg["referenceNo"])).json()
    assert inq["status"] == "1"


def test_ewallet_approval_in_chromium(client: httpx.Client, server: LiveServer, page: Any) -> None:
    reg = register(client, "05")
    params = payment_params(
        reg["tXid"], reg["referenceNo"], callback=f"{server.base_url}/_sandbox/clock"
    )
    page.goto(f"{server.base_url}{PAY}?{urlencode(params)}")
    assert "OVO" in page.inner_text("h1")
    page.click("#approve")
    q = landed(page)
    assert q["resultCd"] == "0000" and q["mitraCd"] == "OVOE"
