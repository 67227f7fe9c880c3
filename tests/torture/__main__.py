"""``python -m tests.torture [--long] [--db sqlite|postgresql|both]``: run the torture
scenarios against real server processes and print the table (exit status 1 if any failure
count is not 0). PostgreSQL: ``$PAYSANDBOX_PG_URL`` (default
postgresql://postgres@127.0.0.1:5432/test), each scenario in a schema of its own."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from .harness import Result, table
from .scenarios import LONG, SCENARIOS, SHORT, run_all


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m tests.torture")
    p.add_argument("--long", action="store_true", help="the long run (docs/reliability.md)")
    p.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    p.add_argument(
        "--only", action="append", choices=SCENARIOS, default=[], help="repeatable; default all"
    )
    args = p.parse_args()
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    size = LONG if args.long else SHORT
    t0 = time.monotonic()

    def log(r: Result) -> None:
        mark = "ok  " if r.ok else "FAIL"
        print(f"{mark} {r.db:10} {r.scenario} ({r.seconds:.0f} s)", flush=True)

    with tempfile.TemporaryDirectory(prefix="paysandbox-torture-") as tmp:
        results = run_all(kinds, size, Path(tmp), log, frozenset(args.only))
    print()
    print(table(results))
    print(f"\n{'long' if args.long else 'short'} run, {time.monotonic() - t0:.0f} s")
    sys.exit(0 if all(r.ok for r in results) else 1)


if __name__ == "__main__":
    main()
