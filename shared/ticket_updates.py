"""The one implementation of changing a ticket's fields: status (with the SLA pause and the
resolved/closed times), priority, category, assignee, tags, title, description and custom values.

The API's `PATCH /tickets/{id}` and rules' actions both call `apply_ticket_edit`; permissions
(who may change what) are the caller's, the rules of the data (a usable reference, a required
custom value to resolve) are here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared import ticket_writes
from shared.custom_field_values import ValueChange, ensure_required, input_name, value_changes
from shared.errors import Conflict, InvalidReference
from shared.event_types import EventActor, Routing
from shared.models import LinkKind, TicketLink, User, ticket_number
from shared.reference_cache import ReferenceData, StatusRecord, UserRecord, reference_cache
from shared.ticket_changes import FieldChange, field_change_events, record_ticket_change
from shared.ticket_rows import row_view_for
from shared.ticket_view import TicketRow, TicketView


@dataclass(frozen=True)
class TicketEdit:
    """The fields to change (named as the API's update names them), and their new values;
    fields not in `sent` stay as they are. `custom_fields` is {key: value}, null clears."""

    sent: frozenset[str] = frozenset()
    title: str | None = None
    description: str | None = None
    status_id: int | None = None
    priority_id: int | None = None
    category_id: int | None = None
    assigned_to: int | None = None
    tags: list[str] | None = None
    custom_fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Editor:
    """Who makes the change: `user` decides which custom fields they may set (None: the
    system, which may set them all); the history and the events record the rest."""

    user: User | None
    actor_id: int | None
    event_actor: User | EventActor | None
    trigger_id: int | None = None
    automation_id: int | None = None


@dataclass(frozen=True)
class AppliedEdit:
    row: TicketRow
    view: TicketView  # as staff see it, as events carry it
    changes: list[FieldChange]


def status_of(reference: ReferenceData, status_id: int) -> StatusRecord:
    status = reference.statuses.get(status_id)
    if status is None:
        raise InvalidReference(f"no status with id {status_id}", field="status_id")
    return status


def assignee_record(session: Session, user_id: int) -> UserRecord:
    person = reference_cache.person(session, user_id=user_id)
    if person is None or not person.active or not person.role.is_staff:
        raise InvalidReference(f"no active agent or admin with id {user_id}", field="assigned_to")
    return person


def _named(record: Any) -> dict[str, Any] | None:
    """How a referenced row appears in change records: its id and name."""
    return {"id": record.id, "name": record.name} if record is not None else None


def _with_changes(values: dict[int, Any], changes: list[ValueChange]) -> dict[int, Any]:
    """The ticket's custom values by field id once `changes` are made."""
    changed = dict(values)
    for change in changes:
        if change.new is None:
            changed.pop(change.field.id, None)
        else:
            changed[change.field.id] = change.new
    return changed


def apply_ticket_edit(
    session: Session,
    *,
    row: TicketRow,
    edit: TicketEdit,
    editor: Editor,
    at: datetime,
    routing: Routing | None = None,
) -> AppliedEdit | None:
    """Make the edit with one Core UPDATE guarded by the row's version, then record its
    history rows and events through the one writer; None when nothing differs."""
    reference = reference_cache.reference(session)
    sent = edit.sent
    new_status = status_of(reference, edit.status_id) if edit.status_id is not None else None
    current_status = reference.statuses[row.status_id]
    changes: list[FieldChange] = []
    values: dict[str, Any] = {}
    for name in ("title", "description"):
        value = getattr(edit, name)
        if name in sent and value != getattr(row, name):
            changes.append(FieldChange(name, getattr(row, name), value))
            values[name] = value
    if "category_id" in sent and edit.category_id != row.category_id:
        category = reference.categories.get(edit.category_id)  # type: ignore[arg-type]
        if category is None or not category.active:
            raise InvalidReference(
                f"no active category with id {edit.category_id}", field="category_id"
            )
        old = reference.categories[row.category_id]
        changes.append(FieldChange("category", _named(old), _named(category)))
        values["category_id"] = category.id
    if "priority_id" in sent and edit.priority_id != row.priority_id:
        priority = reference.priorities.get(edit.priority_id)  # type: ignore[arg-type]
        if priority is None:
            raise InvalidReference(f"no priority with id {edit.priority_id}", field="priority_id")
        old_priority = reference.priorities[row.priority_id]
        changes.append(FieldChange("priority", _named(old_priority), _named(priority)))
        values["priority_id"] = priority.id
    category_id = values.get("category_id", row.category_id)
    custom = (
        value_changes(
            reference,
            actor=editor.user,
            category_id=category_id,
            current=row.custom_values,
            sent=edit.custom_fields,
        )
        if edit.custom_fields
        else []
    )
    stored = _with_changes(row.custom_values, custom)
    if new_status is not None and new_status.is_closed and new_status.id != row.status_id:
        ensure_required(
            reference, category_id=category_id, values=stored, to_resolve=True, actor=editor.user
        )
    internal: set[str] = set()
    for value_change in custom:
        name = input_name(value_change.field.key)
        changes.append(FieldChange(name, value_change.old, value_change.new))
        if not value_change.field.customer_visible:
            internal.add(name)
    if custom:
        ticket_writes.write_values(
            session,
            ticket_id=row.id,
            values=[(value_change.field, value_change.new) for value_change in custom],
        )
    tags = row.tags
    if "tags" in sent and sorted(edit.tags or []) != sorted(row.tags):
        tags = sorted(edit.tags or [])
        changes.append(FieldChange("tags", sorted(row.tags), tags))
        ticket_writes.replace_tags(
            session,
            ticket_id=row.id,
            tag_ids=list(ticket_writes.tag_ids(session, tags).values()),
        )
    if "assigned_to" in sent and edit.assigned_to != row.assignee_id:
        assignee = assignee_record(session, edit.assigned_to) if edit.assigned_to else None
        previous = (
            reference_cache.person(session, user_id=row.assignee_id) if row.assignee_id else None
        )
        changes.append(FieldChange("assignee", _named(previous), _named(assignee)))
        values["assignee_id"] = assignee.id if assignee else None

    resolved = False
    if new_status is not None and new_status.id != row.status_id:
        onward = merged_into(session, ticket_id=row.id)
        if onward is not None:
            raise Conflict(
                f"{ticket_number(row.id)} was merged into {ticket_number(onward)} and stays "
                "closed; work on that ticket instead",
                field="status_id",
            )
        move = move_status(
            session,
            ticket_id=row.id,
            current=current_status,
            new=new_status,
            terminal_status_id=reference.terminal_status_id,
            at=at,
        )
        changes.append(move.change)
        values |= move.values
        resolved = move.resolved

    if not changes:
        return None
    values |= {"updated_at": at, "version": row.version + 1}
    ticket_writes.update_ticket_row(session, ticket_id=row.id, version=row.version, values=values)
    row = replace(row, **values, tags=tags, custom_values=stored)
    staff = row_view_for(session, row, staff=True)
    record_ticket_change(
        session,
        ticket_id=row.id,
        actor_id=editor.actor_id,
        actor_trigger_id=editor.trigger_id,
        actor_automation_id=editor.automation_id,
        at=at,
        history=[change.history_entry(internal=change.field in internal) for change in changes],
        events=field_change_events(
            staff, changes, actor=editor.event_actor, resolved=resolved, routing=routing
        ),
    )
    return AppliedEdit(row=row, view=staff, changes=changes)


def merged_into(session: Session, *, ticket_id: int) -> int | None:
    """The ticket this one was merged into, if it was."""
    return session.scalar(
        select(TicketLink.to_ticket_id).where(
            TicketLink.from_ticket_id == ticket_id, TicketLink.kind == LinkKind.MERGED_INTO
        )
    )


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
    The caller writes `values` with the ticket's row (an edit does, the merge does too)."""
    values: dict[str, Any] = {"status_id": new.id, "status_changed_at": at}
    resolved = False
    if new.pauses_sla and not current.pauses_sla:
        ticket_writes.start_sla_pause(session, ticket_id=ticket_id, at=at)
    elif current.pauses_sla and not new.pauses_sla:
        ticket_writes.end_sla_pause(session, ticket_id=ticket_id, at=at)
    if not new.is_closed:
        values["resolved_at"] = values["closed_at"] = None
    else:
        if not current.is_closed:
            values["resolved_at"] = at
            resolved = True
        if new.id == terminal_status_id:
            values["closed_at"] = at
    return StatusMove(FieldChange("status", _named(current), _named(new)), values, resolved)
