"""VA and CVS end to end: register → simulated transfer → notification (form, token verified,
retried until 200) → inquiry → cancel; over/under payment; expiry by the sandbox clock."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import httpx

from ..support import Receiver, wait_settled, wait_until
from .builders import CAN, INQ, REG, cancel, inquiry, notification_token, register, registration
from .test_registration import assert_error


def form(raw: bytes) -> dict[str, str]:
    return dict(parse_qsl(raw.decode(), keep_blank_values=True))


def test_full_va_flow(client: httpx.Client, receiver: Receiver) -> None:
    receiver.script = [(500, b"busy"), (503, b"")]  # then 200 by default
    reg = register(client, "02", dbProcessUrl=receiver.url + "/notify", bankCd="BNIN")
    t_xid, ref = reg["tXid"], reg["referenceNo"]

    unpaid = client.post(INQ, json=inquiry(t_xid, ref)).json()
    assert (unpaid["resultCd"], unpaid["status"], unpaid["resultMsg"]) == ("0000", "3", "unpaid")
    assert unpaid["vacctNo"] == reg["vacctNo"] and unpaid["bankCd"] == "BNIN"
    assert unpaid["transDt"] is None and unpaid["depositDt"] is None

    r = client.post(f"/_sandbox/nicepay/transactions/{t_xid}/pay")
    assert r.status_code == 200 and r.json()["status"] == "0"

    first = receiver.wait_for(1)[0]
    assert first.path == "/notify"
    assert first.headers["Content-Type"] == "application/x-www-form-urlencoded"
    note = form(first.body)
    assert note["merchantToken"] == notification_token(t_xid, "10000")
    assert note["tXid"] == t_xid and note["referenceNo"] == ref and note["amt"] == "10000"
    assert (note["status"], note["matchCl"], note["payMethod"]) == ("0", "1", "02")
    assert note["vacctNo"] == reg["vacctNo"] and note["bankCd"] == "BNIN"
    for key in (
        "transDt",
        "transTm",
        "currency",
        "goodsNm",
        "billingNm",
        "vacctValidDt",
        "vacctValidTm",
        "depositDt",
        "depositTm",
    ):
        assert note[key], key

    # 500 and 503 are failures: the outbox retries (move the sandbox clock past the back-off)
    for n in (2, 3):
        wait_settled(client)
        client.post("/_sandbox/clock/advance", json={"seconds": 400})
        receiver.wait_for(n)
    assert receiver.requests[2].body == first.body

    def delivered() -> Any:
        ds = client.get(
            "/_sandbox/deliveries", params={"provider": "nicepay", "objectId": t_xid}
        ).json()
        return ds["deliveries"] if ds["deliveries"][0]["state"] == "succeeded" else None

    d = wait_until(delivered)[0]
    assert d["attempts"] == 3 and d["lastHttpStatus"] == 200

    paid = client.post(INQ, json=inquiry(t_xid, ref)).json()
    assert (paid["status"], paid["resultMsg"]) == ("0", "paid")
    assert paid["depositDt"] == note["depositDt"] and paid["transDt"]

    # a paid VA deposit cannot be cancelled (9330), and nothing changes
    r = client.post(CAN, json=cancel(t_xid, "10000"))
    assert_error(r, "va_paid")
    assert client.post(INQ, json=inquiry(t_xid, ref)).json()["status"] == "0"

    view = client.get(f"/_sandbox/nicepay/transactions/{t_xid}").json()
    assert [e["kind"] for e in view["events"]] == ["registered", "paid", "notification_queued"]


def test_unpaid_va_cancel_closes_the_number(client: httpx.Client) -> None:
    reg = register(client, "02")
    t_xid, ref = reg["tXid"], reg["referenceNo"]
    r = client.post(CAN, json=cancel(t_xid, "10000"))
    body = r.json()
    assert body["resultCd"] == "0000" and body["resultMsg"] == "SUCCESS"
    assert body["tXid"] == t_xid and body["referenceNo"] == ref and body["amt"] == "10000"
    assert len(body["canceltXid"]) == 30 and body["canceltXid"] != t_xid
    assert (body["transDt"], body["transTm"]) == (reg["transDt"], reg["transTm"])
    inq = client.post(INQ, json=inquiry(t_xid, ref)).json()
    assert inq["status"] == "2" and inq["cancelAmt"] == "10000"
    r = client.post(f"/_sandbox/nicepay/transactions/{t_xid}/pay")
    assert r.status_code == 409 and r.json()["error"] == "conflict"
    # double cancel
    assert_error(client.post(CAN, json=cancel(t_xid, "10000")), "full_cancel")


def test_over_and_under_payment(client: httpx.Client, receiver: Receiver) -> None:
    over = register(client, "02", dbProcessUrl=receiver.url)
    under = register(client, "03", dbProcessUrl=receiver.url)
    r = client.post(f"/_sandbox/nicepay/transactions/{over['tXid']}/pay", json={"amount": 12000})
    assert r.json()["matchCl"] == "2" and r.json()["paidAmt"] == 12000
    r = client.post(f"/_sandbox/nicepay/transactions/{under['tXid']}/pay", json={"amount": 5})
    assert r.json()["matchCl"] == "3"
    got = {form(x.body)["tXid"]: form(x.body) for x in receiver.wait_for(2)}
    assert got[over["tXid"]]["matchCl"] == "2" and got[over["tXid"]]["amt"] == "10000"
    cvs = got[under["tXid"]]
    assert cvs["matchCl"] == "3" and cvs["payNo"] == under["payNo"] and cvs["mitraCd"] == "ALMA"
    assert cvs["receiptCode"] and cvs["depositDt"]
    assert cvs["merchantToken"] == notification_token(under["tXid"], "10000")


def test_only_transfers_can_be_over_or_under_paid(client: httpx.Client) -> None:
    """An e-wallet (05) or ClickPay (04) payment is for its amt: the control API refuses
    another amount (a state probe paid 1 of 15000, was notified 15000 and refunded 15000), and
    nothing changes; the amt itself, or no amount, pays."""
    for pm in ("05", "04"):
        reg = register(client, pm)
        before = client.post(INQ, json=inquiry(reg["tXid"], reg["referenceNo"])).json()
        assert before["status"] in ("3", "9"), before  # unpaid / initialised
        for amount in (1, 12000):
            r = client.post(
                f"/_sandbox/nicepay/transactions/{reg['tXid']}/pay", json={"amount": amount}
            )
            assert r.status_code == 400 and r.json()["error"] == "bad_request", r.text
            assert "only a VA transfer or a CVS payment" in r.json()["message"]
            inq = client.post(INQ, json=inquiry(reg["tXid"], reg["referenceNo"])).json()
            assert inq == before
        r = client.post(f"/_sandbox/nicepay/transactions/{reg['tXid']}/pay", json={"amount": 10000})
        assert r.status_code == 200 and r.json()["status"] == "0", r.text


def test_expiry_by_sandbox_clock(client: httpx.Client) -> None:
    reg = register(client, "02")  # default validity: 24 hours
    t_xid, ref = reg["tXid"], reg["referenceNo"]
    client.post("/_sandbox/clock/advance", json={"seconds": 86_000})
    assert client.post(INQ, json=inquiry(t_xid, ref)).json()["status"] == "3"
    client.post("/_sandbox/clock/advance", json={"seconds": 401})
    inq = client.post(INQ, json=inquiry(t_xid, ref)).json()
    assert (inq["status"], inq["resultMsg"]) == ("4", "expired")
    r = client.post(f"/_sandbox/nicepay/transactions/{t_xid}/pay")
    assert r.status_code == 409 and r.json()["detail"] == "EXPIRED"
    assert_error(client.post(CAN, json=cancel(t_xid, "10000")), "full_cancel")
    view = client.get(f"/_sandbox/nicepay/transactions/{t_xid}").json()
    assert view["storedState"] == "EXPIRED" and view["events"][-1]["kind"] == "expired"


def test_the_last_valid_second_is_valid_to_its_end(client: httpx.Client) -> None:
    """vacctValidTm HH:MM:SS is the last second the VA can be paid in, whole: unpaid half a
    second into it, expired half a second after it."""
    from datetime import UTC, datetime, timedelta

    now_ms = client.get("/_sandbox/clock").json()["nowUnixMs"]
    wib = datetime.fromtimestamp(now_ms / 1000, UTC) + timedelta(hours=7, seconds=120)
    end = wib.replace(microsecond=0)
    doc = registration(
        "02", vacctValidDt=end.strftime("%Y%m%d"), vacctValidTm=end.strftime("%H%M%S")
    )
    reg = client.post(REG, json=doc).json()
    assert (reg["vacctValidDt"], reg["vacctValidTm"]) == (doc["vacctValidDt"], doc["vacctValidTm"])
    end_ms = (end - timedelta(hours=7)).replace(tzinfo=UTC).timestamp() * 1000

    def advance_to(target_ms: float) -> None:
        now = client.get("/_sandbox/clock").json()["nowUnixMs"]
        r = client.post("/_sandbox/clock/advance", json={"seconds": (target_ms - now) / 1000})
        assert r.status_code == 200, r.text

    advance_to(end_ms + 500)  # inside the stated second
    inq = client.post(INQ, json=inquiry(reg["tXid"], reg["referenceNo"])).json()
    assert (inq["status"], inq["resultMsg"]) == ("3", "unpaid")
    advance_to(end_ms + 1_500)  # past it
    inq = client.post(INQ, json=inquiry(reg["tXid"], reg["referenceNo"])).json()
    assert (inq["status"], inq["resultMsg"]) == ("4", "expired")


def test_validity_from_request_and_past_dates(client: httpx.Client) -> None:
    doc = registration("02", vacctValidDt="20180306", vacctValidTm="091309")
    reg = client.post(REG, json=doc).json()
    inq = client.post(INQ, json=inquiry(reg["tXid"], reg["referenceNo"])).json()
    assert inq["status"] == "4" and inq["vacctValidDt"] == "20180306"


def test_forced_expiry_and_control_errors(client: httpx.Client) -> None:
    reg = register(client, "03")
    r = client.post(f"/_sandbox/nicepay/transactions/{reg['tXid']}/expire")
    assert r.status_code == 200 and r.json()["status"] == "4"
    assert client.post(f"/_sandbox/nicepay/transactions/{reg['tXid']}/expire").status_code == 409
    r = client.post("/_sandbox/nicepay/transactions/NOPE/pay")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    assert client.get("/_sandbox/nicepay/transactions/NOPE").status_code == 404
    cc = register(client, "01")
    r = client.post(f"/_sandbox/nicepay/transactions/{cc['tXid']}/pay")
    assert r.status_code == 409 and "3-D Secure" in r.json()["message"]
    assert client.post(f"/_sandbox/nicepay/transactions/{cc['tXid']}/expire").status_code == 409
    r = client.post(f"/_sandbox/nicepay/transactions/{reg['tXid']}/pay", json={"amount": "x"})
    assert r.status_code == 400
    merchants = client.get("/_sandbox/nicepay/merchants").json()["merchants"]
    assert merchants == [{"iMid": "IONPAYTEST", "faults": {}}]


def test_another_merchants_transaction_is_not_found(client: httpx.Client) -> None:
    """The inquiry finds the transaction by tXid alone and compares its merchant after the
    read (``store.inquiry_row``): a transaction of another merchant is not found, whatever its
    referenceNo and amount."""
    reg = register(client, "02")
    r = client.put("/_sandbox/nicepay/merchants/OTHERMID01", json={"merchantKey": "other-key"})
    assert r.status_code == 200, r.text
    asked = inquiry(reg["tXid"], reg["referenceNo"], key="other-key", imid="OTHERMID01")
    assert_error(client.post(INQ, json=asked), "inquiry_txid")
    assert client.post(INQ, json=inquiry(reg["tXid"], reg["referenceNo"])).json()["resultCd"] == (
        "0000"
    )


def test_inquiry_errors(client: httpx.Client) -> None:
    reg = register(client, "02")
    t_xid, ref = reg["tXid"], reg["referenceNo"]
    assert_error(client.post(INQ, json=inquiry(t_xid, ref, amt="9999")), "inquiry_txid")
    assert_error(client.post(INQ, json=inquiry(t_xid, "OTHER")), "inquiry_txid")
    assert_error(
        client.post(INQ, json=inquiry("IONPAYTEST02201804191326086706", ref)), "inquiry_txid"
    )
    bad = inquiry(t_xid, ref)
    bad["merchantToken"] = "a" * 64
    assert_error(client.post(INQ, json=bad), "token_invalid")
    assert_error(client.post(INQ, json=inquiry(t_xid, ref, imid="NOSUCHMID1")), "mid_invalid")
    for field, name in (
        ("tXid", "inquiry_txid"),
        ("referenceNo", "reference_no"),
        ("amt", "amt_missing"),
        ("timeStamp", "timestamp"),
        ("merchantToken", "token_invalid"),
        ("iMid", "mid_invalid"),
    ):
        body = inquiry(t_xid, ref)
        del body[field]
        assert_error(client.post(INQ, json=body), name)
    assert_error(client.post(INQ, json={**inquiry(t_xid, ref), "tXid": "X" * 31}), "inquiry_txid")
    assert_error(client.post(INQ, json={**inquiry(t_xid, ref), "amt": "1e4"}), "amt_invalid")
    assert_error(client.post(INQ, json={**inquiry(t_xid, ref), "tXid": ["x"]}), "inquiry_txid")
    assert_error(
        client.post(INQ, content=b"{", headers={"content-type": "application/json"}), "http_message"
    )
    # amt as a JSON number signs the same digits
    body = inquiry(t_xid, ref)
    body["amt"] = 10000
    assert client.post(INQ, json=body).json()["status"] == "3"


def test_control_view_hides_url_credentials(client: httpx.Client) -> None:
    url = "https://shop:s3cret-pass@merchant.example/notify?x=1"
    reg = register(client, "02", dbProcessUrl=url)
    r = client.get(f"/_sandbox/nicepay/transactions/{reg['tXid']}")
    assert r.json()["dbProcessUrl"] == "https://***@merchant.example/notify?x=1"
    assert "s3cret-pass" not in r.text
