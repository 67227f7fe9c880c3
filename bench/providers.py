"""NICEPay and Smart2Pay under load, SQLite beside PostgreSQL (one server process, the request
journal on, as a team would run it): what ``bench/run.py`` measures for K PLUS, for the other
two providers' main reads and writes. Never part of the test suite.

    .venv/bin/python bench/providers.py                       # both databases, 6 s a row
    .venv/bin/python bench/providers.py --duration 10 --repeat 3

Operations (requests made in Python beforehand, signed as merchant code signs them, and sent by
``wrk -t1 -c32`` through ``bench/wrk_lines.lua``, each line once):

* ``nicepay-inquiry`` — ``POST /nicepay/direct/v2/inquiry`` of one virtual-account registration;
* ``nicepay-registration`` — ``POST /nicepay/direct/v2/registration`` (virtual account), a new
  ``referenceNo`` each;
* ``smart2pay-get`` — ``GET /v1/payments/{id}`` of one captured card payment;
* ``smart2pay-create`` — ``POST /v1/payments`` (card, captured), a new
  ``MerchantTransactionID`` each.

Every answer is checked: wrk counts non-2xx answers as failures, a sample of each operation is
checked for its success code before the row, and for the writes the objects the server holds
afterwards (``paysandbox_objects`` of ``/_sandbox/metrics``) are compared with the requests
wrk counted (``created``; a few more than wrk's count is normal: wrk stops counting at the
end of the row, with requests in flight).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import secrets
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

import run as common

IMID = "IONPAYTEST"
KEY = "33F49GnCMS1mFYlGXisbUDzVf2ATWCl9k3R++d5hDd3Frmuos/XLx8XhXpe+LDYAbpGKZYSwtlyyLOtS/8aD7A=="
TS = "20180123100505"
JSON = "Content-Type: application/json"
S2P_AUTH = "Authorization: Basic MTAxMDpnYWJp"  # site 1010, key "gabi": Smart2Pay's examples


def _sha(*parts: str) -> str:
    return hashlib.sha256("".join(parts).encode()).hexdigest()


def nicepay_registration(ref: str) -> dict[str, Any]:
    body = {
        "timeStamp": TS,
        "iMid": IMID,
        "payMethod": "02",
        "currency": "IDR",
        "amt": "10000",
        "referenceNo": ref,
        "goodsNm": "Bench goods",
        "billingNm": "Bench Buyer",
        "billingPhone": "081234567890",
        "billingEmail": "buyer@example.com",
        "billingCity": "Jakarta",
        "billingState": "DKI Jakarta",
        "billingPostCd": "12345",
        "billingCountry": "Indonesia",
        "dbProcessUrl": "https://merchant.example/notify",
        "bankCd": "BMRI",
        "description": "Bench order",
    }
    body["merchantToken"] = _sha(TS, IMID, ref, "10000", KEY)
    return body


def nicepay_inquiry(t_xid: str, ref: str) -> dict[str, Any]:
    return {
        "timeStamp": TS,
        "tXid": t_xid,
        "iMid": IMID,
        "referenceNo": ref,
        "amt": "10000",
        "merchantToken": _sha(TS, IMID, ref, "10000", KEY),
    }


def smart2pay_payment(mtid: str) -> dict[str, Any]:
    return {
        "Payment": {
            "MerchantTransactionID": mtid,
            "Amount": 2000,
            "Currency": "EUR",
            "Capture": True,
            "Card": {
                "HolderName": "Bench Buyer",
                "Number": "4111111111111111",
                "ExpirationMonth": "02",
                "ExpirationYear": "2030",
                "SecurityCode": "312",
            },
        }
    }


def _line(method: str, path: str, body: dict[str, Any] | None = None) -> str:
    return f"{method}\t{path}\t{json.dumps(body, separators=(',', ':')) if body else ''}\n"


def _ok_nicepay(r: httpx.Response) -> bool:
    return r.status_code == 200 and r.json().get("resultCd") == "0000"


def _ok_smart2pay(r: httpx.Response) -> bool:
    return r.status_code in (200, 201) and r.json()["Payment"]["Status"]["Info"] == "Captured"


class Op:
    """One operation: its request lines, the headers, and how a sample answer is checked."""

    def __init__(
        self,
        name: str,
        headers: str,
        lines: Callable[[httpx.Client, str, int], list[str]],
        ok: Callable[[httpx.Response], bool],
        counts: tuple[str, str] | None = None,
    ) -> None:
        self.name, self.headers, self.lines, self.ok, self.counts = name, headers, lines, ok, counts


def _registered(c: httpx.Client) -> tuple[str, str]:
    ref = "BENCH-" + secrets.token_hex(4)
    r = c.post("/nicepay/direct/v2/registration", json=nicepay_registration(ref))
    assert _ok_nicepay(r), r.text
    return str(r.json()["tXid"]), ref


def _inquiry_lines(c: httpx.Client, tag: str, n: int) -> list[str]:
    t_xid, ref = _registered(c)
    return [_line("POST", "/nicepay/direct/v2/inquiry", nicepay_inquiry(t_xid, ref))]


def _registration_lines(c: httpx.Client, tag: str, n: int) -> list[str]:
    path = "/nicepay/direct/v2/registration"
    return [_line("POST", path, nicepay_registration(f"{tag}-{i}")) for i in range(n)]


def _get_lines(c: httpx.Client, tag: str, n: int) -> list[str]:
    r = c.post(
        "/v1/payments",
        json=smart2pay_payment(f"{tag}-get"),
        headers=dict([S2P_AUTH.split(": ", 1)]),
    )
    assert _ok_smart2pay(r), r.text
    return [_line("GET", f"/v1/payments/{r.json()['Payment']['ID']}")]


def _create_lines(c: httpx.Client, tag: str, n: int) -> list[str]:
    return [_line("POST", "/v1/payments", smart2pay_payment(f"{tag}-{i}")) for i in range(n)]


OPS = [
    Op("nicepay-inquiry", JSON, _inquiry_lines, _ok_nicepay),
    Op("nicepay-registration", JSON, _registration_lines, _ok_nicepay, ("nicepay", "transaction")),
    Op("smart2pay-get", S2P_AUTH, _get_lines, _ok_smart2pay),
    Op(
        "smart2pay-create",
        f"{JSON}|{S2P_AUTH}",
        _create_lines,
        _ok_smart2pay,
        ("smart2pay", "payment"),
    ),
]

_OBJECTS = re.compile(r"^paysandbox_objects\{([^}]*)\} ([\d.e+]+)$", re.M)


def objects(c: httpx.Client, provider: str, kind: str) -> int:
    """How many objects of ``kind`` the server holds (every state)."""
    text = c.get("/_sandbox/metrics").text
    total = 0.0
    for labels, value in _OBJECTS.findall(text):
        found = dict(re.findall(r'(\w+)="([^"]*)"', labels))
        if found.get("provider") == provider and found.get("kind") == kind:
            total += float(value)
    return int(total)


def sample_ok(c: httpx.Client, op: Op, line: str) -> None:
    """Send one request line as wrk would and check its answer."""
    method, path, body = line.rstrip("\n").split("\t", 2)
    headers = dict(h.split(": ", 1) for h in op.headers.split("|"))
    r = c.request(method, path, content=body.encode() or None, headers=headers)
    if not op.ok(r):
        raise RuntimeError(f"{op.name}: unexpected answer {r.status_code} {r.text[:300]}")


def run_op(
    args: argparse.Namespace, target: str, base: str, op: Op, meter: common.CpuMeter, tmp: Path
) -> common.Result:
    tag = f"b{secrets.token_hex(3)}"

    def lines_file(name: str, seconds: float) -> dict[str, str]:
        """A file of requests for one wrk run (a write's ids are new in each: a repeated
        MerchantTransactionID is refused), enough at a rate no run here came near."""
        lines = op.lines(c, f"{tag}{name}", int((seconds + 1) * 8_000))
        path = tmp / f"{op.name}-{name}.lines"
        path.write_text("".join(lines))
        return {"BENCH_FILE": str(path), "BENCH_HEADERS": op.headers}

    with httpx.Client(base_url=base, timeout=30) as c:
        sample_ok(c, op, op.lines(c, f"{tag}s", 1)[0])
        warm, row = lines_file("w", args.warmup), lines_file("m", args.duration)
        common.run_wrk(args, target, base, op.name, args.warmup, warm, script="wrk_lines.lua")
        before_objects = objects(c, *op.counts) if op.counts else 0
        before = meter.snapshot()
        r = common.run_wrk(args, target, base, op.name, args.duration, row, script="wrk_lines.lua")
        after = meter.snapshot()
        if op.counts:
            r.extra["created"] = float(objects(c, *op.counts) - before_objects)
        sample_ok(c, op, op.lines(c, f"{tag}e", 1)[0])  # still answering as it should
    r.extra["server_cpu_us"] = meter.spent(before[0], after[0]) / max(r.requests, 1) * 1e6
    if meter.pg_url:
        r.extra["db_cpu_us"] = meter.spent(before[1], after[1]) / max(r.requests, 1) * 1e6
    print(
        f"  {target:<12} {op.name:<22} {r.rps:>8,.0f} req/s  p50 {r.p50_ms:6.2f}"
        f"  p99 {r.p99_ms:6.2f}  failures {r.failures}"
        + "".join(f"  {k} {v:,.0f}" for k, v in r.extra.items()),
        flush=True,
    )
    return r


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=6)
    ap.add_argument("--warmup", type=float, default=2)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--pg", default=common.DEFAULT_PG, help="'none' for SQLite only")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--only", default="", help="operations, comma-separated")
    args = ap.parse_args()
    args.wrk = common.ensure_wrk()
    kinds = ["sqlite"] + ([] if args.pg == "none" else ["postgresql"])
    ops = [o for o in OPS if not args.only or o.name in args.only.split(",")]
    results: dict[tuple[str, str], list[common.Result]] = {}
    print(f"load average {common.load_average()}", flush=True)
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        for _ in range(args.repeat):
            for kind in kinds:
                name = "SQLite" if kind == "sqlite" else "PostgreSQL"
                with (
                    common.fresh_db(kind, args.pg, tmp) as (url, schema),
                    common.server(url, tmp) as (base, proc),
                ):
                    meter = common.meter_for(proc, args, schema)
                    for op in ops:
                        r = run_op(args, name, base, op, meter, tmp)
                        results.setdefault((name, op.name), []).append(r)
    print(f"load average {common.load_average()}\n")
    print("| target | operation | req/s | p50 ms | p99 ms | failures | server CPU µs | db CPU µs |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    med = statistics.median
    for (target, op_name), rs in results.items():

        def cpu(key: str, rs: list[common.Result] = rs) -> str:
            vals = [r.extra[key] for r in rs if key in r.extra]
            return f"{med(vals):,.0f}" if vals else "–"

        print(
            f"| {target} | {op_name} | {med(r.rps for r in rs):,.0f} "
            f"| {med(r.p50_ms for r in rs):.2f} | {med(r.p99_ms for r in rs):.2f} "
            f"| {sum(r.failures for r in rs)} | {cpu('server_cpu_us')} | {cpu('db_cpu_us')} |"
        )
    for op in ops:
        a, b = results.get(("SQLite", op.name)), results.get(("PostgreSQL", op.name))
        if a and b:
            ratio = statistics.median(r.rps for r in b) / statistics.median(r.rps for r in a)
            print(f"\nPostgreSQL / SQLite, {op.name}: {ratio:.2f}×")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    main()
