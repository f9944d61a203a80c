"""`make soak`: the whole system under mixed traffic while a fault loop SIGKILLs workers,
notifiers and the api and stops Redis once; then, once it has drained, a table of checks that
nothing acknowledged or published was lost. Exits 1 if any check fails.

The system: a fresh SQLite file, a private Redis with an append-only file (as in
docker-compose.yml; `--redis volatile`: one that keeps nothing on disk), the api, two Celery
workers, beat, two notifiers, and three webhook receivers subscribed to every event that verify
signatures with `standardwebhooks` (one answers 500 to 30 % of the deliveries), all on
loopback, with short retry timings.

    .venv/bin/python -m soak --seconds 300      # make soak
    .venv/bin/python -m soak --seconds 60       # make soak SOAK_SECONDS=60 (CI)
    make soak SOAK_SECONDS=60 SOAK_REDIS=volatile
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import create_engine

from shared.clock import utcnow
from soak import checks
from soak.checks import Check
from soak.faults import FaultLoop
from soak.redis_server import KINDS, soak_redis
from soak.services import ApiService, BackgroundService, Service, Supervisor
from soak.traffic import Ledger, Traffic
from tests.support.processes import free_port, fresh_database_env, ticketing, wait_until
from tests.support.system import FAST_TIMINGS, USERS, celery_beat, celery_worker, notifier

logger = logging.getLogger("soak")

TIMINGS = {
    **FAST_TIMINGS,
    # Thirteen attempts within about 40 s: a receiver failing 30 % of the time at random loses a
    # delivery for good with a chance of 0.3^13 (1.6e-7) per event.
    "WEBHOOK_RETRY_SCHEDULE_SECONDS": "1,1,2,2,3,3,4,4,5,5,5,5",
    "SLA_SCAN_INTERVAL_SECONDS": "2",
    # A volatile Redis loses everything in the outage: the reconciler notices at its next pass.
    "OUTBOX_RECONCILE_INTERVAL_SECONDS": "2",
    "OUTBOX_RECONCILE_GRACE_SECONDS": "30",
    # The traffic comes from one key per role, faster than a person: limits stay on (they are
    # part of what runs while Redis is away), but far above the soak's rate. Anonymous too: a
    # restarted api knows no key yet, and counts the first burst of keyed requests as their
    # address until one of them has authenticated.
    "RATE_LIMIT_CUSTOMER": "100000/minute",
    "RATE_LIMIT_AGENT": "100000/minute",
    "RATE_LIMIT_ADMIN": "100000/minute",
    "RATE_LIMIT_ANONYMOUS": "100000/minute",
}
RECEIVERS = {"crm": 0.0, "chat": 0.0, "flaky": 0.3}  # name -> share of deliveries answered 500


@dataclass
class ReceiverProcess:
    name: str
    process: subprocess.Popen[bytes]
    url: str

    def report(self) -> dict[str, object]:
        return dict(httpx.get(f"{self.url}/_report", timeout=60).json())


def start_receiver(name: str, failure_rate: float, directory: Path) -> ReceiverProcess:
    port = free_port()
    log = (directory / f"receiver-{name}.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "soak.receiver", str(port), str(failure_rate)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: httpx.get(f"{url}/_report", timeout=1).is_success, timeout=30,
               what=f"receiver {name}")  # fmt: skip
    return ReceiverProcess(name, process, url)


def rss_mb(pid: int | None) -> float:
    """Resident memory of a process and its descendants (a Celery worker's pool)."""
    if pid is None:
        return 0.0
    total = 0.0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) / 1024
        for task in Path(f"/proc/{pid}/task").glob("*/children"):
            total += sum(rss_mb(int(child)) for child in task.read_text().split())
    except (FileNotFoundError, ProcessLookupError):
        pass
    return total


def _print_table(header: str, rows: list[Check]) -> None:
    print(f"\n{header}\n")
    print("| check | result | ok | detail |")
    print("| --- | --- | --- | --- |")
    for row in rows:
        print(f"| {row.name} | {row.result} | {'PASS' if row.passed else 'FAIL'} | {row.detail} |")


