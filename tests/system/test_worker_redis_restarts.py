"""The worker rides out Redis restarts: Redis stopped and started three times while tickets pour
in, and the same worker process handles every event once Redis is back."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import func, select

from shared.models import OutboxEvent, ProcessedEvent, Ticket
from tests.support.processes import wait_until
from tests.support.system import System, running_system

RESTARTS = 3


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    # Redis keeps its data on disk across the restarts, as compose's does: this is about the
    # worker surviving them, not about a Redis that lost its queues.
    with running_system(
        tmp_path_factory.mktemp("system"), worker_concurrency=2, redis_append_only=True
    ) as running:
        yield running


class TicketLoad:
    """Tickets created one after another, in a thread, until stopped."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.ids: list[int] = []
        self.failures: list[str] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._create, daemon=True)

    def _create(self) -> None:
        while not self.stopped.wait(0.02):
            try:
                created = self.client.post(
                    "/tickets",
                    json={"title": f"Load {len(self.ids)}", "description": "x", "category_id": 3},
                )
            except httpx.HTTPError as exc:
                self.failures.append(repr(exc))
                continue
            if created.status_code != 201:
                self.failures.append(created.text)
                continue
            self.ids.append(created.json()["id"])

    def __enter__(self) -> TicketLoad:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stopped.set()
        self.thread.join(timeout=60)


def connected_again(system: System, *, times: int) -> bool:
    """Whether the worker has connected `times` times since it started; fails at once when it
    has exited instead."""
    assert system.worker.process is not None
    log = system.worker.log()
    assert system.worker.process.poll() is None, f"the worker exited:\n{log[-5000:]}"
    return log.count("Connected to") >= times + 1


def test_the_worker_process_rides_out_redis_restarts_under_load(system: System) -> None:
    assert system.worker.process is not None
    worker_pid = system.worker.process.pid
    client = httpx.Client(
        base_url=system.api.base_url,
        headers={"Authorization": f"Bearer {system.keys['agent']}"},
        timeout=30,
    )
    redis = system.redis.client()  # connects again by itself after each restart
    with client, TicketLoad(client) as load:
        for restart in range(1, RESTARTS + 1):
            # Redis goes away while the worker holds a task: the case that made it exit.
            wait_until(
                lambda: redis.hlen("unacked") > 0,
                timeout=60,
                interval=0.005,
                what="the worker to hold a task",
            )
            system.redis.stop()
            wait_until(
                lambda n=restart: system.worker.log().count("Connection to broker lost") >= n,
                timeout=60,
                what="the worker to notice Redis is gone",
            )
            system.redis.start()
            wait_until(
                lambda n=restart: connected_again(system, times=n),
                timeout=90,
                what="the worker to connect again",
            )
        wait_until(lambda: len(load.ids) >= 20, timeout=60, what="tickets created")
    assert not load.failures, "the API takes tickets while Redis restarts"
    ids = list(load.ids)

    def all_handled() -> bool:
        with system.db() as db:
            unpublished = db.scalar(select(func.count()).where(OutboxEvent.published_at.is_(None)))
            event_ids = db.scalars(
                select(OutboxEvent.event_id).where(OutboxEvent.ticket_id.in_(ids))
            ).all()
            handled = db.scalar(select(func.count()).where(ProcessedEvent.event_id.in_(event_ids)))
            timed = db.scalar(
                select(func.count()).where(
                    Ticket.id.in_(ids), Ticket.resolution_due_at.is_not(None)
                )
            )
        return not unpublished and handled == len(event_ids) and timed == len(ids)

    # Tasks the worker held when Redis went away come back after the visibility timeout.
    wait_until(all_handled, timeout=120, interval=0.5, what="the worker to handle every event")
    assert system.worker.process.poll() is None
    assert system.worker.process.pid == worker_pid, "the worker process is the one started"
    assert "Unrecoverable error" not in system.worker.log()
