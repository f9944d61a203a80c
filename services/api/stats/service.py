"""Statistics and the dashboard, served from the worker's latest snapshot."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.api.stats.schemas import DashboardOut, StatsOut
from shared.clock import utcnow
from shared.errors import Forbidden
from shared.models import Status, Ticket, User
from shared.stats import compute_snapshot, latest_snapshot
from shared.ticket_view import comment_counts, ticket_view

DASHBOARD_LIST_SIZE = 10


def current_stats(session: Session, *, viewer: User) -> StatsOut:
    """The newest snapshot; computed on the spot (not stored) before the worker made one."""
    if not viewer.role.is_staff:
        raise Forbidden("statistics are for agents and admins")
    snapshot = latest_snapshot(session)
    payload = snapshot.payload if snapshot else compute_snapshot(session, now=utcnow())
    return StatsOut.model_validate(payload)


def dashboard(session: Session, *, viewer: User) -> DashboardOut:
    stats = current_stats(session, viewer=viewer)
    newest = list(
        session.scalars(select(Ticket).order_by(Ticket.id.desc()).limit(DASHBOARD_LIST_SIZE))
    )
    running = select(Status.id).where(Status.is_closed.is_(False), Status.pauses_sla.is_(False))
    due_soon = list(
        session.scalars(
            select(Ticket)
            .where(Ticket.status_id.in_(running), Ticket.resolution_due_at.is_not(None))
            .order_by(Ticket.resolution_due_at, Ticket.id)
            .limit(DASHBOARD_LIST_SIZE)
        )
    )
    counts = comment_counts(
        session, ticket_ids=[t.id for t in newest + due_soon], include_internal=True
    )
    return DashboardOut(
        stats=stats,
        newest_tickets=[ticket_view(t, comment_count=counts.get(t.id, 0)) for t in newest],
        due_soon=[ticket_view(t, comment_count=counts.get(t.id, 0)) for t in due_soon],
    )
