"""The rules for creating, reading and changing tickets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from services.api.custom_fields import repository as custom_values
from services.api.custom_fields.values import (
    ValueChange,
    ensure_required,
    input_name,
    value_changes,
    value_filters,
)
from services.api.ticket_links import repository as ticket_links
from services.api.tickets import access, repository
from services.api.tickets.schemas import HistoryOut, TicketCreate, TicketFilters, TicketUpdate
from shared import ticket_rows
from shared.clock import utcnow
from shared.custom_values import shown_values
from shared.errors import Conflict, InvalidReference, NotFound, StaleVersion
from shared.event_types import TicketAssigned, TicketCreated, TicketEventData
from shared.models import Ticket, TicketHistory, User, parse_ticket_ref, ticket_number
from shared.reference_cache import StatusRecord, UserRecord, reference_cache
from shared.ticket_changes import (
    FieldChange,
    HistoryEntry,
    field_change_events,
    record_ticket_change,
)
from shared.ticket_rows import row_view_for, row_views
from shared.ticket_view import (
    TicketRow,
    TicketView,
    comment_counts,
    new_ticket_view,
    orm_custom_fields,
    orm_people,
    ticket_view,
    user_ref,
)


def render(
    session: Session, ticket: Ticket, *, viewer: User, comment_count: int | None = None
) -> TicketView:
    """The ticket as `viewer` sees it; `comment_count` saves the query when it is known."""
    if comment_count is None:
        counts = comment_counts(
            session, ticket_ids=[ticket.id], include_internal=viewer.role.is_staff
        )
        comment_count = counts.get(ticket.id, 0)
    staff = viewer.role.is_staff
    custom_fields = orm_custom_fields(session, ticket, staff=staff)
    people = orm_people(session, ticket, staff=staff)
    return ticket_view(
        ticket, comment_count=comment_count, custom_fields=custom_fields, people=people
    )


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
        if not actor.role.is_staff:
            default = reference.default_priority
            access.ensure_may_choose_priority(
                actor,
                priority_rank=priority.rank,
                most_urgent_rank=min(p.rank for p in reference.priorities.values()),
                is_default=default is not None and priority.id == default.id,
            )
    else:
        priority = reference.default_priority
        if priority is None:
            raise InvalidReference("no priority levels are configured", field="priority_id")
    status = reference.open_status
    if status is None:
        raise LookupError("no open status is configured")
    assignee = _assignee_record(session, request.assigned_to) if request.assigned_to else None
    custom = (
        value_changes(
            reference, actor=actor, category_id=category.id, current={}, sent=request.custom_fields
        )
        if request.custom_fields
        else []
    )
    values = {change.field.id: change.new for change in custom if change.new is not None}
    ensure_required(
        reference, category_id=category.id, values=values, to_resolve=False, actor=actor
    )
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
    if values:
        custom_values.write_values(
            session,
            ticket_id=ticket_id,
            values=[(change.field, change.new) for change in custom if change.new is not None],
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
        custom_fields=shown_values(values, reference=reference, staff=True),
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
    if actor.role.is_staff:
        return view
    # Customers see neither followers nor staff-only values.
    shown = shown_values(values, reference=reference, staff=False) if values else {}
    return view.model_copy(update={"custom_fields": shown, "followers": None})


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
    found = (
        ticket_rows.ticket_row_with_comment_count(
            session, ticket_id=ticket_id, include_internal=viewer.role.is_staff
        )
        if ticket_id
        else None
    )
    if found is None or not access.may_see(
        viewer, requester_id=found[0].requester_id, cc_ids=found[0].cc_ids
    ):
        raise NotFound(f"no ticket {ref}")
    row, comment_count = found
    return _view_for(session, row, viewer=viewer, comment_count=comment_count)


def list_tickets(
    session: Session,
    *,
    viewer: User,
    filters: TicketFilters,
    custom_filters: Mapping[str, str] | None = None,
) -> tuple[list[TicketView], int]:
    """A page of the tickets `viewer` may see; `custom_filters` are the `cf_<key>` query
    parameters (customers filter on customer-visible fields only)."""
    custom = (
        value_filters(reference_cache.reference(session), viewer=viewer, params=custom_filters)
        if custom_filters
        else []
    )
    ids, total = repository.find_tickets(
        session, requester_id=access.own_tickets_only(viewer), filters=filters, custom=custom
    )
    views = ticket_views(session, ticket_ids=ids, viewer=viewer)
    return [views[ticket_id] for ticket_id in ids if ticket_id in views], total


def ticket_views(session: Session, *, ticket_ids: list[int], viewer: User) -> dict[int, TicketView]:
    """Tickets by id as `viewer` sees them (no access check: the ids come from a query that
    applied it), from plain rows and the reference cache."""
    rows = ticket_rows.ticket_rows(
        session, ticket_ids=ticket_ids, include_internal=viewer.role.is_staff
    )
    return row_views(session, rows, staff=viewer.role.is_staff)


def check_version(version: int, if_match: str | None) -> None:
    """If-Match carries the ETag the client last saw; anything else means someone wrote since."""
    if if_match is None:
        return
    tags = [tag.strip().removeprefix("W/").strip('"') for tag in if_match.split(",")]
    if "*" not in tags and str(version) not in tags:
        raise StaleVersion(
            f"the ticket is at version {version}, not {if_match}; fetch it and retry",
            field="If-Match",
        )


def _fields_that_differ(row: TicketRow, request: TicketUpdate) -> set[str]:
    """The sent fields whose value is not the ticket's already (a no-op needs no permission)."""
    current: dict[str, Any] = {
        "title": row.title,
        "description": row.description,
        "status_id": row.status_id,
        "priority_id": row.priority_id,
        "category_id": row.category_id,
        "assigned_to": row.assignee_id,
        "tags": sorted(row.tags),
    }
    sent = request.sent_fields()
    wanted = {name: getattr(request, name) for name in sent}
    if "tags" in wanted:
        wanted["tags"] = sorted(wanted["tags"] or [])
    return {name for name in sent if wanted[name] != current[name]}


