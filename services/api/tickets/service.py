"""The rules for creating, reading and changing tickets."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from services.api.tickets import access, repository
from services.api.tickets.schemas import HistoryOut, TicketCreate, TicketFilters, TicketUpdate
from shared.clock import utcnow
from shared.errors import InvalidReference, NotFound, StaleVersion
from shared.event_types import TicketAssigned, TicketCreated, TicketEventData
from shared.models import Category, PriorityLevel, Status, Ticket, User, parse_ticket_ref
from shared.reference_cache import UserRecord, reference_cache
from shared.ticket_changes import (
    FieldChange,
    HistoryEntry,
    record_field_changes,
    record_ticket_change,
)
from shared.ticket_view import (
    TicketView,
    comment_counts,
    new_ticket_view,
    row_view,
    ticket_view,
    user_ref,
)


def _category(session: Session, category_id: int) -> Category:
    category = session.get(Category, category_id)
    if category is None or not category.active:
        raise InvalidReference(f"no active category with id {category_id}", field="category_id")
    return category


def _priority(session: Session, priority_id: int) -> PriorityLevel:
    priority = session.get(PriorityLevel, priority_id)
    if priority is None:
        raise InvalidReference(f"no priority with id {priority_id}", field="priority_id")
    return priority


def _status(session: Session, status_id: int) -> Status:
    status = session.get(Status, status_id)
    if status is None:
        raise InvalidReference(f"no status with id {status_id}", field="status_id")
    return status


def _assignee(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None or not user.active or not user.role.is_staff:
        raise InvalidReference(f"no active agent or admin with id {user_id}", field="assigned_to")
    return user


def _ref(value: Any) -> dict[str, Any] | None:
    """How a referenced row appears in change records: its id and name."""
    return {"id": value.id, "name": value.name} if value is not None else None


def render(
    session: Session, ticket: Ticket, *, viewer: User, comment_count: int | None = None
) -> TicketView:
    """The ticket as `viewer` sees it; `comment_count` saves the query when it is known."""
    if comment_count is None:
        counts = comment_counts(
            session, ticket_ids=[ticket.id], include_internal=viewer.role.is_staff
        )
        comment_count = counts.get(ticket.id, 0)
    return ticket_view(ticket, comment_count=comment_count)


def _requester_record(session: Session, user_id: int) -> UserRecord:
    person = reference_cache.person(session, user_id=user_id)
    if person is None or not person.active:
        raise InvalidReference(f"no active user with id {user_id}", field="user_id")
    return person


def _assignee_record(session: Session, user_id: int) -> UserRecord:
    person = reference_cache.person(session, user_id=user_id)
    if person is None or not person.active or not person.role.is_staff:
        raise InvalidReference(f"no active agent or admin with id {user_id}", field="assigned_to")
    return person


def create_ticket(session: Session, *, actor: User, request: TicketCreate) -> TicketView:
    """Create a ticket: a handful of Core INSERTs, the references from memory; returns the new
    ticket as staff see it (it has no comments yet, so every viewer sees the same)."""
    requester_id = request.user_id if request.user_id is not None else actor.id
    access.ensure_may_create(actor, requester_id=requester_id, assignee_id=request.assigned_to)
    reference = reference_cache.reference(session)
    requester = _requester_record(session, requester_id)
    category = reference.categories.get(request.category_id)
    if category is None or not category.active:
        raise InvalidReference(
            f"no active category with id {request.category_id}", field="category_id"
        )
    if request.priority_id is not None:
        priority = reference.priorities.get(request.priority_id)
        if priority is None:
            raise InvalidReference(
                f"no priority with id {request.priority_id}", field="priority_id"
            )
    else:
        priority = reference.default_priority
        if priority is None:
            raise InvalidReference("no priority levels are configured", field="priority_id")
    status = reference.open_status
    if status is None:
        raise LookupError("no open status is configured")
    assignee = _assignee_record(session, request.assigned_to) if request.assigned_to else None
    tag_ids = repository.tag_ids(session, request.tag_names())
    now = utcnow()
    ticket_id = repository.insert_ticket(
        session,
        title=request.title,
        description=request.description,
        requester_id=requester.id,
        assignee_id=assignee.id if assignee else None,
        category_id=category.id,
        priority_id=priority.id,
        status_id=status.id,
        tag_ids=list(tag_ids.values()),
        at=now,
    )
    view = new_ticket_view(
        ticket_id,
        title=request.title,
        description=request.description,
        requester=requester,
        assignee=assignee,
        category=category,
        priority=priority,
        status=status,
        tags=sorted(tag_ids),
        at=now,
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
        at=now,
        history=[HistoryEntry("created", None, view.number)],
        events=events,
    )
    return view


def get_visible_ticket(session: Session, *, viewer: User, ref: str) -> Ticket:
    """A ticket by id or TKT- number; one the viewer may not see is as absent as a missing one."""
    ticket_id = parse_ticket_ref(ref)
    ticket = repository.get_ticket(session, ticket_id=ticket_id) if ticket_id else None
    if ticket is None or not access.can_see(viewer, ticket):
        raise NotFound(f"no ticket {ref}")
    return ticket


def read_ticket(session: Session, *, viewer: User, ref: str) -> TicketView:
    """A ticket by id or TKT- number as `viewer` sees it, from plain rows and the reference
    cache; one the viewer may not see is as absent as a missing one."""
    ticket_id = parse_ticket_ref(ref)
    row = repository.ticket_row(session, ticket_id=ticket_id) if ticket_id else None
    if row is None or not access.may_see_requester(viewer, row.requester_id):
        raise NotFound(f"no ticket {ref}")
    counts = comment_counts(session, ticket_ids=[row.id], include_internal=viewer.role.is_staff)
    requester = reference_cache.person(session, user_id=row.requester_id)
    assignee = reference_cache.person(session, user_id=row.assignee_id) if row.assignee_id else None
    assert requester is not None  # a foreign key
    return row_view(
        row,
        reference=reference_cache.reference(session),
        requester=requester,
        assignee=assignee,
        comment_count=counts.get(row.id, 0),
    )


def list_tickets(
    session: Session, *, viewer: User, filters: TicketFilters
) -> tuple[list[TicketView], int]:
    tickets, total = repository.find_tickets(
        session, visible=access.visible_to(viewer), filters=filters
    )
    counts = comment_counts(
        session, ticket_ids=[t.id for t in tickets], include_internal=viewer.role.is_staff
    )
    return [ticket_view(t, comment_count=counts.get(t.id, 0)) for t in tickets], total


def _check_version(ticket: Ticket, if_match: str | None) -> None:
    """If-Match carries the ETag the client last saw; anything else means someone wrote since."""
    if if_match is None:
        return
    tags = [tag.strip().removeprefix("W/").strip('"') for tag in if_match.split(",")]
    if "*" not in tags and str(ticket.version) not in tags:
        raise StaleVersion(
            f"the ticket is at version {ticket.version}, not {if_match}; fetch it and retry",
            field="If-Match",
        )


def _fields_that_differ(ticket: Ticket, request: TicketUpdate) -> set[str]:
    """The sent fields whose value is not the ticket's already (a no-op needs no permission)."""
    current: dict[str, Any] = {
        "title": ticket.title,
        "description": ticket.description,
        "status_id": ticket.status_id,
        "priority_id": ticket.priority_id,
        "category_id": ticket.category_id,
        "assigned_to": ticket.assignee_id,
        "tags": sorted(tag.name for tag in ticket.tags),
    }
    sent = request.sent_fields()
    wanted = {name: getattr(request, name) for name in sent}
    if "tags" in wanted:
        wanted["tags"] = sorted(wanted["tags"] or [])
    return {name for name in sent if wanted[name] != current[name]}


