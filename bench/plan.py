"""What a benchmark run measures and for how long (the full run and `--quick`), and what the
system under measurement runs with."""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class IngestPlan:
    """The search for the highest sustained creation rate (bench/ingest.py)."""

    start_rate: float  # tickets/s of the first step
    min_rate: float  # the search goes no lower (halving from the start when it fails)
    max_rate: float  # nor higher (doubling while it passes)
    probe_seconds: float
    probes: int  # steps before the confirmation, at most
    resolution: float  # bisect until the failing rate is within this share of the passing one
    confirm_seconds: float  # the "for 60 s"
    confirmations: int  # long steps at most: the highest pass, then 80 % of it


@dataclass(frozen=True)
class Plan:
    http_seconds: float
    fixed_rate_seconds: float
    flow_seconds: float
    generated_tickets: int
    query_seconds: float
    client_check_seconds: float  # the paced client alone against the bare baseline
    ingest: IngestPlan


FULL = Plan(
    http_seconds=10, fixed_rate_seconds=20, flow_seconds=30, generated_tickets=100_000,
    query_seconds=5, client_check_seconds=5,
    ingest=IngestPlan(
        start_rate=100, min_rate=25, max_rate=1600, probe_seconds=6, probes=7, resolution=0.1,
        confirm_seconds=60, confirmations=2,
    ),
)  # fmt: skip
QUICK = Plan(
    http_seconds=3, fixed_rate_seconds=5, flow_seconds=5, generated_tickets=10_000,
    query_seconds=2, client_check_seconds=2,
    ingest=IngestPlan(
        start_rate=100, min_rate=50, max_rate=400, probe_seconds=3, probes=3, resolution=0.25,
        confirm_seconds=5, confirmations=1,
    ),
)  # fmt: skip

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
