"""Categories, priority levels and statuses: everyone reads them, admins change them."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.errors import Conflict, Forbidden, NotFound
from shared.models import Category, PriorityLevel, Role, Status, User

ReferenceRow = TypeVar("ReferenceRow", Category, PriorityLevel, Status)

_ORDER = {Category: Category.name, PriorityLevel: PriorityLevel.rank, Status: Status.position}
_LABEL = {Category: "category", PriorityLevel: "priority", Status: "status"}


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
    clash = session.scalar(select(model.id).where(func.lower(model.name) == name.lower()))
    if clash is not None and clash != except_id:
        raise Conflict(f"a {_LABEL[model]} named {name!r} already exists", field="name")


def create_row(
    session: Session, model: type[ReferenceRow], *, actor: User, fields: BaseModel
) -> ReferenceRow:
    _require_admin(actor)
    values = fields.model_dump()
    _ensure_unique_name(session, model, values["name"])
    row = model(**values)
    session.add(row)
    session.flush()
    return row


def update_row(
    session: Session, model: type[ReferenceRow], *, actor: User, row_id: int, fields: BaseModel
) -> ReferenceRow:
    _require_admin(actor)
    row = get_row(session, model, row_id=row_id)
    changes = fields.model_dump(exclude_unset=True, exclude_none=True)
    if "name" in changes:
        _ensure_unique_name(session, model, changes["name"], except_id=row.id)
    for name, value in changes.items():
        setattr(row, name, value)
    session.flush()
    return row
