"""Many writers at once, over two API processes on one SQLite file: none may see "locked"."""

from __future__ import annotations

import asyncio
import uuid

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.models import OutboxEvent, Ticket
from tests.support.processes import ApiServer, start_api_server

CONCURRENT_CREATES = 200


async def _create_all(base_urls: list[str], key: str, marker: str) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=CONCURRENT_CREATES)
    headers = {"Authorization": f"Bearer {key}"}
    clients = [
        httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=60)
        for url in base_urls
    ]
    try:
        requests = [
            clients[i % len(clients)].post(
                "/tickets",
                json={
                    "title": f"{marker} #{i}",
                    "description": "Flood of tickets during an outage",
                    "category_id": 3,
                    "priority_id": 1,
                    "tags": ["outage", f"n{i}"],
                },
            )
            for i in range(CONCURRENT_CREATES)
        ]
        return list(await asyncio.gather(*requests))
    finally:
        for client in clients:
            await client.aclose()


def test_200_concurrent_creates_on_two_api_processes_all_commit_with_their_events(
    api_server: ApiServer, seeded_database: str, api_keys: dict[str, str], db: Session
) -> None:
    second_server = start_api_server(env={"DATABASE_URL": seeded_database})
    marker = f"concurrency-{uuid.uuid4().hex[:8]}"
    try:
        responses = asyncio.run(
            _create_all([api_server.base_url, second_server.base_url], api_keys["agent"], marker)
        )
    finally:
        second_server.stop()

    statuses = [response.status_code for response in responses]
    assert statuses == [201] * CONCURRENT_CREATES, {s: statuses.count(s) for s in set(statuses)}
    ids = {response.json()["id"] for response in responses}
    assert len(ids) == CONCURRENT_CREATES
    stored = db.scalar(select(func.count()).where(Ticket.title.like(f"{marker} #%")))
    assert stored == CONCURRENT_CREATES
    created_events = db.scalar(
        select(func.count()).where(
            OutboxEvent.ticket_id.in_(ids), OutboxEvent.event_type == "ticket.created"
        )
    )
    assert created_events == CONCURRENT_CREATES