def _named(record: Any) -> dict[str, Any] | None:
    """How a referenced row appears in change records: its id and name."""
    return {"id": record.id, "name": record.name} if record is not None else None


def update_ticket(
    session: Session, *, actor: User, ref: str, request: TicketUpdate, if_match: str | None
) -> TicketView:
    """Change a ticket with one Core UPDATE guarded by its version; returns it as `actor` sees
    it. References come from the reference cache, the history and events from the one writer."""
    ticket_id = parse_ticket_ref(ref)
    row = ticket_rows.ticket_row(session, ticket_id=ticket_id, lock=True) if ticket_id else None
    if row is None or not access.may_see(actor, requester_id=row.requester_id, cc_ids=row.cc_ids):
        raise NotFound(f"no ticket {ref}")
    check_version(row.version, if_match)
    reference = reference_cache.reference(session)
    sent = _fields_that_differ(row, request)
    custom_sent = {input_name(key) for key in request.custom_fields or {}}
    access.ensure_may_edit(actor, requester_id=row.requester_id, fields=sent | custom_sent)
    new_status = None
    if request.status_id is not None:
        new_status = reference.statuses.get(request.status_id)
        if new_status is None:
            raise InvalidReference(f"no status with id {request.status_id}", field="status_id")
    current_status = reference.statuses[row.status_id]
    reopen_status = reference.open_status
    assert reopen_status is not None  # closing the last open status is refused
    access.ensure_may_update(
        actor,
        current_status=current_status,
        fields=sent,
        new_status=new_status,
        reopen_status_id=reopen_status.id,
    )

    changes: list[FieldChange] = []
    values: dict[str, Any] = {}
    for name in ("title", "description"):
        value = getattr(request, name)
        if name in sent and value != getattr(row, name):
            changes.append(FieldChange(name, getattr(row, name), value))
            values[name] = value
    if "category_id" in sent and request.category_id != row.category_id:
        category = reference.categories.get(request.category_id)  # type: ignore[arg-type]
        if category is None or not category.active:
            raise InvalidReference(
                f"no active category with id {request.category_id}", field="category_id"
            )
        old = reference.categories[row.category_id]
        changes.append(FieldChange("category", _named(old), _named(category)))
        values["category_id"] = category.id
    if "priority_id" in sent and request.priority_id != row.priority_id:
        priority = reference.priorities.get(request.priority_id)  # type: ignore[arg-type]
        if priority is None:
            raise InvalidReference(
                f"no priority with id {request.priority_id}", field="priority_id"
            )
        old_priority = reference.priorities[row.priority_id]
        changes.append(FieldChange("priority", _named(old_priority), _named(priority)))
        values["priority_id"] = priority.id
    category_id = values.get("category_id", row.category_id)
    custom = (
        value_changes(
            reference,
            actor=actor,
            category_id=category_id,
            current=row.custom_values,
            sent=request.custom_fields,
        )
        if request.custom_fields
        else []
    )
    stored = _with_changes(row.custom_values, custom)
    if new_status is not None and new_status.is_closed and new_status.id != row.status_id:
        ensure_required(
            reference, category_id=category_id, values=stored, to_resolve=True, actor=actor
        )
    internal: set[str] = set()
    for value_change in custom:
        name = input_name(value_change.field.key)
        changes.append(FieldChange(name, value_change.old, value_change.new))
        if not value_change.field.customer_visible:
            internal.add(name)
    if custom:
        custom_values.write_values(
            session,
            ticket_id=row.id,
            values=[(value_change.field, value_change.new) for value_change in custom],
        )
    tags = row.tags
    if "tags" in sent and sorted(request.tags or []) != sorted(row.tags):
        tags = sorted(request.tags or [])
        changes.append(FieldChange("tags", sorted(row.tags), tags))
        repository.replace_tags(
            session, ticket_id=row.id, tag_ids=list(repository.tag_ids(session, tags).values())
        )
    if "assigned_to" in sent and request.assigned_to != row.assignee_id:
        assignee = _assignee_record(session, request.assigned_to) if request.assigned_to else None
        previous = (
            reference_cache.person(session, user_id=row.assignee_id) if row.assignee_id else None
        )
        changes.append(FieldChange("assignee", _named(previous), _named(assignee)))
        values["assignee_id"] = assignee.id if assignee else None

    now = utcnow()
    resolved = False
    if new_status is not None and new_status.id != row.status_id:
        merged_into = ticket_links.merged_into(session, ticket_id=row.id)
        if merged_into is not None:
            raise Conflict(
                f"{ticket_number(row.id)} was merged into {ticket_number(merged_into)} and "
                "stays closed; work on that ticket instead",
                field="status_id",
            )
        move = move_status(
            session,
            ticket_id=row.id,
            current=current_status,
            new=new_status,
            terminal_status_id=reference.terminal_status_id,
            at=now,
        )
        changes.append(move.change)
        values |= move.values
        resolved = move.resolved

    if not changes:
        return _view_for(session, row, viewer=actor)
    values |= {"updated_at": now, "version": row.version + 1}
    repository.update_ticket_row(session, ticket_id=row.id, version=row.version, values=values)
    row = replace(row, **values, tags=tags, custom_values=stored)
    staff = _view_for(session, row, viewer=None)
    record_ticket_change(
        session,
        ticket_id=row.id,
        actor_id=actor.id,
        at=now,
        history=[change.history_entry(internal=change.field in internal) for change in changes],
        events=field_change_events(staff, changes, actor=actor, resolved=resolved),
    )
    return staff if actor.role.is_staff else _view_for(session, row, viewer=actor)


