"""Invariant 3: Redis down does not stop the API. Events wait in the outbox and flow, in order,
once Redis is back; none is lost."""

from __future__ import annotations

from collections import defaultdict

import httpx
from sqlalchemy import func, select

from shared.models import OutboxEvent, ProcessedEvent, Ticket
from tests.support.processes import wait_until
from tests.support.system import System

TICKETS_DURING_OUTAGE = 20


def test_tickets_created_while_redis_is_down_all_flow_once_it_is_back(system: System) -> None:
    agent = system.client("agent")
    assert system.worker.process is not None
    worker_pid = system.worker.process.pid
    system.redis.stop()

    ready = httpx.get(f"{system.api.base_url}/ready")
    assert ready.status_code == 200
    assert ready.json()["degraded"] is True
    ids = []
    for n in range(TICKETS_DURING_OUTAGE):
        created = agent.post(
            "/tickets",
            json={"title": f"Outage report {n}", "description": "VPN down", "category_id": 3},
        )
        assert created.status_code == 201, created.text
        ids.append(created.json()["id"])
        assert agent.patch(f"/tickets/{ids[-1]}", json={"status_id": 2}).status_code == 200
    with system.db() as db:
        waiting = db.scalar(
            select(func.count()).where(
                OutboxEvent.ticket_id.in_(ids), OutboxEvent.published_at.is_(None)
            )
        )
    assert waiting == 2 * TICKETS_DURING_OUTAGE

    system.redis.start()

    def all_published() -> bool:
        with system.db() as db:
            return not db.scalar(select(func.count()).where(OutboxEvent.published_at.is_(None)))

    wait_until(all_published, timeout=30, what="the outbox to drain")
    with system.db() as db:
        committed = db.execute(
            select(OutboxEvent.ticket_id, OutboxEvent.event_id)
            .where(OutboxEvent.ticket_id.in_(ids))
            .order_by(OutboxEvent.id)
        ).all()
    expected: dict[int, list[str]] = defaultdict(list)
    for ticket_id, event_id in committed:
        expected[ticket_id].append(event_id)
    streamed: dict[int, list[str]] = defaultdict(list)
    for _entry, fields in system.redis.client().xrange("events"):
        ticket_id = int(fields[b"ticket_id"] or 0)
        if ticket_id in expected:
            streamed[ticket_id].append(fields[b"event_id"].decode())
    assert streamed == expected, "every event in the stream, each ticket's in commit order"

    event_ids = [event_id for _ticket, event_id in committed]

    def all_handled() -> bool:
        with system.db() as db:
            handled = db.scalar(select(func.count()).where(ProcessedEvent.event_id.in_(event_ids)))
            timed = db.scalar(
                select(func.count()).where(
                    Ticket.id.in_(ids), Ticket.resolution_due_at.is_not(None)
                )
            )
        return handled == len(event_ids) and timed == len(ids)

    # The worker reconnects on kombu's back-off (2 s, 4 s, 6 s … between attempts).
    wait_until(all_handled, timeout=60, what="the worker to handle every event")
    assert httpx.get(f"{system.api.base_url}/ready").json()["degraded"] is False
    assert system.worker.process is not None
    assert system.worker.process.poll() is None
    assert system.worker.process.pid == worker_pid, "the worker rode out the outage"
