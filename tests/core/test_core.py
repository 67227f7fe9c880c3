"""The provider-neutral core, tested directly (no HTTP, no database)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from paysandbox.core import amounts, clock, ids
from paysandbox.core.credentials import mask, secret_matches
from paysandbox.core.errors import InvalidInput
from paysandbox.core.states import StateMachine
from paysandbox.validation import explain


@pytest.mark.parametrize(
    ("value", "minor"),
    [
        ("500", 50000),
        (500, 50000),
        (500.5, 50050),
        ("12.25", 1225),
        ("0", 0),
        (" 7 ", 700),
        (Decimal("1.10"), 110),
        ("0.01", 1),
    ],
)
def test_parse_major(value: object, minor: int) -> None:
    assert amounts.parse_major(value) == minor


@pytest.mark.parametrize(
    "value",
    ["-1", -0.5, "1.234", "abc", "", "NaN", "Infinity", True, None, [1], "1e400", "9" * 40],
)
def test_parse_major_refuses(value: object) -> None:
    with pytest.raises(InvalidInput) as info:
        amounts.parse_major(value, field="totalAmount")
    assert info.value.field == "totalAmount"


def test_parse_minor_and_format() -> None:
    assert amounts.parse_minor("000000005000") == 5000
    with pytest.raises(InvalidInput):
        amounts.parse_minor("10.5")
    assert amounts.format_major(50050) == Decimal("500.50")
    assert str(amounts.format_major(7)) == "0.07"


def test_random_string_alphabet_length_and_spread() -> None:
    values = {ids.random_string(40) for _ in range(200)}
    assert len(values) == 200
    assert all(len(v) == 40 and set(v) <= set(ids.LOWER_ALNUM) for v in values)
    seen = set("".join(values))
    assert seen == set(ids.LOWER_ALNUM)  # every symbol appears: no truncated alphabet
    hexes = ids.random_string(32, ids.UPPER_HEX)
    assert len(hexes) == 32 and set(hexes) <= set(ids.UPPER_HEX)
    assert ids.random_digits(12).isdigit()
    assert ids.internal_id("dlv").startswith("dlv_")


def test_time_ordered_ids_sort_by_the_time_they_were_made(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first characters are the wall clock's microseconds in the alphabet's sorted order;
    the rest is random. An id made a microsecond later sorts after, whatever its random part."""
    now = [1_795_836_635_249_000_000]
    monkeypatch.setattr(ids.time, "time_ns", lambda: now[0])
    made = []
    for step in (0, 1_000, 35_000, 36_000, 10**12):  # ns: 0, 1, 35, 36 µs, then 1,000 s
        now[0] += step
        made.append(ids.time_ordered_string(40))
    assert made == sorted(made) and len(set(made)) == 5
    assert all(len(v) == 40 and set(v) <= set(ids.LOWER_ALNUM) for v in made)
    assert int(made[1][:11], 36) - int(made[0][:11], 36) == 1  # base 36, 0-9 then a-z
    assert int(made[3][:11], 36) - int(made[0][:11], 36) == 72
    randoms = {ids.time_ordered_string(40)[11:] for _ in range(200)}
    assert len(randoms) == 200 and set("".join(randoms)) == set(ids.LOWER_ALNUM)
    # K PLUS token ids keep their wire shape and sort as they were made
    from paysandbox.providers.kplus.service import new_token_id

    first = new_token_id()
    now[0] += 1_000
    second = new_token_id()
    assert re.fullmatch(r"KMCMPT[a-z0-9]{40}PMT", first) and first < second


def test_clock_round_trip() -> None:
    dt = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    us = clock.from_datetime(dt)
    assert clock.to_datetime(us) == dt
    assert clock.iso(us) == "2026-01-02T03:04:05.678+00:00"
    assert clock.sandbox_now_us(3600 * clock.US) - clock.real_now_us() >= 3599 * clock.US


def test_secret_matches_and_mask() -> None:
    assert secret_matches("abc", "abc")
    assert not secret_matches("abd", "abc")
    assert not secret_matches(None, "abc")
    assert not secret_matches("", "abc")
    assert secret_matches("ŝecret", "ŝecret")
    assert mask("4111111111111111") == "************1111"
    assert mask("12") == "**"


def test_state_machine() -> None:
    m = StateMachine.build("t", "A", [("A", "B"), ("A", "C"), ("B", "D")])
    assert m.states == {"A", "B", "C", "D"}
    assert m.can("A", "B") and not m.can("B", "A")
    assert m.sources("D") == ("B",)
    assert m.sources("B") == ("A",)
    assert m.is_final("C") and not m.is_final("A")
    with pytest.raises(ValueError, match="initial"):
        StateMachine("x", "Z", {"A": frozenset({"B"})})


@pytest.mark.parametrize(
    ("message", "kind", "field"),
    [
        ("Object missing required field `x`", "missing", "x"),
        (
            "Object missing required field `itemName` - at `$.items[0]`",
            "missing",
            "items[0].itemName",
        ),
        ("Expected `str`, got `null` - at `$.shopName`", "missing", "shopName"),
        ("Expected `str` of length <= 64 - at `$.partnerTxnUid`", "invalid", "partnerTxnUid"),
        ("Expected `object`, got `array`", "not_object", ""),
    ],
)
def test_explain_validation_messages(message: str, kind: str, field: str) -> None:
    p = explain(message)
    assert (p.kind, p.field) == (kind, field)
