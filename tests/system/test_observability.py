"""Metrics and JSON logs of the whole system: a ticket's event is counted by the worker and the
notifier, and its id can be followed through both services' logs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from shared.models import OutboxEvent
from tests.support.metrics import scrape, value
from tests.support.processes import free_port, wait_until
from tests.support.receiver import running_receiver
from tests.support.system import System, running_system


@dataclass(frozen=True)
class Observed:
    system: System
    worker_metrics: str
    notifier_metrics: str
    # The ticket.created event of a ticket delivered to a subscribed receiver.
    event_id: str


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observed]:
    worker_port, notifier_port = free_port(), free_port()
    settings = {
        "LOG_FORMAT": "json",
        "WORKER_METRICS_PORT": str(worker_port),
        "NOTIFIER_METRICS_PORT": str(notifier_port),
    }
    directory = tmp_path_factory.mktemp("observability")
    with (
        running_system(directory, with_notifier=True, settings=settings) as system,
        running_receiver() as receiver,
    ):
        subscribed = system.client("admin").post(
            "/webhooks", json={"url": receiver.url("/hook"), "event_types": ["ticket.created"]}
        )
        assert subscribed.status_code == 201, subscribed.text
        ticket = system.client("agent").post(
            "/tickets",
            json={"title": "Observed", "description": "x", "user_id": 1, "category_id": 3},
        )
        assert ticket.status_code == 201, ticket.text
        with system.db() as session:
            event_id = session.scalar(
                select(OutboxEvent.event_id).where(
                    OutboxEvent.ticket_id == ticket.json()["id"],
                    OutboxEvent.event_type == "ticket.created",
                )
            )
        assert event_id
        wait_until(
            lambda: event_id in receiver.event_ids("/hook"),
            timeout=30,
            what="the receiver to get the ticket's event",
        )
        yield Observed(
            system=system,
            worker_metrics=f"http://127.0.0.1:{worker_port}/metrics",
            notifier_metrics=f"http://127.0.0.1:{notifier_port}/metrics",
            event_id=event_id,
        )


def _json_lines(log: str) -> list[dict[str, Any]]:
    """Every complete line that starts like a JSON object, parsed: each must be one. (Celery
    prints its banner and warnings as plain text, outside logging.)"""
    lines = log.splitlines(keepends=True)
    complete = [line for line in lines if line.endswith("\n")]
    return [json.loads(line) for line in complete if line.startswith("{")]


def _lines_about(log: str, event_id: str) -> list[dict[str, Any]]:
    return [line for line in _json_lines(log) if line.get("event_id") == event_id]


def test_the_worker_counts_events_its_pool_handled(observed: Observed) -> None:
    def handled() -> float:
        return value(
            scrape(observed.worker_metrics),
            "ticketing_worker_tasks_total",
            task="worker.handle_event",
            outcome="succeeded",
        )

    wait_until(lambda: handled() >= 1, timeout=30, what="handle_event in the worker's metrics")
    timed = value(
        scrape(observed.worker_metrics),
        "ticketing_worker_task_duration_seconds_count",
        task="worker.handle_event",
    )
    assert timed >= 1


def test_the_notifier_counts_a_successful_delivery(observed: Observed) -> None:
    def delivered() -> float:
        return value(
            scrape(observed.notifier_metrics),
            "ticketing_notifier_deliveries_total",
            outcome="succeeded",
        )

    wait_until(lambda: delivered() >= 1, timeout=30, what="a delivery in the notifier's metrics")
    samples = scrape(observed.notifier_metrics)
    assert value(samples, "ticketing_notifier_delivery_latency_seconds_count") >= 1
    assert value(samples, "ticketing_notifier_attempt_duration_seconds_count") >= 1


def test_worker_log_lines_are_json_and_name_the_event_and_task(observed: Observed) -> None:
    worker = observed.system.worker
    wait_until(
        lambda: _lines_about(worker.log(), observed.event_id),
        timeout=30,
        what="a worker log line with the event id",
    )
    line = _lines_about(worker.log(), observed.event_id)[0]
    assert line["task"] == "worker.handle_event"
    assert {"time", "level", "logger", "message"} <= line.keys()


def test_notifier_log_lines_are_json_and_name_the_event(observed: Observed) -> None:
    notifier = observed.system.notifier
    wait_until(
        lambda: _lines_about(notifier.log(), observed.event_id),
        timeout=30,
        what="a notifier log line with the event id",
    )
    line = _lines_about(notifier.log(), observed.event_id)[0]
    assert {"time", "level", "logger", "message"} <= line.keys()


def test_api_access_lines_are_json_with_the_request_id(observed: Observed) -> None:
    api = observed.system.api
    response = observed.system.client("agent").get(
        "/tickets/TKT-001", headers={"X-Request-ID": "traced-1"}
    )
    assert response.status_code == 200

    def access_lines() -> list[dict[str, Any]]:
        return [line for line in _json_lines(api.log()) if line.get("request_id") == "traced-1"]

    wait_until(access_lines, timeout=10, what="the API's access line for the request")
    assert access_lines()[0]["logger"] == "uvicorn.access"
