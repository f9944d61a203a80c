"""The live system's rows: event lag and webhooks at 100 tickets/s, a bulk update of 500 tickets
beside the same 500 changes as PATCHes, POST and GET throughput with the API on one process and
on two, each beside the bare-FastAPI baseline served from as many, one notifier draining a
backlog, memory, and the highest sustained creation rate."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
from sqlalchemy import func, select

from bench import baselines
from bench.bulk import measure_bulk, measure_bulk_macro
from bench.ingest import SustainedIngest, find_sustained_rate, wait_for_worker
from bench.load import PacedClient, create_at_rate
from bench.memory import MemorySampler
from bench.plan import TICKET_BODY, TIMINGS, Plan
from bench.report import Row, percentile
from bench.wrk import WrkResult, run_wrk
from shared.models import OutboxEvent, ProcessedEvent, Ticket
from tests.support.processes import free_port, fresh_database_env, start_api_server, wait_until
from tests.support.system import System, running_system

FAST_ENDPOINTS = ("/crm", "/chat", "/warehouse")
# `ticketing serve --workers N` for each N: one process (no parent), then one per core here.
API_WORKERS = (1, 2)

Progress = Callable[[str], None]


@contextmanager
def _served(module: str, *args: str, env: dict[str, str]) -> Iterator[str]:
    """`python -m module PORT *args` in its own process until the block ends; yields its URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", module, str(port), *args],
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


def _baseline_note(workers: int) -> str:
    return f"baseline: bare FastAPI on {workers} process{'es' if workers > 1 else ''}"


def _wrk_row(
    name: str, result: WrkResult, *, baseline: WrkResult, target: str, workers: int
) -> Row:
    return Row(
        measurement=name,
        value=result.per_second,
        unit="req/s",
        baseline=baseline.per_second,
        target=target,
        detail=f"p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms, "
        f"{result.http_errors + result.socket_errors} errors; {_baseline_note(workers)}",
    )


def _p99_row(
    name: str, result: WrkResult, *, baseline: WrkResult, target: str, workers: int
) -> Row:
    return Row(
        measurement=name,
        value=result.p99_ms,
        unit="ms",
        baseline=baseline.p99_ms,
        target=target,
        detail=f"p50 {result.p50_ms:.1f} ms; {_baseline_note(workers)}",
        lower_is_better=True,
    )


def _pid(process: subprocess.Popen[bytes] | None) -> int:
    assert process is not None
    return process.pid


def _max_ticket_id(system: System) -> int:
    with system.db() as db:
        return int(db.scalar(select(func.max(Ticket.id))) or 1)


def _memory_row(name: str, megabytes: float) -> Row:
    return Row(
        measurement=f"peak resident memory under load: {name}",
        value=megabytes,
        unit="MB",
        target="≤ 150 MB per process",
        lower_is_better=True,
    )


def measure_flows(plan: Plan, system: System, receiver: Receiver, rows: list[Row]) -> None:
    """Event lag and webhook latency at 100 tickets/s, then beside an endpoint that hangs."""
    fast_ids = [_subscribe(system, receiver, path) for path in FAST_ENDPOINTS]
    ids = create_at_rate(system, rate=100, seconds=plan.flow_seconds)
    lags = _event_lags_ms(system, ids)
    _wait_for_deliveries(receiver, {p: len(ids) for p in FAST_ENDPOINTS}, timeout=300)
    webhook = [ms for path in FAST_ENDPOINTS for ms in receiver.latencies_ms(path)]
    rows.append(Row.latency("event lag: created → SLA computed and searchable (100/s)", lags,
                            target="p50 ≤ 100 ms, p99 ≤ 500 ms"))  # fmt: skip
    rows.append(Row.latency("webhook latency: created → received (100/s, 3 endpoints)",
                            webhook, target="p50 ≤ 30 ms, p99 ≤ 150 ms"))  # fmt: skip

    before = receiver.counts()
    hanging_id = _subscribe(system, receiver, "/hang")
    ids = create_at_rate(system, rate=100, seconds=plan.flow_seconds)
    _wait_for_deliveries(receiver, {p: before[p] + len(ids) for p in FAST_ENDPOINTS}, timeout=300)
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


