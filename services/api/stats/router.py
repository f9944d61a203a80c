from __future__ import annotations

from fastapi import APIRouter, Response

from services.api.dependencies import CurrentUser, DbSession
from services.api.responses import json_response
from services.api.stats import service
from services.api.stats.schemas import DashboardOut, StatsOut

router = APIRouter(tags=["statistics"])


@router.get("/stats", response_model=StatsOut)
def get_stats(session: DbSession, viewer: CurrentUser) -> Response:
    """Counts, backlog, daily series, response and resolution times, SLA compliance (staff)."""
    return json_response(service.current_stats(session, viewer=viewer))


@router.get("/dashboard", response_model=DashboardOut)
def get_dashboard(session: DbSession, viewer: CurrentUser) -> Response:
    """The statistics plus the newest tickets and the open tickets nearest their due time."""
    return json_response(service.dashboard(session, viewer=viewer))
