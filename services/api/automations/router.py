from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from services.api.automations import service
from services.api.automations.schemas import (
    AutomationCreate,
    AutomationFailureOut,
    AutomationOut,
    AutomationTest,
    AutomationTestOut,
    AutomationUpdate,
)
from services.api.dependencies import CurrentUser, DbSession
from services.api.schemas import Limit, PathId
from shared.models import Automation, AutomationFailure

router = APIRouter(prefix="/automations", tags=["automations"])


@router.get("", response_model=list[AutomationOut])
def list_automations(session: DbSession, user: CurrentUser) -> list[Automation]:
    """List automations in the order they run (staff)."""
    return service.list_automations(session, viewer=user)


@router.get("/{automation_id}", response_model=AutomationOut)
def get_automation(automation_id: PathId, session: DbSession, user: CurrentUser) -> Automation:
    """Get one automation (staff)."""
    return service.get_automation(session, viewer=user, automation_id=automation_id)


@router.post("", response_model=AutomationOut, status_code=status.HTTP_201_CREATED)
def create_automation(body: AutomationCreate, session: DbSession, user: CurrentUser) -> Automation:
    """Create an automation (admins)."""
    return service.create_automation(session, actor=user, fields=body)


@router.patch("/{automation_id}", response_model=AutomationOut)
def update_automation(
    automation_id: PathId, body: AutomationUpdate, session: DbSession, user: CurrentUser
) -> Automation:
    """Change an automation (admins)."""
    return service.update_automation(session, actor=user, automation_id=automation_id, fields=body)


@router.delete("/{automation_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_automation(automation_id: PathId, session: DbSession, user: CurrentUser) -> Response:
    """Delete an automation (admins)."""
    service.delete_automation(session, actor=user, automation_id=automation_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{automation_id}/test", response_model=AutomationTestOut)
def test_automation(
    automation_id: PathId, body: AutomationTest, session: DbSession, user: CurrentUser
) -> dict[str, Any]:
    """Try an automation on a ticket without changing anything: would the next scan act on it,
    and what would it do (staff)."""
    return service.test_automation(session, viewer=user, automation_id=automation_id, request=body)


@router.get("/{automation_id}/failures", response_model=list[AutomationFailureOut])
def automation_failures(
    automation_id: PathId, session: DbSession, user: CurrentUser, limit: Limit = 50
) -> list[AutomationFailure]:
    """The latest times the automation held for a ticket but could not act (admins)."""
    return service.automation_failures(
        session, viewer=user, automation_id=automation_id, limit=limit
    )
