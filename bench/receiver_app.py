"""A webhook receiver fast enough not to be what is measured: a raw ASGI app on uvicorn in its own
process. It answers 200 at once (paths under /hang after HANG_SECONDS), records each delivery's
arrival time, and reports through GET /counts and GET /records?path=…

    .venv/bin/python -m bench.receiver_app PORT
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections import defaultdict
from typing import Any
from urllib.parse import parse_qs

import orjson
import uvicorn

HANG_SECONDS = float(os.environ.get("HANG_SECONDS", "10"))

# path -> [(webhook-id, arrival wall time, the body)]
deliveries: dict[str, list[tuple[str, float, bytes]]] = defaultdict(list)


async def _body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _answer(send: Any, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _records(path: str) -> list[tuple[str, float, str]]:
    """(webhook-id, arrival, the ticket's created_at) of each delivery to `path`."""
    out = []
    for webhook_id, arrived, body in deliveries.get(path, []):
        ticket = orjson.loads(body).get("data", {}).get("ticket", {})
        out.append((webhook_id, arrived, ticket.get("created_at", "")))
    return out


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    path = scope["path"]
    if scope["method"] == "GET" and path == "/counts":
        await _answer(send, 200, orjson.dumps({p: len(d) for p, d in deliveries.items()}))
        return
    if scope["method"] == "GET" and path == "/records":
        wanted = parse_qs(scope["query_string"].decode()).get("path", [""])[0]
        await _answer(send, 200, orjson.dumps(_records(wanted)))
        return
    body = await _body(receive)
    arrived = time.time()
    webhook_id = dict(scope["headers"]).get(b"webhook-id", b"").decode()
    if path.startswith("/hang"):
        await asyncio.sleep(HANG_SECONDS)
    deliveries[path].append((webhook_id, arrived, body))
    await _answer(send, 200, b'"ok"')


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
