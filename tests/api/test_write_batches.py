"""Group commit: concurrent writes of one API process share a transaction, a savepoint each."""

from __future__ import annotations

import asyncio
import re
import uuid

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.models import OutboxEvent, Ticket, TicketHistory
from tests.support.processes import ApiServer

WRITES = 96


def _batched_requests(metrics_text: str) -> tuple[float, float]:
    """(requests, commits) counted by the write-batch histogram."""
    total = re.search(r"^ticketing_write_batch_requests_sum (\S+)$", metrics_text, re.M)
    count = re.search(r"^ticketing_write_batch_requests_count (\S+)$", metrics_text, re.M)
    assert total, "the write-batch histogram is missing from /metrics"
    assert count, "the write-batch histogram is missing from /metrics"
    return float(total.group(1)), float(count.group(1))


async def _mixed_writes(
    base_url: str, key: str, *, ticket_id: int, marker: str
) -> list[httpx.Response]:
    """Creations interleaved with changes that fail half-way: each of those replaces the tags
    (new tag rows, the ticket's tag links), then names a customer as assignee, so its
    savepoint holds written rows when it fails."""
    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=WRITES)
    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, limits=limits, timeout=60
    ) as client:

        def write(i: int) -> asyncio.Future[httpx.Response]:
            if i % 3 == 0:
                body = {"tags": [f"{marker}-{i}"], "assigned_to": 1}  # user 1 is a customer
                return asyncio.ensure_future(client.patch(f"/tickets/{ticket_id}", json=body))
            body = {"title": f"{marker} #{i}", "description": "batched", "category_id": 2}
            return asyncio.ensure_future(client.post("/tickets", json=body))

        return list(await asyncio.gather(*(write(i) for i in range(WRITES))))


def test_a_failing_request_rolls_back_alone_while_its_batch_commits(
    api_server: ApiServer,
    agent: httpx.Client,
    admin: httpx.Client,
    api_keys: dict[str, str],
    db: Session,
) -> None:
    target = agent.post(
        "/tickets",
        json={"title": "Untouched", "description": "d", "category_id": 1, "tags": ["keep"]},
    ).json()
    requests_before, commits_before = _batched_requests(admin.get("/metrics").text)
    marker = f"batch-{uuid.uuid4().hex[:8]}"

    responses = asyncio.run(
        _mixed_writes(api_server.base_url, api_keys["agent"], ticket_id=target["id"], marker=marker)
    )

    failed = [r for i, r in enumerate(responses) if i % 3 == 0]
    created = [r for i, r in enumerate(responses) if i % 3 != 0]
    assert {r.status_code for r in failed} == {422}
    assert all(r.json()["errors"][0]["field"] == "assigned_to" for r in failed)
    assert {r.status_code for r in created} == {201}
    # The failed changes left nothing: not the title they had set, not a history row.
    reread = agent.get(f"/tickets/{target['id']}").json()
    assert (reread["title"], reread["version"]) == ("Untouched", target["version"])
    assert (
        db.scalar(
            select(func.count())
            .select_from(TicketHistory)
            .where(TicketHistory.ticket_id == target["id"], TicketHistory.field == "title")
        )
        == 0
    )
    # Their neighbours committed, each with its ticket.created event.
    ids = [r.json()["id"] for r in created]
    assert db.scalar(select(func.count()).where(Ticket.id.in_(ids))) == len(ids)
    events = select(func.count()).where(
        OutboxEvent.ticket_id.in_(ids), OutboxEvent.event_type == "ticket.created"
    )
    assert db.scalar(events) == len(ids)
    # And they were committed together: fewer commits than requests.
    requests_after, commits_after = _batched_requests(admin.get("/metrics").text)
    assert requests_after - requests_before == WRITES
    assert commits_after - commits_before < WRITES
