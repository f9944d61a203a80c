"""`make bench`: every path users wait on, measured on the real system beside baselines from the
same run, printed as a table and written as JSON under bench/results/.

The system: api (`ticketing serve`, as in production), Celery worker (concurrency 2, as in the
Procfile) and beat, the notifier, a private Redis and a fresh SQLite file, all on loopback, with
the production timings. HTTP load comes from wrk; the paced measurements (fixed request rate,
event lag, webhook latency) from an asyncio client and a webhook receiver in its own process.

    .venv/bin/python -m bench.run            # make bench: 100,000 generated tickets, ~6 minutes
    .venv/bin/python -m bench.run --quick    # make bench-quick: 10,000 tickets, under 3 minutes
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from bench import baselines
from bench.load import create_at_rate
from bench.memory import MemorySampler
from bench.report import Row, percentile, print_table, write_json
from bench.wrk import WrkResult, run_wrk
from shared.clock import utcnow
from shared.models import OutboxEvent, ProcessedEvent, Ticket
from shared.stats import compute_snapshot
from tests.support.processes import (
    free_port,
    fresh_database_env,
    start_api_server,
    ticketing,
    wait_until,
)
from tests.support.redis_server import RedisServer
from tests.support.system import System, running_system

# Production timings, except that loopback webhook URLs are allowed and no metrics ports open.
TIMINGS = {
    "WEBHOOK_ALLOW_PRIVATE_URLS": "true",
    "WORKER_METRICS_PORT": "0",
    "NOTIFIER_METRICS_PORT": "0",
    # One agent key creates thousands of tickets a minute: the limits are checked on every
    # request (their cost is measured) but never reached.
    **{
        f"RATE_LIMIT_{role}": "10000000/minute"
        for role in ("CUSTOMER", "AGENT", "ADMIN", "ANONYMOUS", "FAILED_AUTH")
    },
}
FAST_ENDPOINTS = ("/crm", "/chat", "/warehouse")
TICKET_BODY = json.dumps(
    {
        "title": "Printer on the third floor is on fire",
        "description": "Smoke is coming out of the paper tray since this morning's update.",
        "category_id": 3,
        "priority_id": 2,
        "tags": ["hardware", "urgent"],
    }
)
AGENT_EMAIL = "sarah.johnson@example.com"


@dataclass(frozen=True)
class Plan:
    http_seconds: float
    fixed_rate_seconds: float
    flow_seconds: float
    generated_tickets: int
    query_seconds: float


FULL = Plan(
    http_seconds=10, fixed_rate_seconds=20, flow_seconds=30, generated_tickets=100_000,
    query_seconds=5,
)  # fmt: skip
QUICK = Plan(
    http_seconds=3, fixed_rate_seconds=5, flow_seconds=5, generated_tickets=10_000,
    query_seconds=2,
)  # fmt: skip


@contextmanager
def _served(module: str, *, env: dict[str, str]) -> Iterator[str]:
    """`python -m module PORT` in its own process until the block ends; yields its base URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", module, str(port)],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(
            lambda: httpx.get(f"{url}/counts", timeout=1).status_code < 500,
            timeout=30,
            what=module,
        )
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


class Receiver:
    def __init__(self, url: str) -> None:
        self.url = url

    def counts(self) -> dict[str, int]:
        return dict(httpx.get(f"{self.url}/counts", timeout=10).json())

    def records(self, path: str) -> list[tuple[str, float, str]]:
        """(webhook-id, arrival time, the ticket's created_at) of each delivery to `path`."""
        answer = httpx.get(f"{self.url}/records", params={"path": path}, timeout=60).json()
        return [(webhook_id, arrived, created) for webhook_id, arrived, created in answer]

    def latencies_ms(self, path: str, *, skip: int = 0) -> list[float]:
        out = []
        for _webhook_id, arrived, created in self.records(path)[skip:]:
            created_at = datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp()
            out.append((arrived - created_at) * 1000)
        return out


def _subscribe(system: System, receiver: Receiver, path: str) -> int:
    response = system.client("admin").post(
        "/webhooks", json={"url": f"{receiver.url}{path}", "event_types": ["ticket.created"]}
    )
    response.raise_for_status()
    return int(response.json()["id"])


