"""What the worker does with a ticket event: SLA timers, the search index, triggers and the
mail to requesters and CCs, exactly once."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from services.worker.processed import record_handled
from services.worker.sla_events import announce_moved_timers
from shared.clock import utcnow
from shared.event_types import WORKER_ANNOUNCEMENTS
from shared.mail_out.recording import record_ticket_mail
from shared.models import ProcessedEvent
from shared.search_index import index_ticket
from shared.settings import get_settings
from shared.sla_timers import recompute_sla_timers
from shared.triggers import run_triggers

PROCESSED_EVENTS_KEPT = timedelta(days=7)


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
        # The worker's own announcements change nothing it computes: handling them again would
        # only repeat the work (and a paused ticket's due times, which move with the clock,
        # would announce themselves forever). One reaching it (sent again by the reconciler)
        # is recorded as handled, with nothing done.
        if ticket is not None and kind not in WORKER_ANNOUNCEMENTS
    )
    timers = recompute_sla_timers(session, ticket_ids=list(tickets), now=now)
    for ticket_id in tickets:
        index_ticket(session, ticket_id=ticket_id)
    announce_moved_timers(session, timers, at=now)
    if not fresh:
        return set()
    # Stamped when the work is done: processed_at - created_at is the event lag.
    handled = record_handled(session, event_ids=[event[0] for event in fresh], at=utcnow())
    # In the transaction that records them handled: a redelivered event fires no trigger twice.
    triggered = run_triggers(
        session,
        events=[
            (event_id, kind, ticket)
            for event_id, kind, ticket in fresh
            if event_id in handled and ticket is not None and kind not in WORKER_ANNOUNCEMENTS
        ],
        now=now,
    )
    record_handled(session, event_ids=triggered.announced, at=utcnow())
    # Here too: a redelivered event mails nobody twice, a crash before the commit loses no mail.
    record_ticket_mail(
        session,
        events=[event for event in fresh if event[0] in handled],
        settings=get_settings(),
        now=now,
    )
    return handled


def prune_processed_events(session: Session, *, now: datetime) -> int:
    """Forget handled events older than any redelivery could be."""
    result = session.execute(
        delete(ProcessedEvent).where(ProcessedEvent.processed_at < now - PROCESSED_EVENTS_KEPT)
    )
    return int(getattr(result, "rowcount", 0) or 0)
