"""One operation against a fresh server, second by second: req/s, p50 and p99 of each second,
and on PostgreSQL the database's checkpoints that started or ended in it.

What a row of ``bench/run.py`` sums up in one p99, spread out in time: a tail that comes from
a moment (a checkpoint's ``fsync``, a journal writer storing what it held) shows as one bad
second among good ones. Never part of the test suite; see bench/README.md ("Timeline").

    .venv/bin/python bench/timeline.py --op generate-token --seconds 120
    .venv/bin/python bench/timeline.py --pg none --op inquire-token
    .venv/bin/python bench/timeline.py --seconds 60 -- --no-journal   # serve's own options
"""

from __future__ import annotations

import argparse
import datetime
import os
import tempfile
from pathlib import Path

import psycopg

import run

#: Checkpoints started (timed or requested), and the milliseconds spent in their sync phase
#: (grows when one ends): PostgreSQL 17 moved them from ``pg_stat_bgwriter``.
CHECKPOINTS_17 = "SELECT num_timed + num_requested, sync_time FROM pg_stat_checkpointer"
CHECKPOINTS = (
    "SELECT checkpoints_timed + checkpoints_req, checkpoint_sync_time FROM pg_stat_bgwriter"
)


class Checkpoints:
    """The database's checkpoint counters, read through one connection of its own. They are its
    interim statistics: a checkpoint whose sync phase took under a millisecond shows no end, and
    before PostgreSQL 17 a skipped timed checkpoint counts as started."""

    def __init__(self, pg_url: str) -> None:
        self.conn = psycopg.connect(pg_url, autocommit=True)
        version = self.conn.execute("SHOW server_version_num").fetchone()
        assert version is not None
        self.sql = CHECKPOINTS_17 if int(version[0]) >= 170000 else CHECKPOINTS
        self.last = self.read()

    def read(self) -> tuple[int, float]:
        row = self.conn.execute(self.sql).fetchone()
        assert row is not None
        return int(row[0]), float(row[1])

    def since_last(self) -> str:
        """'started', 'ended', both or neither since the last call."""
        now, last = self.read(), self.last
        self.last = now
        return " ".join(
            w for w, on in (("started", now[0] > last[0]), ("ended", now[1] > last[1])) if on
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--op", default="generate-token", choices=["generate-token", "inquire-token"])
    p.add_argument("--seconds", type=int, default=120)
    p.add_argument("--warmup", type=float, default=3)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument(
        "--pg",
        default=os.environ.get("PAYSANDBOX_PG_URL", "postgresql://postgres@127.0.0.1:5432/test"),
        help="PostgreSQL URL; 'none' for SQLite",
    )
    p.add_argument("serve", nargs="*", help="after --: options for paysandbox serve")
    args = p.parse_args()
    args.wrk = run.ensure_wrk()
    pg = None if args.pg == "none" else args.pg
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        with (
            run.fresh_db("pg" if pg else "sqlite", pg or "", tmp) as (url, _),
            run.server(url, tmp, extra=args.serve) as (base, _proc),
        ):
            token, _ = run.setup_token(base)
            env = {"BENCH_TOKEN": token}
            run.run_wrk(args, "warm-up", base, args.op, args.warmup, {**env, "BENCH_PREFIX": "w"})
            print(f"# {args.op}, {'PostgreSQL' if pg else 'SQLite'}, serve {args.serve}")
            print("# UTC end of second    req/s   p50 ms   p99 ms  failures  checkpoint")
            marks = Checkpoints(pg) if pg else None
            try:
                for i in range(args.seconds):
                    env["BENCH_PREFIX"] = f"s{i}x"
                    r = run.run_wrk(args, "s", base, args.op, 1, env)
                    note = marks.since_last() if marks else ""
                    now = datetime.datetime.now(datetime.UTC).strftime("%H:%M:%S.%f")[:-3]
                    print(
                        f"{now:>20} {r.rps:>9,.0f} {r.p50_ms:8.2f} {r.p99_ms:8.2f}"
                        f" {r.failures:9}  {note}",
                        flush=True,
                    )
            finally:
                if marks:
                    marks.conn.close()


if __name__ == "__main__":
    main()
