"""What the worker does with a ticket event: SLA timers and the search index, exactly once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from services.worker.sla_events import announce_moved_timers
from shared.clock import utcnow
from shared.event_types import EventType
from shared.models import ProcessedEvent
from shared.prepared import Prepared
from shared.search_index import index_ticket
from shared.sla_timers import recompute_sla_timers

PROCESSED_EVENTS_KEPT = timedelta(days=7)

# One prepared INSERT per event (a multi-row VALUES was keyed and compiled anew for each count
# of rows, costing more than the rows).
_RECORD_HANDLED = {
    name: Prepared(
        insert(ProcessedEvent).on_conflict_do_nothing().returning(ProcessedEvent.event_id),
        columns=("event_id", "processed_at"),
    )
    for name, insert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}


# The worker's own announcements change nothing it computes: handling them again would only
# repeat the work (and a paused ticket's due times, which move with the clock, would announce
# themselves forever). They are recorded as handled, with nothing done.
NOT_RECOMPUTED = frozenset({str(EventType.TICKET_SLA_UPDATED)})


def handle_ticket_events(
    session: Session, *, events: Sequence[tuple[str, str, int | None]], now: datetime
) -> set[str]:
    """Bring the SLA timers and index entries of the events' tickets up to date, once per
    ticket however many of its events come together; returns the ids of the events handled
    now (the others were handled before: redeliveries, for which nothing is done).

    The work reads the tickets' current rows, not the events, so events handled late or out
    of order still leave the right state, and two copies racing each other do no harm.
    """
    ids = [event_id for event_id, _type, _ticket in events]
    if not ids:
        return set()
    seen = set(
        session.scalars(select(ProcessedEvent.event_id).where(ProcessedEvent.event_id.in_(ids)))
    )
    fresh = [event for event in events if event[0] not in seen]
    tickets = dict.fromkeys(
        ticket
        for _event, kind, ticket in fresh
        if ticket is not None and kind not in NOT_RECOMPUTED
    )
    timers = recompute_sla_timers(session, ticket_ids=list(tickets), now=now)
    for ticket_id in tickets:
        index_ticket(session, ticket_id=ticket_id)
    announce_moved_timers(session, timers, at=now)
    if not fresh:
        return set()
    # Stamped when the work is done: processed_at - created_at is the event lag. RETURNING
    # tells which rows are ours when another worker handled a copy meanwhile.
    done_at = utcnow()
    record = _RECORD_HANDLED[session.get_bind().dialect.name]
    return {
        returned[0][0]
        for event in fresh
        if (returned := record.run(session, {"event_id": event[0], "processed_at": done_at}))
    }


def prune_processed_events(session: Session, *, now: datetime) -> int:
    """Forget handled events older than any redelivery could be."""
    result = session.execute(
        delete(ProcessedEvent).where(ProcessedEvent.processed_at < now - PROCESSED_EVENTS_KEPT)
    )
    return int(getattr(result, "rowcount", 0) or 0)
