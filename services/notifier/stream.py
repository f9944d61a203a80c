"""The event stream through the consumer group: new entries, and entries a dead replica left."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from services.notifier.store import StreamEvent

logger = logging.getLogger(__name__)

Entry = tuple[bytes, dict[bytes, bytes]]


def parse_entry(entry_id: bytes, fields: dict[bytes, bytes]) -> StreamEvent | None:
    """The event of a stream entry; None for an entry we cannot read (logged, then dropped)."""
    try:
        payload = fields[b"payload"].decode()
        envelope: dict[str, Any] = orjson.loads(payload)
        occurred_at = datetime.fromisoformat(envelope["timestamp"].replace("Z", "+00:00"))
        return StreamEvent(
            entry_id=entry_id.decode(),
            event_id=fields[b"event_id"].decode(),
            event_type=fields[b"type"].decode(),
            occurred_at=occurred_at.astimezone(UTC),
            payload=payload,
        )
    except (KeyError, ValueError, orjson.JSONDecodeError) as exc:
        logger.error("dropping unreadable stream entry %s: %s", entry_id, exc)
        return None


class EventStream:
    def __init__(self, redis: Redis, *, stream: str, group: str, consumer: str) -> None:
        self.redis = redis
        self.stream = stream
        self.group = group
        self.consumer = consumer

    async def ensure_group(self) -> None:
        """Create the group if Redis does not have it (first start, or Redis lost its data).

        It starts from the beginning of the stream: deliveries are unique per (endpoint,
        event), so entries seen before cannot be delivered twice.
        """
        try:
            await self.redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
            logger.info("created consumer group %s on %s", self.group, self.stream)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def read_new(self, *, count: int, block_ms: int) -> list[Entry]:
        try:
            answer: Any = await self.redis.xreadgroup(
                self.group, self.consumer, {self.stream: ">"}, count=count, block=block_ms
            )
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            await self.ensure_group()
            return []
        return [entry for _stream, entries in answer or [] for entry in entries]

    async def claim_abandoned(
        self, *, min_idle_ms: int, count: int
    ) -> tuple[list[Entry], list[bytes]]:
        """Entries another consumer read but never acknowledged (it died); and the ids of such
        entries the stream has trimmed meanwhile."""
        try:
            answer: Any = await self.redis.xautoclaim(
                self.stream,
                self.group,
                self.consumer,
                min_idle_time=min_idle_ms,
                start_id="0-0",
                count=count,
            )
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            await self.ensure_group()
            return [], []
        entries = [(entry_id, fields) for entry_id, fields in answer[1] if fields]
        deleted = list(answer[2]) if len(answer) > 2 else []
        return entries, deleted

    async def ack(self, entry_ids: list[bytes]) -> None:
        if entry_ids:
            await self.redis.xack(self.stream, self.group, *entry_ids)