def _measure_one_process_extras(
    plan: Plan,
    system: System,
    receiver: Receiver,
    rows: list[Row],
    *,
    storage_url: str,
    post_per_second: float,
    first_queued: int,
) -> dict[str, float]:
    """With the API on one process, after its POST run: the storage baseline, one notifier
    draining the backlog the POST run left it, and POST latency at a fixed 200/s."""
    storage = baselines.storage_inserts_per_second(storage_url, seconds=plan.http_seconds)
    driver = "psycopg" if storage_url.startswith("postgresql") else "sqlite3"
    rows.append(
        Row(
            measurement=f"POST /tickets vs the storage baseline ({driver} loop), api --workers 1",
            value=post_per_second,
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
            target="≥ 2,000/s",
            detail=f"first to last delivery {drain_seconds:.2f} s",
        )
    )
    fixed = PacedClient(
        system.api.base_url, system.keys["agent"], rate=200, seconds=plan.fixed_rate_seconds
    ).finish()
    rows.append(Row.latency("POST /tickets at a fixed 200 req/s, api --workers 1",
                            fixed.latencies_ms, target="p99 ≤ 25 ms",
                            detail=f"{fixed.failed} failed"))  # fmt: skip
    return drain_memory.peaks()


def measure_http(
    plan: Plan,
    system: System,
    receiver: Receiver,
    rows: list[Row],
    *,
    workers: int,
    ticket_json: Path,
    storage_url: str,
) -> float:
    """POST and GET /tickets at 64 connections beside the bare baseline on `workers` processes,
    with the notifier stopped (with one API process, the notifier then drains the backlog);
    returns POST's requests a second."""
    api = system.api.base_url
    key = system.keys["agent"]
    name = f"api --workers {workers}"
    drain_id = _subscribe(system, receiver, "/drain") if workers == 1 else None
    first_queued = _max_ticket_id(system) + 1
    system.notifier.stop()
    baseline_env = {"BENCH_TICKET_JSON": str(ticket_json)}
    with _served("bench.baseline_server", str(workers), env=baseline_env) as base:
        baseline_post = run_wrk(base, "/tickets", method="POST", body=TICKET_BODY,
                                seconds=plan.http_seconds, connections=64)  # fmt: skip
        with MemorySampler(
            {"api": system.api.process.pid, "worker": _pid(system.worker.process)}
        ) as memory:
            api_post = run_wrk(api, "/tickets", method="POST", body=TICKET_BODY, key=key,
                               seconds=plan.http_seconds, connections=64)  # fmt: skip
        rows.append(_wrk_row(f"POST /tickets, 64 connections, {name}", api_post,
                             baseline=baseline_post, target="≥ 40 % of bare FastAPI",
                             workers=workers))  # fmt: skip
        rows.append(_p99_row(f"POST /tickets p99, 64 connections, {name}", api_post,
                             baseline=baseline_post, target="≤ 150 ms",
                             workers=workers))  # fmt: skip
        peaks = {f"api (--workers {workers}, largest process)": memory.peaks()["api"]}
        if workers == 1:
            peaks["worker"] = memory.peaks()["worker"]
            assert drain_id is not None
            peaks |= _measure_one_process_extras(
                plan, system, receiver, rows, storage_url=storage_url,
                post_per_second=api_post.per_second, first_queued=first_queued,
            )  # fmt: skip
            _unsubscribe(system, [drain_id])
        else:
            system.notifier.start()
        max_id = _max_ticket_id(system)
        baseline_get = run_wrk(base, "/tickets/{id}", seconds=plan.http_seconds,
                               connections=64, id_max=max_id)  # fmt: skip
        api_get = run_wrk(api, "/tickets/{id}", key=key, seconds=plan.http_seconds,
                          connections=64, id_max=max_id)  # fmt: skip
        rows.append(_wrk_row(f"GET /tickets/{{id}}, 64 connections, {name}", api_get,
                             baseline=baseline_get, target="≥ 70 % of baseline, p99 ≤ 50 ms",
                             workers=workers))  # fmt: skip
        rows.append(_p99_row(f"GET /tickets/{{id}} p99, 64 connections, {name}", api_get,
                             baseline=baseline_get, target="≤ 50 ms",
                             workers=workers))  # fmt: skip
        if workers == max(API_WORKERS):
            rows.append(_client_check(plan, base))
    rows.extend(_memory_row(service, megabytes) for service, megabytes in peaks.items())
    return api_post.per_second


