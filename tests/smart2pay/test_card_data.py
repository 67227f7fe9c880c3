"""The full card number and the security code never reach the database or the logs."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from ..support import LiveServer, Receiver, is_postgres
from ..support import test_settings as make_settings
from .builders import AUTH, mtid

PAN = "4929000000736215"  # a Luhn-valid Visa number used nowhere else
CVV = "8207"
#: The security code as a value of its own: a bare substring test also found its four digits
#: inside one of the sixteen-digit microsecond times of the deliveries listing, now and then
#: (a gate run failed so; the times there were 1795884127…)
_CVV_ALONE = re.compile(rf"(?<!\d){CVV}(?!\d)")


def _no_cvv(text: str) -> bool:
    return _CVV_ALONE.search(text) is None


def _flows(c: httpx.Client, receiver_url: str) -> None:
    c.put("/_sandbox/smart2pay/sites/1010", json={"notificationUrl": receiver_url})
    card = {
        "HolderName": "Card Data",
        "Number": PAN,
        "ExpirationMonth": "11",
        "ExpirationYear": "2031",
        "SecurityCode": CVV,
    }
    r = c.post(
        "/v1/card/authenticate",
        headers=AUTH,
        json={"CardAuthentication": {"Card": card, "Customer": {"Email": "a@b.com"}}},
    )
    assert r.status_code == 201
    token = r.json()["CardAuthentication"]["CreditCardToken"]["Value"]
    for amount, capture in [(2000, True), (10002, True), (10001, False), (3000, False)]:
        r = c.post(
            "/v1/payments",
            headers=AUTH,
            json={
                "Payment": {
                    "MerchantTransactionID": mtid(),
                    "Amount": amount,
                    "Currency": "EUR",
                    "Card": card,
                    "Capture": capture,
                    "GenerateCreditCardToken": True,
                }
            },
        )
        assert r.status_code in (201, 402)
    r = c.post(
        "/v1/payments",
        headers=AUTH,
        json={
            "Payment": {
                "MerchantTransactionID": mtid(),
                "Amount": 100,
                "Currency": "EUR",
                "CreditCardToken": {"Value": token, "SecurityCode": CVV},
                "Capture": True,
            }
        },
    )
    assert r.status_code == 201
    # error paths with the card data in the request
    bad = dict(card, Number=PAN[:-1] + "7")
    assert (
        c.post(
            "/v1/card/authenticate", headers=AUTH, json={"CardAuthentication": {"Card": bad}}
        ).status_code
        == 400
    )
    assert (
        c.post(
            "/v1/payments",
            headers=AUTH,
            json={"Payment": {"Card": dict(card, HolderName="x1"), "Amount": "x"}},
        ).status_code
        == 400
    )
    assert (
        c.post(
            "/v1/payments",
            headers={"Authorization": "Basic eDp5"},
            json={"Payment": {"Card": card}},
        ).status_code
        == 401
    )
    for body in (
        b'{"Payment": {"Card": {"Number": "' + PAN.encode() + b'"',
        b"\xff" + PAN.encode(),
    ):
        assert c.post("/v1/payments", headers=AUTH, content=body).status_code == 400
    # the hosted card form (a payment without card data), a refused entry, then 3-D Secure
    r = c.post(
        "/v1/payments",
        headers=AUTH,
        json={
            "Payment": {
                "MerchantTransactionID": "cd-form",
                "Amount": 2000,
                "Currency": "EUR",
                "GenerateCreditCardToken": True,
                "3DSecure": True,
            }
        },
    )
    assert r.status_code == 201, r.text
    form_path = urlsplit(r.json()["Payment"]["RedirectURL"]).path
    entry = {"action": "card", **{k: str(v) for k, v in card.items()}}
    refused = c.post(form_path, data=dict(entry, Number=PAN[:-1] + "7"))
    assert refused.status_code == 400 and PAN[:12] not in refused.text and _no_cvv(refused.text)
    assert c.post(form_path, data=entry).status_code == 303
    shown = c.get(form_path)
    assert PAN not in shown.text and _no_cvv(shown.text)
    assert c.post(form_path, data={"action": "authenticate"}).status_code == 303
    for r in [c.get("/_sandbox/deliveries"), c.get(f"/_sandbox/smart2pay/tokens/{token}")]:
        assert PAN not in r.text and _no_cvv(r.text)


def _assert_clean(blob: bytes, where: str) -> None:
    assert PAN.encode() not in blob, f"full card number in {where}"
    assert PAN[:12].encode() not in blob, f"card number prefix in {where}"
    assert b'"' + CVV.encode() + b'"' not in blob, f"security code in {where}"
    assert b"SecurityCode" not in blob, f"SecurityCode in {where}"


def _pg_dump(url: str) -> bytes:
    import psycopg

    out = []
    with psycopg.connect(url) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = "
                "current_schema()"
            ).fetchall()
        ]
        for t in tables:
            for row in conn.execute(f'SELECT t::text FROM "{t}" t').fetchall():
                out.append(str(row[0]))
    return "\n".join(out).encode()


def test_no_card_number_or_cvv_in_database_or_logs(
    fresh_db_url: str,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Everything paysandbox logs, at every level: set on the ``paysandbox`` logger itself, so a
    # level configured there (or on a child) cannot hide DEBUG records from the check.
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="paysandbox")
    logging.getLogger("paysandbox.providers.smart2pay").debug("capture-probe")
    live = LiveServer(make_settings(fresh_db_url, access_log=True))
    try:
        with live.client() as c:
            _flows(c, receiver.url)
            c.post("/_sandbox/clock/advance", json={"seconds": 60})
            receiver.wait_for(6)
    finally:
        live.stop()
    for x in receiver.requests:
        _assert_clean(x.body, "a notification")
    captured = capsys.readouterr()
    assert "capture-probe" in caplog.text  # DEBUG records of paysandbox loggers are captured
    _assert_clean((caplog.text + captured.out + captured.err).encode(), "the logs")
    if is_postgres():
        dump = _pg_dump(fresh_db_url)
        assert b"VISA-6215" in dump  # the masked form is there: we read the right data
        _assert_clean(dump, "the database")
        return
    path = Path(fresh_db_url.removeprefix("sqlite:///"))
    files: list[Any] = [p for p in path.parent.iterdir() if p.name.startswith(path.name)]
    assert path in files
    blobs = {f.name: f.read_bytes() for f in files}
    assert any(b"VISA-6215" in b for b in blobs.values())  # we read the right files
    for name, blob in blobs.items():
        _assert_clean(blob, name)
