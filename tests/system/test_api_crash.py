"""Invariant 1 under batched writes: an API process SIGKILLed in the middle of a batch loses no
acknowledged write, and a write it never acknowledged leaves nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import uuid

import httpx
import orjson
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared.models import OutboxEvent, Ticket, TicketHistory
from tests.support.databases import tickets_write_lock
from tests.support.processes import start_api_server, wait_until

FLOOD = 150


async def _flood_then_kill(base_url: str, key: str, marker: str, pid: int) -> list[object]:
    """FLOOD concurrent creations; SIGKILL the server once a fifth of them are answered."""
    answered = 0
    killed = asyncio.Event()
    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=FLOOD)
    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, limits=limits, timeout=30
    ) as client:

        async def create(i: int) -> object:
            nonlocal answered
            body = {"title": f"{marker} #{i}", "description": "d", "category_id": 1}
            try:
                response = await client.post("/tickets", json=body)
            except httpx.TransportError as error:
                return error
            answered += 1
            if answered == FLOOD // 5 and not killed.is_set():
                killed.set()
                os.kill(pid, signal.SIGKILL)
            return response

        return list(await asyncio.gather(*(create(i) for i in range(FLOOD))))


def _rows_with(db: Session, marker: str) -> dict[int, str]:
    query = select(Ticket.id, Ticket.title).where(Ticket.title.like(f"{marker}%"))
    return dict(db.execute(query).all())


def test_api_killed_mid_batch_keeps_every_acknowledged_ticket_with_its_events(
    seeded_database: str, api_keys: dict[str, str], db: Session
) -> None:
    server = start_api_server(env={"DATABASE_URL": seeded_database})
    marker = f"crash-{uuid.uuid4().hex[:8]}"
    try:
        outcomes = asyncio.run(
            _flood_then_kill(server.base_url, api_keys["agent"], marker, server.process.pid)
        )
    finally:
        server.stop()

    acknowledged = {
        r.json()["id"]: r.json()["title"]
        for r in outcomes
        if isinstance(r, httpx.Response) and r.status_code == 201
    }
    assert len(acknowledged) >= FLOOD // 5
    assert any(isinstance(r, httpx.TransportError) for r in outcomes), "the kill came too late"
    rows = _rows_with(db, marker)
    assert acknowledged.items() <= rows.items()
    # Whatever committed, acknowledged or not, committed whole: its history row and its event.
    for table in (TicketHistory, OutboxEvent):
        counted = db.scalar(
            select(func.count(func.distinct(table.ticket_id))).where(table.ticket_id.in_(rows))
        )
        assert counted == len(rows), table.__tablename__


def _raw_post(port: int, key: str, title: str) -> socket.socket:
    body = orjson.dumps({"title": title, "description": "d", "category_id": 1})
    head = (
        f"POST /tickets HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    connection = socket.create_connection(("127.0.0.1", port))
    connection.sendall(head.encode() + body)
    return connection


def _unread_bytes(port: int) -> int:
    """Bytes still waiting in the server's receive queues on `port` (from /proc/net/tcp)."""
    waiting = 0
    for line in open("/proc/net/tcp").read().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].split(":")[1], 16)
        if local_port == port and fields[3] == "01":  # ESTABLISHED
            waiting += int(fields[4].split(":")[1], 16)
    return waiting


def test_writes_waiting_in_a_batch_when_the_api_dies_leave_nothing(
    seeded_database: str, api_keys: dict[str, str], db: Session
) -> None:
    server = start_api_server(env={"DATABASE_URL": seeded_database})
    port = int(server.base_url.rsplit(":", 1)[1])
    marker = f"unacknowledged-{uuid.uuid4().hex[:8]}"
    connections: list[socket.socket] = []
    try:
        # The batch's transaction cannot get past the database's lock (SQLite's write lock;
        # PostgreSQL's on the tickets table, where the batch has begun and its INSERT waits).
        with tickets_write_lock(seeded_database):
            connections = [_raw_post(port, api_keys["agent"], f"{marker} #{i}") for i in range(20)]
            wait_until(lambda: _unread_bytes(port) == 0, timeout=10, what="the API to read them")
            server.process.send_signal(signal.SIGKILL)
            server.process.wait()
        for connection in connections:
            connection.settimeout(5)
            assert connection.recv(1024) == b"", "a request was answered"
    finally:
        for connection in connections:
            connection.close()
        server.stop()
    assert _rows_with(db, marker) == {}
