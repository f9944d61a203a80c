"""The bulk update row: 500 tickets changed by one POST /tickets/bulk beside the same 500 changes
sent as single PATCH requests, in the same run; and how long a POST /tickets sent meanwhile
waits (the bulk call commits in chunks, so other writers get their turn between them)."""

from __future__ import annotations

import threading
import time

import httpx

from bench.ingest import wait_for_worker
from bench.plan import TICKET_BODY
from bench.report import Row, percentile
from tests.support.system import System

BULK_TICKETS = 500
# The change a helpdesk makes to a pile of tickets: take them, start on them, raise them.
CHANGE = {"status_id": 2, "priority_id": 1, "assigned_to": 4}


def _new_tickets(client: httpx.Client, count: int) -> list[int]:
    ids = []
    for _ in range(count):
        response = client.post(
            "/tickets", content=TICKET_BODY, headers={"Content-Type": "application/json"}
        )
        response.raise_for_status()
        ids.append(int(response.json()["id"]))
    return ids


class _WriterBeside(threading.Thread):
    """POST /tickets one after another until stopped, recording each one's latency."""

    def __init__(self, system: System) -> None:
        super().__init__(daemon=True)
        self.client = httpx.Client(
            base_url=system.api.base_url,
            headers={"Authorization": f"Bearer {system.keys['agent']}"},
            timeout=30,
        )
        self.stopping = threading.Event()
        self.latencies_ms: list[float] = []

    def run(self) -> None:
        with self.client:
            while not self.stopping.is_set():
                started = time.perf_counter()
                response = self.client.post(
                    "/tickets", content=TICKET_BODY, headers={"Content-Type": "application/json"}
                )
                response.raise_for_status()
                self.latencies_ms.append((time.perf_counter() - started) * 1000)


def measure_bulk(system: System, rows: list[Row]) -> None:
    client = system.client("agent")
    bulk_ids = _new_tickets(client, BULK_TICKETS)
    single_ids = _new_tickets(client, BULK_TICKETS)

    beside = _WriterBeside(system)
    beside.start()
    started = time.perf_counter()
    response = client.post(
        "/tickets/bulk", json={"tickets": bulk_ids, "changes": CHANGE}, timeout=120
    )
    bulk_ms = (time.perf_counter() - started) * 1000
    beside.stopping.set()
    beside.join()
    response.raise_for_status()
    assert response.json()["changed"] == BULK_TICKETS, response.text

    started = time.perf_counter()
    for ticket_id in single_ids:
        client.patch(f"/tickets/{ticket_id}", json=CHANGE).raise_for_status()
    single_ms = (time.perf_counter() - started) * 1000

    # The rows after this one start with the worker idle, not busy with these tickets' events.
    wait_for_worker(system, after_id=bulk_ids[0] - 1)
    waits = beside.latencies_ms or [0.0]
    rows.append(
        Row(
            measurement=f"bulk update, {BULK_TICKETS} tickets in one call vs as single PATCHes",
            value=bulk_ms / BULK_TICKETS,
            unit="ms/ticket",
            baseline=single_ms / BULK_TICKETS,
            target="< the single PATCHes' ms/ticket",
            detail=f"one call {bulk_ms:.0f} ms, {BULK_TICKETS} PATCHes in turn "
            f"{single_ms:.0f} ms; a POST /tickets beside the call: p50 "
            f"{percentile(waits, 0.5):.1f}, max {max(waits):.1f} ms, n={len(beside.latencies_ms)}",
            lower_is_better=True,
        )
    )


# A macro an agent applies to a pile of tickets: take them, start on them, note why.
MACRO = {
    "name": "bench: take and start",
    "actions": [
        {"kind": "set_status", "status_id": 2},
        {"kind": "set_priority", "priority_id": 1},
        {"kind": "set_assignee", "assignee_id": 4},
        {"kind": "add_note", "body": "Taken in the bench's sweep"},
    ],
}


def measure_bulk_macro(system: System, rows: list[Row]) -> None:
    """500 tickets given one macro by one POST /tickets/bulk beside the same macro applied by
    500 POST /tickets/{id}/macros/{macro_id}, in the same run."""
    client = system.client("agent")
    created = client.post("/macros", json=MACRO)
    created.raise_for_status()
    macro_id = int(created.json()["id"])
    bulk_ids = _new_tickets(client, BULK_TICKETS)
    single_ids = _new_tickets(client, BULK_TICKETS)

    started = time.perf_counter()
    response = client.post(
        "/tickets/bulk", json={"tickets": bulk_ids, "macro_id": macro_id}, timeout=120
    )
    bulk_ms = (time.perf_counter() - started) * 1000
    response.raise_for_status()
    assert response.json()["changed"] == BULK_TICKETS, response.text

    started = time.perf_counter()
    for ticket_id in single_ids:
        client.post(f"/tickets/{ticket_id}/macros/{macro_id}").raise_for_status()
    single_ms = (time.perf_counter() - started) * 1000

    wait_for_worker(system, after_id=bulk_ids[0] - 1)
    client.delete(f"/macros/{macro_id}").raise_for_status()
    rows.append(
        Row(
            measurement=f"bulk macro, {BULK_TICKETS} tickets in one call vs as single applies",
            value=bulk_ms / BULK_TICKETS,
            unit="ms/ticket",
            baseline=single_ms / BULK_TICKETS,
            target="< the single applies' ms/ticket",
            detail=f"one call {bulk_ms:.0f} ms, {BULK_TICKETS} applies in turn {single_ms:.0f} ms "
            "(3 field actions and a note each)",
            lower_is_better=True,
        )
    )
