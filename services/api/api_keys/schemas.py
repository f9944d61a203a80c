"""API keys in and out: the secret leaves the server once, in the answer to its creation."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Self

from pydantic import AwareDatetime, BaseModel, Field, StringConstraints, model_validator

from services.api.schemas import Id, StrictInput
from shared.models import ApiKey

KeyName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
# Ten years: long enough for any integration, short enough to stay a real date.
MAX_LIFETIME_DAYS = 3650
KeyState = Literal["active", "expired", "revoked"]


def key_state(key: ApiKey, *, now: datetime) -> KeyState:
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= now:
        return "expired"
    return "active"


class ApiKeyOut(BaseModel):
    id: int
    name: str
    prefix: str = Field(description="The key's first characters, to recognise it by")
    user_id: int
    user_email: str
    state: KeyState
    created_at: datetime
    last_used_at: datetime | None = Field(
        description="Recorded at most about once a minute per key"
    )
    expires_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, key: ApiKey, *, now: datetime) -> Self:
        return cls(
            id=key.id,
            name=key.name,
            prefix=key.prefix,
            user_id=key.user_id,
            user_email=key.user.email,
            state=key_state(key, now=now),
            created_at=key.created_at,
            last_used_at=key.last_used_at,
            expires_at=key.expires_at,
            revoked_at=key.revoked_at,
        )


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The key itself: shown only in this answer, stored hashed")


class ApiKeyCreate(StrictInput):
    name: KeyName
    expires_at: AwareDatetime | None = Field(
        default=None, description="When the key stops working (RFC 3339 with a UTC offset)"
    )
    expires_in_days: Annotated[int, Field(ge=1, le=MAX_LIFETIME_DAYS)] | None = Field(
        default=None, description="Or: how many days from now the key stops working"
    )
    user_id: Id | None = Field(
        default=None, description="Admins only: whose key (default: the caller's own)"
    )

    @model_validator(mode="after")
    def _one_expiry(self) -> Self:
        if self.expires_at is not None and self.expires_in_days is not None:
            raise ValueError("give expires_at or expires_in_days, not both")
        return self
