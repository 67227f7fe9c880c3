"""payment over HTTP (no browser): the page, its buttons, callBackUrl results, card data
handling, e-wallet / ClickPay / Payloan approval, and every refusal."""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import pytest

from paysandbox.core import ids

from ..support import LiveServer, Receiver, is_postgres, test_settings
from .builders import (
    INQ,
    PAY,
    inquiry,
    notification_token,
    page_action,
    pay_through_page,
    payment_params,
    register,
)
from .test_registration import assert_error
from .test_va_flow import form


def test_card_page_get_query_and_authenticate(client: httpx.Client, receiver: Receiver) -> None:
    reg = register(client, "01", dbProcessUrl=receiver.url)
    t_xid, ref = reg["tXid"], reg["referenceNo"]
    params = payment_params(t_xid, ref, callback="https://merchant.example/cb?order=7")
    r = client.get(PAY + "?" + urlencode(params) + "&returnJsonFormat=1")
    assert r.status_code == 200 and "3-D Secure" in r.text
    assert "422222******2222" in r.text and "4222222222222222" not in r.text
    assert r.headers["content-security-policy"].startswith("default-src 'none'")
    action = page_action(r.text)
    assert action.startswith("http://127.0.0.1:")
    assert client.get(action).status_code == 200  # the page can be shown again

    r = client.post(action, data={"result": "approve"})
    assert r.status_code == 303
    loc = urlsplit(r.headers["location"])
    assert (loc.scheme, loc.netloc, loc.path) == ("https", "merchant.example", "/cb")
    q = dict(parse_qsl(loc.query, keep_blank_values=True))
    assert q["order"] == "7"
    assert (q["resultCd"], q["resultMsg"], q["tXid"], q["referenceNo"]) == (
        "0000",
        "SUCCESS",
        t_xid,
        ref,
    )
    assert q["cardNo"] == "422222******2222" and q["cardExpYymm"] == "3012"
    assert q["authNo"].isdigit() and q["issuBankCd"] == "BMRI" and q["ccTransType"] == "1"
    assert "merchantToken" not in q

    note = form(receiver.wait_for(1)[0].body)
    assert note["merchantToken"] == notification_token(t_xid, "10000")
    assert note["cardNo"] == "422222******2222" and note["authNo"] == q["authNo"]
    assert note["instmntType"] == "2" and note["status"] == "0"

    inq = client.post(INQ, json=inquiry(t_xid, ref)).json()
    assert (inq["status"], inq["cardNo"], inq["authNo"]) == ("0", "422222******2222", q["authNo"])

    # the page cannot be answered twice, nor the transaction paid twice
    assert_error(client.post(action, data={"result": "decline"}), "already_approved")
    assert_error(client.post(PAY, data=payment_params(t_xid, ref)), "already_approved")


def test_card_number_and_cvv_are_never_kept(client: httpx.Client, receiver: Receiver) -> None:
    reg = register(client, "01", dbProcessUrl=receiver.url)
    pay_through_page(client, reg["tXid"], reg["referenceNo"])
    receiver.wait_for(1)
    seen = client.get(f"/_sandbox/nicepay/transactions/{reg['tXid']}").text
    seen += client.get("/_sandbox/deliveries", params={"provider": "nicepay"}).text
    assert "4222222222222222" not in seen
    assert "cardCvv" not in seen and '"123"' not in seen


def test_fail_button_redirects_with_3ds_failure(client: httpx.Client) -> None:
    reg = register(client, "01")
    q = pay_through_page(client, reg["tXid"], reg["referenceNo"], approve=False)
    assert q["resultCd"] == "9117" and q["resultMsg"].startswith("3D Secure Failed")
    inq = client.post(INQ, json=inquiry(reg["tXid"], reg["referenceNo"])).json()
    assert (inq["status"], inq["resultMsg"]) == ("1", "failed")
    assert_error(
        client.post(PAY, data=payment_params(reg["tXid"], reg["referenceNo"])), "tx_exists"
    )
    d = client.get("/_sandbox/deliveries", params={"objectId": reg["tXid"]}).json()
    assert d["deliveries"] == []  # no notification for a failed authentication


