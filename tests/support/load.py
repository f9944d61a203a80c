"""Creating many tickets at once over HTTP, for tests that need a flood of events."""

from __future__ import annotations

import asyncio

import httpx


async def _create(base_url: str, key: str, count: int, concurrency: int) -> list[int]:
    limits = httpx.Limits(max_connections=concurrency)
    headers = {"Authorization": f"Bearer {key}"}
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(
        base_url=base_url, headers=headers, limits=limits, timeout=60
    ) as client:

        async def one(n: int) -> int:
            async with gate:
                response = await client.post(
                    "/tickets",
                    json={
                        "title": f"Flood {n}",
                        "description": "x",
                        "user_id": 1,
                        "category_id": 3,
                    },
                )
            response.raise_for_status()
            return int(response.json()["id"])

        return list(await asyncio.gather(*(one(n) for n in range(count))))


def create_tickets(base_url: str, key: str, *, count: int, concurrency: int = 16) -> list[int]:
    return asyncio.run(_create(base_url, key, count, concurrency))