def _unsubscribe(system: System, endpoint_ids: list[int]) -> None:
    for endpoint_id in endpoint_ids:
        system.client("admin").delete(f"/webhooks/{endpoint_id}").raise_for_status()


def _event_lags_ms(system: System, ids: list[int]) -> list[float]:
    def rows() -> list[tuple[datetime, datetime]]:
        with system.db() as db:
            found = db.execute(
                select(Ticket.created_at, ProcessedEvent.processed_at)
                .join(OutboxEvent, OutboxEvent.ticket_id == Ticket.id)
                .join(ProcessedEvent, ProcessedEvent.event_id == OutboxEvent.event_id)
                .where(Ticket.id.in_(ids), OutboxEvent.event_type == "ticket.created")
            ).all()
        return [(created, done) for created, done in found]

    wait_until(lambda: len(rows()) == len(ids), timeout=300, what="every event handled")
    return [(done - created).total_seconds() * 1000 for created, done in rows()]


def _wait_for_deliveries(receiver: Receiver, expected: dict[str, int], *, timeout: float) -> None:
    def arrived() -> bool:
        counts = receiver.counts()
        return all(counts.get(path, 0) >= n for path, n in expected.items())

    wait_until(arrived, timeout=timeout, interval=0.2, what="the webhook deliveries")


async def _fixed_rate_latencies(
    base_url: str, key: str, *, rate: float, seconds: float
) -> tuple[list[float], int]:
    """Latency of each POST, from the moment it was due (so a stall counts for every request it
    delays), and the count of non-2xx answers."""
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    headers = {"Authorization": f"Bearer {key}", "content-type": "application/json"}
    latencies: list[float] = []
    failures = 0
    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, limits=limits, timeout=30
    ) as client:

        async def one(due: float) -> None:
            nonlocal failures
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            response = await client.post("/tickets", content=TICKET_BODY)
            latencies.append((time.perf_counter() - due) * 1000)
            failures += not response.is_success

        started = time.perf_counter() + 0.5
        await asyncio.gather(*(one(started + n / rate) for n in range(int(rate * seconds))))
    return latencies, failures


def _wrk_row(name: str, result: WrkResult, *, baseline: WrkResult | None, target: str) -> Row:
    return Row(
        measurement=name,
        value=result.per_second,
        unit="req/s",
        baseline=baseline.per_second if baseline else None,
        target=target,
        detail=f"p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms, "
        f"{result.http_errors + result.socket_errors} errors",
    )


