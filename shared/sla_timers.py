"""A ticket's SLA timers, computed from its rows: targets, business hours, pauses."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shared.models import BusinessCalendar, SlaPause, Ticket
from shared.settings import get_settings
from shared.sla import BusinessHours, Pause, SlaClock, due_at, status, targets

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


def calendar_of(ticket: Ticket) -> BusinessHours | None:
    """The category's calendar wins over the priority's; none means round the clock."""
    calendar = ticket.category.calendar or ticket.priority.calendar
    return business_hours(calendar) if calendar else None


def clock_of(ticket: Ticket) -> SlaClock:
    return SlaClock(
        created_at=ticket.created_at,
        first_response_at=ticket.first_response_at,
        resolved_at=ticket.resolved_at,
        first_response_due_at=ticket.first_response_due_at,
        resolution_due_at=ticket.resolution_due_at,
        breached_at=ticket.sla_breached_at,
        paused=ticket.status.pauses_sla,
    )


def recompute_ticket_sla(session: Session, *, ticket_id: int, now: datetime) -> Ticket | None:
    """Set the ticket's due times and stored SLA state from its current rows.

    A plain UPDATE, not the ORM: the worker's bookkeeping must not bump the version that
    clients send back in If-Match.
    """
    # Locked on PostgreSQL, so a concurrent computation cannot store timers from older rows
    # (SQLite's writers are serialised already).
    session.execute(select(Ticket.id).where(Ticket.id == ticket_id).with_for_update())
    ticket = session.get(Ticket, ticket_id, populate_existing=True)
    if ticket is None:
        return None
    priority = ticket.priority
    sla = targets(
        category_hours=ticket.category.sla_hours,
        priority_hours=priority.sla_hours,
        first_response_hours=priority.first_response_hours
        or get_settings().default_first_response_hours,
    )
    pauses = [
        Pause(started_at=row.started_at, ended_at=row.ended_at)
        for row in session.scalars(select(SlaPause).where(SlaPause.ticket_id == ticket_id))
    ]
    calendar = calendar_of(ticket)
    first_response_due = due_at(
        ticket.created_at, sla.first_response, calendar=calendar, pauses=pauses, now=now
    )
    resolution_due = due_at(
        ticket.created_at, sla.resolution, calendar=calendar, pauses=pauses, now=now
    )
    clock = replace(
        clock_of(ticket),
        first_response_due_at=first_response_due,
        resolution_due_at=resolution_due,
    )
    state = status(clock, now=now)
    session.execute(
        update(Ticket)
        .where(Ticket.id == ticket_id)
        .values(
            first_response_due_at=first_response_due,
            resolution_due_at=resolution_due,
            sla_status=state,
        )
        .execution_options(synchronize_session=False)
    )
    session.expire(ticket)
    return ticket
