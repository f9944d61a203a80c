"""All SQL about macros."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from shared.models import Macro


def list_macros(
    session: Session, *, viewer_id: int, scope: str, active: bool | None
) -> list[Macro]:
    """The shared macros and `viewer_id`'s own (as `scope` says), by name."""
    query = select(Macro)
    if scope == "shared":
        query = query.where(Macro.owner_id.is_(None))
    elif scope == "mine":
        query = query.where(Macro.owner_id == viewer_id)
    else:
        query = query.where(Macro.owner_id.is_(None) | (Macro.owner_id == viewer_id))
    if active is not None:
        query = query.where(Macro.active.is_(active))
    return list(session.scalars(query.order_by(Macro.name, Macro.id)))


def macro_named(session: Session, *, name: str, owner_id: int | None) -> int | None:
    owner = Macro.owner_id.is_(None) if owner_id is None else Macro.owner_id == owner_id
    return session.scalar(select(Macro.id).where(Macro.name == name, owner))


def count_uses(session: Session, *, macro_id: int, uses: int, at: datetime) -> None:
    """One UPDATE adding `uses` (concurrent applies add up, none is lost)."""
    session.execute(
        update(Macro)
        .where(Macro.id == macro_id)
        .values(usage_count=Macro.usage_count + uses, last_used_at=at)
        .execution_options(synchronize_session=False)
    )
