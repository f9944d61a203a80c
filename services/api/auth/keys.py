"""API keys: generated here, stored as SHA-256, shown to their owner once."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.api.api_keys.usage import recorder
from services.api.rate_limits.callers import note_authenticated
from shared.clock import utcnow
from shared.errors import NotFound, Unauthenticated
from shared.models import ApiKey, User
from shared.reference_cache import KeyRecord, reference_cache

# A recognisable prefix lets secret scanners find leaked keys.
KEY_PREFIX = "tkt_"


def hash_key(key: str) -> str:
    # Keys carry 32 random bytes, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(session: Session, *, email: str, name: str = "") -> tuple[ApiKey, str]:
    """A new key for the user with `email`; returns the row and the key in clear (shown once)."""
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise NotFound(f"no user with email {email!r}", field="email")
    return issue_api_key(session, user=user, name=name)


def issue_api_key(
    session: Session, *, user: User, name: str, expires_at: datetime | None = None
) -> tuple[ApiKey, str]:
    """A new key for `user`; returns the row and the key in clear (shown once)."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(
        user_id=user.id, name=name, prefix=key[:12], key_hash=hash_key(key), expires_at=expires_at
    )
    row.user = user
    session.add(row)
    session.flush()
    return row, key


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise Unauthenticated("send an API key as 'Authorization: Bearer <key>'")
    scheme, _, key = authorization.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthenticated("the Authorization header must be 'Bearer <key>'")
    return key.strip()


def authenticate(session: Session, *, authorization: str | None) -> User:
    """The active user behind an `Authorization: Bearer <key>` header, or Unauthenticated."""
    api_key = reference_cache.api_key(session, key_hash=hash_key(_bearer(authorization)))
    now = utcnow()
    user = reference_cache.user(session, user_id=api_key.user_id) if api_key else None
    if (
        api_key is None
        or user is None
        or api_key.revoked_at is not None
        or (api_key.expires_at is not None and api_key.expires_at <= now)
        or not user.active
    ):
        raise Unauthenticated("the API key is unknown, revoked, expired or its user is inactive")
    recorder.note(key_id=api_key.id, last_used_at=api_key.last_used_at, now=now)
    note_authenticated(user_id=api_key.user_id, role=user.role.value)
    return user


def authenticated_key(session: Session, *, authorization: str | None) -> KeyRecord:
    """The key of a request that `authenticate` let in (its expiry, say)."""
    api_key = reference_cache.api_key(session, key_hash=hash_key(_bearer(authorization)))
    if api_key is None:
        raise Unauthenticated("the API key is unknown, revoked, expired or its user is inactive")
    return api_key
