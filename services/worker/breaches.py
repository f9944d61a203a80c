"""The SLA breach scan: each newly breached ticket is marked once, recorded and announced."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from services.worker.sla_events import announce_moved_timers
from shared.event_types import Breach, TicketSlaBreached
from shared.events import rfc3339
from shared.models import SlaStatus, Status, Ticket
from shared.sla_timers import SlaTimers, recompute_ticket_sla
from shared.ticket_changes import HistoryEntry, record_ticket_change
from shared.ticket_view import staff_view


def _breach_kind(ticket: Ticket, now: datetime) -> tuple[str, datetime]:
    due = ticket.first_response_due_at
    if ticket.first_response_at is None and due is not None and due < now:
        return "first_response", due
    assert ticket.resolution_due_at is not None
    return "resolution", ticket.resolution_due_at


def _overdue(ticket: Ticket | SlaTimers, now: datetime) -> bool:
    first_response_due = ticket.first_response_due_at
    resolution_due = ticket.resolution_due_at
    return (
        ticket.first_response_at is None
        and first_response_due is not None
        and first_response_due < now
    ) or (resolution_due is not None and resolution_due < now)


def mark_breaches(session: Session, *, now: datetime) -> list[int]:
    """Mark every open, running ticket whose due time has passed; returns the ticket ids.

    The UPDATE only takes a ticket not yet marked, so two scans never announce one breach twice.
    """
    running = select(Status.id).where(Status.is_closed.is_(False), Status.pauses_sla.is_(False))
    overdue = or_(
        and_(Ticket.first_response_at.is_(None), Ticket.first_response_due_at < now),
        Ticket.resolution_due_at < now,
    )
    candidates = session.scalars(
        select(Ticket.id).where(
            Ticket.sla_breached_at.is_(None), Ticket.status_id.in_(running), overdue
        )
    ).all()
    breached: list[int] = []
    for ticket_id in candidates:
        # The stored due times may predate a change the worker has not handled yet (a pause
        # that just ended): recompute them before calling the ticket late.
        fresh = recompute_ticket_sla(session, ticket_id=ticket_id, now=now)
        if fresh is None:
            continue
        announce_moved_timers(session, [fresh], at=now)
        if not _overdue(fresh, now):
            continue
        marked = session.execute(
            update(Ticket)
            .where(Ticket.id == ticket_id, Ticket.sla_breached_at.is_(None))
            .values(sla_breached_at=now, sla_status=SlaStatus.BREACHED)
            .execution_options(synchronize_session=False)
        )
        if not getattr(marked, "rowcount", 0):
            continue
        ticket = session.get(Ticket, ticket_id, populate_existing=True)
        assert ticket is not None
        kind, due = _breach_kind(ticket, now)
        record_ticket_change(
            session,
            ticket_id=ticket_id,
            actor_id=None,
            at=now,
            history=[
                HistoryEntry("sla", None, f"breached ({kind.replace('_', ' ')} due {rfc3339(due)})")
            ],
            events=[
                TicketSlaBreached(
                    ticket=staff_view(session, ticket),
                    actor=None,
                    breach=Breach(kind=kind, due_at=due),
                )
            ],
        )
        breached.append(ticket_id)
    return breached
