"""SLA arithmetic: targets, due times over business hours and pauses, and the SLA state.

Pure functions of their arguments (the clock is passed in), so the worker, the API and the tests
all compute the same answer.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from shared.models.reference import BusinessCalendar
from shared.models.ticket import SlaStatus

AT_RISK_FRACTION = 0.75
# A calendar must open at least once in this many days, or no due time can be found.
_MAX_CALENDAR_DAYS = 3 * 366
_END_OF_TIME = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True)
class BusinessHours:
    """Weekly opening hours in a time zone, minus holidays. Weekday 0 is Monday.

    A closing time of 00:00 means midnight at the end of that day.
    """

    timezone: ZoneInfo
    weekly: dict[int, list[tuple[time, time]]]
    holidays: frozenset[date] = field(default_factory=frozenset)

    def open_intervals(self, start: datetime) -> Iterator[tuple[datetime, datetime]]:
        """The opening intervals from `start` on, in UTC, in order."""
        day = start.astimezone(self.timezone).date()
        for _ in range(_MAX_CALENDAR_DAYS):
            if day not in self.holidays:
                for opens, closes in self.weekly.get(day.weekday(), []):
                    begin = datetime.combine(day, opens, tzinfo=self.timezone).astimezone(UTC)
                    close_day = day + timedelta(days=1) if closes == time(0) else day
                    end = datetime.combine(close_day, closes, tzinfo=self.timezone).astimezone(UTC)
                    if end > start:
                        yield max(begin, start), end
            day += timedelta(days=1)
        raise ValueError("the business calendar has no opening hours in the next three years")


@dataclass(frozen=True)
class Pause:
    """A stretch of time the SLA clock stood still; `ended_at` None means it still does."""

    started_at: datetime
    ended_at: datetime | None


@dataclass(frozen=True)
class SlaTargets:
    first_response: timedelta
    resolution: timedelta


def targets(
    *, category_hours: float, priority_hours: float, first_response_hours: float
) -> SlaTargets:
    """Resolution: the stricter of the category's and the priority's; first response: the
    priority's, never later than the resolution target."""
    resolution = timedelta(hours=min(category_hours, priority_hours))
    first_response = min(timedelta(hours=first_response_hours), resolution)
    return SlaTargets(first_response=first_response, resolution=resolution)


def _without_pauses(
    intervals: Iterator[tuple[datetime, datetime]], pauses: Sequence[Pause], *, now: datetime
) -> Iterator[tuple[datetime, datetime]]:
    """Cut the paused stretches out of `intervals` (a pause still running lasts until `now`)."""
    stretches = sorted((p.started_at, p.ended_at or max(now, p.started_at)) for p in pauses)
    for begin, end in intervals:
        cursor = begin
        for paused_from, paused_to in stretches:
            if paused_to <= cursor or paused_from >= end:
                continue
            if paused_from > cursor:
                yield cursor, paused_from
            cursor = max(cursor, paused_to)
            if cursor >= end:
                break
        if cursor < end:
            yield cursor, end


def due_at(
    start: datetime,
    target: timedelta,
    *,
    calendar: BusinessHours | None,
    pauses: Sequence[Pause] = (),
    now: datetime,
) -> datetime:
    """When `target` of working time has run from `start`: only opening hours count (all hours
    without a calendar), and paused stretches do not count at all."""
    intervals = calendar.open_intervals(start) if calendar else iter([(start, _END_OF_TIME)])
    remaining = target
    for begin, end in _without_pauses(intervals, pauses, now=now):
        if end - begin >= remaining:
            return begin + remaining
        remaining -= end - begin
    raise ValueError("no due time: the clock never runs long enough")


@dataclass(frozen=True)
class SlaClock:
    """What the SLA state of a ticket depends on."""

    created_at: datetime
    first_response_at: datetime | None
    resolved_at: datetime | None
    first_response_due_at: datetime | None
    resolution_due_at: datetime | None
    breached_at: datetime | None
    paused: bool


def _late(done_at: datetime | None, due: datetime | None, now: datetime, *, paused: bool) -> bool:
    if due is None:
        return False
    if done_at is not None:
        return done_at > due
    return not paused and now > due


def status(clock: SlaClock, *, now: datetime) -> SlaStatus:
    """pending (no due times yet), on_track, at_risk (75 % of the time used), breached or met."""
    if clock.resolution_due_at is None:
        return SlaStatus.PENDING
    first_response_late = clock.first_response_at is not None and _late(
        clock.first_response_at, clock.first_response_due_at, now, paused=clock.paused
    )
    if clock.resolved_at is not None:
        late = clock.resolved_at > clock.resolution_due_at or first_response_late
        return SlaStatus.BREACHED if late or clock.breached_at else SlaStatus.MET
    if (
        clock.breached_at is not None
        or first_response_late
        or _late(None, clock.resolution_due_at, now, paused=clock.paused)
        or (
            clock.first_response_at is None
            and _late(None, clock.first_response_due_at, now, paused=clock.paused)
        )
    ):
        return SlaStatus.BREACHED
    deadlines = [clock.resolution_due_at]
    if clock.first_response_at is None and clock.first_response_due_at is not None:
        deadlines.append(clock.first_response_due_at)
    for deadline in deadlines:
        allowed = (deadline - clock.created_at).total_seconds()
        used = (now - clock.created_at).total_seconds()
        if allowed > 0 and used / allowed >= AT_RISK_FRACTION:
            return SlaStatus.AT_RISK
    return SlaStatus.ON_TRACK


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def business_hours(calendar: BusinessCalendar) -> BusinessHours:
    """The arithmetic's view of a stored calendar (validated when it was saved)."""
    weekly = {
        WEEKDAYS.index(day): [(time.fromisoformat(a), time.fromisoformat(b)) for a, b in spans]
        for day, spans in calendar.weekly_hours.items()
    }
    return BusinessHours(
        timezone=ZoneInfo(calendar.timezone),
        weekly=weekly,
        holidays=frozenset(date.fromisoformat(day) for day in calendar.holidays),
    )
