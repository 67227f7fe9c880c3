"""registration over HTTP: answers per payMethod, every documented error (body asserted), and
no state change on any refusal."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from paysandbox.providers.nicepay.errors import CODES
from paysandbox.providers.nicepay.service import registration as registration_service

from .builders import CAN, DOC_CC, INQ, KEY, REG, TS, cancel, inquiry, register, registration, sha


def assert_error(r: httpx.Response, name: str, status: int = 200) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body: dict[str, Any] = r.json()
    code = CODES[name]
    assert body["resultCd"] == code.result_cd, body
    assert body["resultMsg"].startswith(code.message), body
    return body


def nothing_stored(client: httpx.Client) -> None:
    assert client.get("/_sandbox/nicepay/transactions").json()["transactions"] == []


def test_va_registration_answer(client: httpx.Client) -> None:
    body = register(client, "02", bankCd="BMRI", vacctValidDt="20991231", vacctValidTm="235959")
    assert body["bankCd"] == "BMRI" and body["vacctNo"].startswith("7001")
    assert len(body["vacctNo"]) == 16
    assert (body["vacctValidDt"], body["vacctValidTm"]) == ("20991231", "235959")
    keys = {
        "resultCd",
        "resultMsg",
        "tXid",
        "referenceNo",
        "payMethod",
        "amt",
        "transDt",
        "transTm",
        "description",
        "bankCd",
        "vacctNo",
        "mitraCd",
        "payNo",
        "currency",
        "goodsNm",
        "billingNm",
        "vacctValidDt",
        "vacctValidTm",
        "payValidDt",
        "payValidTm",
    }
    assert set(body) == keys


def test_txids_are_unique_and_30_chars(client: httpx.Client) -> None:
    seen = {register(client, "02")["tXid"] for _ in range(20)}
    assert len(seen) == 20 and all(len(t) == 30 for t in seen)


def test_fixed_va_number(client: httpx.Client) -> None:
    body = register(client, "02", merFixAcctId="1234567890")
    assert body["vacctNo"] == "39011234567890"
    r = client.post(REG, json=registration("02", merFixAcctId="1234567890"))
    assert_error(r, "vacct_duplicate")


def test_a_number_claimed_under_a_taken_txid_ends_up_named_for_the_stored_one(
    client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The number is claimed in the name of the tXid drawn first; when that tXid turns out to
    be taken, the claim is renamed for the one the transaction was stored under. Without the
    rename it would name another (here paid) transaction, and the open VA's number would be
    released to the next registration."""
    paid = register(client, "02", merFixAcctId="1111111111")["tXid"]
    assert client.post(f"/_sandbox/nicepay/transactions/{paid}/pay").status_code == 200
    real = registration_service._draw_txid
    draws = iter([paid])  # the first draw of the next registration clashes with ``paid``
    monkeypatch.setattr(
        registration_service, "_draw_txid", lambda *a: next(draws, None) or real(*a)
    )
    body = register(client, "02", merFixAcctId="2222222222")
    assert body["tXid"] != paid and body["vacctNo"] == "39012222222222"
    r = client.post(REG, json=registration("02", merFixAcctId="2222222222"))
    assert_error(r, "vacct_duplicate")  # the number is held by the open transaction


def test_cvs_ewallet_clickpay_payloan(client: httpx.Client) -> None:
    cvs = register(client, "03", mitraCd="INDO")
    assert cvs["mitraCd"] == "INDO" and len(cvs["payNo"]) == 12 and cvs["payValidDt"]
    ew = register(client, "05", mitraCd="DANA")
    assert ew["mitraCd"] == "DANA" and ew["payNo"] is None
    cp = register(client, "04")
    assert cp["tXid"][10:12] == "04"
    pl = register(client, "06")
    assert pl["mitraCd"] == "AKLP" and pl["currency"] == "IDR"


