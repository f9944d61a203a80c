"""Statistics and the dashboard, served from the worker's latest snapshot."""

from __future__ import annotations

from sqlalchemy.orm import Session

from services.api.stats import repository
from services.api.stats.schemas import DashboardOut, StatsOut
from services.api.tickets.service import ticket_views
from shared.clock import utcnow
from shared.errors import Forbidden
from shared.models import User
from shared.reference_cache import reference_cache
from shared.stats import compute_snapshot, latest_snapshot
from shared.ticket_view import TicketView

DASHBOARD_LIST_SIZE = 10


def current_stats(session: Session, *, viewer: User) -> StatsOut:
    """The newest snapshot; computed on the spot (not stored) before the worker made one."""
    if not viewer.role.is_staff:
        raise Forbidden("statistics are for agents and admins")
    snapshot = latest_snapshot(session)
    payload = snapshot.payload if snapshot else compute_snapshot(session, now=utcnow())
    return StatsOut.model_validate(payload)


def dashboard(session: Session, *, viewer: User) -> DashboardOut:
    """The statistics, the newest tickets and the running ones nearest their due time (staff)."""
    stats = current_stats(session, viewer=viewer)
    newest_ids = repository.newest_ticket_ids(session, limit=DASHBOARD_LIST_SIZE)
    reference = reference_cache.reference(session)
    due_soon_ids = repository.due_soon_ticket_ids(
        session,
        status_ids=[
            status.id
            for status in reference.statuses.values()
            if not status.is_closed and not status.pauses_sla
        ],
        limit=DASHBOARD_LIST_SIZE,
    )
    found = ticket_views(
        session, ticket_ids=list(dict.fromkeys(newest_ids + due_soon_ids)), viewer=viewer
    )

    def views(ids: list[int]) -> list[TicketView]:
        return [found[ticket_id] for ticket_id in ids if ticket_id in found]

    return DashboardOut(stats=stats, newest_tickets=views(newest_ids), due_soon=views(due_soon_ids))
