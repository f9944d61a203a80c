"""The large-database rows: `ticketing generate`'s tickets, then filtered lists, search (beside a
LIKE scan of the same rows), statistics, the dashboard, a full statistics recompute and
`ticketing reindex`, on SQLite or PostgreSQL alike."""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from bench import baselines
from bench.plan import AGENT_EMAIL, TIMINGS, Plan
from bench.report import Row
from bench.wrk import WrkResult, run_wrk
from shared.clock import utcnow
from shared.stats import compute_snapshot
from tests.support.processes import (
    BIN,
    free_port,
    fresh_database_env,
    start_api_server,
    ticketing,
)
from tests.support.redis_server import RedisServer


def _sequential(base_url: str, path: str, key: str, seconds: float) -> WrkResult:
    """One connection, one request at a time: each latency is the server's own time."""
    return run_wrk(base_url, path, key=key, seconds=seconds, connections=1)


def _timed_command(*args: str, env: dict[str, str]) -> float:
    """Seconds `ticketing *args` took (`ticketing()` gives up after two minutes, and on
    PostgreSQL `generate --tickets 100000` alone takes one or two)."""
    started = time.perf_counter()
    result = subprocess.run(
        [str(BIN / "ticketing"), *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"ticketing {' '.join(args)} failed:\n{result.stderr}")
    return time.perf_counter() - started


def measure_large_database(plan: Plan, directory: Path, rows: list[Row]) -> None:
    env = fresh_database_env(directory / "large")
    database_url = env["DATABASE_URL"]
    tickets = plan.generated_tickets
    generated = _timed_command("generate", "--tickets", str(tickets), env=env)
    n = f"{tickets:,}"
    rows.append(Row(measurement=f"ticketing generate --tickets {tickets}",
                    value=generated, unit="s", target="(fast: bulk inserts)",
                    lower_is_better=True))  # fmt: skip
    key = ticketing("api-key", "create", "--email", AGENT_EMAIL, env=env).strip()
    redis = RedisServer(port=free_port(), directory=directory / "large-redis")
    redis.start()
    api = start_api_server(env={**env, **TIMINGS, "REDIS_URL": redis.url})
    try:
        lists = _sequential(api.base_url, "/tickets?status_id=2&priority_id=3", key,
                            plan.query_seconds)  # fmt: skip
        rows.append(Row.from_wrk(f"GET /tickets, two filters, {n} tickets", lists,
                                 target="p95 ≤ 10 ms"))  # fmt: skip
        for words in (["password"], ["refund", "subscription"]):
            query = "+".join(words)
            found = _sequential(api.base_url, f"/search?query={query}", key, plan.query_seconds)
            like = baselines.like_search_seconds(database_url, words, repeat=5)
            like_ms = statistics.median(like) * 1000
            rows.append(
                Row(
                    measurement=f"GET /search?query={query}, {n} tickets: p95",
                    value=found.p95_ms,
                    unit="ms",
                    baseline=like_ms,
                    target="p95 ≤ 15 ms, ≥ 20× faster than LIKE",
                    detail=f"p50 {found.p50_ms:.2f} ms; LIKE scan median {like_ms:.1f} ms "
                    f"= {like_ms / found.p50_ms:.0f}× the search's p50, "
                    f"{like_ms / found.p95_ms:.0f}× its p95",
                    lower_is_better=True,
                )
            )
        for path, target in (("/stats", "p95 ≤ 15 ms"), ("/dashboard", "p95 ≤ 10 ms")):
            served = _sequential(api.base_url, path, key, plan.query_seconds)
            rows.append(Row.from_wrk(f"GET {path}, {n} tickets", served, target=target))
    finally:
        api.stop()
        redis.stop()
    engine = create_engine(database_url)
    with Session(engine) as session:
        started = time.perf_counter()
        compute_snapshot(session, now=utcnow())
        recompute = time.perf_counter() - started
    engine.dispose()
    rows.append(Row(measurement=f"statistics full recompute, {n} tickets", value=recompute,
                    unit="s", target="≤ 1 s", lower_is_better=True))  # fmt: skip
    reindexed = _timed_command("reindex", env=env)
    rows.append(Row(measurement=f"ticketing reindex, {n} tickets",
                    value=reindexed, unit="s", target="≤ 30 s",
                    detail="the whole command, process start included",
                    lower_is_better=True))  # fmt: skip
