from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from shared.models import SlaStatus
from shared.sla import BusinessHours, Pause, SlaClock, due_at, status, targets

MONDAY_9 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # a Monday
NINE_TO_FIVE = BusinessHours(
    timezone=ZoneInfo("UTC"), weekly={day: [(time(9), time(17))] for day in range(5)}
)


def test_resolution_target_is_the_stricter_of_category_and_priority() -> None:
    sla = targets(category_hours=4, priority_hours=8, first_response_hours=1)
    assert sla.resolution == timedelta(hours=4)
    assert sla.first_response == timedelta(hours=1)


def test_first_response_target_never_exceeds_the_resolution_target() -> None:
    sla = targets(category_hours=2, priority_hours=24, first_response_hours=8)
    assert sla.first_response == timedelta(hours=2)


def test_without_calendar_or_pauses_due_is_start_plus_target() -> None:
    assert due_at(
        MONDAY_9, timedelta(hours=4), calendar=None, now=MONDAY_9
    ) == MONDAY_9 + timedelta(hours=4)


def test_a_finished_pause_moves_the_due_time_by_its_length() -> None:
    pause = Pause(MONDAY_9 + timedelta(hours=1), MONDAY_9 + timedelta(hours=1, minutes=30))
    due = due_at(MONDAY_9, timedelta(hours=4), calendar=None, pauses=[pause], now=MONDAY_9)
    assert due == MONDAY_9 + timedelta(hours=4, minutes=30)


def test_a_running_pause_counts_until_now() -> None:
    now = MONDAY_9 + timedelta(hours=2)
    pause = Pause(MONDAY_9 + timedelta(hours=1), None)
    due = due_at(MONDAY_9, timedelta(hours=4), calendar=None, pauses=[pause], now=now)
    assert due == MONDAY_9 + timedelta(hours=5)


def test_a_pause_after_the_deadline_does_not_move_it() -> None:
    pause = Pause(MONDAY_9 + timedelta(hours=6), MONDAY_9 + timedelta(hours=7))
    due = due_at(MONDAY_9, timedelta(hours=4), calendar=None, pauses=[pause], now=MONDAY_9)
    assert due == MONDAY_9 + timedelta(hours=4)


def test_business_hours_carry_the_remainder_to_the_next_opening() -> None:
    friday_4pm = datetime(2026, 11, 27, 16, 0, tzinfo=UTC)
    due = due_at(friday_4pm, timedelta(hours=4), calendar=NINE_TO_FIVE, now=friday_4pm)
    assert due == datetime(2026, 11, 30, 12, 0, tzinfo=UTC)  # Monday noon


def test_business_hours_skip_holidays() -> None:
    calendar = BusinessHours(
        timezone=NINE_TO_FIVE.timezone,
        weekly=NINE_TO_FIVE.weekly,
        holidays=frozenset({date(2026, 11, 24)}),
    )
    due = due_at(MONDAY_9, timedelta(hours=10), calendar=calendar, now=MONDAY_9)
    assert due == datetime(2026, 11, 25, 11, 0, tzinfo=UTC)  # Wednesday, Tuesday was off


def test_business_hours_follow_the_calendars_time_zone() -> None:
    new_york = BusinessHours(
        timezone=ZoneInfo("America/New_York"), weekly={0: [(time(9), time(17))]}
    )
    start = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)  # Sunday 19:00 in New York
    due = due_at(start, timedelta(hours=1), calendar=new_york, now=start)
    assert due == datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # Monday 10:00 in New York


def test_a_pause_outside_opening_hours_costs_nothing() -> None:
    night = Pause(
        datetime(2026, 11, 23, 20, 0, tzinfo=UTC), datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    )
    due = due_at(MONDAY_9, timedelta(hours=10), calendar=NINE_TO_FIVE, pauses=[night], now=MONDAY_9)
    assert due == datetime(2026, 11, 24, 11, 0, tzinfo=UTC)


def test_a_calendar_without_hours_is_refused() -> None:
    closed = BusinessHours(timezone=ZoneInfo("UTC"), weekly={})
    with pytest.raises(ValueError, match="no opening hours"):
        due_at(MONDAY_9, timedelta(hours=1), calendar=closed, now=MONDAY_9)


def _clock(**overrides: object) -> SlaClock:
    values: dict[str, object] = {
        "created_at": MONDAY_9,
        "first_response_at": None,
        "resolved_at": None,
        "first_response_due_at": MONDAY_9 + timedelta(hours=1),
        "resolution_due_at": MONDAY_9 + timedelta(hours=4),
        "breached_at": None,
        "paused": False,
    }
    values.update(overrides)
    return SlaClock(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("clock", "minutes_after_creation", "expected"),
    [
        (_clock(resolution_due_at=None, first_response_due_at=None), 0, SlaStatus.PENDING),
        (_clock(), 10, SlaStatus.ON_TRACK),
        (_clock(), 45, SlaStatus.AT_RISK),  # 75 % of the first-response hour
        (_clock(), 61, SlaStatus.BREACHED),  # no first response in time
        (_clock(first_response_at=MONDAY_9 + timedelta(minutes=5)), 61, SlaStatus.ON_TRACK),
        (_clock(first_response_at=MONDAY_9 + timedelta(minutes=5)), 190, SlaStatus.AT_RISK),
        (_clock(first_response_at=MONDAY_9 + timedelta(minutes=5)), 241, SlaStatus.BREACHED),
        (_clock(paused=True, first_response_at=MONDAY_9), 300, SlaStatus.AT_RISK),
        (
            _clock(
                first_response_at=MONDAY_9 + timedelta(minutes=5),
                resolved_at=MONDAY_9 + timedelta(hours=2),
            ),
            600,
            SlaStatus.MET,
        ),
        (
            _clock(
                first_response_at=MONDAY_9 + timedelta(minutes=5),
                resolved_at=MONDAY_9 + timedelta(hours=5),
            ),
            600,
            SlaStatus.BREACHED,
        ),
        (_clock(breached_at=MONDAY_9 + timedelta(hours=1)), 30, SlaStatus.BREACHED),
    ],
)
def test_sla_status(clock: SlaClock, minutes_after_creation: int, expected: SlaStatus) -> None:
    now = MONDAY_9 + timedelta(minutes=minutes_after_creation)
    assert status(clock, now=now) == expected