def test_content_type_any_case_amt_number_cart_object(client: httpx.Client) -> None:
    body = registration(
        "01",
        amt=10000,
        cartData={
            "count": "1",
            "item": [
                {
                    "img_url": "http://img.example/1.jpg",
                    "goods_name": "Item",
                    "goods_detail": "x",
                    "goods_amt": "10000",
                }
            ],
        },
    )
    r = client.post(
        REG,
        content=httpx.Request("POST", "/", json=body).content,
        headers={"Content-Type": "Application/JSON; charset=UTF-8"},
    )
    assert r.json()["resultCd"] == "0000", r.text
    t_xid = r.json()["tXid"]
    view = client.get(f"/_sandbox/nicepay/transactions/{t_xid}").json()
    assert '"goods_name":"Item"' in view["cartData"]


@pytest.mark.parametrize(
    ("change", "name"),
    [
        ({"timeStamp": None}, "timestamp"),
        ({"timeStamp": "2018012310050"}, "timestamp"),
        ({"iMid": ""}, "mid_invalid"),
        ({"iMid": "NOSUCHMID1"}, "mid_invalid"),
        ({"iMid": "IONPAY-TEST"}, "mid_invalid"),
        ({"payMethod": None}, "paymethod"),
        ({"payMethod": "08"}, "paymethod"),
        ({"currency": None}, "currency"),
        ({"currency": "USD"}, "currency"),
        ({"amt": None}, "amt_missing"),
        ({"amt": "10.50"}, "amt_invalid"),
        ({"amt": 10.5}, "amt_invalid"),
        ({"amt": 10000.0}, "amt_invalid"),  # a decimal point, even with nothing after it
        ({"amt": 1e4}, "amt_invalid"),
        ({"amt": "0"}, "amt_invalid"),
        ({"amt": "1234567890123"}, "amt_invalid"),
        ({"referenceNo": None}, "reference_no"),
        ({"referenceNo": "R" * 41}, "reference_no"),
        ({"goodsNm": None}, "goods_nm"),
        ({"goodsNm": "G" * 101}, "reg_data"),
        ({"billingNm": ""}, "billing_nm"),
        ({"billingNm": "R2D2"}, "reg_data"),
        ({"billingPhone": None}, "billing_phone"),
        ({"billingPhone": "phone"}, "reg_data"),
        ({"billingEmail": None}, "billing_email"),
        ({"billingCity": None}, "billing_city"),
        ({"billingState": None}, "billing_state"),
        ({"billingPostCd": None}, "billing_post_cd"),
        ({"billingPostCd": "12A45"}, "reg_data"),
        ({"billingCountry": None}, "billing_country"),
        ({"dbProcessUrl": None}, "db_process_url"),
        ({"dbProcessUrl": "ftp://merchant/x"}, "db_process_url"),
        ({"dbProcessUrl": "http://[::1"}, "db_process_url"),
        ({"dbProcessUrl": "http://[::1]:99999/x"}, "db_process_url"),
        ({"dbProcessUrl": "http://merchant example/x"}, "db_process_url"),
        ({"dbProcessUrl": "http:///x"}, "db_process_url"),
        # "$" also matches before a final newline: every class check is a full match
        ({"amt": "1000\n"}, "amt_invalid"),
        ({"billingPostCd": "12345\n"}, "reg_data"),
        ({"billingNm": "Customer\n"}, "reg_data"),
        ({"payMethod": "2\n"}, "paymethod"),
        ({"payMethod": "2"}, "paymethod"),  # text must be the documented 2 digits
        ({"merchantToken": None}, "token_invalid"),
        ({"merchantToken": "f" * 64}, "token_invalid"),
        ({"cartData": "{oops"}, "cart_data"),
        ({"cartData": "x" * 4001}, "cart_data"),
        ({"goodsNm": True}, "reg_data"),
        ({"billingAddr": {"street": "x"}}, "reg_data"),
        ({"deliveryPostCd": "12-950"}, "reg_data"),
        ({"userLanguage": "x" * 101}, "reg_data"),
        ({"bankCd": None}, "bank_cd"),
        ({"bankCd": "XXXX"}, "bank_cd"),
        ({"bankCd": "BC4"}, "bank_cd"),
        ({"vacctValidDt": "2018030"}, "va_expiry_length"),
        ({"vacctValidTm": "0913"}, "va_expiry_length"),
        ({"vacctValidDt": "20181350"}, "va_expiry"),
        ({"vacctValidTm": "25AA00"}, "va_expiry"),
        ({"merFixAcctId": "ABC"}, "reg_data"),
    ],
)
def test_registration_errors(client: httpx.Client, change: dict[str, Any], name: str) -> None:
    body = registration("02")
    for k, v in change.items():
        if v is None:
            body.pop(k, None)
        else:
            body[k] = v
    if "merchantToken" not in change and "amt" not in change:
        body["merchantToken"] = sha(
            str(body.get("timeStamp", "")),
            str(body.get("iMid", "")),
            str(body.get("referenceNo", "")),
            str(body["amt"]),
            KEY,
        )
    body = {k: v for k, v in body.items()}
    r = client.post(REG, json=body)
    assert_error(r, name)
    nothing_stored(client)


