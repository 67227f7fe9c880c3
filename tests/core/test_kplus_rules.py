"""K PLUS field rules, directly."""

from __future__ import annotations

import re

import pytest

from paysandbox.providers.kplus import rules
from paysandbox.providers.kplus.errors import CODES, KPlusError
from paysandbox.providers.kplus.model import CANCELLED, EXPIRED, PAID, REQUESTED, TOKEN_STATES


def test_amount_forms() -> None:
    assert rules.parse_amount("000000005000", "a", allow_zero=False) == 5000
    assert rules.parse_amount("500", "a", allow_zero=False) == 50000
    assert rules.parse_amount(0, "a", allow_zero=True) == 0
    with pytest.raises(KPlusError) as info:
        rules.parse_amount(0, "a", allow_zero=False)
    assert info.value.code == "invalid_txn_amount"


@pytest.mark.parametrize(
    "value",
    [1519630776, "1519630776", "2019-07-04T18:00:42.411", "2019-07-04T18:00:42Z", "2019-07-04"],
)
def test_request_dt_accepted(value: object) -> None:
    assert rules.parse_request_dt(value)


@pytest.mark.parametrize("value", ["tomorrow", -5, True, "2019-13-45T99:00:00", "1" * 20])
def test_request_dt_refused(value: object) -> None:
    with pytest.raises(KPlusError):
        rules.parse_request_dt(value)


def test_mask_account_and_times() -> None:
    assert rules.mask_account("001-1-23005-5") == "x-x-x3005-x"
    assert rules.mask_account("1234567890") == "x-x-x6789-x"
    with pytest.raises(KPlusError):
        rules.mask_account("12")
    assert rules.kbank_time(0) == "1970-01-01T07:00:00"
    assert rules.unix_seconds(1_500_000_000_123_456) == 1_500_000_000


def test_token_state_machine() -> None:
    assert TOKEN_STATES.sources(PAID) == (REQUESTED,)
    assert TOKEN_STATES.sources(CANCELLED) == (REQUESTED,)
    assert TOKEN_STATES.is_final(EXPIRED) and TOKEN_STATES.is_final(CANCELLED)


def test_every_error_code_is_documented() -> None:
    from pathlib import Path

    doc = (Path(__file__).parents[2] / "docs" / "kplus.md").read_text()
    table = doc.split("## Error codes", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| (\d{3}) \| (\w+) \|", table, re.M)
    assert {code: (int(status), kbank) for code, status, kbank in rows} == {
        code: (meta.http_status, meta.kbank) for code, meta in CODES.items()
    }
    with pytest.raises(ValueError, match="undocumented"):
        KPlusError("made_up", "x")
