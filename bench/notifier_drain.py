"""How fast one notifier drains a backlog, beside a baseline measured in the same run.

Each run: a fresh SQLite database (migrated; the notifier needs no seed data) and a stream of its
own in a private Redis, one webhook endpoint on a loopback receiver (bench/receiver_app.py, in
its own process), N `ticket.created` events appended to the stream while no notifier runs; then
one notifier process (production settings, loopback allowed) is started. The rate is
deliveries / (last arrival - first arrival) at the receiver, as bench/run.py measures it;
"stored" is when every delivery is recorded as succeeded, counted from the notifier's start.

Baselines, in the same run and on the same receiver, with the same signed bodies at the
notifier's per-endpoint concurrency and nothing else to do: `raw`, requests written by hand on
keep-alive asyncio streams (what loopback and the receiver take at this moment: the reference
for the ratios), and `httpx`, one keep-alive httpx client (the notifier's client until it got
its own). The machine is shared and busy: compare versions within a run (`--code` alternates
them round by round), and ratios rather than figures from different runs. The notifier's CPU
time per delivery (from its first delivery to the last outcome stored) varies less than rates.

    .venv/bin/python -m bench.notifier_drain                          # 3,000 events, 3 rounds
    .venv/bin/python -m bench.notifier_drain --code /tmp/before --code .  # two versions, alternated
    .venv/bin/python -m bench.notifier_drain --rounds 1 --profile /tmp/notifier  # py-spy stacks
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import orjson
from redis import Redis
from sqlalchemy import create_engine, func, insert, select

from bench.memory import MemorySampler
from shared.clock import utcnow
from shared.events import build_envelope, new_event_id
from shared.migrate import upgrade_to_head
from shared.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from shared.webhook_security import new_signing_secret, signature_header
from tests.support.databases import new_database_url
from tests.support.processes import free_port, wait_until
from tests.support.redis_server import RedisServer

ENDPOINT_CONCURRENCY = 8  # the WEBHOOK_ENDPOINT_CONCURRENCY default the notifier runs with


@dataclass(frozen=True)
class Drain:
    label: str
    deliveries: int
    per_second: float
    recorded_seconds: float  # from the notifier's start to the last outcome stored
    # The notifier's CPU time per delivery (from its first delivery to the last outcome stored):
    # less sensitive to a busy machine than the rate.
    cpu_seconds: float
    peak_rss_mb: float


def _ticket_data(n: int) -> dict[str, object]:
    """A `ticket.created` event's data, about the size of the API's (≈ 1 KB of JSON)."""
    now = utcnow().isoformat()
    user = {"id": 1, "name": "John Doe", "email": "john.doe@example.com", "role": "customer"}
    return {
        "ticket": {
            "id": n,
            "number": f"TCK-{n:06d}",
            "title": "Printer on the third floor is on fire",
            "description": "Smoke is coming out of the paper tray since this morning's update.",
            "requester": user,
            "assignee": None,
            "category": {"id": 3, "name": "Technical Support"},
            "priority": {"id": 2, "name": "Medium", "rank": 2, "colour": "#f0ad4e"},
            "status": {"id": 1, "name": "Open", "colour": "#5bc0de", "is_closed": False},
            "tags": ["printer", "fire"],
            "comment_count": 0,
            "created_at": now,
            "updated_at": now,
            "first_response_at": None,
            "resolved_at": None,
            "first_response_due_at": now,
            "resolution_due_at": now,
            "sla_status": "on_track",
            "version": 1,
        },
        "actor": {"type": "user", "user": user},
    }


def _payloads(count: int) -> list[tuple[str, str]]:
    """(event id, envelope JSON) for `count` new `ticket.created` events."""
    out = []
    for n in range(count):
        event_id = new_event_id()
        envelope = build_envelope(
            "ticket.created", _ticket_data(n + 1), event_id=event_id, occurred_at=utcnow()
        )
        out.append((event_id, orjson.dumps(envelope).decode()))
    return out


@contextmanager
def _process(command: list[str], *, env: dict[str, str], cwd: Path, log: Path) -> Iterator[int]:
    """Run `command` until the block ends (SIGTERM, then SIGKILL); yields its pid."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env={**os.environ, **env}, cwd=cwd, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            yield process.pid
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def _sampled(pid: int, output: Path | None) -> Iterator[None]:
    """py-spy samples of process `pid` while the block runs, as collapsed stacks: of the thread
    holding the GIL only, so that they add up to where the CPU (Python) time goes."""
    if output is None:
        yield
        return
    command = [
        str(Path(sys.executable).parent / "py-spy"),
        "record",
        "--pid",
        str(pid),
        "--gil",
        "--format",
        "raw",
        "--rate",
        "250",
        "--output",
        str(output),
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        process.send_signal(signal.SIGINT)  # py-spy writes its samples on Ctrl-C
        process.wait(timeout=60)


class Receiver:
    def __init__(self, url: str) -> None:
        self.url = url

    def count(self, path: str) -> int:
        return int(httpx.get(f"{self.url}/counts", timeout=10).json().get(path, 0))

    def per_second(self, path: str) -> float:
        """Deliveries / (last arrival − first arrival), as bench/run.py reports it."""
        answer = httpx.get(f"{self.url}/records", params={"path": path}, timeout=60).json()
        arrivals = sorted(float(arrived) for _id, arrived, _created in answer)
        return (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])


