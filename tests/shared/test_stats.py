"""The statistics snapshot's response and resolution times, computed by the database on either
engine, against hand-made tickets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, select, update
from sqlalchemy.orm import Session

from shared.models import Ticket
from shared.stats import compute_snapshot
from tests.support.processes import fresh_database_env

START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def test_response_and_resolution_times_are_exact_means_and_medians(tmp_path: Path) -> None:
    engine = create_engine(fresh_database_env(tmp_path)["DATABASE_URL"])
    # The seed's tickets get known times: first replies after 1, 2, 3, … hours, resolutions
    # after 10, 20, … hours for the first three only.
    with Session(engine) as session:
        ids = list(session.scalars(select(Ticket.id).order_by(Ticket.id)))
        for n, ticket_id in enumerate(ids, start=1):
            session.execute(
                update(Ticket)
                .where(Ticket.id == ticket_id)
                .values(
                    created_at=START,
                    first_response_at=START + timedelta(hours=n),
                    resolved_at=START + timedelta(hours=10 * n) if n <= 3 else None,
                )
            )
        session.commit()
        snapshot = compute_snapshot(session, now=START + timedelta(days=2))
    engine.dispose()

    hours = [3600.0 * n for n in range(1, len(ids) + 1)]
    assert snapshot["first_response"] == {
        "count": len(ids),
        "mean_seconds": round(sum(hours) / len(hours), 1),
        "median_seconds": (hours[(len(hours) - 1) // 2] + hours[len(hours) // 2]) / 2,
    }
    assert snapshot["resolution"] == {
        "count": 3,
        "mean_seconds": 72000.0,
        "median_seconds": 72000.0,
    }
