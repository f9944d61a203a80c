from __future__ import annotations

from fastapi import APIRouter, Response, status

from services.api.dependencies import CurrentUser, DbSession
from services.api.routing import service
from services.api.routing.schemas import PoolOut, PoolUpdate
from services.api.schemas import PathId

router = APIRouter(tags=["routing"])


@router.get("/assignment-pools", response_model=list[PoolOut])
def list_pools(session: DbSession, viewer: CurrentUser) -> list[PoolOut]:
    """Every category's assignment pool (agents and admins)."""
    return service.list_pools(session, viewer=viewer)


@router.get("/categories/{category_id}/assignment", response_model=PoolOut)
def get_pool(category_id: PathId, session: DbSession, viewer: CurrentUser) -> PoolOut:
    """The category's assignment pool: its agents and strategy (agents and admins)."""
    return service.get_pool(session, viewer=viewer, category_id=category_id)


@router.put("/categories/{category_id}/assignment", response_model=PoolOut)
def put_pool(
    category_id: PathId, body: PoolUpdate, session: DbSession, actor: CurrentUser
) -> PoolOut:
    """Set the category's assignment pool, replacing any before (admins)."""
    return service.put_pool(session, actor=actor, category_id=category_id, request=body)


@router.delete("/categories/{category_id}/assignment", status_code=status.HTTP_204_NO_CONTENT)
def delete_pool(category_id: PathId, session: DbSession, actor: CurrentUser) -> Response:
    """Stop assigning the category's tickets automatically (admins)."""
    service.delete_pool(session, actor=actor, category_id=category_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