def _signed_headers(secret: str, event_id: str, body: str) -> dict[str, str]:
    at = utcnow()
    return {
        "content-type": "application/json",
        "webhook-id": event_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature_header([secret], msg_id=event_id, at=at, body=body),
    }


def measure_raw(receiver: Receiver, secret: str, payloads: list[tuple[str, str]]) -> float:
    """The floor: the same signed bodies written by hand on keep-alive asyncio streams (one
    write a request, the answer read by its Content-Length), nothing else to do."""
    path = f"/raw/{uuid.uuid4().hex[:8]}"
    url = httpx.URL(receiver.url)
    assert url.port is not None

    async def send_all() -> None:
        queue = list(reversed(payloads))

        async def sender() -> None:
            reader, writer = await asyncio.open_connection(url.host, url.port)
            while queue:
                event_id, body = queue.pop()
                data = body.encode()
                headers = _signed_headers(secret, event_id, body)
                head = f"POST {path} HTTP/1.1\r\nhost: {url.host}:{url.port}\r\n"
                head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
                writer.write(f"{head}content-length: {len(data)}\r\n\r\n".encode() + data)
                answer_head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":")[1])
                    for line in answer_head.lower().split(b"\r\n")
                    if line.startswith(b"content-length:")
                )
                await reader.readexactly(length)
            writer.close()

        await asyncio.gather(*(sender() for _ in range(ENDPOINT_CONCURRENCY)))

    asyncio.run(send_all())
    return receiver.per_second(path)


def measure_httpx(receiver: Receiver, secret: str, payloads: list[tuple[str, str]]) -> float:
    """The same, from one keep-alive httpx client (the notifier's HTTP client until now)."""
    path = f"/httpx/{uuid.uuid4().hex[:8]}"

    async def send_all() -> None:
        limits = httpx.Limits(max_connections=ENDPOINT_CONCURRENCY)
        gate = asyncio.Semaphore(ENDPOINT_CONCURRENCY)
        async with httpx.AsyncClient(limits=limits, timeout=10) as client:

            async def one(event_id: str, body: str) -> None:
                async with gate:
                    response = await client.post(
                        f"{receiver.url}{path}",
                        content=body.encode(),
                        headers=_signed_headers(secret, event_id, body),
                    )
                    response.raise_for_status()

            await asyncio.gather(*(one(event_id, body) for event_id, body in payloads))

    asyncio.run(send_all())
    return receiver.per_second(path)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure_drain(
    label: str,
    code: Path,
    *,
    events: int,
    receiver: Receiver,
    redis: RedisServer,
    directory: Path,
    profile: Path | None,
) -> Drain:
    run_dir = directory / f"{label}-{uuid.uuid4().hex[:6]}"
    database_url = new_database_url(run_dir)
    upgrade_to_head(database_url)  # no seed data: the notifier needs none
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis.url,
        "EVENT_STREAM": f"events-{run_dir.name}",
        "WEBHOOK_ALLOW_PRIVATE_URLS": "true",
        "NOTIFIER_METRICS_PORT": "0",
        "PYTHONPATH": str(code),
    }
    engine = create_engine(env["DATABASE_URL"])
    path = f"/drain/{run_dir.name}"
    created_at = utcnow() - timedelta(seconds=1)
    with engine.begin() as connection:
        connection.execute(
            insert(WebhookEndpoint).values(
                url=f"{receiver.url}{path}",
                description="drain",
                event_types=["ticket.created"],
                secret=new_signing_secret(),
                enabled=True,
                created_at=created_at,
                updated_at=created_at,
            )
        )
    client = redis.client()
    _append(client, env["EVENT_STREAM"], _payloads(events))

    command = [sys.executable, "-m", "services.notifier"]
    started = time.monotonic()
    with (
        _process(command, env=env, cwd=code, log=run_dir / "notifier.log") as pid,
        _sampled(pid, profile.with_name(f"{profile.name}-{label}.txt") if profile else None),
        MemorySampler({"notifier": pid}) as memory,
    ):
        wait_until(lambda: receiver.count(path) >= 1, timeout=60, what=f"{label}: a delivery")
        cpu_from, counted_from = _cpu_seconds(pid), receiver.count(path)
        wait_until(lambda: receiver.count(path) >= events, timeout=600, what=f"{label}: drain")

        def all_recorded() -> bool:
            with engine.connect() as connection:
                done = connection.scalar(
                    select(func.count()).where(WebhookDelivery.status == DeliveryStatus.SUCCEEDED)
                )
            return done == events

        wait_until(all_recorded, timeout=120, interval=0.02, what=f"{label}: outcomes stored")
        recorded = time.monotonic() - started
        cpu_per_delivery = (_cpu_seconds(pid) - cpu_from) / (events - counted_from)
    engine.dispose()
    return Drain(
        label,
        receiver.count(path),
        receiver.per_second(path),
        recorded,
        cpu_per_delivery,
        memory.peaks()["notifier"],
    )


