"""The record of events the worker has handled (`processed_events`): what makes it idempotent."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from shared.models import ProcessedEvent
from shared.prepared import Prepared

# One prepared INSERT per event (a multi-row VALUES was keyed and compiled anew for each count
# of rows, costing more than the rows). RETURNING tells which rows are ours when another worker
# handled a copy meanwhile.
_RECORD_HANDLED = {
    name: Prepared(
        insert(ProcessedEvent).on_conflict_do_nothing().returning(ProcessedEvent.event_id),
        columns=("event_id", "processed_at"),
    )
    for name, insert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}


def record_handled(session: Session, *, event_ids: Iterable[str], at: datetime) -> set[str]:
    """Record the events as handled at `at`; returns those not recorded before."""
    record = _RECORD_HANDLED[session.get_bind().dialect.name]
    return {
        returned[0][0]
        for event_id in event_ids
        if (returned := record.run(session, {"event_id": event_id, "processed_at": at}))
    }