@pytest.mark.parametrize(
    ("method", "change", "name"),
    [
        ("03", {"mitraCd": None}, "mitra_cd"),
        ("03", {"mitraCd": "OVOE"}, "mitra_cd"),
        ("03", {"payValidDt": "2018030"}, "cvs_expiry_length"),
        ("03", {"payValidDt": "20180230"}, "cvs_expiry"),
        ("05", {"mitraCd": "ALMA"}, "mitra_cd"),
        ("05", {"userIP": None}, "user_ip"),
        ("04", {"mitraCd": "XXXX"}, "mitra_cd"),
        ("01", {"instmntType": "3"}, "instmnt_type"),
        ("01", {"instmntMon": "99"}, "instmnt_mon"),
        ("01", {"instmntMon": "1a"}, "instmnt_mon"),
        ("01", {"recurrOpt": "7"}, "reg_data"),
        ("01", {"userIP": ""}, "user_ip"),
    ],
)
def test_per_method_errors(
    client: httpx.Client, method: str, change: dict[str, Any], name: str
) -> None:
    body = registration(method)
    for k, v in change.items():
        if v is None:
            body.pop(k, None)
        else:
            body[k] = v
    assert_error(client.post(REG, json=body), name)
    nothing_stored(client)


def test_bad_token_does_not_reveal_expected(client: httpx.Client) -> None:
    body = registration("02")
    expected = body["merchantToken"]
    body["merchantToken"] = sha("wrong")
    r = client.post(REG, json=body)
    err = assert_error(r, "token_invalid")
    assert expected not in r.text
    assert "timeStamp + iMid + referenceNo + amt + merchantKey" in err["resultMsg"]
    assert set(err) == {"resultCd", "resultMsg"}
    nothing_stored(client)


@pytest.mark.parametrize(
    ("content", "headers", "name", "status"),
    [
        (b"{not json", {"Content-Type": "application/json"}, "http_message", 200),
        (b"[1, 2]", {"Content-Type": "application/json"}, "http_message", 200),
        (b'"text"', {"Content-Type": "application/json"}, "http_message", 200),
        (b"", {"Content-Type": "application/json"}, "http_message", 200),
        (b"{}", {"Content-Type": "text/plain"}, "http_message", 200),
        (
            b"iMid=IONPAYTEST",
            {"Content-Type": "application/x-www-form-urlencoded"},
            "http_message",
            200,
        ),
        (b"{}", {"Content-Type": "application/json"}, "timestamp", 200),
    ],
)
def test_malformed_bodies(
    client: httpx.Client, content: bytes, headers: dict[str, str], name: str, status: int
) -> None:
    assert_error(client.post(REG, content=content, headers=headers), name, status)
    nothing_stored(client)


def test_oversized_body(client: httpx.Client, server: Any) -> None:
    limit = server.settings.max_body_bytes
    body = {**DOC_CC, "description": "x" * (limit + 10)}
    assert_error(client.post(REG, json=body), "body_too_large", 413)


def test_unknown_route_and_method(client: httpx.Client) -> None:
    assert_error(client.post("/nicepay/direct/v2/nothing", json={}), "no_route", 404)
    assert_error(client.get(REG), "method_not_allowed", 405)
    assert_error(client.put("/nicepay/direct/v2/payment"), "method_not_allowed", 405)


def test_timestamp_not_checked_against_clock(client: httpx.Client) -> None:
    """NICEPay's e-wallet example has seconds "70": 14 digits is all that is asked."""
    body = registration("05", timeStamp="20190813141070")
    assert client.post(REG, json=body).json()["resultCd"] == "0000"
    assert TS  # the builders' default timeStamp is also years old


