"""The triggers row: the worker's event handling with 50 active triggers that match nothing,
beside the same handling with none, in one run on one fresh database (the issue: "at most 20 %
more").

The measurement runs in a child process (`python -m bench.trigger_cost`) on its own database,
so its caches and engine are its own. Each round handles fresh `ticket.created` events in
chunks of 20 per transaction, as the worker's batch task does; rounds alternate between none
and 50 triggers, and the figure is the median of the pairs' ratios (the load of a shared
machine drifts during the run; a pair of rounds side by side shares it).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from bench.plan import AGENT_EMAIL, Plan
from bench.report import Row
from services.api.tickets.schemas import TicketCreate
from services.api.tickets.service import create_ticket
from services.worker.events import handle_ticket_events
from shared.clock import utcnow
from shared.models import OutboxEvent, Trigger, User
from shared.reference_cache import bump_reference_version, reference_cache
from shared.triggers import trigger_cache
from shared.unit_of_work import transaction
from tests.support.processes import BIN, fresh_database_env

TRIGGERS = 50
EVENTS_PER_TRANSACTION = 20


def measure_trigger_cost(plan: Plan, directory: Path, rows: list[Row]) -> None:
    env = fresh_database_env(directory / "triggers")
    events_per_round = 120 if plan.generated_tickets < 50_000 else 400
    result = subprocess.run(
        [str(BIN / "python"), "-m", "bench.trigger_cost", str(events_per_round)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"bench.trigger_cost failed:\n{result.stderr}")
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    without, with_triggers = measured["without_us"], measured["with_us"]
    ratio = measured["ratio"]
    rows.append(
        Row(
            measurement=f"event handling with {TRIGGERS} active triggers: per event",
            value=with_triggers,
            unit="us",
            baseline=without,
            target="≤ 1.2× the same handling with none",
            detail=f"{ratio:.2f}× ({without:.0f} us without): the median ratio of "
            f"{measured['rounds']} pairs of rounds of {events_per_round} ticket.created events, "
            f"{EVENTS_PER_TRANSACTION} per transaction; triggers matching nothing: 10 looking "
            "for a text, 40 for a tag or a priority",
            lower_is_better=True,
        )
    )


def _conditions(n: int) -> list[dict[str, Any]]:
    """A mix that matches none of the bench's tickets: a fifth look for a text (evaluated on
    every event), the others need a tag or a priority the tickets lack (looked up)."""
    if n % 5 == 0:
        return [{"kind": "text_contains", "text": f"never {n}"}]
    if n % 2:
        return [{"kind": "tag", "tag": f"never-{n}"}, {"kind": "requester_role", "role": "agent"}]
    return [
        {"kind": "field", "field": "priority_id", "value": 1},
        {"kind": "text_contains", "text": f"never {n}", "within": "title"},
    ]


def _run(events_per_round: int) -> dict[str, float]:
    rounds = 8
    with transaction() as session:
        agent = session.scalars(select(User).where(User.email == AGENT_EMAIL)).one()
        for n in range(TRIGGERS):
            session.add(
                Trigger(
                    name=f"bench {n}",
                    position=n,
                    active=False,
                    event_types=[],
                    conditions={"all": _conditions(n)},
                    actions=[{"kind": "add_tags", "tags": ["bench"]}],
                    created_by_id=agent.id,
                )
            )
    batches: list[list[tuple[str, str, int | None]]] = []
    for _round in range(2 * rounds + 2):  # two warm-up rounds
        with transaction() as session:
            agent = session.scalars(select(User).where(User.email == AGENT_EMAIL)).one()
            first = None
            for n in range(events_per_round):
                view = create_ticket(
                    session,
                    actor=agent,
                    request=TicketCreate(
                        title=f"Bench {n}", description="The kettle leaks", category_id=3
                    ),
                )
                first = first or view.id
            events = session.execute(
                select(OutboxEvent.event_id, OutboxEvent.event_type, OutboxEvent.ticket_id)
                .where(OutboxEvent.ticket_id >= first, OutboxEvent.event_type == "ticket.created")
                .order_by(OutboxEvent.id)
            ).all()
        batches.append([(row[0], row[1], row[2]) for row in events])

    def timed(batch: list[tuple[str, str, int | None]], *, active: bool) -> float:
        with transaction() as session:
            session.execute(update(Trigger).values(active=active))
            bump_reference_version(session)
        with transaction() as session:  # each cache reads its rows again once, not timed
            reference_cache.reference(session)
            trigger_cache.active(session)
        # CPU time of this process: SQLite runs in it, and the helpers sharing the machine's
        # cores steal wall time unevenly between rounds.
        started = time.process_time()
        for start in range(0, len(batch), EVENTS_PER_TRANSACTION):
            with transaction() as session:
                handle_ticket_events(
                    session, events=batch[start : start + EVENTS_PER_TRANSACTION], now=utcnow()
                )
        return (time.process_time() - started) / len(batch) * 1e6

    timed(batches[0], active=False)
    timed(batches[1], active=True)
    without, with_triggers = [], []
    for index in range(rounds):
        earlier, later = batches[2 + 2 * index], batches[3 + 2 * index]
        if index % 2:  # ABBA: neither side always goes first
            with_triggers.append(timed(earlier, active=True))
            without.append(timed(later, active=False))
        else:
            without.append(timed(earlier, active=False))
            with_triggers.append(timed(later, active=True))
    # Rounds side by side: the machine's load drifts during the run, a pair shares it.
    ratio = statistics.median(w / wo for w, wo in zip(with_triggers, without, strict=True))
    return {
        "without_us": statistics.median(without),
        "with_us": statistics.median(without) * ratio,
        "ratio": ratio,
        "rounds": rounds,
    }


if __name__ == "__main__":
    print(json.dumps(_run(int(sys.argv[1]))))
