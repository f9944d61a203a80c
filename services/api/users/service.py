"""People: customers raise tickets, agents work them, admins run the desk."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.api.users.schemas import ProfileUpdate, UserCreate, UserUpdate
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound
from shared.models import Role, User


def list_users(
    session: Session,
    *,
    viewer: User,
    role: Role | None,
    is_bot: bool | None = None,
    limit: int,
    offset: int,
) -> tuple[list[User], int]:
    if not viewer.role.is_staff:
        raise Forbidden("customers cannot list users")
    query = select(User)
    if role is not None:
        query = query.where(User.role == role)
    if is_bot is not None:
        query = query.where(User.is_bot.is_(is_bot))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    users = session.scalars(query.order_by(User.id).limit(limit).offset(offset))
    return list(users), total


def get_user(session: Session, *, viewer: User, user_id: int) -> User:
    user = session.get(User, user_id)
    # A customer learns nothing about other people, not even whether an id exists.
    if user is None or (not viewer.role.is_staff and user.id != viewer.id):
        raise NotFound(f"no user with id {user_id}")
    return user


def _ensure_email_free(session: Session, email: str, *, except_id: int | None = None) -> None:
    owner = session.scalar(select(User.id).where(User.email == email))
    if owner is not None and owner != except_id:
        raise Conflict(f"a user with email {email!r} already exists", field="email")


def _ensure_bot_is_agent(*, role: Role, is_bot: bool, field: str) -> None:
    """AI agents work tickets as agents: a customer or admin bot makes no sense."""
    if is_bot and role is not Role.AGENT:
        raise InvalidInput(
            f"only agent users may be bots (is_bot), not a{'n' if role is Role.ADMIN else ''} "
            f"{role.value}",
            field=field,
        )


def create_user(session: Session, *, actor: User, fields: UserCreate) -> User:
    if actor.role is not Role.ADMIN:
        raise Forbidden("only admins create users")
    _ensure_bot_is_agent(role=fields.role, is_bot=fields.is_bot, field="is_bot")
    email = fields.email.lower()
    _ensure_email_free(session, email)
    user = User(
        name=fields.name,
        email=email,
        role=fields.role,
        active=fields.active,
        is_bot=fields.is_bot,
    )
    session.add(user)
    session.flush()
    return user


def update_user(session: Session, *, actor: User, user_id: int, fields: UserUpdate) -> User:
    if actor.role is not Role.ADMIN:
        raise Forbidden("only admins change users")
    user = get_user(session, viewer=actor, user_id=user_id)
    changes = fields.model_dump(exclude_unset=True, exclude_none=True)
    # An admin cannot lock themselves out: someone must always be able to run the desk.
    if user.id == actor.id and (
        changes.get("active") is False or changes.get("role", Role.ADMIN) is not Role.ADMIN
    ):
        field = "active" if changes.get("active") is False else "role"
        raise Forbidden("admins cannot deactivate or demote themselves", field=field)
    _ensure_bot_is_agent(
        role=changes.get("role", user.role),
        is_bot=changes.get("is_bot", user.is_bot),
        field="is_bot" if "is_bot" in changes else "role",
    )
    if "email" in changes:
        changes["email"] = changes["email"].lower()
        _ensure_email_free(session, changes["email"], except_id=user.id)
    for name, value in changes.items():
        setattr(user, name, value)
    session.flush()
    return user


def update_profile(session: Session, *, actor: User, fields: ProfileUpdate) -> User:
    """A user's own settings (whatever their role): for now, whether ticket mail reaches them."""
    user = session.get(User, actor.id)
    if user is None:
        raise NotFound(f"no user with id {actor.id}")
    for name, value in fields.model_dump(exclude_unset=True, exclude_none=True).items():
        setattr(user, name, value)
    session.flush()
    return user