@dataclass(frozen=True)
class StatusMove:
    """A ticket entering another status: its change record, the columns to write and whether
    it is resolved by it (entering a closed status from an open one)."""

    change: FieldChange
    values: dict[str, Any]
    resolved: bool


def move_status(
    session: Session,
    *,
    ticket_id: int,
    current: StatusRecord,
    new: StatusRecord,
    terminal_status_id: int | None,
    at: datetime,
) -> StatusMove:
    """Move a ticket to another status: the SLA pause starts or ends with it, resolved_at and
    closed_at are set on closing (closed_at in the terminal status) and cleared on re-opening.
    The caller writes `values` with the ticket's row (the merge does too)."""
    values: dict[str, Any] = {"status_id": new.id}
    resolved = False
    if new.pauses_sla and not current.pauses_sla:
        repository.start_sla_pause(session, ticket_id=ticket_id, at=at)
    elif current.pauses_sla and not new.pauses_sla:
        repository.end_sla_pause(session, ticket_id=ticket_id, at=at)
    if not new.is_closed:
        values["resolved_at"] = values["closed_at"] = None
    else:
        if not current.is_closed:
            values["resolved_at"] = at
            resolved = True
        if new.id == terminal_status_id:
            values["closed_at"] = at
    return StatusMove(FieldChange("status", _named(current), _named(new)), values, resolved)


def _with_changes(values: dict[int, Any], changes: list[ValueChange]) -> dict[int, Any]:
    """The ticket's custom values by field id once `changes` are made."""
    changed = dict(values)
    for change in changes:
        if change.new is None:
            changed.pop(change.field.id, None)
        else:
            changed[change.field.id] = change.new
    return changed


def _view_for(
    session: Session, row: TicketRow, *, viewer: User | None, comment_count: int | None = None
) -> TicketView:
    """The ticket as `viewer` sees it (None: as staff see it, as events carry it)."""
    staff = viewer is None or viewer.role.is_staff
    return row_view_for(session, row, staff=staff, comment_count=comment_count)


# The field of the rows that record an article linked or unlinked (services/api/articles/links.py).
ARTICLE_FIELD = "article"


def _article_of(row: TicketHistory) -> int | None:
    value = row.new_value or row.old_value
    return int(value) if value and value.isdigit() else None


def _visible_history(session: Session, rows: list[TicketHistory]) -> list[TicketHistory]:
    """A customer's history: rows about articles follow the article's visibility now, not when
    the link was made (unpublished: gone, published again: back; deleted: gone)."""
    linked = {
        article
        for row in rows
        if row.field == ARTICLE_FIELD and (article := _article_of(row)) is not None
    }
    published = repository.published_article_ids(session, article_ids=linked) if linked else set()
    return [row for row in rows if row.field != ARTICLE_FIELD or _article_of(row) in published]


def ticket_history(session: Session, *, viewer: User, ref: str) -> list[HistoryOut]:
    ticket = get_visible_ticket(session, viewer=viewer, ref=ref)
    staff = viewer.role.is_staff
    custom = reference_cache.reference(session).custom_fields.values()
    # Rows of custom fields follow the field's visibility now, not when the value was set.
    visible = {input_name(f.key) for f in custom if f.active and f.customer_visible}
    hidden = {input_name(f.key) for f in custom} - visible
    rows = repository.history_rows(
        session,
        ticket_id=ticket.id,
        include_internal=staff,
        with_fields=[ARTICLE_FIELD, *sorted(visible)],
    )
    if not staff:
        rows = [row for row in _visible_history(session, rows) if row.field not in hidden]
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