def update_ticket(
    session: Session, *, actor: User, ref: str, request: TicketUpdate, if_match: str | None
) -> Ticket:
    ticket = get_visible_ticket(session, viewer=actor, ref=ref)
    _check_version(ticket, if_match)
    sent = _fields_that_differ(ticket, request)
    new_status = _status(session, request.status_id) if request.status_id is not None else None
    reopen_status = repository.default_open_status(session)
    access.ensure_may_update(
        actor, ticket, fields=sent, new_status=new_status, reopen_status_id=reopen_status.id
    )

    changes: list[FieldChange] = []
    for name in ("title", "description"):
        value = getattr(request, name)
        if name in sent and value != getattr(ticket, name):
            changes.append(FieldChange(name, getattr(ticket, name), value))
            setattr(ticket, name, value)
    if "category_id" in sent and request.category_id != ticket.category_id:
        category = _category(session, request.category_id)  # type: ignore[arg-type]
        changes.append(FieldChange("category", _ref(ticket.category), _ref(category)))
        ticket.category = category
    if "priority_id" in sent and request.priority_id != ticket.priority_id:
        priority = _priority(session, request.priority_id)  # type: ignore[arg-type]
        changes.append(FieldChange("priority", _ref(ticket.priority), _ref(priority)))
        ticket.priority = priority
    if "tags" in sent:
        names = list(request.tags or [])
        old_names = [tag.name for tag in ticket.tags]
        if sorted(names) != sorted(old_names):
            changes.append(FieldChange("tags", sorted(old_names), sorted(names)))
            ticket.tags = repository.tags_named(session, names)
    if "assigned_to" in sent and request.assigned_to != ticket.assignee_id:
        assignee = _assignee(session, request.assigned_to) if request.assigned_to else None
        changes.append(FieldChange("assignee", _ref(ticket.assignee), _ref(assignee)))
        ticket.assignee = assignee

    now = utcnow()
    resolved = False
    if new_status is not None and new_status.id != ticket.status_id:
        was_closed = ticket.status.is_closed
        was_paused = ticket.status.pauses_sla
        changes.append(FieldChange("status", _ref(ticket.status), _ref(new_status)))
        ticket.status = new_status
        if new_status.pauses_sla and not was_paused:
            repository.start_sla_pause(session, ticket_id=ticket.id, at=now)
        elif was_paused and not new_status.pauses_sla:
            repository.end_sla_pause(session, ticket_id=ticket.id, at=now)
        if not new_status.is_closed:
            ticket.resolved_at = ticket.closed_at = None
        else:
            if not was_closed:
                ticket.resolved_at = now
                resolved = True
            if new_status.id == repository.terminal_status_id(session):
                ticket.closed_at = now

    if changes:
        ticket.updated_at = now
        record_field_changes(session, ticket, changes, actor=actor, at=now, resolved=resolved)
    return ticket


def ticket_history(session: Session, *, viewer: User, ref: str) -> list[HistoryOut]:
    ticket = get_visible_ticket(session, viewer=viewer, ref=ref)
    rows = repository.history_rows(
        session, ticket_id=ticket.id, include_internal=viewer.role.is_staff
    )
    return [
        HistoryOut(
            id=row.id,
            ticket_id=row.ticket_id,
            actor_id=row.actor_id,
            actor_name=row.actor.name if row.actor else None,
            field=row.field,
            old_value=row.old_value,
            new_value=row.new_value,
            created_at=row.created_at,
        )
        for row in rows
    ]
