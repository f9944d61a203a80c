from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from services.api.schemas import Description, StrictInput
from shared.events import EventType
from shared.models import DeliveryStatus

TEST_EVENT_TYPE = "webhook.test"
SUBSCRIBABLE = frozenset({*(str(t) for t in EventType), TEST_EVENT_TYPE})

# Not stripped: whitespace anywhere in a webhook URL is refused (shared.webhook_security).
WebhookUrl = Annotated[str, StringConstraints(min_length=1, max_length=2048)]


def _known_event_types(value: list[str] | None) -> list[str] | None:
    if value is None:
        return None
    unknown = sorted(set(value) - SUBSCRIBABLE)
    if unknown:
        raise ValueError(f"unknown event types {unknown}; known: {sorted(SUBSCRIBABLE)}")
    return sorted(set(value))


class WebhookCreate(StrictInput):
    url: WebhookUrl
    event_types: list[str] = Field(
        default_factory=list, max_length=20, description="Types to deliver; empty means all"
    )
    description: Description = ""

    _types = field_validator("event_types")(_known_event_types)


class WebhookUpdate(StrictInput):
    url: WebhookUrl | None = None
    event_types: list[str] | None = Field(default=None, max_length=20)
    description: Description | None = None

    _types = field_validator("event_types")(_known_event_types)


class WebhookOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    url: str
    description: str
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None
    disabled_at: datetime | None
    failing_since: datetime | None
    previous_secret_expires_at: datetime | None
    created_at: datetime
    updated_at: datetime


class WebhookWithSecret(WebhookOut):
    secret: str = Field(description="Verify signatures with it (Standard Webhooks, whsec_…)")


class AttemptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    attempt_number: int
    attempted_at: datetime
    status_code: int | None
    duration_ms: int
    error: str | None
    response_body: str | None
    next_retry_at: datetime | None


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    endpoint_id: int
    event_id: str
    event_type: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    created_at: datetime
    attempt_log: list[AttemptOut]
