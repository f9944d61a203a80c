"""`ticket.sla_updated`: receivers learn the due times the worker sets or moves.

The API answers a creation before the worker computes the ticket's SLA, so the 201 and
`ticket.created` carry no due times; this event is how a receiver learns them, and learns them
again when a category or priority change or the end of a pause moves them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.orm import Session

from services.worker.processed import record_handled
from shared.event_types import Change, SlaTargets, TicketSlaUpdated
from shared.sla_timers import SlaTimers
from shared.ticket_changes import record_ticket_change
from shared.ticket_rows import staff_views


def announce_moved_timers(session: Session, timers: Iterable[SlaTimers], *, at: datetime) -> int:
    """Record a `ticket.sla_updated` event for each ticket whose due times the computation set
    or moved, in the caller's transaction; returns how many. No history row: the due times are
    on the ticket, and the audit trail keeps what people and rules did. The events are recorded
    as handled by the worker as they are written: they are never queued for it."""
    moved = [timer for timer in timers if timer.moved]
    if not moved:
        return 0
    views = staff_views(session, ticket_ids=[timer.ticket_id for timer in moved])
    announced: list[str] = []
    for timer in moved:
        view = views.get(timer.ticket_id)
        if view is None:
            continue
        announced += record_ticket_change(
            session,
            ticket_id=timer.ticket_id,
            actor_id=None,
            at=at,
            history=[],
            events=[
                TicketSlaUpdated(
                    ticket=view,
                    actor=None,
                    sla=SlaTargets(
                        first_response_due_at=timer.first_response_due_at,
                        resolution_due_at=timer.resolution_due_at,
                        status=timer.sla_status,
                    ),
                    changes=_changes(timer),
                )
            ],
        )
    record_handled(session, event_ids=announced, at=at)
    return len(announced)


def _changes(timer: SlaTimers) -> dict[str, Change]:
    pairs = {
        "first_response_due_at": (
            timer.previous_first_response_due_at,
            timer.first_response_due_at,
        ),
        "resolution_due_at": (timer.previous_resolution_due_at, timer.resolution_due_at),
    }
    return {field: Change(from_=old, to=new) for field, (old, new) in pairs.items() if old != new}
