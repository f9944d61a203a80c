"""The event envelope and the outbox writer.

Every change writes its events here, in the transaction that makes the change; publishing them
to Redis happens after the commit (and again from the relay if that fails). The event types and
their `data` models are the webhook contract, in `shared.event_types`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import insert
from sqlalchemy.orm import Session

from shared.event_types import EventData, EventType
from shared.models import OutboxEvent
from shared.models.base import table_of
from shared.prepared import Prepared

__all__ = [
    "EventType",
    "build_envelope",
    "new_event_id",
    "record_event",
    "rfc3339",
    "wrote_events",
]

OUTBOX_WRITTEN = "outbox_written"
# Prepared: compiled once, run on the driver's cursor.
_INSERT_OUTBOX = Prepared(
    insert(table_of(OutboxEvent)),
    columns=("event_id", "event_type", "ticket_id", "payload", "created_at"),
)


def new_event_id() -> str:
    return f"evt_{uuid.uuid4().hex}"


def rfc3339(moment: datetime) -> str:
    """UTC with a Z suffix and microseconds: sorts as text and parses everywhere."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def build_envelope(
    event_type: str, data: dict[str, Any], *, event_id: str, occurred_at: datetime
) -> dict[str, Any]:
    """The Standard Webhooks payload shape: id, type, timestamp, data."""
    return {"id": event_id, "type": event_type, "timestamp": rfc3339(occurred_at), "data": data}


def record_event(
    session: Session, data: EventData, *, ticket_id: int | None, occurred_at: datetime
) -> str:
    """Add the event to the outbox of the session's open transaction; returns its id."""
    event_id = new_event_id()
    envelope = build_envelope(
        str(data.event_type),
        # Optional parts (the article of a link change, the pool of an automatic assignment)
        # are left out rather than sent as null.
        data.model_dump(mode="json", by_alias=True, exclude_defaults=True),
        event_id=event_id,
        occurred_at=occurred_at,
    )
    _INSERT_OUTBOX.run(
        session,
        {
            "event_id": event_id,
            "event_type": str(data.event_type),
            "ticket_id": ticket_id,
            "payload": orjson.dumps(envelope).decode(),
            "created_at": occurred_at,
        },
    )
    session.info[OUTBOX_WRITTEN] = True
    return event_id


def wrote_events(session: Session) -> bool:
    """Whether the session's transaction added outbox rows (to publish after its commit)."""
    return bool(session.info.get(OUTBOX_WRITTEN))
