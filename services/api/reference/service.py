"""Reference data — categories, priority levels, statuses and business-hours calendars:
everyone reads them, admins change them."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from shared.errors import Conflict, Forbidden, InvalidReference, NotFound
from shared.models import BusinessCalendar, Category, PriorityLevel, Role, Status, User

ReferenceRow = TypeVar("ReferenceRow", Category, PriorityLevel, Status, BusinessCalendar)

_ORDER = {
    Category: Category.name,
    PriorityLevel: PriorityLevel.rank,
    Status: Status.position,
    BusinessCalendar: BusinessCalendar.name,
}
_LABEL = {
    Category: "category",
    PriorityLevel: "priority",
    Status: "status",
    BusinessCalendar: "calendar",
}
# Fields a PATCH may set to null (detaching the calendar); other nulls mean "leave as is".
_NULLABLE = frozenset({"calendar_id", "first_response_hours"})


def list_rows(session: Session, model: type[ReferenceRow]) -> list[ReferenceRow]:
    return list(session.scalars(select(model).order_by(_ORDER[model], model.id)))


def get_row(session: Session, model: type[ReferenceRow], *, row_id: int) -> ReferenceRow:
    row = session.get(model, row_id)
    if row is None:
        raise NotFound(f"no {_LABEL[model]} with id {row_id}")
    return row


def _require_admin(actor: User) -> None:
    if actor.role is not Role.ADMIN:
        raise Forbidden("only admins change reference data")


def _ensure_unique_name(
    session: Session, model: type[ReferenceRow], name: str, *, except_id: int | None = None
) -> None:
    # SQLite's lower() folds ASCII only: compare exactly too.
    same = or_(model.name == name, func.lower(model.name) == name.lower())
    clash = session.scalar(select(model.id).where(same).limit(1))
    if clash is not None and clash != except_id:
        raise Conflict(f"a {_LABEL[model]} named {name!r} already exists", field="name")


def _ensure_calendar_exists(session: Session, values: dict[str, object]) -> None:
    calendar_id = values.get("calendar_id")
    if calendar_id is not None and session.get(BusinessCalendar, calendar_id) is None:
        raise InvalidReference(f"no calendar with id {calendar_id}", field="calendar_id")


def create_row(
    session: Session, model: type[ReferenceRow], *, actor: User, fields: BaseModel
) -> ReferenceRow:
    _require_admin(actor)
    values = fields.model_dump(mode="json")
    _ensure_unique_name(session, model, values["name"])
    _ensure_calendar_exists(session, values)
    row = model(**values)
    session.add(row)
    session.flush()
    return row


def update_row(
    session: Session, model: type[ReferenceRow], *, actor: User, row_id: int, fields: BaseModel
) -> ReferenceRow:
    _require_admin(actor)
    row = get_row(session, model, row_id=row_id)
    changes = {
        name: value
        for name, value in fields.model_dump(mode="json", exclude_unset=True).items()
        if value is not None or name in _NULLABLE
    }
    _ensure_calendar_exists(session, changes)
    if "name" in changes:
        _ensure_unique_name(session, model, changes["name"], except_id=row.id)
    for name, value in changes.items():
        setattr(row, name, value)
    session.flush()
    if isinstance(row, Status) and not session.scalar(
        select(func.count()).where(Status.is_closed.is_(False))
    ):
        # New and re-opened tickets need an open status to go to.
        raise Conflict("at least one status must stay open", field="is_closed")
    return row
