"""Opening a ticket: its rows, its history and its events, one copy for every writer (the
API's REST and MCP creation, mail in). The caller checks who may do what; this writes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from shared.custom_values import shown_values
from shared.event_types import TicketAssigned, TicketCreated, TicketEventData
from shared.models import SlaStatus, Ticket, User
from shared.models.base import table_of
from shared.prepared import Prepared
from shared.reference_cache import (
    CategoryRecord,
    CustomFieldRecord,
    PriorityRecord,
    ReferenceData,
    StatusRecord,
    UserRecord,
)
from shared.ticket_changes import FieldChange, HistoryEntry, record_ticket_change
from shared.ticket_view import TicketView, new_ticket_view, user_ref
from shared.ticket_writes import add_tags, write_values

# Prepared (compiled once, run on the driver's cursor): the statements of every creation.
_TICKET_COLUMNS = (
    "title",
    "description",
    "requester_id",
    "assignee_id",
    "category_id",
    "priority_id",
    "status_id",
    "created_at",
    "updated_at",
    "status_changed_at",
    "sla_status",
    "version",
)
_INSERT_TICKET = Prepared(
    insert(table_of(Ticket)).returning(table_of(Ticket).c.id), columns=_TICKET_COLUMNS
)


def insert_ticket(
    session: Session,
    *,
    title: str,
    description: str,
    requester_id: int,
    assignee_id: int | None,
    category_id: int,
    priority_id: int,
    status_id: int,
    tag_ids: list[int],
    at: datetime,
) -> int:
    """INSERT a new ticket and its tags; returns its id."""
    ((ticket_id,),) = _INSERT_TICKET.run(
        session,
        {
            "title": title,
            "description": description,
            "requester_id": requester_id,
            "assignee_id": assignee_id,
            "category_id": category_id,
            "priority_id": priority_id,
            "status_id": status_id,
            "created_at": at,
            "updated_at": at,
            "status_changed_at": at,
            "sla_status": SlaStatus.PENDING,
            "version": 1,
        },
    )
    add_tags(session, ticket_id=ticket_id, tag_ids=tag_ids)
    return int(ticket_id)


def open_ticket(
    session: Session,
    *,
    actor: User,
    reference: ReferenceData,
    title: str,
    description: str,
    requester: UserRecord,
    assignee: UserRecord | None,
    category: CategoryRecord,
    priority: PriorityRecord,
    status: StatusRecord,
    tag_ids: dict[str, int],
    values: Sequence[tuple[CustomFieldRecord, Any]] = (),
    at: datetime,
) -> TicketView:
    """Insert a ticket with its tags and custom values, its `created` history row and its
    `ticket.created` (and `ticket.assigned`) events; returns it as staff see it."""
    ticket_id = insert_ticket(
        session,
        title=title,
        description=description,
        requester_id=requester.id,
        assignee_id=assignee.id if assignee else None,
        category_id=category.id,
        priority_id=priority.id,
        status_id=status.id,
        tag_ids=list(tag_ids.values()),
        at=at,
    )
    if values:
        write_values(session, ticket_id=ticket_id, values=values)
    stored = {field.id: value for field, value in values}
    view = new_ticket_view(
        ticket_id,
        title=title,
        description=description,
        requester=requester,
        assignee=assignee,
        category=category,
        priority=priority,
        status=status,
        tags=sorted(tag_ids),
        custom_fields=shown_values(stored, reference=reference, staff=True),
        at=at,
    )
    who = user_ref(actor)
    events: list[TicketEventData] = [TicketCreated(ticket=view, actor=who)]
    if assignee is not None:
        assigned = FieldChange("assignee", None, {"id": assignee.id, "name": assignee.name})
        events.append(
            TicketAssigned(ticket=view, actor=who, changes={"assignee": assigned.change()})
        )
    record_ticket_change(
        session,
        ticket_id=ticket_id,
        actor_id=actor.id,
        at=at,
        history=[HistoryEntry("created", None, view.number)],
        events=events,
    )
    return view
