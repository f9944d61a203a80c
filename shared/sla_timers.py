"""A ticket's SLA timers, computed from its rows: targets, business hours, pauses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shared.models import SlaPause, SlaStatus, Ticket
from shared.reference_cache import reference_cache
from shared.settings import get_settings
from shared.sla import Pause, SlaClock, due_at, status, targets


class SlaTimes(Protocol):
    """A ticket's times, as an ORM ticket and a plain row both carry them."""

    @property
    def created_at(self) -> datetime: ...
    @property
    def first_response_at(self) -> datetime | None: ...
    @property
    def resolved_at(self) -> datetime | None: ...
    @property
    def first_response_due_at(self) -> datetime | None: ...
    @property
    def resolution_due_at(self) -> datetime | None: ...
    @property
    def sla_breached_at(self) -> datetime | None: ...


def clock_of(ticket: SlaTimes, *, paused: bool) -> SlaClock:
    """The SLA clock of a ticket whose status does (`paused`) or does not pause it."""
    return SlaClock(
        created_at=ticket.created_at,
        first_response_at=ticket.first_response_at,
        resolved_at=ticket.resolved_at,
        first_response_due_at=ticket.first_response_due_at,
        resolution_due_at=ticket.resolution_due_at,
        breached_at=ticket.sla_breached_at,
        paused=paused,
    )


@dataclass(frozen=True)
class SlaTimers:
    """A ticket's timers as just computed and stored, and the due times stored before."""

    ticket_id: int
    first_response_at: datetime | None
    first_response_due_at: datetime | None
    resolution_due_at: datetime | None
    sla_status: SlaStatus
    previous_first_response_due_at: datetime | None
    previous_resolution_due_at: datetime | None

    @property
    def moved(self) -> bool:
        """Whether the computation set or moved a due time."""
        return (self.first_response_due_at, self.resolution_due_at) != (
            self.previous_first_response_due_at,
            self.previous_resolution_due_at,
        )


def recompute_ticket_sla(session: Session, *, ticket_id: int, now: datetime) -> SlaTimers | None:
    """Set the ticket's due times and stored SLA state from its current rows (None: no such
    ticket). Plain statements with the targets and calendars from the reference cache; the
    UPDATE never bumps the version that clients send back in If-Match."""
    # Locked on PostgreSQL, so a concurrent computation cannot store timers from older rows
    # (SQLite's writers are serialised already).
    row = session.execute(
        select(
            Ticket.created_at,
            Ticket.first_response_at,
            Ticket.resolved_at,
            Ticket.sla_breached_at,
            Ticket.first_response_due_at,
            Ticket.resolution_due_at,
            Ticket.category_id,
            Ticket.priority_id,
            Ticket.status_id,
        )
        .where(Ticket.id == ticket_id)
        .with_for_update()
    ).first()
    if row is None:
        return None
    reference = reference_cache.reference(session)
    priority = reference.priorities[row.priority_id]
    sla = targets(
        category_hours=reference.categories[row.category_id].sla_hours,
        priority_hours=priority.sla_hours,
        first_response_hours=priority.first_response_hours
        or get_settings().default_first_response_hours,
    )
    pauses = [
        Pause(started_at=started, ended_at=ended)
        for started, ended in session.execute(
            select(SlaPause.started_at, SlaPause.ended_at).where(SlaPause.ticket_id == ticket_id)
        )
    ]
    calendar = reference.calendar_for(category_id=row.category_id, priority_id=row.priority_id)
    first_response_due = due_at(
        row.created_at, sla.first_response, calendar=calendar, pauses=pauses, now=now
    )
    resolution_due = due_at(
        row.created_at, sla.resolution, calendar=calendar, pauses=pauses, now=now
    )
    clock = SlaClock(
        created_at=row.created_at,
        first_response_at=row.first_response_at,
        resolved_at=row.resolved_at,
        first_response_due_at=first_response_due,
        resolution_due_at=resolution_due,
        breached_at=row.sla_breached_at,
        paused=reference.statuses[row.status_id].pauses_sla,
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
    return SlaTimers(
        ticket_id=ticket_id,
        first_response_at=row.first_response_at,
        first_response_due_at=first_response_due,
        resolution_due_at=resolution_due,
        sla_status=state,
        previous_first_response_due_at=row.first_response_due_at,
        previous_resolution_due_at=row.resolution_due_at,
    )
