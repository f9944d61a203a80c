"""What the worker does with a ticket event: SLA timers and the search index, exactly once."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from shared.clock import utcnow
from shared.db import insert_ignoring_duplicates
from shared.models import ProcessedEvent
from shared.search_index import index_ticket
from shared.sla_timers import recompute_ticket_sla

PROCESSED_EVENTS_KEPT = timedelta(days=7)


def handle_ticket_event(
    session: Session, *, event_id: str, ticket_id: int | None, now: datetime
) -> bool:
    """Bring the ticket's SLA timers and index entry up to date; False if the event was
    handled before (a redelivery), in which case nothing is done.

    The work reads the ticket's current rows, not the event, so events handled late or out of
    order still leave the right state, and two copies racing each other do no harm.
    """
    if session.get(ProcessedEvent, event_id) is not None:
        return False
    if ticket_id is not None:
        recompute_ticket_sla(session, ticket_id=ticket_id, now=now)
        index_ticket(session, ticket_id=ticket_id)
    # Stamped when the work is done: processed_at - created_at is the event lag.
    done = insert_ignoring_duplicates(
        session, ProcessedEvent, [{"event_id": event_id, "processed_at": utcnow()}]
    )
    return bool(done)


def prune_processed_events(session: Session, *, now: datetime) -> int:
    """Forget handled events older than any redelivery could be."""
    result = session.execute(
        delete(ProcessedEvent).where(ProcessedEvent.processed_at < now - PROCESSED_EVENTS_KEPT)
    )
    return int(getattr(result, "rowcount", 0) or 0)
