"""Automations: admins write them, staff read and test them, customers never see them."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from services.api.automations import repository
from services.api.automations.schemas import AutomationCreate, AutomationTest, AutomationUpdate
from shared import ticket_rows
from shared.automations import AutomationConditions, automation_record, dry_run
from shared.clock import utcnow
from shared.errors import Conflict, Forbidden, InvalidInput, InvalidReference, NotFound
from shared.models import Automation, AutomationFailure, Role, User, parse_ticket_ref
from shared.rules.actions import Action, check_actions
from shared.rules.conditions import ChangedCondition, check_conditions


def _require_staff(viewer: User) -> None:
    if not viewer.role.is_staff:
        raise Forbidden("automations are for staff")


def _require_admin(actor: User) -> None:
    if actor.role is not Role.ADMIN:
        raise Forbidden("only admins change automations")


def list_automations(session: Session, *, viewer: User) -> list[Automation]:
    _require_staff(viewer)
    return repository.list_automations(session)


def get_automation(session: Session, *, viewer: User, automation_id: int) -> Automation:
    _require_staff(viewer)
    automation = session.get(Automation, automation_id)
    if automation is None:
        raise NotFound(f"no automation with id {automation_id}")
    return automation


def _conditions(session: Session, conditions: AutomationConditions) -> dict[str, Any]:
    rule = conditions.rule_conditions()
    for where, condition in rule.each():
        # An automation looks at tickets, not at an event: nothing is ever "changed".
        if isinstance(condition, ChangedCondition):
            raise InvalidInput(
                "automations run on tickets as they are, not on events: `changed` never holds",
                field=f"{where}.kind",
            )
    check_conditions(session, rule)
    return conditions.model_dump(mode="json", by_alias=True, exclude_unset=True)


def _actions(session: Session, actions: list[Action]) -> list[dict[str, Any]]:
    check_actions(session, actions)
    for index, action in enumerate(actions):
        if action.kind == "send_to_webhook":
            raise InvalidInput(
                "automations act on no event to send: use a trigger on the event the "
                "automation's change makes",
                field=f"actions.{index}.kind",
            )
    return [action.model_dump(mode="json", exclude_unset=True) for action in actions]


def _ensure_name_free(session: Session, name: str, *, automation_id: int | None = None) -> None:
    found = repository.automation_named(session, name=name)
    if found is not None and found != automation_id:
        raise Conflict(f"an automation named {name!r} already exists", field="name")


def create_automation(session: Session, *, actor: User, fields: AutomationCreate) -> Automation:
    _require_admin(actor)
    _ensure_name_free(session, fields.name)
    now = utcnow()
    automation = Automation(
        name=fields.name,
        description=fields.description,
        position=fields.position,
        active=fields.active,
        conditions=_conditions(session, fields.conditions),
        actions=_actions(session, fields.actions),
        created_by_id=actor.id,
        created_at=now,
        updated_at=now,
    )
    session.add(automation)
    session.flush()
    return automation


def update_automation(
    session: Session, *, actor: User, automation_id: int, fields: AutomationUpdate
) -> Automation:
    _require_admin(actor)
    automation = get_automation(session, viewer=actor, automation_id=automation_id)
    sent = fields.model_fields_set
    for name in ("name", "description", "position", "active", "conditions", "actions"):
        if name in sent and getattr(fields, name) is None:
            raise InvalidInput(f"{name} cannot be null", field=name)
    if fields.name is not None:
        _ensure_name_free(session, fields.name, automation_id=automation.id)
        automation.name = fields.name
    if fields.description is not None:
        automation.description = fields.description
    if fields.position is not None:
        automation.position = fields.position
    if fields.active is not None:
        automation.active = fields.active
    if fields.conditions is not None:
        automation.conditions = _conditions(session, fields.conditions)
    if fields.actions is not None:
        automation.actions = _actions(session, fields.actions)
    automation.updated_at = utcnow()
    session.flush()
    return automation


def delete_automation(session: Session, *, actor: User, automation_id: int) -> None:
    """Delete an automation; the history rows it wrote keep their changes, shown as the
    system's."""
    _require_admin(actor)
    automation = get_automation(session, viewer=actor, automation_id=automation_id)
    session.delete(automation)
    session.flush()


def test_automation(
    session: Session, *, viewer: User, automation_id: int, request: AutomationTest
) -> dict[str, Any]:
    """What the automation would do to the ticket now; nothing is written."""
    automation = get_automation(session, viewer=viewer, automation_id=automation_id)
    ticket_id = parse_ticket_ref(request.ticket)
    row = ticket_rows.ticket_row(session, ticket_id=ticket_id) if ticket_id else None
    if row is None:
        raise InvalidReference(f"no ticket {request.ticket}", field="ticket")
    planned = dry_run(session, automation=automation_record(automation), row=row, now=utcnow())
    return {"automation_id": automation.id, "ticket_id": row.id, **planned}


def automation_failures(
    session: Session, *, viewer: User, automation_id: int, limit: int
) -> list[AutomationFailure]:
    _require_admin(viewer)
    get_automation(session, viewer=viewer, automation_id=automation_id)
    return repository.failures_of(session, automation_id=automation_id, limit=limit)
