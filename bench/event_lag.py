"""Event lag: ticket created → its SLA timers computed and its search entry written.

Starts the whole system (private Redis, fresh SQLite, api, worker, beat), creates tickets at a
steady rate over HTTP, and reads each `ticket.created` event's lag from the database: the
worker stamps `processed_events.processed_at` in the transaction that writes the due times and
the index entry, and the ticket's `created_at` is its commit time, both on this machine's clock.

    make bench-event-lag      # .venv/bin/python -m bench.event_lag --tickets 500 --rate 50
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx
from sqlalchemy import select

from shared.models import OutboxEvent, ProcessedEvent, Ticket
from tests.support.processes import wait_until
from tests.support.system import System, running_system


async def _create_tickets(system: System, *, count: int, rate: float) -> list[int]:
    headers = {"Authorization": f"Bearer {system.keys['agent']}"}
    async with httpx.AsyncClient(
        base_url=system.api.base_url, headers=headers, timeout=60
    ) as client:

        async def create(n: int) -> int:
            response = await client.post(
                "/tickets",
                json={
                    "title": f"Lag probe {n}",
                    "description": "Measuring how fast the worker follows",
                    "user_id": 1,
                    "category_id": 1 + n % 6,
                    "priority_id": 1 + n % 4,
                    "tags": ["bench"],
                },
            )
            response.raise_for_status()
            return int(response.json()["id"])

        started = time.monotonic()
        pending = []
        for n in range(count):
            await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
            pending.append(asyncio.create_task(create(n)))
        return list(await asyncio.gather(*pending))


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


Stamps = tuple[datetime, datetime, datetime]


def measure(*, tickets: int, rate: float, worker_concurrency: int) -> list[Stamps]:
    """(created, published, processed) for each ticket's `ticket.created` event."""
    with tempfile.TemporaryDirectory(prefix="ticketing-bench-") as directory:
        with running_system(Path(directory), worker_concurrency=worker_concurrency) as system:
            ids = asyncio.run(_create_tickets(system, count=tickets, rate=rate))

            def stamps() -> list[Stamps]:
                with system.db() as db:
                    rows = db.execute(
                        select(
                            Ticket.created_at, OutboxEvent.published_at, ProcessedEvent.processed_at
                        )
                        .join(OutboxEvent, OutboxEvent.ticket_id == Ticket.id)
                        .join(ProcessedEvent, ProcessedEvent.event_id == OutboxEvent.event_id)
                        .where(Ticket.id.in_(ids), OutboxEvent.event_type == "ticket.created")
                    ).all()
                return [(created, published, done) for created, published, done in rows]

            wait_until(lambda: len(stamps()) == len(ids), timeout=120, what="every event handled")
            return stamps()


def _row(name: str, millis: list[float]) -> str:
    cells = [_percentile(millis, 0.5), _percentile(millis, 0.9), _percentile(millis, 0.99)]
    cells += [max(millis), statistics.fmean(millis)]
    return f"| {name} | " + " | ".join(f"{value:.1f}" for value in cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=500)
    parser.add_argument("--rate", type=float, default=50.0, help="tickets created per second")
    parser.add_argument("--worker-concurrency", type=int, default=2, help="as in the Procfile")
    args = parser.parse_args()
    stamps = measure(
        tickets=args.tickets, rate=args.rate, worker_concurrency=args.worker_concurrency
    )

    def millis(start: int, end: int) -> list[float]:
        return [(row[end] - row[start]).total_seconds() * 1000 for row in stamps]

    print(
        f"{len(stamps)} tickets at {args.rate:g}/s, worker concurrency "
        f"{args.worker_concurrency}, {os.cpu_count()} cores"
    )
    print("| lag (ms) | p50 | p90 | p99 | max | mean |")
    print("| --- | --- | --- | --- | --- | --- |")
    print(_row("created → SLA computed and searchable", millis(0, 2)))
    print(_row("created → published to Redis", millis(0, 1)))
    print(_row("published → handled by the worker", millis(1, 2)))


if __name__ == "__main__":
    main()
