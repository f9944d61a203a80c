from __future__ import annotations

from fastapi import APIRouter

from services.api.dependencies import CurrentUser, DbSession
from services.api.stats import service
from services.api.stats.schemas import DashboardOut, StatsOut

router = APIRouter(tags=["statistics"])


@router.get("/stats", response_model=StatsOut)
def get_stats(session: DbSession, viewer: CurrentUser) -> StatsOut:
    """Counts, backlog, daily series, response and resolution times, SLA compliance (staff)."""
    return service.current_stats(session, viewer=viewer)


@router.get("/dashboard", response_model=DashboardOut)
def get_dashboard(session: DbSession, viewer: CurrentUser) -> DashboardOut:
    """The statistics plus the newest tickets and the open tickets nearest their due time."""
    return service.dashboard(session, viewer=viewer)