def measure_live_system(plan: Plan, directory: Path, rows: list[Row]) -> None:
    storage_env = fresh_database_env(directory / "storage-baseline")
    storage_path = storage_env["DATABASE_URL"].removeprefix("sqlite:///")
    with (
        running_system(
            directory / "system",
            with_notifier=True,
            worker_concurrency=2,
            timings=TIMINGS,
        ) as system,
        _served("bench.receiver_app", env={}) as receiver_url,
    ):
        receiver = Receiver(receiver_url)
        api = system.api.base_url
        key = system.keys["agent"]
        ticket_json = directory / "ticket.json"
        ticket_json.write_bytes(system.client("agent").get("/tickets/1").content)

        # Event lag and webhook latency, together: 100 tickets/s to three fast endpoints.
        fast_ids = [_subscribe(system, receiver, path) for path in FAST_ENDPOINTS]
        ids = create_at_rate(system, rate=100, seconds=plan.flow_seconds)
        lags = _event_lags_ms(system, ids)
        _wait_for_deliveries(receiver, {p: len(ids) for p in FAST_ENDPOINTS}, timeout=300)
        webhook = [ms for path in FAST_ENDPOINTS for ms in receiver.latencies_ms(path)]
        rows.append(Row.latency("event lag: created → SLA computed and searchable (100/s)", lags,
                                target="p50 ≤ 100 ms, p99 ≤ 500 ms"))  # fmt: skip
        rows.append(Row.latency("webhook latency: created → received (100/s, 3 endpoints)",
                                webhook, target="p50 ≤ 50 ms, p99 ≤ 250 ms"))  # fmt: skip

        # The same flow with one endpoint that hangs 10 s beside the fast ones.
        before = receiver.counts()
        hanging_id = _subscribe(system, receiver, "/hang")
        ids = create_at_rate(system, rate=100, seconds=plan.flow_seconds)
        _wait_for_deliveries(
            receiver, {p: before[p] + len(ids) for p in FAST_ENDPOINTS}, timeout=300
        )
        beside = [
            ms for path in FAST_ENDPOINTS for ms in receiver.latencies_ms(path, skip=before[path])
        ]
        rows.append(
            Row(
                measurement="webhook p99 beside an endpoint hanging 10 s",
                value=percentile(beside, 0.99),
                unit="ms",
                baseline=percentile(webhook, 0.99),
                target="≤ baseline + 50 ms",
                detail=f"p50 {percentile(beside, 0.5):.1f} ms",
                lower_is_better=True,
            )
        )
        _unsubscribe(system, [*fast_ids, hanging_id])

        # POST throughput at 64 connections while the notifier is stopped: its backlog is then
        # drained by one notifier process to measure its throughput.
        _subscribe(system, receiver, "/drain")
        first_queued = _max_ticket_id(system) + 1
        system.notifier.stop()
        with _served("bench.baseline_app", env={"BENCH_TICKET_JSON": str(ticket_json)}) as base:
            baseline_post = run_wrk(base, "/tickets", method="POST", body=TICKET_BODY,
                                    seconds=plan.http_seconds, connections=64)  # fmt: skip
            with MemorySampler(
                {"api": system.api.process.pid, "worker": _pid(system.worker.process)}
            ) as memory:
                api_post = run_wrk(api, "/tickets", method="POST", body=TICKET_BODY, key=key,
                                   seconds=plan.http_seconds, connections=64)  # fmt: skip
            rows.append(_wrk_row("POST /tickets, 64 connections", api_post,
                                 baseline=baseline_post, target="≥ 40 % of baseline"))  # fmt: skip
            rows.append(
                Row(
                    measurement="POST /tickets p99, 64 connections",
                    value=api_post.p99_ms,
                    unit="ms",
                    baseline=baseline_post.p99_ms,
                    target="≤ 150 ms",
                    detail=f"p50 {api_post.p50_ms:.1f} ms",
                    lower_is_better=True,
                )
            )
            storage = baselines.storage_inserts_per_second(storage_path, seconds=plan.http_seconds)
            rows.append(
                Row(
                    measurement="POST /tickets vs the storage baseline (sqlite3 loop)",
                    value=api_post.per_second,
                    unit="req/s",
                    baseline=storage,
                    target="(for reference)",
                )
            )

            backlog = _max_ticket_id(system) - first_queued + 1  # one ticket.created each
            system.notifier.start()
            with MemorySampler({"notifier": _pid(system.notifier.process)}) as drain_memory:
                _wait_for_deliveries(receiver, {"/drain": backlog}, timeout=600)
            arrivals = sorted(arrived for _id, arrived, _created in receiver.records("/drain"))
            drain_seconds = arrivals[-1] - arrivals[0]
            rows.append(
                Row(
                    measurement=f"notifier throughput, one process ({backlog} queued)",
                    value=(len(arrivals) - 1) / drain_seconds,
                    unit="deliveries/s",
                    target="≥ 1,000/s",
                    detail=f"first to last delivery {drain_seconds:.2f} s",
                )
            )

            fixed, failures = asyncio.run(
                _fixed_rate_latencies(api, key, rate=200, seconds=plan.fixed_rate_seconds)
            )
            rows.append(Row.latency("POST /tickets at a fixed 200 req/s", fixed,
                                    target="p99 ≤ 25 ms", detail=f"{failures} failed"))  # fmt: skip

            max_id = _max_ticket_id(system)
            baseline_get = run_wrk(base, "/tickets/{id}", seconds=plan.http_seconds,
                                   connections=64, id_max=max_id)  # fmt: skip
            api_get = run_wrk(api, "/tickets/{id}", key=key, seconds=plan.http_seconds,
                              connections=64, id_max=max_id)  # fmt: skip
            rows.append(_wrk_row("GET /tickets/{id}, 64 connections", api_get,
                                 baseline=baseline_get, target="≥ 70 % of baseline"))  # fmt: skip
        for name, megabytes in {**memory.peaks(), **drain_memory.peaks()}.items():
            rows.append(
                Row(
                    measurement=f"peak resident memory under load: {name}",
                    value=megabytes,
                    unit="MB",
                    target="≤ 200 MB per process",
                    lower_is_better=True,
                )
            )


