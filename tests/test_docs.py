"""The README's error tables cover every code each provider can return (docs drift is a bug)."""

from __future__ import annotations

import re
from pathlib import Path

from paysandbox.providers.kplus.errors import CODES as KPLUS
from paysandbox.providers.nicepay.errors import CODES as NICEPAY
from paysandbox.providers.smart2pay.errors import CODES as SMART2PAY

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def _section(title: str) -> str:
    return README.split(title, 1)[1].split("\n## ", 1)[0]


def test_kplus_codes_in_readme() -> None:
    table = _section("### K PLUS error codes")
    for code, meta in KPLUS.items():
        assert f"`{code}`" in table, code
        row = next(line for line in table.splitlines() if f"`{code}`" in line)
        assert str(meta.http_status) in row, code


def test_nicepay_codes_in_readme() -> None:
    table = _section("## NICEPay v2 Direct in short")
    for name, meta in NICEPAY.items():
        rows = [line for line in table.splitlines() if line.startswith(f"| `{meta.result_cd}` ")]
        assert any(f"| {meta.http_status} |" in r for r in rows), (name, meta.result_cd)


def _listed_smart2pay_codes() -> set[int]:
    table = _section("## Smart2Pay card API in short").split("Return codes", 1)[1]
    listed: set[int] = set()
    for line in table.splitlines():
        if not line.startswith("| ") or line.startswith(("| Code", "| ---")):
            continue
        first = line.split("|")[1]
        for part in first.split(","):
            m = re.match(r"\s*(\d+)(?:\s*[–-]\s*(\d+))?\s*$", part)
            assert m, line
            lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
            listed.update(range(lo, hi + 1))
    return listed


def test_smart2pay_codes_in_readme() -> None:
    listed = _listed_smart2pay_codes()
    missing = [c for c in SMART2PAY if int(c) not in listed]
    assert not missing
