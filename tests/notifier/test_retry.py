from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from services.notifier.retry import next_attempt_at, retry_after

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
SCHEDULE = [5.0, 300.0, 1800.0]


def test_each_retry_follows_the_schedule_within_the_jitter() -> None:
    rng = random.Random(7)
    for attempts, base in enumerate(SCHEDULE, start=1):
        for _ in range(50):
            at = next_attempt_at(attempts_made=attempts, schedule=SCHEDULE, now=NOW, rng=rng)
            assert at is not None
            assert timedelta(seconds=base * 0.8) <= at - NOW <= timedelta(seconds=base * 1.2)


def test_after_the_last_retry_there_is_none() -> None:
    assert next_attempt_at(attempts_made=len(SCHEDULE) + 1, schedule=SCHEDULE, now=NOW) is None


def test_a_longer_retry_after_wins_over_the_schedule() -> None:
    at = next_attempt_at(
        attempts_made=1, schedule=SCHEDULE, now=NOW, requested_delay=timedelta(minutes=2)
    )
    assert at == NOW + timedelta(minutes=2)


def test_retry_after_takes_seconds_or_an_http_date_and_is_capped() -> None:
    assert retry_after("120", now=NOW) == timedelta(seconds=120)
    assert retry_after("Fri, 27 Nov 2026 12:01:00 GMT", now=NOW) == timedelta(minutes=1)
    assert retry_after("999999", now=NOW) == timedelta(days=1)
    assert retry_after("soon", now=NOW) is None
    assert retry_after(None, now=NOW) is None
