from __future__ import annotations

from fastapi import APIRouter, Response, status

from services.api.custom_fields import service
from services.api.custom_fields.schemas import (
    CustomFieldCreate,
    CustomFieldOut,
    CustomFieldUpdate,
)
from services.api.dependencies import CurrentUser, DbSession
from services.api.schemas import PathId
from shared.models import CustomField

router = APIRouter(prefix="/custom-fields", tags=["custom fields"])


@router.get("", response_model=list[CustomFieldOut])
def list_custom_fields(session: DbSession, user: CurrentUser) -> list[CustomField]:
    """List custom fields (customers: the ones visible to them)."""
    return service.list_fields(session, viewer=user)


@router.get("/{field_id}", response_model=CustomFieldOut)
def get_custom_field(field_id: PathId, session: DbSession, user: CurrentUser) -> CustomField:
    """Get one custom field."""
    return service.get_field(session, viewer=user, field_id=field_id)


@router.post("", response_model=CustomFieldOut, status_code=status.HTTP_201_CREATED)
def create_custom_field(
    body: CustomFieldCreate, session: DbSession, user: CurrentUser
) -> CustomField:
    """Create a custom field (admins)."""
    return service.create_field(session, actor=user, fields=body)


@router.patch("/{field_id}", response_model=CustomFieldOut)
def update_custom_field(
    field_id: PathId, body: CustomFieldUpdate, session: DbSession, user: CurrentUser
) -> CustomField:
    """Change a custom field (admins); removing an option in use needs `migrate_options`."""
    return service.update_field(session, actor=user, field_id=field_id, fields=body)


@router.delete("/{field_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_custom_field(field_id: PathId, session: DbSession, user: CurrentUser) -> Response:
    """Delete a custom field no ticket uses (admins); archive one in use instead."""
    service.delete_field(session, actor=user, field_id=field_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
