"""What a change to a ticket writes besides the row: history rows and outbox events.

Shared by the API (people's changes) and the worker (automatic assignment), so both record a
change the same way."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from shared.events import EventType, record_event
from shared.models import Ticket, TicketHistory, User
from shared.ticket_view import ticket_event_data


@dataclass(frozen=True)
class FieldChange:
    """One changed field: JSON values for events, text for the audit trail."""

    field: str
    old: Any
    new: Any

    @staticmethod
    def as_text(value: Any) -> str | None:
        if value is None:
            return None
        if isinstance(value, dict):
            return str(value.get("name", value.get("id")))
        if isinstance(value, list):
            return ",".join(str(item) for item in value) or None
        return str(value)

    def history_row(self, *, ticket_id: int, actor: User | None, at: datetime) -> TicketHistory:
        return TicketHistory(
            ticket_id=ticket_id,
            actor_id=actor.id if actor else None,
            created_at=at,
            field=self.field,
            old_value=self.as_text(self.old),
            new_value=self.as_text(self.new),
        )


# Which event a changed field belongs to; fields not listed go into ticket.updated.
_EVENT_BY_FIELD = {"status": EventType.TICKET_STATUS_CHANGED, "assignee": EventType.TICKET_ASSIGNED}


def record_changes(
    session: Session,
    ticket: Ticket,
    changes: list[FieldChange],
    *,
    actor: User | None,
    at: datetime,
    resolved: bool,
    **extra: Any,
) -> None:
    """History rows for every change, then its events: updated, status_changed, assigned...

    `actor` None is the system (as for an SLA breach); `extra` goes into every event's data.
    """
    session.add_all(
        change.history_row(ticket_id=ticket.id, actor=actor, at=at) for change in changes
    )
    session.flush()
    grouped: dict[EventType, dict[str, Any]] = {}
    for change in changes:
        event_type = _EVENT_BY_FIELD.get(change.field, EventType.TICKET_UPDATED)
        grouped.setdefault(event_type, {})[change.field] = {"from": change.old, "to": change.new}
    if resolved:
        grouped[EventType.TICKET_RESOLVED] = {}
    for event_type, event_changes in grouped.items():
        data = ticket_event_data(session, ticket, actor=actor, changes=event_changes, **extra)
        record_event(session, event_type, data, ticket_id=ticket.id, occurred_at=at)
