"""Paced load: tickets created at a steady rate over HTTP, from an asyncio client."""

from __future__ import annotations

import asyncio
import time

import httpx

from tests.support.system import System


async def _create_tickets(system: System, *, count: int, rate: float) -> list[int]:
    headers = {"Authorization": f"Bearer {system.keys['agent']}"}
    async with httpx.AsyncClient(
        base_url=system.api.base_url, headers=headers, timeout=60
    ) as client:

        async def create(n: int) -> int:
            response = await client.post(
                "/tickets",
                json={
                    "title": f"Lag probe {n}",
                    "description": "Measuring how fast the worker and the notifier follow",
                    "user_id": 1,
                    "category_id": 1 + n % 6,
                    "priority_id": 1 + n % 4,
                    "tags": ["bench"],
                },
            )
            response.raise_for_status()
            return int(response.json()["id"])

        started = time.monotonic()
        pending = []
        for n in range(count):
            await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
            pending.append(asyncio.create_task(create(n)))
        return list(await asyncio.gather(*pending))


def create_at_rate(system: System, *, rate: float, seconds: float) -> list[int]:
    """`rate` tickets a second for `seconds`, each sent when due whatever the answers' pace."""
    return asyncio.run(_create_tickets(system, count=int(rate * seconds), rate=rate))
