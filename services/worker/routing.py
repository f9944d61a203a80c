"""Which events start an automatic assignment, and for whom."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from shared.events import EventType
from shared.models import User
from shared.routing import auto_assign

# A new ticket may go to anyone in its category's pool; an escalated one (left without a human
# when it was escalated) only to a human.
HUMANS_ONLY_BY_EVENT = {
    str(EventType.TICKET_CREATED): False,
    str(EventType.TICKET_ESCALATED): True,
}


def route_ticket_event(
    session: Session, *, event_type: str, ticket_id: int | None, now: datetime
) -> User | None:
    """Assign the event's ticket from its category's pool if the event calls for it and the
    ticket still has nobody; the agent chosen, if any."""
    humans_only = HUMANS_ONLY_BY_EVENT.get(event_type)
    if humans_only is None or ticket_id is None:
        return None
    return auto_assign(session, ticket_id=ticket_id, humans_only=humans_only, now=now)
