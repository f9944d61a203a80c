"""`make bench`: every path users wait on, measured on the real system beside baselines from the
same run, printed as a table and written as JSON under bench/results/.

The system: api (`ticketing serve`, as in production, on one process and then on two), Celery
worker (concurrency 2, as in the Procfile) and beat, the notifier, a private Redis and a fresh
SQLite file (or, with --postgres, a throw-away PostgreSQL database), all on loopback, with the
production timings. HTTP load comes from wrk; the paced measurements (fixed request rates, event
lag, webhook latency, the sustained-ingest search) from a paced client in its own process
(bench/load.py) and a webhook receiver in its own process.

    .venv/bin/python -m bench.run               # make bench: 100,000 generated tickets, ~10 min
    .venv/bin/python -m bench.run --quick       # make bench-quick: 10,000 tickets, ~3-4 min
    .venv/bin/python -m bench.run --postgres    # make bench-postgres: the same on PostgreSQL
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, text

from bench.large import measure_large_database
from bench.live import measure_live_system
from bench.mail import measure_mail_intake
from bench.peers import reference_rows
from bench.plan import FULL, QUICK
from bench.report import Row, print_table, write_json
from bench.trigger_cost import measure_trigger_cost

DEFAULT_POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def _use_postgres(admin_url: str) -> None:
    """Every database of the run becomes a throw-away one on this server: tests/support's
    databases create them from TEST_POSTGRES_URL and drop them when this process exits."""
    engine = create_engine(admin_url)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        raise SystemExit(f"no PostgreSQL answers at {admin_url}: {exc}") from exc
    finally:
        engine.dispose()
    os.environ["TEST_POSTGRES_URL"] = admin_url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the smaller run (~3-4 minutes)")
    parser.add_argument(
        "--postgres",
        nargs="?",
        const=os.environ.get("POSTGRES_ADMIN_URL", DEFAULT_POSTGRES_ADMIN_URL),
        metavar="ADMIN_URL",
        help="run on PostgreSQL: throw-away databases created through this admin URL "
        f"(default $POSTGRES_ADMIN_URL or {DEFAULT_POSTGRES_ADMIN_URL})",
    )
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    engine = "PostgreSQL" if args.postgres else "SQLite"
    if args.postgres:
        _use_postgres(args.postgres)
    rows: list[Row] = []
    started = time.perf_counter()

    def progress(done: str) -> None:
        print(f"[bench {time.perf_counter() - started:4.0f} s] {done}", file=sys.stderr)

    with tempfile.TemporaryDirectory(prefix="ticketing-bench-") as directory:
        live = measure_live_system(plan, Path(directory), rows, progress=progress)
        rows.extend(reference_rows(live.post_per_second))
        measure_large_database(plan, Path(directory), rows)
        measure_trigger_cost(plan, Path(directory), rows)
        measure_mail_intake(plan, Path(directory), rows)
        progress(f"{plan.generated_tickets:,} generated tickets")
    header = (
        f"ticketing bench ({'quick' if args.quick else 'full'}, {engine}), {os.cpu_count()} "
        f"cores, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {time.perf_counter() - started:.0f} s"
    )
    print_table(header, rows)
    path = write_json(
        Path(__file__).with_name("results"),
        header,
        rows,
        plan=asdict(plan),
        engine=engine,
        ingest_steps=[step.as_json() for step in live.ingest.steps],
    )
    print(
        f"\nwritten to {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}"
    )


if __name__ == "__main__":
    main()