@pytest.mark.parametrize(("method", "fail_cd"), [("05", "9752"), ("04", "9806"), ("06", "9030")])
def test_approval_pages(client: httpx.Client, method: str, fail_cd: str) -> None:
    ok = register(client, method)
    r = client.post(
        PAY,
        data={
            k: v
            for k, v in payment_params(ok["tXid"], ok["referenceNo"]).items()
            if not k.startswith("card")
        },
    )
    assert r.status_code == 200 and "Approve" in r.text
    r = client.post(page_action(r.text), data={"result": "approve"})
    q = dict(parse_qsl(urlsplit(r.headers["location"]).query))
    assert q["resultCd"] == "0000" and q["payMethod"] == method and q["mitraCd"]
    inq = client.post(INQ, json=inquiry(ok["tXid"], ok["referenceNo"])).json()
    assert inq["status"] == "0" and inq["mitraCd"] == q["mitraCd"] and inq["receiptCode"]

    no = register(client, method)
    q = pay_through_page(client, no["tXid"], no["referenceNo"], approve=False)
    assert q["resultCd"] == fail_cd


def test_form_post_json_and_raw_callback(client: httpx.Client) -> None:
    reg = register(client, "01")
    params = payment_params(reg["tXid"], reg["referenceNo"])
    r = client.post(PAY, json=params)
    assert r.status_code == 200 and "Authenticate" in r.text
    raw = urlencode({k: v for k, v in params.items() if k != "callBackUrl"})
    raw += "&callBackUrl=https://m.example/cb?a=1&b=2"
    r = client.get(PAY + "?" + raw)
    r = client.post(page_action(r.text), data={"result": "approve"})
    assert r.headers["location"].startswith("https://m.example/cb?a=1&b=2&resultCd=0000")


def test_payment_refusals(client: httpx.Client) -> None:
    cc = register(client, "01")
    t_xid, ref = cc["tXid"], cc["referenceNo"]
    va = register(client, "02")
    cases = [
        (payment_params("IONPAYTEST01201804191157304666", ref), "card_txid"),
        ({**payment_params(t_xid, ref), "merchantToken": "ab" * 32}, "token_invalid"),
        (payment_params(t_xid, ref, amt="9999"), "token_invalid"),
        (
            {**payment_params(t_xid, ref), "callBackUrl": "javascript:alert(1)"},
            "callback_url_invalid",
        ),
        ({**payment_params(t_xid, ref), "cardExpYymm": "3013"}, "card_exp"),
        ({**payment_params(t_xid, ref), "cardExpYymm": "30-1"}, "card_exp"),
        ({**payment_params(t_xid, ref), "cardNo": "4222-2222"}, "card_param"),
        ({**payment_params(t_xid, ref), "cardNo": "42222"}, "card_param"),
        ({**payment_params(t_xid, ref), "cardCvv": "12"}, "card_param"),
        ({**payment_params(t_xid, ref), "cardHolderNm": "R2D2"}, "payment_params"),
        (payment_params(va["tXid"], va["referenceNo"]), "not_allowed"),
    ]
    for params, name in cases:
        assert_error(client.post(PAY, data=params), name)
    for field, name in (
        ("tXid", "card_txid"),
        ("callBackUrl", "callback_url"),
        ("merchantToken", "token_invalid"),
        ("timeStamp", "timestamp"),
        ("cardNo", "card_param"),
        ("cardCvv", "card_param"),
        ("cardExpYymm", "card_exp"),
    ):
        params = payment_params(t_xid, ref)
        del params[field]
        assert_error(client.get(PAY + "?" + urlencode(params)), name)
    assert_error(
        client.post(PAY, content=b"<xml/>", headers={"content-type": "text/xml"}), "http_message"
    )
    assert_error(
        client.post(PAY, content=b"{", headers={"content-type": "application/json"}), "http_message"
    )
    session = "/nicepay/direct/v2/payment/session/nosuchsession"
    assert_error(client.post(session, data={"result": "approve"}), "card_txid")
    assert_error(client.get(session), "card_txid")
    # none of that changed anything
    assert client.get(f"/_sandbox/nicepay/transactions/{t_xid}").json()["status"] == "9"