def _pid(process: subprocess.Popen[bytes] | None) -> int:
    assert process is not None
    return process.pid


def _max_ticket_id(system: System) -> int:
    with system.db() as db:
        return int(db.scalar(select(func.max(Ticket.id))) or 1)


def _sequential(base_url: str, path: str, key: str, seconds: float) -> WrkResult:
    """One connection, one request at a time: each latency is the server's own time."""
    return run_wrk(base_url, path, key=key, seconds=seconds, connections=1)


def measure_large_database(plan: Plan, directory: Path, rows: list[Row]) -> None:
    env = fresh_database_env(directory / "large")
    started = time.perf_counter()
    ticketing("generate", "--tickets", str(plan.generated_tickets), env=env)
    generated = time.perf_counter() - started
    n = f"{plan.generated_tickets:,}"
    rows.append(Row(measurement=f"ticketing generate --tickets {plan.generated_tickets}",
                    value=generated, unit="s", target="(fast: bulk inserts)",
                    lower_is_better=True))  # fmt: skip
    key = ticketing("api-key", "create", "--email", AGENT_EMAIL, env=env).strip()
    database_path = env["DATABASE_URL"].removeprefix("sqlite:///")
    redis = RedisServer(port=free_port(), directory=directory / "large-redis")
    redis.start()
    api = start_api_server(env={**env, **TIMINGS, "REDIS_URL": redis.url})
    try:
        lists = _sequential(api.base_url, "/tickets?status_id=2&priority_id=3", key,
                            plan.query_seconds)  # fmt: skip
        rows.append(Row.from_wrk(f"GET /tickets, two filters, {n} tickets", lists,
                                 target="p95 ≤ 20 ms"))  # fmt: skip
        for words in (["password"], ["refund", "subscription"]):
            query = "+".join(words)
            found = _sequential(api.base_url, f"/search?query={query}", key, plan.query_seconds)
            like = baselines.like_search_seconds(database_path, words, repeat=5)
            like_ms = statistics.median(like) * 1000
            rows.append(
                Row(
                    measurement=f"GET /search?query={query}, {n} tickets: p95",
                    value=found.p95_ms,
                    unit="ms",
                    baseline=like_ms,
                    target="p95 ≤ 25 ms, ≥ 20× faster than LIKE",
                    detail=f"p50 {found.p50_ms:.2f} ms; LIKE scan median {like_ms:.1f} ms "
                    f"= {like_ms / found.p50_ms:.0f}× the search's p50",
                    lower_is_better=True,
                )
            )
        for path in ("/stats", "/dashboard"):
            served = _sequential(api.base_url, path, key, plan.query_seconds)
            rows.append(Row.from_wrk(f"GET {path}, {n} tickets", served, target="p95 ≤ 15 ms"))
    finally:
        api.stop()
        redis.stop()
    engine = create_engine(env["DATABASE_URL"])
    with Session(engine) as session:
        started = time.perf_counter()
        compute_snapshot(session, now=utcnow())
        recompute = time.perf_counter() - started
    engine.dispose()
    rows.append(Row(measurement=f"statistics full recompute, {n} tickets", value=recompute,
                    unit="s", target="≤ 1 s", lower_is_better=True))  # fmt: skip
    started = time.perf_counter()
    ticketing("reindex", env=env)
    rows.append(Row(measurement=f"ticketing reindex, {n} tickets",
                    value=time.perf_counter() - started, unit="s", target="≤ 30 s",
                    detail="the whole command, process start included",
                    lower_is_better=True))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the smaller run (under 3 minutes)")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    rows: list[Row] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ticketing-bench-") as directory:
        measure_live_system(plan, Path(directory), rows)
        measure_large_database(plan, Path(directory), rows)
    header = (
        f"ticketing bench ({'quick' if args.quick else 'full'}), {os.cpu_count()} cores, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {time.perf_counter() - started:.0f} s"
    )
    print_table(header, rows)
    path = write_json(Path(__file__).with_name("results"), header, rows, plan=asdict(plan))
    print(
        f"\nwritten to {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}"
    )


if __name__ == "__main__":
    main()