def _info(name: str, result: str, detail: str = "") -> Check:
    return Check(name, True, result, detail)


class Soak:
    def __init__(self, args: argparse.Namespace, directory: Path) -> None:
        self.args = args
        self.directory = directory
        self.rng = random.Random(args.seed)
        self.services: list[Service] = []
        self.receivers: dict[int, ReceiverProcess] = {}  # endpoint id -> receiver
        self.redis = soak_redis(args.redis, port=free_port(), directory=directory / "redis")
        self.supervisor = Supervisor(self.services)

    def start(self) -> None:
        self.redis.start()
        env = {**fresh_database_env(self.directory), "REDIS_URL": self.redis.url, **TIMINGS}
        self.env = env
        self.keys = {
            role: ticketing("api-key", "create", "--email", email, env=env).strip()
            for role, email in USERS.items()
        }
        self.api = ApiService(env=env, port=free_port(), directory=self.directory)
        self.services.append(self.api)
        self.api.start()
        admin = {"Authorization": f"Bearer {self.keys['admin']}"}
        for name, failure_rate in RECEIVERS.items():
            receiver = start_receiver(name, failure_rate, self.directory)
            created = httpx.post(
                f"{self.api.base_url}/webhooks",
                json={"url": f"{receiver.url}/hooks", "description": f"soak receiver {name}"},
                headers=admin,
                timeout=30,
            )
            created.raise_for_status()
            httpx.post(f"{receiver.url}/_secret", content=created.json()["secret"], timeout=10)
            self.receivers[int(created.json()["id"])] = receiver
        for n in (1, 2):
            worker = celery_worker(env, self.directory)
            worker.name = f"worker-{n}"
            worker.command += ["--hostname", f"worker-{n}@%h"]
            self.services.append(BackgroundService(worker))
        self.services.append(BackgroundService(celery_beat(env, self.directory)))
        for n in (1, 2):
            self.services.append(
                BackgroundService(notifier(env, self.directory, name=f"notifier-{n}"))
            )
        for service in self.services[1:]:
            service.start()

    def stop(self) -> None:
        self.supervisor.end()
        for service in reversed(self.services):
            service.stop()
        for receiver in self.receivers.values():
            receiver.process.terminate()
            receiver.process.wait(timeout=10)
        self.redis.stop()

    def memory(self) -> dict[str, float]:
        return {service.name: rss_mb(service.pid()) for service in self.services}

    def run(self) -> list[Check]:
        self.start()
        engine = create_engine(self.env["DATABASE_URL"])
        memory_at_start = self.memory()
        supervisor = self.supervisor
        victims = [s for s in self.services if s.name != "beat"]
        faults = FaultLoop(supervisor, victims, self.redis, interval=self.args.fault_interval,
                           redis_outage=self.args.redis_outage, rng=self.rng)  # fmt: skip
        traffic = Traffic(self.api.base_url, self.keys, rate=self.args.rate, seed=self.args.seed)
        logger.info("traffic for %.0f s at %.0f req/s; logs in %s", self.args.seconds,
                    self.args.rate, self.directory)  # fmt: skip
        supervisor.begin()
        faults.begin()
        started = time.monotonic()
        try:
            asyncio.run(traffic.run(self.args.seconds))
        finally:
            faults.end()
        traffic_seconds = time.monotonic() - started
        logger.info("traffic done (%d operations); waiting for every process and the drain",
                    traffic.sent)  # fmt: skip
        all_up = _within(90, supervisor.all_running)
        drained_in, left = checks.wait_for_drain(engine, self.redis.client(),
                                                 timeout=self.args.drain_timeout)  # fmt: skip
        memory_at_end = self.memory()
        supervisor.end()
        for service in reversed(self.services):
            service.stop()
        logger.info("drained in %.0f s; checking", drained_in)

        ledger = traffic.ledger
        reports = {endpoint: receiver.report() for endpoint, receiver in self.receivers.items()}
        names = {endpoint: receiver.name for endpoint, receiver in self.receivers.items()}
        restarted = {f.target for f in faults.done} | set(supervisor.crashes)
        rows = [
            _info("traffic", f"{traffic.sent} operations in {traffic_seconds:.0f} s",
                  _answers(ledger)),  # fmt: skip
            _info("faults", f"{len(faults.done)}", "; ".join(
                f"{f.at:.0f} s {f.target} (back in {f.took:.1f} s)" for f in faults.done)),
            Check("restarts after a crash (supervisor); every process up at the end", all_up,
                  f"{sum(len(c) for c in supervisor.crashes.values())}",
                  "; ".join(f"{name}: exit codes {codes}"
                            for name, codes in supervisor.crashes.items())),
            Check("drained (outbox, stream, Celery queue, deliveries)", not any(left.values()),
                  f"in {drained_in:.0f} s",
                  "; ".join(f"{k}: {v}" for k, v in left.items() if v)),
            *checks.acknowledged_writes(engine, ledger),
            checks.outbox_published(engine),
            *checks.webhooks_delivered(engine, reports, names),
            checks.sla_matches(engine, now=utcnow()),
            checks.search_matches(engine),
            self._server_errors(ledger),
            _info("connection errors (api killed or restarting)",
                  f"{ledger.connection_errors()}",
                  f"creates/comments retried {ledger.retried}, of which {ledger.replays} "
                  "answered from the Idempotency-Key"),
            *(
                _memory(name, memory_at_start[name], memory_at_end[name],
                        restarted=name in restarted)
                for name in memory_at_start
            ),
        ]  # fmt: skip
        engine.dispose()
        return rows

    def _server_errors(self, ledger: Ledger) -> Check:
        outside = [e for e in ledger.server_errors if not self.api.was_down(e.at)]
        return Check(
            "no 5xx answers outside the moments the api was down",
            not outside,
            f"{len(outside)} (+{len(ledger.server_errors) - len(outside)} while down)",
            "; ".join(f"{e.operation}: {e.status} {e.body[:120]}" for e in outside[:3]),
        )