def test_encrypted_card_fields_are_refused_saying_why(client: httpx.Client) -> None:
    """NICEPay's Java library can RSA-encrypt the card fields (``encrypted=1``): paysandbox
    cannot read them, and says so (the refusal was "cardNo must be at most 20 characters")."""
    cc = register(client, "01")
    blob = "A" * 344  # the size of a base64 RSA-2048 block
    params = {
        **payment_params(cc["tXid"], cc["referenceNo"]),
        "cardNo": blob,
        "cardCvv": blob,
        "cardExpYymm": blob,
        "encrypted": "1",
    }
    r = client.post(PAY, data=params)
    assert_error(r, "card_param")
    assert "cannot read RSA-encrypted card fields" in r.json()["resultMsg"]
    ok = client.post(PAY, data={**payment_params(cc["tXid"], cc["referenceNo"]), "encrypted": "0"})
    assert ok.status_code == 200 and "3-D Secure" in ok.text


def test_page_expires_after_30_minutes(client: httpx.Client) -> None:
    reg = register(client, "05")
    r = client.post(PAY, data=payment_params(reg["tXid"], reg["referenceNo"]))
    action = page_action(r.text)
    client.post("/_sandbox/clock/advance", json={"seconds": 1801})
    assert_error(client.post(action, data={"result": "approve"}), "tx_expired")
    assert_error(client.post(action, data={"result": "maybe"}), "payment_params")


def test_page_escapes_merchant_text(client: httpx.Client) -> None:
    reg = register(client, "05", goodsNm="<script>alert(1)</script>")
    r = client.post(PAY, data=payment_params(reg["tXid"], reg["referenceNo"]))
    assert "<script>alert" not in r.text and "&lt;script&gt;" in r.text
    assert not re.search(r"<script", r.text)


# No run of time digits (HHMMSS, YYYYMMDD) can contain 9696, and the test makes every "random"
# id a counter: the CVV cannot appear in the database or the logs by chance.
PAN, CVV = "4917610000000000", "9696"


@pytest.fixture
def own_server(fresh_db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveServer]:
    """A server on a database of its own (its bytes hold this test's data only), whose ids
    are counters instead of random (ids and tokens all come from ``secrets``)."""
    counter = itertools.count(1)
    monkeypatch.setattr(ids.secrets, "randbelow", lambda n: next(counter) % n)
    monkeypatch.setattr(ids.secrets, "token_hex", lambda n=32: f"{next(counter):0{2 * n}x}")
    live = LiveServer(test_settings(fresh_db_url))
    yield live
    live.stop()


def _scrub(data: bytes, known: list[str]) -> bytes:
    """``data`` without the values a CVV could hide in by chance (the ports in URLs)."""
    for value in known:
        data = data.replace(value.encode(), b"\x00")
    return data


@pytest.mark.skipif(is_postgres(), reason="reads the SQLite database file")
def test_no_pan_or_cvv_in_database_or_logs(
    own_server: LiveServer, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="paysandbox")
    known = [receiver.url, own_server.base_url]
    with own_server.client() as client:
        for how in ("get", "post"):
            reg = register(client, "01", dbProcessUrl=receiver.url)
            params = payment_params(reg["tXid"], reg["referenceNo"], cardNo=PAN, cardCvv=CVV)
            # a refused payment (bad expiry month) must not leave card data behind either
            assert_error(
                client.get(PAY + "?" + urlencode({**params, "cardExpYymm": "3013"})), "card_exp"
            )
            if how == "get":
                r = client.get(PAY + "?" + urlencode(params))
            else:
                r = client.post(PAY, data=params)
            assert r.status_code == 200 and "491761******0000" in r.text, r.text
            r = client.post(page_action(r.text), data={"result": "approve"})
            assert r.status_code == 303
        receiver.wait_for(2)
        view = client.get(f"/_sandbox/nicepay/transactions/{reg['tXid']}").json()
        assert view["inquiry"]["cardNo"] == "491761******0000"

    path = Path(own_server.settings.db_url.removeprefix("sqlite:///"))
    data = b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
    assert b"491761******0000" in data  # the masked number is there: the right file was read
    assert PAN.encode() not in data and PAN.encode("utf-16-le") not in data
    assert CVV.encode() not in _scrub(data, known)
    assert b"cardCvv" not in data

    logged = caplog.text + "".join(
        f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records
    )
    assert PAN not in logged
    assert CVV.encode() not in _scrub(logged.encode(), known)
