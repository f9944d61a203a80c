"""Keep-alive connections to receivers: reused while they last, replaced when they don't."""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Awaitable, Callable, Iterator

import pytest

from services.notifier.connections import ConnectionPool
from services.notifier.sender import AttemptOutcome, DeliveryJob, attempt_delivery
from shared.webhook_security import new_signing_secret
from tests.support.receiver import Behaviour, WebhookReceiver, running_receiver

PAYLOAD = '{"id":"evt_1","type":"ticket.created","timestamp":"2026-11-27T12:00:00.000000Z"}'
ANSWER_OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with running_receiver() as running:
        yield running


def _job(url: str, n: int = 1) -> DeliveryJob:
    return DeliveryJob(
        delivery_id=n,
        endpoint_id=1,
        url=url,
        secrets=[new_signing_secret()],
        event_id=f"evt_{n}",
        payload=PAYLOAD,
        attempt_number=1,
    )


async def _deliver(
    connections: ConnectionPool, url: str, *, count: int, senders: int = 1, timeout: float = 5
) -> list[AttemptOutcome]:
    """`count` deliveries to `url` by `senders` concurrent senders sharing the pool."""
    numbers = list(range(count))
    outcomes: list[AttemptOutcome] = []

    async def sender() -> None:
        while numbers:
            job = _job(url, numbers.pop())
            outcomes.append(
                await attempt_delivery(
                    connections, job, timeout=timeout, allow_private=True, body_limit=16
                )
            )

    await asyncio.gather(*(sender() for _ in range(senders)))
    return outcomes


def _with_pool(
    scenario: Callable[[ConnectionPool], Awaitable[list[AttemptOutcome]]],
) -> tuple[list[AttemptOutcome], int]:
    """Run `scenario` with a fresh pool; its outcomes and how many connections it opened."""

    async def run() -> tuple[list[AttemptOutcome], int]:
        connections = ConnectionPool(
            ssl_context=ssl.create_default_context(), max_idle_per_origin=8
        )
        try:
            return await scenario(connections), connections.opened
        finally:
            await connections.aclose()

    return asyncio.run(run())


def test_deliveries_to_a_receiver_one_after_another_share_one_connection(
    receiver: WebhookReceiver,
) -> None:
    outcomes, opened = _with_pool(lambda pool: _deliver(pool, receiver.url("/one"), count=10))
    assert all(outcome.succeeded for outcome in outcomes)
    assert len(receiver.at("/one")) == 10
    assert receiver.connections("/one") == 1
    assert opened == 1


def test_concurrent_senders_each_keep_their_connection(receiver: WebhookReceiver) -> None:
    url = receiver.url("/four")
    outcomes, opened = _with_pool(lambda pool: _deliver(pool, url, count=40, senders=4))
    assert all(outcome.succeeded for outcome in outcomes)
    assert len(receiver.at("/four")) == 40
    assert receiver.connections("/four") == opened <= 4


def test_a_receiver_that_answers_connection_close_gets_a_new_connection_each_time(
    receiver: WebhookReceiver,
) -> None:
    receiver.behaviours["/close"] = Behaviour(headers={"connection": "close"})
    outcomes, opened = _with_pool(lambda pool: _deliver(pool, receiver.url("/close"), count=3))
    assert all(outcome.succeeded for outcome in outcomes)
    assert receiver.connections("/close") == opened == 3


async def _serve(answer: Callable[[int, int], bytes | None]) -> tuple[asyncio.Server, list[int]]:
    """A loopback server that reads each request (head and Content-Length body) and writes
    `answer(connection number, request number on it)`; None closes the connection without
    an answer. Returns the server and, per connection, how many requests it read."""
    requests: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = len(requests)
        requests.append(0)
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                length = next(
                    int(line.split(b":")[1])
                    for line in head.lower().split(b"\r\n")
                    if line.startswith(b"content-length:")
                )
                await reader.readexactly(length)
                requests[connection] += 1
                reply = answer(connection, requests[connection])
                if reply is None:
                    break
                writer.write(reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, requests


def _url(server: asyncio.Server, path: str) -> str:
    port = server.sockets[0].getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


def test_a_kept_connection_the_receiver_dropped_is_replaced_and_the_delivery_made() -> None:
    async def scenario(connections: ConnectionPool) -> list[AttemptOutcome]:
        # Each connection answers its first request only, then closes on the next one, as a
        # receiver closing an idle connection just as our request goes out.
        server, requests = await _serve(lambda _c, n: ANSWER_OK if n == 1 else None)
        async with server:
            outcomes = await _deliver(connections, _url(server, "/drops"), count=2)
        assert requests == [2, 1], "the second delivery went out again on a new connection"
        return outcomes

    outcomes, opened = _with_pool(scenario)
    assert [outcome.status_code for outcome in outcomes] == [200, 200]
    assert opened == 2


def test_an_answer_that_keeps_coming_is_cut_off_after_the_excerpt() -> None:
    async def scenario(connections: ConnectionPool) -> list[AttemptOutcome]:
        # Announces a megabyte, sends a little of it, then nothing.
        head = b"HTTP/1.1 200 OK\r\ncontent-length: 1048576\r\n\r\n"
        server, _requests = await _serve(lambda _c, _n: head + b"x" * 100)
        async with server:
            return await _deliver(connections, _url(server, "/endless"), count=1)

    started = time.monotonic()
    [outcome], opened = _with_pool(scenario)
    assert outcome.succeeded
    assert outcome.response_body == "x" * 16
    assert time.monotonic() - started < 2, "not waited for the rest"
