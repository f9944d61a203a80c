"""Webhook latency: ticket created → the receiver has the webhook, fanned out to 3 endpoints.

Starts the whole system with one notifier, subscribes three loopback receivers to
`ticket.created`, creates tickets at a steady rate, and compares each arrival (receiver clock)
with the ticket's `created_at` (server clock, the same machine).

    .venv/bin/python -m bench.webhook_latency --tickets 1000 --rate 50
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from datetime import datetime
from pathlib import Path

import orjson

from bench.event_lag import _create_tickets, _row
from tests.support.processes import wait_until
from tests.support.receiver import running_receiver
from tests.support.system import running_system

ENDPOINTS = ("/crm", "/chat", "/warehouse")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=50.0)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="ticketing-bench-") as directory,
        running_system(Path(directory), with_notifier=True, worker_concurrency=2) as system,
        running_receiver() as receiver,
    ):
        admin = system.client("admin")
        for path in ENDPOINTS:
            admin.post(
                "/webhooks", json={"url": receiver.url(path), "event_types": ["ticket.created"]}
            ).raise_for_status()
        asyncio.run(_create_tickets(system, count=args.tickets, rate=args.rate))
        expected = args.tickets * len(ENDPOINTS)
        wait_until(lambda: len(receiver.requests) >= expected, timeout=300, what="deliveries")
        latencies = []
        for request in receiver.requests:
            created = orjson.loads(request.body)["data"]["ticket"]["created_at"]
            created_at = datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp()
            latencies.append((request.received_at - created_at) * 1000)
        duplicates = len(receiver.requests) - len(
            {r.headers["webhook-id"] + r.path for r in receiver.requests}
        )
    print(
        f"{args.tickets} tickets at {args.rate:g}/s to {len(ENDPOINTS)} endpoints "
        f"({len(latencies)} deliveries, {duplicates} duplicates), {os.cpu_count()} cores"
    )
    print("| latency (ms) | p50 | p90 | p99 | max | mean |")
    print("| --- | --- | --- | --- | --- | --- |")
    print(_row("created → receiver has the webhook", latencies))


if __name__ == "__main__":
    main()
