"""Who may see, create and revoke which API keys.

Every user manages their own keys, customers included (their integrations call the API too);
admins manage everyone's. Another user's key is "not found" to a non-admin, so key ids reveal
nothing. Revoking is idempotent: a revoked key stays revoked, with its first revocation time.
A key never makes a key that outlives it: a leaked short-lived key cannot become a permanent one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from services.api.api_keys import repository
from services.api.api_keys.schemas import ApiKeyCreate
from services.api.auth.keys import issue_api_key
from shared.clock import utcnow
from shared.errors import Forbidden, InvalidInput, InvalidReference, NotFound
from shared.models import ApiKey, Role, User

MAX_LIFETIME = timedelta(days=3650)


def list_keys(
    session: Session, *, viewer: User, user_id: int | None, limit: int, offset: int
) -> tuple[Sequence[ApiKey], int]:
    if viewer.role is not Role.ADMIN:
        if user_id is not None and user_id != viewer.id:
            raise Forbidden("only admins list other users' API keys", field="user_id")
        user_id = viewer.id
    return repository.list_keys(session, user_id=user_id, limit=limit, offset=offset)


def _expiry(fields: ApiKeyCreate, *, now: datetime) -> datetime | None:
    if fields.expires_in_days is not None:
        return now + timedelta(days=fields.expires_in_days)
    if fields.expires_at is None:
        return None
    if fields.expires_at <= now:
        raise InvalidInput("expires_at must be in the future", field="expires_at")
    if fields.expires_at > now + MAX_LIFETIME:
        raise InvalidInput("expires_at must be within ten years", field="expires_at")
    return fields.expires_at


def _owner(session: Session, *, actor: User, user_id: int | None) -> User:
    if user_id is None or user_id == actor.id:
        return actor
    if actor.role is not Role.ADMIN:
        raise Forbidden("only admins create API keys for other users", field="user_id")
    owner = session.get(User, user_id)
    if owner is None:
        raise InvalidReference(f"no user with id {user_id}", field="user_id")
    if not owner.active:
        raise InvalidReference(f"user {user_id} is inactive", field="user_id")
    return owner


def _within(
    expires_at: datetime | None, *, fields: ApiKeyCreate, ceiling: datetime | None
) -> datetime | None:
    """A key made with a key never outlives it: without an expiry of its own the new key
    expires with the one that made it; asking for a later one is refused."""
    if ceiling is None:
        return expires_at
    if expires_at is None:
        return ceiling
    if expires_at > ceiling:
        field = "expires_in_days" if fields.expires_in_days is not None else "expires_at"
        raise InvalidInput(
            f"a key cannot outlive the key that creates it, which expires at {ceiling.isoformat()}",
            field=field,
        )
    return expires_at


def create_key(
    session: Session, *, actor: User, fields: ApiKeyCreate, creator_expires_at: datetime | None
) -> tuple[ApiKey, str]:
    """A new key, made with a key expiring at `creator_expires_at` (None: never); returns the
    row and the key in clear (the only time it is known)."""
    now = utcnow()
    expires_at = _within(_expiry(fields, now=now), fields=fields, ceiling=creator_expires_at)
    owner = _owner(session, actor=actor, user_id=fields.user_id)
    return issue_api_key(session, user=owner, name=fields.name, expires_at=expires_at)


def revoke_key(session: Session, *, actor: User, key_id: int) -> ApiKey:
    key = repository.get_key(session, key_id=key_id)
    if key is None or (actor.role is not Role.ADMIN and key.user_id != actor.id):
        raise NotFound(f"no API key with id {key_id}")
    return revoke(session, key=key)


def revoke(session: Session, *, key: ApiKey) -> ApiKey:
    """Revoke `key` from now on; a key already revoked keeps its first revocation time."""
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.flush()
    return key
