"""The event envelope and the outbox writer.

Every change writes its events here, in the transaction that makes the change; publishing them
to Redis happens after the commit (and again from the relay if that fails).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

import orjson
from sqlalchemy.orm import Session

from shared.clock import utcnow
from shared.models import OutboxEvent

OUTBOX_WRITTEN = "outbox_written"


class EventType(StrEnum):
    TICKET_CREATED = "ticket.created"
    TICKET_UPDATED = "ticket.updated"
    TICKET_STATUS_CHANGED = "ticket.status_changed"
    TICKET_ASSIGNED = "ticket.assigned"
    TICKET_RESOLVED = "ticket.resolved"
    TICKET_COMMENTED = "ticket.commented"
    TICKET_SLA_BREACHED = "ticket.sla_breached"
    ARTICLE_CREATED = "article.created"
    ARTICLE_UPDATED = "article.updated"
    ARTICLE_DELETED = "article.deleted"
    TICKET_ESCALATED = "ticket.escalated"


def new_event_id() -> str:
    return f"evt_{uuid.uuid4().hex}"


def rfc3339(moment: datetime) -> str:
    """UTC with a Z suffix and microseconds: sorts as text and parses everywhere."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def build_envelope(
    event_type: str, data: dict[str, Any], *, event_id: str, occurred_at: datetime
) -> dict[str, Any]:
    """The Standard Webhooks payload shape: id, type, timestamp, data."""
    return {
        "id": event_id,
        "type": str(event_type),
        "timestamp": rfc3339(occurred_at),
        "data": data,
    }


def record_event(
    session: Session,
    event_type: EventType,
    data: dict[str, Any],
    *,
    ticket_id: int | None,
    occurred_at: datetime | None = None,
) -> OutboxEvent:
    """Add the event to the outbox of the session's open transaction."""
    occurred_at = occurred_at or utcnow()
    event_id = new_event_id()
    envelope = build_envelope(event_type, data, event_id=event_id, occurred_at=occurred_at)
    row = OutboxEvent(
        event_id=event_id,
        event_type=str(event_type),
        ticket_id=ticket_id,
        payload=orjson.dumps(envelope).decode(),
        created_at=occurred_at,
    )
    session.add(row)
    session.info[OUTBOX_WRITTEN] = True
    return row


def wrote_events(session: Session) -> bool:
    """Whether the session's transaction added outbox rows (to publish after its commit)."""
    return bool(session.info.get(OUTBOX_WRITTEN))
