from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from services.api.dependencies import CurrentUser, DbSession
from services.api.schemas import Limit, Offset, Page, PathId
from services.api.users import service
from services.api.users.schemas import ProfileUpdate, UserCreate, UserOut, UserUpdate
from shared.models import Role, User

router = APIRouter(prefix="/users", tags=["users"])


@router.get("", response_model=Page[UserOut])
def list_users(
    session: DbSession,
    viewer: CurrentUser,
    role: Role | None = None,
    is_bot: bool | None = None,
    limit: Annotated[Limit, Query()] = 50,
    offset: Annotated[Offset, Query()] = 0,
) -> Page[UserOut]:
    """List users (agents and admins), optionally by role or bot flag."""
    users, total = service.list_users(
        session, viewer=viewer, role=role, is_bot=is_bot, limit=limit, offset=offset
    )
    items = [UserOut.model_validate(user) for user in users]
    return Page(items=items, total=total, limit=limit, offset=offset)


@router.get("/me", response_model=UserOut)
def get_me(viewer: CurrentUser) -> User:
    """The user behind the API key."""
    return viewer


@router.patch("/me", response_model=UserOut)
def update_me(body: ProfileUpdate, session: DbSession, actor: CurrentUser) -> User:
    """Change your own settings: `mail_opt_out` stops ticket mail to you."""
    return service.update_profile(session, actor=actor, fields=body)


@router.get("/{user_id}", response_model=UserOut)
def get_user(user_id: PathId, session: DbSession, viewer: CurrentUser) -> User:
    """Get one user (customers: only themselves)."""
    return service.get_user(session, viewer=viewer, user_id=user_id)


@router.post("", response_model=UserOut, status_code=status.HTTP_201_CREATED)
def create_user(body: UserCreate, session: DbSession, actor: CurrentUser) -> User:
    """Create a user (admins)."""
    return service.create_user(session, actor=actor, fields=body)


@router.patch("/{user_id}", response_model=UserOut)
def update_user(user_id: PathId, body: UserUpdate, session: DbSession, actor: CurrentUser) -> User:
    """Change a user's name, email, role, active flag, bot flag or mail opt-out (admins)."""
    return service.update_user(session, actor=actor, user_id=user_id, fields=body)
