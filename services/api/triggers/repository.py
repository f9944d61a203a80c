"""All SQL about triggers and their failures."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.models import Trigger, TriggerFailure


def list_triggers(session: Session) -> list[Trigger]:
    return list(session.scalars(select(Trigger).order_by(Trigger.position, Trigger.id)))


def trigger_named(session: Session, *, name: str) -> int | None:
    return session.scalar(select(Trigger.id).where(Trigger.name == name))


def failures_of(session: Session, *, trigger_id: int, limit: int) -> list[TriggerFailure]:
    query = select(TriggerFailure).where(TriggerFailure.trigger_id == trigger_id)
    return list(session.scalars(query.order_by(TriggerFailure.id.desc()).limit(limit)))