def _client_check(plan: Plan, baseline_url: str) -> Row:
    """The paced client's own ceiling: asked for 1,000 creations a second by the bare baseline
    (which answers in well under a millisecond), how many it sends, and at what CPU cost."""
    run = PacedClient(baseline_url, "", rate=1000, seconds=plan.client_check_seconds).finish()
    return Row(
        measurement="paced client alone: rate achieved when asked 1,000/s (bare baseline)",
        value=run.achieved_rate,
        unit="req/s",
        target="≥ 500/s (the ingest search's client is not its limit)",
        detail=f"{run.failed} failed, {run.cpu_seconds / max(run.sent, 1) * 1000:.2f} ms "
        f"of client CPU a request, late p99 {percentile(run.late_ms, 0.99):.1f} ms",
    )


def _swap_api(system: System, *, workers: int) -> None:
    system.api.stop()
    system.api = start_api_server(env=system.env, workers=workers)


@dataclass(frozen=True)
class LiveResults:
    post_per_second: dict[int, float]  # POST /tickets at 64 connections, by API processes
    ingest: SustainedIngest


def measure_live_system(
    plan: Plan, directory: Path, rows: list[Row], *, progress: Progress
) -> LiveResults:
    """Every live-system row."""
    storage_env = fresh_database_env(directory / "storage-baseline")
    post_per_second: dict[int, float] = {}
    with (
        running_system(
            directory / "system",
            with_notifier=True,
            worker_concurrency=2,
            api_workers=API_WORKERS[0],
            timings=TIMINGS,
        ) as system,
        _served("bench.receiver_app", env={}) as receiver_url,
    ):
        receiver = Receiver(receiver_url)
        ticket_json = directory / "ticket.json"
        ticket_json.write_bytes(system.client("agent").get("/tickets/1").content)
        first_id = _max_ticket_id(system)
        measure_flows(plan, system, receiver, rows)
        progress("event lag and webhooks at 100/s")
        measure_bulk(system, rows)
        progress("bulk update of 500 tickets vs 500 PATCHes")
        measure_bulk_macro(system, rows)
        progress("bulk macro on 500 tickets vs 500 single applies")
        try:
            for workers in API_WORKERS:
                if workers != API_WORKERS[0]:
                    _swap_api(system, workers=workers)
                post_per_second[workers] = measure_http(
                    plan, system, receiver, rows, workers=workers, ticket_json=ticket_json,
                    storage_url=storage_env["DATABASE_URL"],
                )  # fmt: skip
                progress(f"POST and GET at 64 connections, api --workers {workers}")
            wait_for_worker(system, after_id=first_id)
            ingest = find_sustained_rate(system, plan.ingest)
        finally:
            system.api.stop()
    workers = API_WORKERS[-1]
    rows.append(
        Row(
            measurement="sustained ingest: highest creation rate with event lag p99 ≤ 1 s, "
            f"api --workers {workers}",
            value=ingest.confirmed.rate if ingest.confirmed else 0.0,
            unit="tickets/s",
            target="≥ 500 tickets/s (event lag p99 ≤ 1 s)",
            detail=ingest.detail(),
        )
    )
    progress("sustained ingest search")
    return LiveResults(post_per_second=post_per_second, ingest=ingest)
