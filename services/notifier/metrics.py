"""The notifier's Prometheus metrics, served on NOTIFIER_METRICS_PORT (one process: in memory)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import orjson
from prometheus_client import (
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    start_http_server,
)

from services.notifier.sender import AttemptOutcome
from shared.settings import Settings

logger = logging.getLogger(__name__)

SUCCEEDED = "succeeded"
FAILED_WILL_RETRY = "failed_will_retry"
FAILED_FOR_GOOD = "failed_for_good"

# A `_created` twin of every counter and histogram doubles the series for no question we ask.
disable_created_metrics()  # type: ignore[no-untyped-call]

deliveries = Counter(
    "ticketing_notifier_deliveries",
    "Delivery attempts by outcome: succeeded, failed_will_retry, or failed_for_good (the "
    "retry schedule is used up).",
    ["outcome"],
)
retries = Counter(
    "ticketing_notifier_retries",
    "Delivery attempts that were not a delivery's first.",
)
# From seconds (delivered at once) to the hours a retry schedule spans.
delivery_latency = Histogram(
    "ticketing_notifier_delivery_latency_seconds",
    "From the event's timestamp to the receiver's 2xx answer, for successful deliveries.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 7200, 36000, 172800),
)
attempt_duration = Histogram(
    "ticketing_notifier_attempt_duration_seconds",
    "Time one attempt took, from sending to the answer, a timeout or an error.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
# Read from the notifier when scraped (`set_function`), not counted for every attempt.
attempts_in_flight = Gauge(
    "ticketing_notifier_attempts_in_flight",
    "Delivery attempts waiting for a receiver's answer right now.",
)


def serve(settings: Settings) -> None:
    """Serve /metrics from a background thread, unless NOTIFIER_METRICS_PORT is 0."""
    host, port = settings.metrics_host, settings.notifier_metrics_port
    if not port:
        return
    try:
        start_http_server(port, addr=host)
    except OSError as exc:
        # Deliveries matter more than their numbers: the notifier runs on without them.
        logger.error("notifier metrics not served on %s:%d: %s", host, port, exc)
        return
    logger.info("notifier metrics on http://%s:%d/metrics", host, port)


def _occurred_at(payload: str) -> datetime | None:
    try:
        return datetime.fromisoformat(str(orjson.loads(payload)["timestamp"]))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


def outcome_of(outcome: AttemptOutcome, *, retry_schedule: list[float]) -> str:
    """The same rule the store applies: after the schedule's last delay, no more attempts."""
    if outcome.succeeded:
        return SUCCEEDED
    if outcome.job.attempt_number > len(retry_schedule):
        return FAILED_FOR_GOOD
    return FAILED_WILL_RETRY


# Each outcome's child looked up once, not for every attempt.
_deliveries_by_outcome = {
    name: deliveries.labels(name) for name in (SUCCEEDED, FAILED_WILL_RETRY, FAILED_FOR_GOOD)
}


def record_attempt(outcome: AttemptOutcome, *, retry_schedule: list[float]) -> str:
    """Count one attempt; returns its outcome's name."""
    name = outcome_of(outcome, retry_schedule=retry_schedule)
    _deliveries_by_outcome[name].inc()
    if outcome.job.attempt_number > 1:
        retries.inc()
    attempt_duration.observe(outcome.duration_ms / 1000)
    occurred_at = None
    if outcome.succeeded:
        occurred_at = outcome.job.occurred_at or _occurred_at(outcome.job.payload)
    if occurred_at is not None:
        answered_at = outcome.attempted_at + timedelta(milliseconds=outcome.duration_ms)
        delivery_latency.observe(max((answered_at - occurred_at).total_seconds(), 0.0))
    return name
