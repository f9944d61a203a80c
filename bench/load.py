"""Paced load: tickets created at a fixed rate over HTTP by a client in its own process.

The client holds `connections` keep-alive connections (a raw HTTP/1.1 client on uvloop and
httptools: an httpx client costs several times the CPU per request, and on a 2-core machine every
millisecond the client spends is taken from the system it measures). Request n is due at
start + n / rate; a connection takes the next request when it is free and sends it when it is
due, so when every connection is waiting for an answer the requests go out late, and the achieved
rate tells it. Being a process of its own, the client neither shares a GIL with the harness
polling the database nor stalls when the harness does.

    .venv/bin/python -m bench.load URL KEY --rate 500 --seconds 10 --connections 64 --output F

writes one JSON object (PacedRun) to F; SIGTERM stops it early (no new request is sent, the ones
on their way are answered and counted).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast
from urllib.parse import urlsplit

import httptools
import orjson
import uvloop

if TYPE_CHECKING:
    from tests.support.system import System


@dataclass(frozen=True)
class PacedRun:
    asked_rate: float
    planned: int  # requests the rate and the duration call for
    sent: int
    ok: int  # 2xx answers
    failed: int  # other answers and broken connections
    ids: list[int]  # of the tickets created, in the order they were due
    late_ms: list[float]  # per request: sent − due (0 when the client kept the pace)
    latencies_ms: list[float]  # per request: answered − due
    span_seconds: float  # first due → last sent
    cpu_seconds: float  # the client process's CPU time while it sent (start-up not counted)
    stopped_early: bool

    @property
    def achieved_rate(self) -> float:
        """Requests sent per second over the run: the asked rate when every one left on time."""
        if self.sent < 2:
            return 0.0
        return self.sent / (self.span_seconds + 1 / self.asked_rate)

    @property
    def kept_pace(self) -> bool:
        return self.achieved_rate >= 0.95 * self.asked_rate


def _ticket_body(n: int) -> bytes:
    return orjson.dumps(
        {
            "title": f"Lag probe {n}",
            "description": "Measuring how fast the worker and the notifier follow",
            "user_id": 1,
            "category_id": 1 + n % 6,
            "priority_id": 1 + n % 4,
            "tags": ["bench"],
        }
    )


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request at a time."""

    def __init__(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._body = bytearray()
        self._answer: asyncio.Future[tuple[int, bytes]] | None = None
        self._transport: asyncio.Transport | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self._parser.feed_data(data)

    def on_body(self, body: bytes) -> None:
        self._body += body

    def on_message_complete(self) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_result((self._parser.get_status_code(), bytes(self._body)))
        self._body.clear()
        if not self._parser.should_keep_alive() and self._transport is not None:
            self.closed = True
            self._transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(ConnectionError("the server closed the connection"))

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        assert self._transport is not None
        self._answer = asyncio.get_running_loop().create_future()
        self._transport.write(request)
        return await self._answer

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


async def _connect(host: str, port: int) -> _Connection:
    _transport, connection = await asyncio.get_running_loop().create_connection(
        _Connection, host, port
    )
    return connection


async def _paced_creations(
    base_url: str, key: str, *, rate: float, seconds: float, connections: int
) -> PacedRun:
    url = urlsplit(base_url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    head = (
        f"POST /tickets HTTP/1.1\r\nHost: {url.netloc}\r\nAuthorization: Bearer {key}\r\n"
        "Content-Type: application/json\r\n"
    ).encode()
    planned = int(rate * seconds)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    ids: dict[int, int] = {}
    late_ms: list[float] = []
    latencies_ms: list[float] = []
    failed = sent = ok = 0
    last_sent = 0.0
    next_n = 0
    pool = [await _connect(host, port) for _ in range(connections)]  # opened before the clock
    started = loop.time() + 0.05
    cpu_started = time.process_time()

    async def send_due_requests(connection: _Connection) -> None:
        nonlocal failed, sent, ok, last_sent, next_n
        while not stop.is_set() and next_n < planned:
            n, next_n = next_n, next_n + 1
            due = started + n / rate
            body = _ticket_body(n)
            request = head + b"Content-Length: %d\r\n\r\n" % len(body) + body
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
                if stop.is_set():
                    return
            if connection.closed:
                connection = await _connect(host, port)
            sent_at = last_sent = loop.time()
            sent += 1
            late_ms.append((sent_at - due) * 1000)
            try:
                status, answer = await connection.exchange(request)
            except ConnectionError:
                failed += 1
                continue
            latencies_ms.append((loop.time() - due) * 1000)
            if not 200 <= status < 300:
                failed += 1
                continue
            ok += 1
            created = orjson.loads(answer)
            if isinstance(created, dict) and "id" in created:  # the baseline app returns none
                ids[n] = int(created["id"])

    await asyncio.gather(*(send_due_requests(connection) for connection in pool))
    for connection in pool:
        connection.close()
    return PacedRun(
        asked_rate=rate,
        planned=planned,
        sent=sent,
        ok=ok,
        failed=failed,
        ids=[ids[n] for n in sorted(ids)],
        late_ms=late_ms,
        latencies_ms=latencies_ms,
        span_seconds=max(0.0, last_sent - started),
        cpu_seconds=time.process_time() - cpu_started,
        stopped_early=stop.is_set(),
    )


class PacedClient:
    """`python -m bench.load` running in the background; `finish()` waits for its PacedRun."""

    def __init__(
        self, base_url: str, key: str, *, rate: float, seconds: float, connections: int = 64
    ) -> None:
        command = [sys.executable, "-m", "bench.load", base_url, key]
        command += ["--rate", str(rate), "--seconds", str(seconds)]
        command += ["--connections", str(connections)]
        # A file, not a pipe: a long run's JSON outgrew the pipe's buffer, and uvloop leaves
        # stdout non-blocking, so the client's last write was cut short (at 96 KiB) unnoticed.
        self._result = tempfile.NamedTemporaryFile(prefix="paced-", suffix=".json")
        command += ["--output", self._result.name]
        self.process = subprocess.Popen(command, env=os.environ.copy())

    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """Send no more requests (those on their way are still answered)."""
        if self.running():
            self.process.send_signal(signal.SIGTERM)

    def finish(self) -> PacedRun:
        self.process.wait(timeout=600)
        if self.process.returncode != 0:
            raise RuntimeError(f"the paced client failed (exit {self.process.returncode})")
        with self._result:
            raw = json.loads(Path(self._result.name).read_bytes())
        return PacedRun(**raw)


def create_at_rate(system: System, *, rate: float, seconds: float) -> list[int]:
    """`rate` tickets a second for `seconds`, each sent when due; the created tickets' ids."""
    run = PacedClient(
        system.api.base_url, system.keys["agent"], rate=rate, seconds=seconds
    ).finish()
    if run.failed:
        raise RuntimeError(f"{run.failed} of {run.sent} ticket creations failed")
    return run.ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base_url")
    parser.add_argument("key")
    parser.add_argument("--rate", type=float, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    run = uvloop.run(
        _paced_creations(
            args.base_url,
            args.key,
            rate=args.rate,
            seconds=args.seconds,
            connections=args.connections,
        )
    )
    args.output.write_text(json.dumps(asdict(run)))


if __name__ == "__main__":
    main()