def _answers(ledger: Ledger) -> str:
    by_operation: dict[str, Counter[str]] = {}
    for (operation, outcome), n in sorted(ledger.answers.items()):
        by_operation.setdefault(operation, Counter())[outcome] += n
    return "; ".join(
        f"{operation}: " + ", ".join(f"{n} {outcome}" for outcome, n in outcomes.items())
        for operation, outcomes in by_operation.items()
    )


def _memory(name: str, start: float, end: float, *, restarted: bool) -> Check:
    detail = "a new process since (killed or crashed)" if restarted else "the same process"
    return _info(f"resident memory: {name} (with its children)", f"{start:.0f} → {end:.0f} MB",
                 detail)  # fmt: skip


def _within(seconds: float, predicate: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("SOAK_SECONDS", 300)))
    parser.add_argument("--rate", type=float, default=30.0, help="operations a second")
    parser.add_argument("--fault-interval", type=float, default=20.0)
    parser.add_argument("--redis-outage", type=float, default=15.0)
    parser.add_argument("--drain-timeout", type=float, default=180.0)
    parser.add_argument("--seed", type=int, default=random.randrange(1 << 30))
    parser.add_argument(
        "--redis",
        choices=KINDS,
        default=os.environ.get("SOAK_REDIS", "append-only"),
        help="volatile: a Redis that keeps nothing on disk, so the outage loses its data",
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the logs of a passing run")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s soak %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    directory = Path(tempfile.mkdtemp(prefix="ticketing-soak-"))
    soak = Soak(args, directory)
    try:
        rows = soak.run()
    finally:
        soak.stop()
    header = (
        f"ticketing soak: {args.seconds:.0f} s, {args.rate:.0f} ops/s, seed {args.seed}, "
        f"{args.redis} Redis, "
        f"{os.cpu_count()} cores, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )
    _print_table(header, rows)
    failed = [row.name for row in rows if not row.passed]
    if failed:
        print(f"\nFAILED: {len(failed)} checks; logs kept in {directory}")
        sys.exit(1)
    if args.keep_logs:
        print(f"\nnothing lost; logs in {directory}")
    else:
        shutil.rmtree(directory, ignore_errors=True)
        print("\nnothing lost")
