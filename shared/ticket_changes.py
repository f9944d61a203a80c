"""The one writer of a ticket's changes: its history rows and its events, together.

Every change to a ticket (people's, the worker's, the breach scan's) is recorded by
`record_ticket_change`, in the transaction that makes the change. `record_field_changes` builds
the history rows and the typed events of changed fields (updated, status_changed, assigned,
resolved) and hands them to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from shared.event_types import (
    ArticleSummary,
    Change,
    EventActor,
    EventType,
    Routing,
    TicketAssigned,
    TicketEventData,
    TicketResolved,
    TicketStatusChanged,
    TicketUpdated,
)
from shared.events import record_event
from shared.models import Ticket, TicketHistory, User
from shared.models.base import table_of
from shared.prepared import Prepared
from shared.ticket_view import TicketView, staff_view, user_ref

_INSERT_HISTORY = Prepared(
    insert(table_of(TicketHistory)),
    columns=(
        "ticket_id",
        "actor_id",
        "actor_trigger_id",
        "actor_automation_id",
        "created_at",
        "field",
        "old_value",
        "new_value",
        "is_internal",
    ),
)


@dataclass(frozen=True)
class HistoryEntry:
    """One row of the audit trail; `internal` rows are hidden from customers."""

    field: str
    old: str | None
    new: str | None
    internal: bool = False


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

    def history_entry(self, *, internal: bool = False) -> HistoryEntry:
        return HistoryEntry(self.field, self.as_text(self.old), self.as_text(self.new), internal)

    def change(self) -> Change:
        return Change(from_=self.old, to=self.new)


def record_ticket_change(
    session: Session,
    *,
    ticket_id: int,
    actor_id: int | None,
    at: datetime,
    history: Sequence[HistoryEntry],
    events: Sequence[TicketEventData],
    actor_trigger_id: int | None = None,
    actor_automation_id: int | None = None,
) -> list[str]:
    """Write the history rows and the events of one change to a ticket (actor None: the
    system; `actor_trigger_id` / `actor_automation_id`: a rule made it), as Core statements
    in the caller's transaction; returns the events' ids."""
    if session.new or session.dirty or session.deleted:
        session.flush()  # rows the caller added through the ORM go first
    if history:
        _INSERT_HISTORY.run_many(
            session,
            [
                {
                    "ticket_id": ticket_id,
                    "actor_id": actor_id,
                    "actor_trigger_id": actor_trigger_id,
                    "actor_automation_id": actor_automation_id,
                    "created_at": at,
                    "field": entry.field,
                    "old_value": entry.old,
                    "new_value": entry.new,
                    "is_internal": entry.internal,
                }
                for entry in history
            ],
        )
    return [record_event(session, data, ticket_id=ticket_id, occurred_at=at) for data in events]


def field_change_events(
    view: TicketView,
    changes: Sequence[FieldChange],
    *,
    actor: User | EventActor | None,
    resolved: bool,
    routing: Routing | None = None,
    article: ArticleSummary | None = None,
) -> list[TicketEventData]:
    """The events of changed fields: status → status_changed, assignee → assigned, the rest
    → updated; entering a closed status also → resolved."""
    by_type: dict[EventType, dict[str, Change]] = {}
    for change in changes:
        event_type = {
            "status": EventType.TICKET_STATUS_CHANGED,
            "assignee": EventType.TICKET_ASSIGNED,
        }.get(change.field, EventType.TICKET_UPDATED)
        by_type.setdefault(event_type, {})[change.field] = change.change()
    who = user_ref(actor) if isinstance(actor, User) else actor
    events: list[TicketEventData] = []
    for event_type, fields in by_type.items():
        if event_type is EventType.TICKET_STATUS_CHANGED:
            events.append(TicketStatusChanged(ticket=view, actor=who, changes=fields))
        elif event_type is EventType.TICKET_ASSIGNED:
            events.append(TicketAssigned(ticket=view, actor=who, changes=fields, routing=routing))
        else:
            events.append(TicketUpdated(ticket=view, actor=who, changes=fields, article=article))
    if resolved:
        events.append(TicketResolved(ticket=view, actor=who, changes={}))
    return events


def record_field_changes(
    session: Session,
    ticket: Ticket,
    changes: Sequence[FieldChange],
    *,
    actor: User | None,
    at: datetime,
    resolved: bool,
    routing: Routing | None = None,
) -> None:
    """History rows for every changed field of an ORM-loaded ticket, then its events."""
    session.flush()
    view = staff_view(session, ticket)
    record_ticket_change(
        session,
        ticket_id=ticket.id,
        actor_id=actor.id if actor else None,
        at=at,
        history=[change.history_entry() for change in changes],
        events=field_change_events(view, changes, actor=actor, resolved=resolved, routing=routing),
    )
