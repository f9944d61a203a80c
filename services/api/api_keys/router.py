from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from services.api.api_keys import service
from services.api.api_keys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut
from services.api.dependencies import CurrentApiKey, CurrentUser, DbSession
from services.api.schemas import Id, Limit, Offset, Page, PathId
from shared.clock import utcnow

router = APIRouter(prefix="/api-keys", tags=["api keys"])


@router.get("", response_model=Page[ApiKeyOut])
def list_api_keys(
    session: DbSession,
    viewer: CurrentUser,
    user_id: Annotated[Id | None, Query(description="Admins: only this user's keys")] = None,
    limit: Annotated[Limit, Query()] = 50,
    offset: Annotated[Offset, Query()] = 0,
) -> Page[ApiKeyOut]:
    """List API keys, never their secrets (admins: everyone's; others: their own)."""
    keys, total = service.list_keys(
        session, viewer=viewer, user_id=user_id, limit=limit, offset=offset
    )
    now = utcnow()
    items = [ApiKeyOut.of(key, now=now) for key in keys]
    return Page(items=items, total=total, limit=limit, offset=offset)


@router.post("", response_model=ApiKeyCreated, status_code=status.HTTP_201_CREATED)
def create_api_key(
    body: ApiKeyCreate,
    session: DbSession,
    actor: CurrentUser,
    creator: CurrentApiKey,
    response: Response,
) -> ApiKeyCreated:
    """Create an API key (admins: for anyone); the key is in this answer only, and expires no
    later than the key that creates it."""
    key, secret = service.create_key(
        session, actor=actor, fields=body, creator_expires_at=creator.expires_at
    )
    response.headers["Cache-Control"] = "no-store"
    out = ApiKeyOut.of(key, now=utcnow())
    return ApiKeyCreated(**out.model_dump(), key=secret)


@router.delete("/{key_id}", response_model=ApiKeyOut)
def revoke_api_key(key_id: PathId, session: DbSession, actor: CurrentUser) -> ApiKeyOut:
    """Revoke an API key at once (your own; admins: anyone's); revoking again changes nothing."""
    key = service.revoke_key(session, actor=actor, key_id=key_id)
    return ApiKeyOut.of(key, now=utcnow())
