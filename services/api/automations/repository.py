"""All SQL about automations and their failures."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.models import Automation, AutomationFailure


def list_automations(session: Session) -> list[Automation]:
    return list(session.scalars(select(Automation).order_by(Automation.position, Automation.id)))


def automation_named(session: Session, *, name: str) -> int | None:
    return session.scalar(select(Automation.id).where(Automation.name == name))


def failures_of(session: Session, *, automation_id: int, limit: int) -> list[AutomationFailure]:
    query = select(AutomationFailure).where(AutomationFailure.automation_id == automation_id)
    return list(session.scalars(query.order_by(AutomationFailure.id.desc()).limit(limit)))
