"""The notifier's numbers: each attempt's outcome by the same rule the store applies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prometheus_client import REGISTRY

from services.notifier.metrics import outcome_of, record_attempt
from services.notifier.sender import AttemptOutcome, DeliveryJob

OCCURRED_AT = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
PAYLOAD = '{"id":"evt_1","type":"ticket.created","timestamp":"2026-11-27T12:00:00.000000Z"}'
SCHEDULE = [1.0, 1.0]


def _outcome(*, status_code: int | None, attempt_number: int = 1) -> AttemptOutcome:
    job = DeliveryJob(
        delivery_id=1,
        endpoint_id=1,
        url="http://127.0.0.1:9/hook",
        secrets=["whsec_x"],
        event_id="evt_1",
        payload=PAYLOAD,
        attempt_number=attempt_number,
    )
    return AttemptOutcome(
        job=job,
        attempted_at=OCCURRED_AT + timedelta(seconds=2),
        duration_ms=500,
        status_code=status_code,
        error=None if status_code == 200 else "failed",
        response_body=None,
        requested_delay=None,
    )


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_2xx_is_a_success_whatever_the_attempt() -> None:
    assert outcome_of(_outcome(status_code=200, attempt_number=3), retry_schedule=SCHEDULE) == (
        "succeeded"
    )


def test_a_failure_with_delays_left_will_be_retried() -> None:
    assert outcome_of(_outcome(status_code=500, attempt_number=2), retry_schedule=SCHEDULE) == (
        "failed_will_retry"
    )


def test_a_failure_after_the_schedules_last_delay_is_for_good() -> None:
    assert outcome_of(_outcome(status_code=None, attempt_number=3), retry_schedule=SCHEDULE) == (
        "failed_for_good"
    )


def test_a_successful_retry_counts_its_outcome_its_retry_and_its_latency() -> None:
    before = {
        "succeeded": _sample("ticketing_notifier_deliveries_total", outcome="succeeded"),
        "retries": _sample("ticketing_notifier_retries_total"),
        "latency": _sample("ticketing_notifier_delivery_latency_seconds_sum"),
        "within_5s": _sample("ticketing_notifier_delivery_latency_seconds_bucket", le="5.0"),
    }
    record_attempt(_outcome(status_code=200, attempt_number=2), retry_schedule=SCHEDULE)
    assert _sample("ticketing_notifier_deliveries_total", outcome="succeeded") == (
        before["succeeded"] + 1
    )
    assert _sample("ticketing_notifier_retries_total") == before["retries"] + 1
    # Event at 12:00:00, attempt sent at 12:00:02, answered 0.5 s later.
    latency = _sample("ticketing_notifier_delivery_latency_seconds_sum") - before["latency"]
    assert latency == 2.5
    assert _sample("ticketing_notifier_delivery_latency_seconds_bucket", le="5.0") == (
        before["within_5s"] + 1
    )


def test_a_failed_attempt_has_no_delivery_latency() -> None:
    before = _sample("ticketing_notifier_delivery_latency_seconds_count")
    record_attempt(_outcome(status_code=503), retry_schedule=SCHEDULE)
    assert _sample("ticketing_notifier_delivery_latency_seconds_count") == before