def _append(client: Redis, stream: str, payloads: list[tuple[str, str]]) -> None:
    """XADD as the outbox publisher does it."""
    pipe = client.pipeline(transaction=False)
    for event_id, payload in payloads:
        fields = {
            "event_id": event_id,
            "type": "ticket.created",
            "ticket_id": "1",
            "payload": payload,
        }
        pipe.xadd(stream, fields)  # type: ignore[arg-type]
    pipe.execute()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--code",
        type=Path,
        action="append",
        help="a source tree to run the notifier from (repeatable; default: this one)",
    )
    parser.add_argument("--keep", type=Path, help="work in this directory and keep its logs")
    parser.add_argument(
        "--profile", type=Path, help="py-spy samples (collapsed stacks): PREFIX-<label>.txt"
    )
    args = parser.parse_args()
    codes = [path.resolve() for path in args.code or [Path.cwd()]]
    labels = [path.name or str(path) for path in codes]

    rates: dict[str, list[float]] = {}
    drains: dict[str, list[Drain]] = {}
    with tempfile.TemporaryDirectory(prefix="notifier-drain-") as tmp:
        directory = args.keep or Path(tmp)
        redis = RedisServer(port=free_port(), directory=directory / "redis")
        redis.start()
        port = free_port()
        try:
            with _process(
                [sys.executable, "-m", "bench.receiver_app", str(port)],
                env={},
                cwd=Path.cwd(),
                log=directory / "receiver.log",
            ):
                receiver = Receiver(f"http://127.0.0.1:{port}")
                wait_until(lambda: receiver.count("/") >= 0, timeout=30, what="the receiver")
                for round_number in range(1, args.rounds + 1):
                    payloads = _payloads(args.events)
                    secret = new_signing_secret()
                    raw = measure_raw(receiver, secret, payloads)
                    rates.setdefault("raw", []).append(raw)
                    rates.setdefault("httpx", []).append(measure_httpx(receiver, secret, payloads))
                    for label, code in zip(labels, codes, strict=True):
                        drain = measure_drain(
                            label,
                            code,
                            events=args.events,
                            receiver=receiver,
                            redis=redis,
                            directory=directory,
                            profile=args.profile,
                        )
                        assert drain.deliveries == args.events, drain
                        rates.setdefault(label, []).append(drain.per_second)
                        drains.setdefault(label, []).append(drain)
                    print(
                        f"round {round_number}: "
                        + "; ".join(
                            f"{name} {values[-1]:,.0f}/s" for name, values in rates.items()
                        ),
                        flush=True,
                    )
        finally:
            redis.stop()

    raw = statistics.median(rates["raw"])
    print(f"\n{args.events} events, medians of {args.rounds} rounds (ratios: to `raw`, same run):")
    for name, values in rates.items():
        rate = statistics.median(values)
        line = f"  {name:>12}: {rate:7,.0f} deliveries/s = {rate / raw:4.0%} of raw"
        if name in drains:
            stored = statistics.median(drain.recorded_seconds for drain in drains[name])
            cpu = statistics.median(drain.cpu_seconds for drain in drains[name])
            rss = max(drain.peak_rss_mb for drain in drains[name])
            line += (
                f"; all stored {stored:.2f} s after start; {cpu * 1e6:,.0f} µs CPU a delivery;"
                f" peak RSS {rss:.0f} MB"
            )
        print(line)


if __name__ == "__main__":
    main()
