"""Triggers: admins write them, staff read and test them, customers never see them."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from services.api.triggers import repository
from services.api.triggers.schemas import TriggerCreate, TriggerTest, TriggerUpdate
from shared import ticket_rows
from shared.clock import utcnow
from shared.errors import Conflict, Forbidden, InvalidInput, InvalidReference, NotFound
from shared.event_types import WORKER_ANNOUNCEMENTS, EventType
from shared.models import Role, Trigger, TriggerFailure, User, parse_ticket_ref
from shared.rules.actions import Action, check_actions
from shared.rules.conditions import Conditions, check_conditions
from shared.triggers import dry_run, trigger_record


def _require_staff(viewer: User) -> None:
    if not viewer.role.is_staff:
        raise Forbidden("triggers are for staff")


def _require_admin(actor: User) -> None:
    if actor.role is not Role.ADMIN:
        raise Forbidden("only admins change triggers")


def list_triggers(session: Session, *, viewer: User) -> list[Trigger]:
    _require_staff(viewer)
    return repository.list_triggers(session)


def get_trigger(session: Session, *, viewer: User, trigger_id: int) -> Trigger:
    _require_staff(viewer)
    trigger = session.get(Trigger, trigger_id)
    if trigger is None:
        raise NotFound(f"no trigger with id {trigger_id}")
    return trigger


def _event_types(event_types: list[EventType]) -> list[str]:
    for index, event_type in enumerate(event_types):
        # The worker's own announcements (sla_updated, forwarded) never reach its triggers.
        if not event_type.startswith("ticket.") or event_type in WORKER_ANNOUNCEMENTS:
            raise InvalidInput(
                f"triggers run on ticket events, not {event_type}", field=f"event_types.{index}"
            )
    return sorted(set(event_types))


def _conditions(session: Session, conditions: Conditions) -> dict[str, Any]:
    check_conditions(session, conditions)
    return conditions.model_dump(mode="json", by_alias=True, exclude_unset=True)


def _actions(session: Session, actions: list[Action]) -> list[dict[str, Any]]:
    check_actions(session, actions)
    return [action.model_dump(mode="json", exclude_unset=True) for action in actions]


def _ensure_name_free(session: Session, name: str, *, trigger_id: int | None = None) -> None:
    found = repository.trigger_named(session, name=name)
    if found is not None and found != trigger_id:
        raise Conflict(f"a trigger named {name!r} already exists", field="name")


def create_trigger(session: Session, *, actor: User, fields: TriggerCreate) -> Trigger:
    _require_admin(actor)
    _ensure_name_free(session, fields.name)
    now = utcnow()
    trigger = Trigger(
        name=fields.name,
        description=fields.description,
        position=fields.position,
        active=fields.active,
        event_types=_event_types(fields.event_types),
        conditions=_conditions(session, fields.conditions),
        actions=_actions(session, fields.actions),
        created_by_id=actor.id,
        created_at=now,
        updated_at=now,
    )
    session.add(trigger)
    session.flush()
    return trigger


def update_trigger(
    session: Session, *, actor: User, trigger_id: int, fields: TriggerUpdate
) -> Trigger:
    _require_admin(actor)
    trigger = get_trigger(session, viewer=actor, trigger_id=trigger_id)
    sent = fields.model_fields_set
    for name in ("name", "description", "position", "active", "event_types"):
        if name in sent and getattr(fields, name) is None:
            raise InvalidInput(f"{name} cannot be null", field=name)
    if fields.name is not None:
        _ensure_name_free(session, fields.name, trigger_id=trigger.id)
        trigger.name = fields.name
    if fields.description is not None:
        trigger.description = fields.description
    if fields.position is not None:
        trigger.position = fields.position
    if fields.active is not None:
        trigger.active = fields.active
    if fields.event_types is not None:
        trigger.event_types = _event_types(fields.event_types)
    if fields.conditions is not None:
        trigger.conditions = _conditions(session, fields.conditions)
    if "actions" in sent:
        if fields.actions is None:
            raise InvalidInput("actions cannot be null", field="actions")
        trigger.actions = _actions(session, fields.actions)
    trigger.updated_at = utcnow()
    session.flush()
    return trigger


def delete_trigger(session: Session, *, actor: User, trigger_id: int) -> None:
    """Delete a trigger; the history rows it wrote keep their changes, shown as the system's."""
    _require_admin(actor)
    trigger = get_trigger(session, viewer=actor, trigger_id=trigger_id)
    session.delete(trigger)
    session.flush()


def test_trigger(
    session: Session, *, viewer: User, trigger_id: int, request: TriggerTest
) -> dict[str, Any]:
    """What the trigger would do to the ticket now; nothing is written."""
    trigger = get_trigger(session, viewer=viewer, trigger_id=trigger_id)
    ticket_id = parse_ticket_ref(request.ticket)
    row = ticket_rows.ticket_row(session, ticket_id=ticket_id) if ticket_id else None
    if row is None:
        raise InvalidReference(f"no ticket {request.ticket}", field="ticket")
    planned = dry_run(session, trigger=trigger_record(trigger), row=row, now=utcnow())
    return {"trigger_id": trigger.id, "ticket_id": row.id, **planned}


def trigger_failures(
    session: Session, *, viewer: User, trigger_id: int, limit: int
) -> list[TriggerFailure]:
    _require_admin(viewer)
    get_trigger(session, viewer=viewer, trigger_id=trigger_id)
    return repository.failures_of(session, trigger_id=trigger_id, limit=limit)