def test_bad_url_is_not_echoed(client: httpx.Client) -> None:
    r = client.post(REG, json=registration("02", dbProcessUrl="http://[::1/secret-path"))
    assert_error(r, "db_process_url")
    assert "secret-path" not in r.text
    nothing_stored(client)


def test_numbers_for_coded_fields(client: httpx.Client) -> None:
    """JSON numbers are accepted: payMethod 2 is "02", a time 91309 is "091309"; amt as a
    number signs its digits (the text as sent)."""
    body = registration("02", amt=10000, vacctValidDt="20991231", vacctValidTm=91309)
    body["payMethod"] = 2
    r = client.post(REG, json=body).json()
    assert r["resultCd"] == "0000", r
    assert r["payMethod"] == "02" and r["tXid"][10:12] == "02"
    assert (r["vacctValidDt"], r["vacctValidTm"]) == ("20991231", "091309")
    cc = registration("01", instmntType=1, instmntMon=1, recurrOpt=0)
    cc["payMethod"] = 1
    r = client.post(REG, json=cc).json()
    assert r["resultCd"] == "0000" and r["payMethod"] == "01", r


@pytest.mark.parametrize(
    "path",
    [
        REG,
        "/nicepay/direct/v2/inquiry",
        "/nicepay/direct/v2/cancel",
        "/nicepay/direct/v2/payment",  # its JSON form
    ],
)
@pytest.mark.parametrize("where", ["top", "field", "unknown"])
def test_deeply_nested_json_is_9001(client: httpx.Client, path: str, where: str) -> None:
    """msgspec raises RecursionError on absurd nesting; it must be a NICEPay answer, not a 500."""
    deep = '{"a":' * 2000 + "1" + "}" * 2000
    if where == "top":
        raw = deep
    elif where == "field":
        raw = '{"timeStamp":"20180123100505","cartData":' + deep + "}"
    else:
        raw = '{"timeStamp":"20180123100505","extra":' + "[" * 3000 + "]" * 3000 + "}"
    r = client.post(path, content=raw.encode(), headers={"Content-Type": "application/json"})
    assert_error(r, "http_message")
    nothing_stored(client)


@pytest.mark.parametrize("cart", ["1e309", '{"price": -1e400}', '[{"qty": 1E999}]'])
def test_cart_data_with_a_number_past_float_range(client: httpx.Client, cart: str) -> None:
    """msgspec reads such a number as a ValidationError, not a DecodeError: it was a 500 (1003)
    with a traceback in the log; found by fuzzing."""
    body = registration("02", cartData=cart)
    assert_error(client.post(REG, json=body), "cart_data")
    nothing_stored(client)


def test_deeply_nested_cart_data_text(client: httpx.Client) -> None:
    body = registration("02", cartData="[" * 1999 + "]" * 1999)
    assert_error(client.post(REG, json=body), "cart_data")
    nothing_stored(client)


def test_an_amount_with_a_decimal_point_is_9008_everywhere(client: httpx.Client) -> None:
    """``"amt": 10000.0`` (a JSON number) was read as 10000 and registered, paid, inquired and
    cancelled; NICEPay's amt is digits only ("Amount should only number and do not includes
    decimal"): 9008, as ``"10000.0"`` as text already was — whatever the merchantToken signs."""
    for signed in ("10000", "10000.0"):
        body = registration("02")
        body["amt"] = 10000.0
        body["merchantToken"] = sha(
            body["timeStamp"], body["iMid"], body["referenceNo"], signed, KEY
        )
        assert_error(client.post(REG, json=body), "amt_invalid")
    nothing_stored(client)
    reg = register(client, "02")
    t_xid, ref = reg["tXid"], reg["referenceNo"]
    body = inquiry(t_xid, ref)
    body["amt"] = 10000.0
    assert_error(client.post(INQ, json=body), "amt_invalid")
    body = cancel(t_xid, "10000")
    body["amt"] = 10000.0
    assert_error(client.post(CAN, json=body), "cancel_amt")
    view = client.get(f"/_sandbox/nicepay/transactions/{t_xid}").json()
    assert view["state"] == "UNPAID", view
