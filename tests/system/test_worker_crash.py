"""Invariant 5 for the worker: one SIGKILLed in the middle of a task loses nothing, and the
redelivered task does its work once."""

from __future__ import annotations

from sqlalchemy import func, select

from shared.models import OutboxEvent, ProcessedEvent, Ticket
from tests.support.databases import tickets_write_lock
from tests.support.processes import wait_until
from tests.support.system import System


def test_worker_killed_mid_task_loses_nothing_and_counts_nothing_twice(system: System) -> None:
    system.worker.stop()
    ticket = (
        system.client("agent")
        .post(
            "/tickets", json={"title": "Laptop will not boot", "description": "x", "category_id": 3}
        )
        .json()
    )
    with system.db() as db:
        [event_id] = db.scalars(
            select(OutboxEvent.event_id).where(OutboxEvent.ticket_id == ticket["id"])
        ).all()

    def published() -> bool:
        with system.db() as db:
            return (
                db.scalar(select(OutboxEvent.published_at).where(OutboxEvent.event_id == event_id))
                is not None
            )

    wait_until(published, timeout=10, what="the event to be queued")

    # Every writer of tickets blocked: the worker's task waits inside its work.
    with tickets_write_lock(system.env["DATABASE_URL"]):
        system.worker.start()
        wait_until(
            lambda: (
                "worker.handle_event" in system.worker.log()
                and bool(system.redis.client().hlen("unacked"))
            ),
            timeout=15,
            what="the worker to be inside the task",
        )
        system.worker.kill()
    assert "succeeded" not in system.worker.log(), "the task must have died unfinished"

    system.worker.start()

    def handled() -> bool:
        with system.db() as db:
            return bool(db.scalar(select(func.count()).where(ProcessedEvent.event_id == event_id)))

    wait_until(handled, timeout=30, what="the redelivered task to run")
    with system.db() as db:
        assert db.scalar(select(func.count()).where(ProcessedEvent.event_id == event_id)) == 1
        assert db.scalar(select(Ticket.resolution_due_at).where(Ticket.id == ticket["id"]))
        tickets = db.scalar(select(func.count()).select_from(Ticket))

    def counted_once() -> bool:
        stats = system.client("agent").get("/stats").json()
        return bool(stats["tickets"]["total"] == tickets)

    wait_until(counted_once, timeout=15, what="statistics to count the ticket once")
