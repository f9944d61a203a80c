"""Custom field definitions: admins change them, staff read them all, customers the ones
visible to them. A change never leaves a stored value its field cannot hold."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.api.custom_fields import repository
from services.api.custom_fields.schemas import CustomFieldCreate, CustomFieldUpdate
from services.api.custom_fields.values import input_name
from shared.clock import utcnow
from shared.errors import Conflict, Forbidden, InvalidInput, InvalidReference, NotFound
from shared.models import Category, CustomField, CustomFieldType, Role, User
from shared.reference_cache import reference_cache
from shared.ticket_changes import FieldChange, field_change_events, record_ticket_change
from shared.ticket_rows import staff_views

_CHOICE_TYPES = frozenset({CustomFieldType.DROPDOWN, CustomFieldType.MULTI_SELECT})


def _require_admin(actor: User) -> None:
    if actor.role is not Role.ADMIN:
        raise Forbidden("only admins change custom fields")


def _visible(viewer: User, field: CustomField) -> bool:
    return viewer.role.is_staff or (field.customer_visible and field.active)


def list_fields(session: Session, *, viewer: User) -> list[CustomField]:
    """Every field for staff (archived ones too); the active customer-visible ones for
    customers."""
    return [field for field in repository.list_fields(session) if _visible(viewer, field)]


def get_field(session: Session, *, viewer: User, field_id: int) -> CustomField:
    field = session.get(CustomField, field_id)
    if field is None or not _visible(viewer, field):
        raise NotFound(f"no custom field with id {field_id}")
    return field


def _ensure_categories_exist(session: Session, category_ids: list[int]) -> None:
    found = set(session.scalars(select(Category.id).where(Category.id.in_(category_ids))))
    missing = sorted(set(category_ids) - found)
    if missing:
        raise InvalidReference(f"no category with id {missing[0]}", field="category_ids")


def _ensure_consistent(field_type: CustomFieldType, values: dict[str, Any]) -> None:
    if field_type in _CHOICE_TYPES and not values["options"]:
        raise InvalidInput(f"a {field_type} field needs options", field="options")
    if field_type not in _CHOICE_TYPES and values["options"]:
        raise InvalidInput(f"a {field_type} field has no options", field="options")
    if values["customer_editable"] and not values["customer_visible"]:
        raise InvalidInput(
            "a field customers edit must be visible to them", field="customer_editable"
        )


def create_field(session: Session, *, actor: User, fields: CustomFieldCreate) -> CustomField:
    _require_admin(actor)
    values = fields.model_dump()
    _ensure_consistent(fields.field_type, values)
    if repository.field_with_key(session, key=fields.key) is not None:
        raise Conflict(f"a custom field with key {fields.key!r} already exists", field="key")
    _ensure_categories_exist(session, fields.category_ids)
    values["category_ids"] = sorted(set(fields.category_ids))
    field = CustomField(**values, active=True)
    session.add(field)
    session.flush()
    return field


def _migrate_options(
    session: Session,
    field: CustomField,
    *,
    options: list[str],
    migrations: dict[str, str],
) -> dict[int, tuple[Any, Any]]:
    """Move the values of removed options to the options `migrations` names, refusing to
    drop an option some ticket still holds; returns each moved value, by ticket, before and
    after."""
    removed = [option for option in field.options if option not in options]
    for source, target in migrations.items():
        if source not in removed:
            raise InvalidInput(
                f"{source!r} is not an option being removed", field="migrate_options"
            )
        if target not in options:
            raise InvalidInput(f"{target!r} is not one of the new options", field="migrate_options")
    if not removed:
        return {}
    stored = repository.stored_values(session, field_id=field.id)
    in_use = {
        option: sum(
            1
            for _ticket, value in stored
            if option in (value if isinstance(value, list) else [value])
        )
        for option in removed
    }
    for option, count in in_use.items():
        if count and option not in migrations:
            raise Conflict(
                f"option {option!r} is used by {count} ticket(s): keep it, or send "
                f'"migrate_options": {{"{option}": "<another option>"}} to move their values',
                field="options",
            )
    record = reference_cache.reference(session).custom_fields[field.id]
    moved_values: dict[int, tuple[Any, Any]] = {}
    for ticket_id, value in stored:
        held = value if isinstance(value, list) else [value]
        if not any(option in migrations for option in held):
            continue
        moved = {migrations.get(option, option) for option in held}
        new_value: Any = [option for option in options if option in moved]
        if record.field_type is CustomFieldType.DROPDOWN:
            new_value = new_value[0]
        repository.replace_value(session, field=record, ticket_id=ticket_id, value=new_value)
        moved_values[ticket_id] = (value, new_value)
    return moved_values


def _record_moved_values(
    session: Session, *, actor: User, field: CustomField, moved: dict[int, tuple[Any, Any]]
) -> None:
    """Each ticket whose value moved to another option changes like any update: a new
    version, a history row and a ticket.updated event, through the one writer."""
    if not moved:
        return
    now = utcnow()
    before = staff_views(session, ticket_ids=list(moved))
    for ticket_id, view in before.items():
        repository.touch_ticket(session, ticket_id=ticket_id, version=view.version, at=now)
    name = input_name(field.key)
    for ticket_id, view in staff_views(session, ticket_ids=list(moved)).items():
        old, new = moved[ticket_id]
        change = FieldChange(name, old, new)
        record_ticket_change(
            session,
            ticket_id=ticket_id,
            actor_id=actor.id,
            at=now,
            history=[change.history_entry(internal=not field.customer_visible)],
            events=field_change_events(view, [change], actor=actor, resolved=False),
        )


def update_field(
    session: Session, *, actor: User, field_id: int, fields: CustomFieldUpdate
) -> CustomField:
    _require_admin(actor)
    field = get_field(session, viewer=actor, field_id=field_id)
    changes = {
        name: value
        for name, value in fields.model_dump(exclude_unset=True).items()
        if value is not None
    }
    if changes.pop("key", field.key) != field.key:
        raise Conflict("the key of a custom field never changes", field="key")
    if changes.pop("field_type", field.field_type) != field.field_type:
        raise Conflict(
            "the type of a custom field never changes (its values would not fit): create "
            "another field and archive this one",
            field="field_type",
        )
    migrations = changes.pop("migrate_options", None) or {}
    merged = {
        "options": changes.get("options", field.options),
        "customer_visible": changes.get("customer_visible", field.customer_visible),
        "customer_editable": changes.get("customer_editable", field.customer_editable),
    }
    _ensure_consistent(field.field_type, merged)
    if "category_ids" in changes:
        _ensure_categories_exist(session, changes["category_ids"])
        changes["category_ids"] = sorted(set(changes["category_ids"]))
    moved = (
        _migrate_options(session, field, options=merged["options"], migrations=migrations)
        if "options" in changes or migrations
        else {}
    )
    for name, value in changes.items():
        setattr(field, name, value)
    session.flush()
    _record_moved_values(session, actor=actor, field=field, moved=moved)
    return field


def delete_field(session: Session, *, actor: User, field_id: int) -> None:
    """Delete a field no ticket holds a value of; one in use is archived instead."""
    _require_admin(actor)
    field = get_field(session, viewer=actor, field_id=field_id)
    count = repository.tickets_with_values(session, field_id=field.id)
    if count:
        raise Conflict(
            f"{count} ticket(s) hold a value of {field.key!r}: archive it instead "
            '(PATCH {"active": false})'
        )
    session.delete(field)
    session.flush()
