"""When to try a failed delivery again: the configured schedule, jittered, and Retry-After."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

# A receiver asking for more than a day is asking for too much: the schedule takes over.
_MAX_RETRY_AFTER = timedelta(days=1)
_JITTER = 0.2


def retry_after(value: str | None, *, now: datetime) -> timedelta | None:
    """A Retry-After header (seconds or an HTTP date) as a delay, capped at a day."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        delay = timedelta(seconds=int(value))
    else:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        delay = moment - now
    return max(timedelta(0), min(delay, _MAX_RETRY_AFTER))


def next_attempt_at(
    *,
    attempts_made: int,
    schedule: list[float],
    now: datetime,
    requested_delay: timedelta | None = None,
    rng: random.Random | None = None,
) -> datetime | None:
    """When to try again after `attempts_made` attempts all failed; None when the schedule is
    used up (the delivery has failed for good)."""
    if attempts_made > len(schedule):
        return None
    base = schedule[attempts_made - 1]
    delay = timedelta(seconds=base * (rng or random).uniform(1 - _JITTER, 1 + _JITTER))
    if requested_delay is not None:
        delay = max(delay, requested_delay)
    return now + delay
