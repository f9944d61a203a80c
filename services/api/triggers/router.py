from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from services.api.dependencies import CurrentUser, DbSession
from services.api.schemas import Limit, PathId
from services.api.triggers import service
from services.api.triggers.schemas import (
    TriggerCreate,
    TriggerFailureOut,
    TriggerOut,
    TriggerTest,
    TriggerTestOut,
    TriggerUpdate,
)
from shared.models import Trigger, TriggerFailure

router = APIRouter(prefix="/triggers", tags=["triggers"])


@router.get("", response_model=list[TriggerOut])
def list_triggers(session: DbSession, user: CurrentUser) -> list[Trigger]:
    """List triggers in the order they run (staff)."""
    return service.list_triggers(session, viewer=user)


@router.get("/{trigger_id}", response_model=TriggerOut)
def get_trigger(trigger_id: PathId, session: DbSession, user: CurrentUser) -> Trigger:
    """Get one trigger (staff)."""
    return service.get_trigger(session, viewer=user, trigger_id=trigger_id)


@router.post("", response_model=TriggerOut, status_code=status.HTTP_201_CREATED)
def create_trigger(body: TriggerCreate, session: DbSession, user: CurrentUser) -> Trigger:
    """Create a trigger (admins)."""
    return service.create_trigger(session, actor=user, fields=body)


@router.patch("/{trigger_id}", response_model=TriggerOut)
def update_trigger(
    trigger_id: PathId, body: TriggerUpdate, session: DbSession, user: CurrentUser
) -> Trigger:
    """Change a trigger (admins)."""
    return service.update_trigger(session, actor=user, trigger_id=trigger_id, fields=body)


@router.delete("/{trigger_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_trigger(trigger_id: PathId, session: DbSession, user: CurrentUser) -> Response:
    """Delete a trigger (admins)."""
    service.delete_trigger(session, actor=user, trigger_id=trigger_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{trigger_id}/test", response_model=TriggerTestOut)
def test_trigger(
    trigger_id: PathId, body: TriggerTest, session: DbSession, user: CurrentUser
) -> dict[str, Any]:
    """Run a trigger against a ticket without changing anything: would it match, and what would
    it do (staff)."""
    return service.test_trigger(session, viewer=user, trigger_id=trigger_id, request=body)


@router.get("/{trigger_id}/failures", response_model=list[TriggerFailureOut])
def trigger_failures(
    trigger_id: PathId, session: DbSession, user: CurrentUser, limit: Limit = 50
) -> list[TriggerFailure]:
    """The latest times the trigger matched but could not act (admins)."""
    return service.trigger_failures(session, viewer=user, trigger_id=trigger_id, limit=limit)
