"""Pure field rules: classes, payment parameter parsing, masks, validity, cartData, and the
result-code table in docs/nicepay.md kept in sync with CODES."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from paysandbox.core.clock import from_datetime
from paysandbox.providers.nicepay import rules
from paysandbox.providers.nicepay.config import DEMO_MERCHANT_KEY as DEMO_NICEPAY_MERCHANT_KEY
from paysandbox.providers.nicepay.config import Merchant as NicepayMerchant
from paysandbox.providers.nicepay.config import NicepayConfig
from paysandbox.providers.nicepay.errors import CODES, NicepayError
from paysandbox.providers.nicepay.schemas import Inquiry

DOCS = Path(__file__).resolve().parents[2] / "docs" / "nicepay.md"


def test_mask_card() -> None:
    assert rules.mask_card("4222222222222222") == "422222******2222"
    assert rules.mask_card("1234567890123") == "123456***0123"


def test_smart_quotes_in_cart_data_are_json() -> None:
    assert rules.parse_cart("{“count”: ”2”}") == "{“count”: ”2”}"
    assert rules.parse_cart(None) == "{}"
    with pytest.raises(NicepayError) as info:
        rules.parse_cart("{not json")
    assert info.value.code.result_cd == "9022"


def test_validity_in_wib() -> None:
    us = rules.parse_validity("20180306", "091309", 0, 86400, "va_expiry")
    from datetime import datetime

    # 09:13:09 WIB = 02:13:09 UTC; the stated second is valid to its end (its last µs)
    assert us == from_datetime(datetime(2018, 3, 6, 2, 13, 10)) - 1
    assert rules.parse_validity(None, None, 1_000_000, 60, "va_expiry") == 61_000_000
    assert rules.wib_stamp(us) == "20180306091309"
    with pytest.raises(NicepayError) as info:
        rules.parse_validity("20181332", None, 0, 60, "va_expiry")
    assert info.value.code.result_cd == "9210"


@pytest.mark.parametrize(
    ("cls", "good", "bad"),
    [
        ("N", "0123", "12a"),
        ("PHONE", "021-579-00000", "call me"),
        ("ACODE", "CENA", "CEN4"),
        ("A", "Thomas Alfa-Edison", "R2D2"),
        ("ID", "IONPAYTEST", "IONPAY TEST"),
        ("AN", "Jalan Bukit 22 #3", "line\nbreak"),
    ],
)
def test_type_classes(cls: str, good: str, bad: str) -> None:
    spec = [rules.Field("tXid", cls, 30)]
    assert rules.check_fields(spec, Inquiry(tXid=good), "inquiry_data") == {"tXid": good}
    with pytest.raises(NicepayError) as info:
        rules.check_fields(spec, Inquiry(tXid=bad), "inquiry_data")
    assert info.value.code.result_cd == "8002"


def test_sizes_and_empty_fields() -> None:
    spec = [rules.Field("tXid", "ID", 5, required=True, missing="inquiry_txid")]
    with pytest.raises(NicepayError) as info:
        rules.check_fields(spec, Inquiry(tXid="ABCDEF"), "inquiry_data")
    assert "at most 5" in info.value.result_msg
    with pytest.raises(NicepayError) as info:
        rules.check_fields(spec, Inquiry(tXid=""), "inquiry_data")
    assert info.value.code.result_cd == "8004"
    assert rules.check_fields(spec, Inquiry(tXid=12345), "inquiry_data") == {"tXid": "12345"}


def test_payment_params_tolerate_real_clients() -> None:
    # NICEPay's e-wallet example glues the parameters onto callBackUrl with "?"
    ew = (
        "callBackUrl=http://localhost/ci_nicepay_v2/CallPaymentEW?tXid=IONPAYTEST05201908141607"
        "307963&timeStamp=20180123095456&amt=100000&merchantToken=1f90b3f4"
    )
    p = rules.parse_payment_params(ew)
    assert p["callBackUrl"] == "http://localhost/ci_nicepay_v2/CallPaymentEW"
    assert p["tXid"] == "IONPAYTEST05201908141607307963"
    assert p["timeStamp"] == "20180123095456"
    # a merchant library appends callBackUrl un-encoded and last
    raw = "tXid=X&timeStamp=1&returnJsonFormat=1&callBackUrl=https://m.example/cb?a=1&b=2"
    assert rules.parse_payment_params(raw)["callBackUrl"] == "https://m.example/cb?a=1&b=2"
    # properly encoded, not last
    enc = "callBackUrl=https%3A%2F%2Fm.example%2Fcb%3Fa%3D1%26b%3D2&tXid=X&timeStamp=1"
    p = rules.parse_payment_params(enc)
    assert p["callBackUrl"] == "https://m.example/cb?a=1&b=2" and p["tXid"] == "X"


def test_docs_result_code_table_matches_codes() -> None:
    text = DOCS.read_text()
    rows = re.findall(r"^\| `(\d{4})` \| (\d{3}) \| `(\w+)` \| ([^|]*) \|", text, re.M)
    documented = {(cd, status, name, msg.strip()) for cd, status, name, msg in rows}
    expected = {(c.result_cd, str(c.http_status), name, c.message) for name, c in CODES.items()}
    assert documented == expected


@pytest.mark.parametrize("cls", ["N", "PHONE", "ACODE", "A", "ID"])
def test_type_classes_refuse_a_trailing_newline(cls: str) -> None:
    good = {"N": "1000", "PHONE": "021", "ACODE": "CENA", "A": "Name", "ID": "IONPAYTEST"}[cls]
    spec = [rules.Field("tXid", cls, 30)]
    for bad in (good + "\n", good + "\r\n", "\n" + good):
        with pytest.raises(NicepayError):
            rules.check_fields(spec, Inquiry(tXid=bad), "inquiry_data")


def test_json_numbers_are_padded_only_where_marked() -> None:
    spec = [rules.Field("tXid", "N", 2, exact=True, pad=True), rules.Field("amt", "N", 12)]
    assert rules.check_fields(spec, Inquiry(tXid=2, amt=10000), "inquiry_data") == {
        "tXid": "02",
        "amt": "10000",
    }
    with pytest.raises(NicepayError):  # text is taken as sent
        rules.check_fields(spec, Inquiry(tXid="2", amt=1), "inquiry_data")


def test_service_takes_source_states_from_the_machine() -> None:
    """Every conditional update asks ``model.sources`` (``STATES.sources``): the state machine
    is the single truth, no source state is spelled out in the service."""
    from paysandbox.providers.nicepay import model, service

    modules = sorted(Path(service.__file__).parent.glob("*.py"))
    text = "".join(m.read_text() for m in modules)
    assert text.count("from_states=") >= 6
    assert re.findall(r"from_states=(?!sources\()", text) == []
    assert model.sources(model.PAID) == ("INIT", "UNPAID")
    assert model.sources(model.EXPIRED) == ("UNPAID",)
    assert model.sources(model.CANCELED, among=("INIT", "UNPAID")) == ("INIT", "UNPAID")
    assert model.sources(model.FAILED, among=("INIT",)) == ("INIT",)
    with pytest.raises(ValueError):
        model.sources(model.EXPIRED, among=("PAID",))


def _banner(merchants: list[NicepayMerchant]) -> list[str]:
    from typing import Any, cast

    from paysandbox.delivery.outbox import Outbox, RetryPolicy
    from paysandbox.plugin import AppContext
    from paysandbox.providers.nicepay.plugin import provider
    from paysandbox.settings import Settings

    settings = Settings(
        db_url="sqlite:///unused.db", providers={"nicepay": NicepayConfig(list(merchants))}
    )
    ctx = AppContext(settings, cast(Any, None), Outbox(RetryPolicy()), None)
    return provider.mount(ctx).credentials


def test_banner_prints_only_the_public_demo_key() -> None:
    demo = "\n".join(_banner([]))
    assert f"merchantKey {DEMO_NICEPAY_MERCHANT_KEY}" in demo
    own_key = "my-real-merchant-key-" + "x" * 40
    shown = "\n".join(_banner([NicepayMerchant("IONPAYTEST", own_key)]))
    assert own_key not in shown and "merchantKey" not in shown
    same = "\n".join(_banner([NicepayMerchant("IONPAYTEST", DEMO_NICEPAY_MERCHANT_KEY)]))
    assert DEMO_NICEPAY_MERCHANT_KEY in same
