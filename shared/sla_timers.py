"""A ticket's SLA timers, computed from its rows: targets, business hours, pauses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from shared.models import SlaPause, SlaStatus, Ticket
from shared.models.base import table_of
from shared.prepared import Prepared
from shared.reference_cache import ReferenceData, reference_cache
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


_TICKETS = table_of(Ticket)
_PAUSES = table_of(SlaPause)
# Built once (a statement keeps its cache key): building and keying three statements per
# ticket cost the worker more than running them.
_TIMES_FOR_UPDATE = (
    select(
        _TICKETS.c.id,
        _TICKETS.c.created_at,
        _TICKETS.c.first_response_at,
        _TICKETS.c.resolved_at,
        _TICKETS.c.sla_breached_at,
        _TICKETS.c.first_response_due_at,
        _TICKETS.c.resolution_due_at,
        _TICKETS.c.category_id,
        _TICKETS.c.priority_id,
        _TICKETS.c.status_id,
    )
    .where(_TICKETS.c.id.in_(bindparam("ticket_ids", expanding=True)))
    .order_by(_TICKETS.c.id)
    .with_for_update()
)
_PAUSES_OF = select(_PAUSES.c.ticket_id, _PAUSES.c.started_at, _PAUSES.c.ended_at).where(
    _PAUSES.c.ticket_id.in_(bindparam("ticket_ids", expanding=True))
)
_STORE_TIMERS = Prepared(
    update(_TICKETS)
    .where(_TICKETS.c.id == bindparam("ticket_id"))
    .values(
        first_response_due_at=bindparam("first_due"),
        resolution_due_at=bindparam("resolution_due"),
        sla_status=bindparam("state"),
    )
)


def recompute_ticket_sla(session: Session, *, ticket_id: int, now: datetime) -> SlaTimers | None:
    """Set one ticket's due times and stored SLA state from its rows (None: no such ticket)."""
    timers = recompute_sla_timers(session, ticket_ids=[ticket_id], now=now)
    return timers[0] if timers else None


def recompute_sla_timers(
    session: Session, *, ticket_ids: Sequence[int], now: datetime
) -> list[SlaTimers]:
    """Set the tickets' due times and stored SLA states from their current rows, with the
    targets and calendars from the reference cache: three statements for any number of
    tickets. The UPDATE never bumps the version that clients send back in If-Match; missing
    tickets are left out of the answer."""
    if not ticket_ids:
        return []
    connection = session.connection()
    # Locked on PostgreSQL (in id order, so two workers never wait on each other in a cycle):
    # a concurrent computation cannot store timers from older rows. SQLite's writers are
    # serialised already.
    rows = connection.execute(_TIMES_FOR_UPDATE, {"ticket_ids": list(ticket_ids)}).all()
    if not rows:
        return []
    pauses: dict[int, list[Pause]] = {}
    for paused_ticket, started, ended in connection.execute(
        _PAUSES_OF, {"ticket_ids": [row.id for row in rows]}
    ):
        pauses.setdefault(paused_ticket, []).append(Pause(started_at=started, ended_at=ended))
    reference = reference_cache.reference(session)
    default_first_response = get_settings().default_first_response_hours
    timers = [
        _timers_of(row, reference, pauses.get(row.id, []), default_first_response, now)
        for row in rows
    ]
    _STORE_TIMERS.run_many(
        session,
        [
            {
                "ticket_id": timer.ticket_id,
                "first_due": timer.first_response_due_at,
                "resolution_due": timer.resolution_due_at,
                "state": timer.sla_status,
            }
            for timer in timers
        ],
    )
    return timers


def _timers_of(
    row: Any,
    reference: ReferenceData,
    pauses: list[Pause],
    default_first_response_hours: float,
    now: datetime,
) -> SlaTimers:
    priority = reference.priorities[row.priority_id]
    sla = targets(
        category_hours=reference.categories[row.category_id].sla_hours,
        priority_hours=priority.sla_hours,
        first_response_hours=priority.first_response_hours or default_first_response_hours,
    )
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
    return SlaTimers(
        ticket_id=row.id,
        first_response_at=row.first_response_at,
        first_response_due_at=first_response_due,
        resolution_due_at=resolution_due,
        sla_status=status(clock, now=now),
        previous_first_response_due_at=row.first_response_due_at,
        previous_resolution_due_at=row.resolution_due_at,
    )
